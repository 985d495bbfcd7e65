# Both targets bootstrap .venv with nothing but python3, then install what they need.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: test demo lint format bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[test]'
	touch $@

$(VENV)/.examples-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[examples]'
	touch $@

test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

demo: $(VENV)/.examples-installed
	$(PY) examples/flax_mlp.py

bench: $(VENV)/.examples-installed
	$(PY) benchmarks/step_overhead.py
	$(PY) benchmarks/compare_methods.py --dataset digits
	$(PY) benchmarks/compare_methods.py --dataset synthetic
	$(PY) benchmarks/sparsity_frontier.py
	$(PY) benchmarks/lasso.py

format: $(VENV)/.test-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
