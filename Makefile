# Every target bootstraps what it needs with nothing but python3.
VENV     := .venv
PY       := $(VENV)/bin/python
PIP      := $(PY) -m pip --disable-pip-version-check -q
MIN_VENV := .venv-min
MIN_PY   := $(MIN_VENV)/bin/python
# pyproject.toml's dependency floors, pinned exactly: "jax>=0.4.35" -> jax==0.4.35
MIN_PINS := $(shell sed -n 's/^dependencies = \[\(.*\)\]/\1/p' pyproject.toml | sed 's/>=/==/g; s/[",]/ /g')

.PHONY: test test-slow test-min demo docs bench dist lint format clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[test]'
	touch $@

$(VENV)/.examples-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[examples]'
	touch $@

$(VENV)/.docs-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[docs]'
	touch $@

# Lint, type-check, build the docs (warnings are errors), then the test suite (the tests
# marked slow, over a minute each on 2 cores, run in `make test-slow`).
test: $(VENV)/.test-installed docs
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -m "not slow"

test-slow: $(VENV)/.test-installed
	$(PY) -m pytest -m slow optax_l1 tests

# The library's tests at the lowest jax, jaxlib and optax that pyproject.toml allows.
test-min: $(MIN_VENV)/.installed
	$(MIN_PY) -m pytest -p no:cacheprovider -m "not slow" optax_l1 tests

$(MIN_VENV)/.installed: pyproject.toml
	python3 -m venv $(MIN_VENV)
	$(MIN_PY) -m pip --disable-pip-version-check -q install --upgrade pip
	$(MIN_PY) -m pip --disable-pip-version-check -q install $(MIN_PINS) numpy pytest hypothesis scikit-learn
	$(MIN_PY) -m pip --disable-pip-version-check -q install --no-deps -e .
	$(MIN_PY) -c "import importlib.metadata as m, sys; pins = sys.argv[1:]; \
	got = [f'{p.split(\"==\")[0]}=={m.version(p.split(\"==\")[0])}' for p in pins]; \
	assert got == pins, (got, pins); print('test-min runs against', ' '.join(got))" $(MIN_PINS)
	touch $@

demo: $(VENV)/.examples-installed
	$(PY) examples/flax_mlp.py

docs: $(VENV)/.docs-installed
	rm -rf docs/_build
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	$(PY) docs/check_api.py docs/_build/html

bench: $(VENV)/.examples-installed
	$(PY) benchmarks/step_overhead.py
	$(PY) benchmarks/compare_methods.py --dataset digits
	$(PY) benchmarks/compare_methods.py --dataset digits --optimizer adam
	$(PY) benchmarks/compare_methods.py --dataset synthetic
	$(PY) benchmarks/sparsity_frontier.py
	$(PY) benchmarks/lasso.py
	$(PY) benchmarks/mnist1d.py
	$(PY) benchmarks/target_sparsity.py

# A wheel and an sdist that pass `twine check`; the wheel ships py.typed.
dist: $(VENV)/.test-installed
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*
	$(PY) -c "import glob, tarfile, zipfile; \
	names = zipfile.ZipFile(glob.glob('dist/*.whl')[0]).namelist(); \
	assert 'optax_l1/py.typed' in names, names; \
	sdist = tarfile.open(glob.glob('dist/*.tar.gz')[0]).getnames(); \
	assert not [n for n in sdist if '/tests/' in n], sdist; \
	print('wheel ships py.typed; sdist:', len(sdist), 'files, no tests (on purpose)')"

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.test-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(MIN_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis docs/_build dist
