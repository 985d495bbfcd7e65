"""benchmarks/mnist1d.py runs end to end on tiny settings and writes its result files."""

import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

try:  # not `importorskip`: with benchmarks/ on sys.path, `mnist1d` may name the script
    importlib.metadata.version("mnist1d")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the mnist1d package is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "mnist1d.py"


def _load_script():
    """The script as a module of another name: ``mnist1d`` is the data package's."""
    spec = importlib.util.spec_from_file_location("mnist1d_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_script()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist1d")
    # benchmarks/ on sys.path, as when the script runs: its name must not hide the package
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        argv = ["--quick", "--epochs", "1", "--seeds", "2", "--models", "mlp", "cnn"]
        argv += ["--methods", "add_l1_gradient", "adam_l1", "--out", str(out)]
        return bench.main(argv), out
    finally:
        sys.path.remove(str(SCRIPT.parent))


@pytest.mark.slow  # the one-epoch run of every model and method: ~25 s
def test_records(quick_run):
    data, _ = quick_run
    records = data["records"]
    assert {r["model"] for r in records} == {"mlp", "cnn"}
    methods = {r["method"] for r in records}
    assert methods == {"none", "add_l1_gradient", "adam_l1", bench.MAGNITUDE, bench.L1_PRUNED}
    assert {r["seed"] for r in records} == {0, 1}
    for r in records:
        for key in ("test_accuracy", "train_accuracy", "zeros"):
            assert 0 <= r[key] <= 1, (key, r)
        assert r["gap"] == pytest.approx(r["train_accuracy"] - r["test_accuracy"])
        assert r["l1"] >= 0 and r["data"] in ("fit", "train")
        if r["data"] == "fit":
            assert 0 <= r["validation_accuracy"] <= 1
        if "target" in r:  # pruned: as sparse as asked, to one weight
            assert r["zeros"] >= r["target"] - 1e-3
    dense = [r for r in records if r["method"] == "none"]
    assert all(r["l1"] == 0 and r["zeros"] == 0 for r in dense)
    assert {r["data"] for r in dense} == {"fit", "train"}


@pytest.mark.slow  # the one-epoch run of every model and method: ~25 s
def test_choices_and_frontier(quick_run):
    data, _ = quick_run
    quick_grid = {
        m: bench.METHODS[m].lambdas[:: max(1, len(bench.METHODS[m].lambdas) // 2)]
        for m in bench.METHODS
    }
    assert len(data["selected"]) == 2 * 3  # models x (none + 2 methods)
    for choice in data["selected"]:
        assert choice["l1"] in quick_grid[choice["method"]]
    assert len(data["frontier"]) == 2 * 2 * len(bench.TARGETS)
    for entry in data["frontier"]:
        if entry["runs"] is not None:
            assert len(entry["runs"]) == 2
            assert all(r["zeros"] >= entry["target"] for r in entry["runs"])


@pytest.mark.slow  # the one-epoch run of every model and method: ~25 s
def test_files(quick_run):
    data, out = quick_run
    saved = json.loads((out / "mnist1d.json").read_text())
    assert len(saved["records"]) == len(data["records"])
    assert saved["machine"] and saved["command"].startswith("python benchmarks/mnist1d.py")
    markdown = (out / "mnist1d.md").read_text()
    assert "Machine:" in markdown and "| mlp | 68 |" in markdown and "| cnn | 94 |" in markdown
    assert (out / "mnist1d_frontier.png").stat().st_size > 0


def test_conv_matches_flax_conv():
    conv = bench.Conv1d(3, 4, 5, nnx.Rngs(0))
    reference = nnx.Conv(3, 4, kernel_size=(5,), strides=(2,), padding=[(1, 1)], rngs=nnx.Rngs(1))
    reference.kernel[...] = conv.kernel[...].reshape(5, 3, 4)
    reference.bias[...] = conv.bias[...]
    for length in (40, 19):  # even and odd lengths
        x = jax.random.normal(jax.random.key(0), (2, length, 3))
        np.testing.assert_allclose(conv(x), reference(x), atol=1e-5)


def test_paper_architectures():
    """The parameter counts of the repository's MLPBase and ConvBase."""
    counts = {
        name: sum(p.size for p in jax.tree.leaves(bench.init_params(name, [0])))
        for name in bench.MODELS
    }
    assert counts == {"logreg": 410, "mlp": 15210, "cnn": 5210}


def test_prune_reaches_the_target():
    params = bench.init_params("mlp", [0, 1])
    for target in (0.5, 0.9):
        pruned = bench.prune(params, jnp.float32(target))
        np.testing.assert_allclose(bench.zeros(pruned), target, atol=1e-3)
        biases = [p for path, p in jax.tree.flatten_with_path(pruned)[0] if "bias" in str(path)]
        assert all(jnp.all(b != 0) for b in biases)
