"""examples/compare_formulations.py runs through its command-line code path."""

import compare_formulations


def test_compare_formulations_runs(capsys):
    compare_formulations.main(["--steps", "40"])
    out = capsys.readouterr().out
    for name in ("SGD + add_l1_gradient", "SGD + l1_sign_decay", "Adam + l1_sign_decay"):
        assert name in out
    assert "SGD: coupled and decoupled agree to 1e-6 for the first" in out
