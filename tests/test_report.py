"""sparsity_report: per-leaf counts, whole zero units, totals; a table and a dict."""

import jax.numpy as jnp
import numpy as np
import pytest

import optax_l1


def _params():
    kernel = np.ones((4, 3), np.float32)
    kernel[:, 1] = 0  # output unit 1 receives nothing
    kernel[2, :] = 0  # input 2 feeds nothing
    kernel[0, 0] = 0
    conv = np.zeros((3, 3, 2, 5), np.float32)
    conv[..., 0] = 1.0  # only filter 0 is alive
    return {
        "dense": {"kernel": jnp.asarray(kernel), "bias": jnp.zeros(3)},
        "conv": {"kernel": jnp.asarray(conv), "bias": jnp.ones(5)},
        "step": jnp.array(3, jnp.int32),
    }


def test_counts_per_leaf_and_total():
    report = optax_l1.sparsity_report(_params(), optax_l1.skip_biases)
    by_name = {leaf.name: leaf for leaf in report.leaves}
    assert set(by_name) == {"dense/kernel", "conv/kernel"}
    dense = by_name["dense/kernel"]
    assert (dense.shape, dense.size, dense.zeros) == ((4, 3), 12, 7)
    assert (dense.zero_inputs, dense.zero_outputs) == (1, 1)
    conv = by_name["conv/kernel"]
    assert (conv.zeros, conv.zero_inputs, conv.zero_outputs) == (72, 0, 4)
    assert report.size == 102 and report.zeros == 79
    assert abs(report.fraction - 79 / 102) < 1e-12
    np.testing.assert_allclose(
        report.fraction, optax_l1.sparsity(_params(), optax_l1.skip_biases), rtol=1e-6
    )


def test_without_a_mask_it_reports_every_float_leaf():
    report = optax_l1.sparsity_report(_params())
    names = [leaf.name for leaf in report.leaves]
    assert "dense/bias" in names and "step" not in names
    bias = next(leaf for leaf in report.leaves if leaf.name == "dense/bias")
    assert bias.zero_inputs is None and bias.zero_outputs is None


def test_table_and_dict_for_loggers():
    report = optax_l1.sparsity_report(_params(), optax_l1.skip_biases)
    text = str(report)
    assert "dense/kernel" in text and "1/3" in text and "4/5" in text and "total" in text
    logged = report.as_dict()
    assert logged["sparsity/total"] == report.fraction
    assert logged["sparsity/conv/kernel/zero_outputs"] == 4.0
    assert all(isinstance(v, float) for v in logged.values())


def test_names_of_an_nnx_model_are_readable():
    nnx = pytest.importorskip("flax.nnx")  # the examples extra
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    report = optax_l1.sparsity_report(nnx.state(model, nnx.Param), optax_l1.skip_biases)
    assert [leaf.name for leaf in report.leaves] == ["kernel"]
