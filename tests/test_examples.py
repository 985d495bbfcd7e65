"""Smoke tests: each example runs through the same code path as its command line."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import compare_formulations


def test_compare_formulations_runs(capsys):
    compare_formulations.main(["--steps", "40"])
    out = capsys.readouterr().out
    for name in ("SGD + add_l1_gradient", "SGD + l1_sign_decay", "Adam + l1_sign_decay"):
        assert name in out
    assert "SGD: coupled and decoupled agree to 1e-6 for the first" in out


def test_sparse_regression_runs_and_the_cumulative_penalty_finds_the_support(capsys):
    import sparse_regression

    results = {r["method"]: r for r in sparse_regression.main(["--epochs", "20"])}
    assert results["sklearn Lasso (reference)"]["relative_gap"] == 0
    assert results["SGD + l1_cumulative_penalty"]["same_support"]
    assert results["SGD + l1_cumulative_penalty"]["relative_gap"] < 1e-3
    assert results["SGD + add_l1_gradient"]["nonzeros"] == 200
    assert "sklearn SGDRegressor(l1)" in capsys.readouterr().out
