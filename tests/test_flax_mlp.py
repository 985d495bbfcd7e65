"""The flagship example, examples/flax_mlp.py, through its command-line code path."""

import flax_mlp
import jax.numpy as jnp
import numpy as np
import pytest
from common import METHODS
from flax import nnx

TINY = ["--epochs", "3", "--train-limit", "512", "--hidden", "32"]


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_trains_and_reports(method, capsys):
    result = flax_mlp.main(["--method", method, *TINY])
    out = capsys.readouterr().out
    assert "devices:" in out and f"{method}: test accuracy" in out
    assert [h["epoch"] for h in result["history"]] == [1, 2, 3]
    assert 0.3 < result["test_accuracy"] <= 1.0  # chance: 0.1
    assert 0.0 <= result["zeros"] <= 1.0
    params = nnx.state(result["model"], nnx.Param)
    biases = [params["hidden"]["bias"][...], params["out"]["bias"][...]]
    if method == "none" or method == "add_l1_gradient":
        assert result["zeros"] == 0.0  # no exact zeros from these
    else:
        assert result["zeros"] > 0.0
    assert all(np.all(np.isfinite(b)) for b in biases)


def test_default_run_is_sparse_and_accurate(capsys):
    """The figures the docstring and README describe (full data, default settings)."""
    result = flax_mlp.main(["--epochs", "10"])
    assert result["test_accuracy"] > 0.9
    assert result["zeros"] > 0.5
    kernel = nnx.state(result["model"], nnx.Param)["hidden"]["kernel"][...]
    assert float(jnp.mean(kernel == 0)) > 0.5
    assert "adam_l1: test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--hidden", "0"], ["--method", "lasso"]])
def test_bad_options_are_refused(bad):
    with pytest.raises(SystemExit):
        flax_mlp.main(bad)
