"""The benchmark scripts run end to end on tiny settings (they are measured by `make bench`)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import lasso  # noqa: E402
import sparsity_frontier  # noqa: E402
import step_overhead  # noqa: E402


def test_step_overhead_reports_every_variant(tmp_path):
    argv = ["--layers", "2", "--width", "64", "--mlp-layers", "2", "--mlp-width", "32"]
    argv += ["--batch-size", "8", "--repeats", "1", "--inner", "1", "--out", str(tmp_path)]
    data = step_overhead.main(argv)
    variants = {r["variant"] for r in data["update_step"]}
    for host in step_overhead.HOSTS:
        assert host in variants
        for addon in step_overhead.ADDONS:
            assert f"{host} + {addon}" in variants
    assert all(r["bytes"] > 0 and r["seconds"] > 0 for r in data["update_step"])
    saved = json.loads((tmp_path / "step_overhead.json").read_text())
    assert saved["train_step"] and (tmp_path / "step_overhead.md").exists()


def test_sparsity_frontier_quick(tmp_path):
    data = sparsity_frontier.main(["--quick", "--out", str(tmp_path)])
    methods = {(r["optimizer"], r["method"]) for r in data["records"]}
    assert ("adam", "adam_l1") in methods and ("sgd", sparsity_frontier.PRUNED) in methods
    assert all(0 <= r["zero_frac"] <= 1 and 0 <= r["test_acc"] <= 1 for r in data["records"])
    assert (tmp_path / "sparsity_frontier.png").stat().st_size > 0


def test_lasso_quick(tmp_path):
    data = lasso.main(["--quick", "--out", str(tmp_path)])
    by_method = {r["method"]: r for r in data["results"]}
    assert by_method["sklearn Lasso (reference)"]["same_support"]
    assert (tmp_path / "lasso.md").exists()
