import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optax_l1

PARAMS = {
    "kernel": jnp.array([[1.0, -2.0], [0.0, 0.5]]),
    "bias": jnp.array([10.0, 0.0]),
    "count": jnp.array(3, jnp.int32),
    "frozen": None,
}


@pytest.mark.parametrize("jit", [False, True])
def test_l1_norm_sums_absolute_values_of_selected_float_leaves(jit):
    l1_norm = jax.jit(optax_l1.l1_norm, static_argnums=1) if jit else optax_l1.l1_norm
    assert float(l1_norm(PARAMS)) == 13.5
    assert float(l1_norm(PARAMS, optax_l1.skip_biases)) == 3.5


@pytest.mark.parametrize("jit", [False, True])
def test_sparsity_counts_exact_zeros(jit):
    sparsity = jax.jit(optax_l1.sparsity, static_argnums=1) if jit else optax_l1.sparsity
    assert float(sparsity(PARAMS)) == pytest.approx(2 / 6)
    assert float(sparsity(PARAMS, optax_l1.skip_biases)) == 0.25
    tiny = {"w": jnp.array([1e-30, -0.0, 0.0])}
    assert float(sparsity(tiny)) == pytest.approx(2 / 3)


def test_mask_tree_is_honoured():
    mask = {"kernel": False, "bias": True, "count": False, "frozen": None}
    assert float(optax_l1.l1_norm(PARAMS, mask)) == 10.0
    assert float(optax_l1.sparsity(PARAMS, mask)) == 0.5


def test_low_precision_leaves_accumulate_in_float32():
    big = {"w": jnp.ones((4096,), jnp.bfloat16)}
    norm = optax_l1.l1_norm(big)
    assert norm.dtype == jnp.float32 and float(norm) == 4096.0


def test_float64_leaves_keep_float64(x64):
    norm = optax_l1.l1_norm({"w": jnp.array([0.1, 0.2], jnp.float64)})
    assert norm.dtype == jnp.float64 and float(norm) == 0.1 + 0.2


def test_empty_selections():
    assert float(optax_l1.l1_norm({"b": jnp.ones(3)}, optax_l1.skip_biases)) == 0.0
    with pytest.raises(ValueError, match="at least one floating-point entry"):
        optax_l1.sparsity({"b": jnp.ones(3)}, optax_l1.skip_biases)


def test_agrees_with_numpy_on_a_random_tree():
    from helpers import random_tree

    params = random_tree(jax.random.key(3))
    params = jax.tree.map(lambda x: jnp.where(jnp.abs(x) < 0.5, 0.0, x), params)
    leaves = [np.asarray(x) for x in jax.tree.leaves(params)]
    np.testing.assert_allclose(
        optax_l1.l1_norm(params), sum(np.abs(x).sum() for x in leaves), rtol=1e-6
    )
    expected = sum((x == 0).sum() for x in leaves) / sum(x.size for x in leaves)
    np.testing.assert_allclose(optax_l1.sparsity(params), expected, rtol=1e-6)
