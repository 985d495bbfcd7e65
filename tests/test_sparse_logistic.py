"""examples/sparse_logistic.py: FTRL and the cumulative penalty reach scikit-learn's optimum."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import sparse_logistic

import optax_l1

ROOT = Path(__file__).resolve().parents[1]


def test_ftrl_and_the_cumulative_penalty_reach_the_reference_support_and_optimum(capsys):
    results = {r["method"]: r for r in sparse_logistic.main([])}
    reference = results["sklearn liblinear (reference)"]
    assert reference["objective_gap"] == 0 and reference["same_support"]
    assert 5 <= reference["reference_nonzeros"] <= 20 and reference["noise_nonzeros"] == 0
    for name in ("ftrl (l1 = lam * t)", "sgd_l1 (cumulative)"):
        assert results[name]["same_support"], results[name]
        assert 0 <= results[name]["objective_gap"] < 1e-3, results[name]
        assert results[name]["test_accuracy"] > 0.9
    for r in results.values():  # every method finds the reference's features
        assert r["overlap"] == reference["reference_nonzeros"]
    out = capsys.readouterr().out
    assert "overlap (of 10)" in out and "objective gap" in out


def test_ftrl_with_the_per_example_lambda_as_l1_is_far_off():
    """The unit matters: l1 = lam regularizes the sum of 600 steps' losses by lam."""
    cfg = sparse_logistic.CONFIG
    x, y, _, _ = sparse_logistic.make_problem(
        cfg["noise_features"], cfg["seed"], cfg["test_fraction"]
    )
    lam = 1 / (cfg["c"] * len(x))
    order = sparse_logistic.batch_order(len(x), cfg["batch_size"], cfg["epochs"], cfg["seed"])
    w, _ = sparse_logistic.train(optax_l1.ftrl(cfg["ftrl_lr"], l1=lam), x, y, order)
    best = sparse_logistic.objective(x, y, sparse_logistic.reference(x, y, cfg["c"]), lam)
    assert np.count_nonzero(w) > 100
    assert sparse_logistic.objective(x, y, w, lam) - best > 0.1


def test_runs_from_its_command_line():
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "sparse_logistic.py"),
            "--epochs",
            "1",
            "--noise-features",
            "20",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for name in ("sklearn liblinear (reference)", "ftrl", "proximal_adagrad", "adam_l1"):
        assert name in result.stdout
