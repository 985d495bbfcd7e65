"""examples/sparse_regression.py: the cumulative penalty finds the lasso's support."""

import sparse_regression


def test_sparse_regression_runs_and_the_cumulative_penalty_finds_the_support(capsys):
    results = {r["method"]: r for r in sparse_regression.main(["--epochs", "20"])}
    assert results["sklearn Lasso (reference)"]["relative_gap"] == 0
    assert results["SGD + l1_cumulative_penalty"]["same_support"]
    assert results["SGD + l1_cumulative_penalty"]["relative_gap"] < 1e-3
    assert results["SGD + add_l1_gradient"]["nonzeros"] == 200
    assert "sklearn SGDRegressor(l1)" in capsys.readouterr().out
