"""freeze_zeros: a second phase refits the surviving weights; the zeros stay bitwise zero."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_l1
from helpers import assert_trees_bitwise_equal


def _sparse_params():
    w = jax.random.normal(jax.random.key(0), (16, 8))
    w = jnp.where(jnp.abs(w) < 0.8, 0.0, w)
    w = w.at[0, 0].set(-0.0)  # a negative zero too
    return {"kernel": w, "bias": jnp.zeros(8)}


@pytest.mark.parametrize("jit", [False, True])
def test_zeros_stay_bitwise_zero_under_adam_with_momentum(jit):
    params = _sparse_params()
    zeros = np.asarray(params["kernel"]) == 0
    tx = optax.chain(optax.adam(0.05, b1=0.9), optax_l1.freeze_zeros(optax_l1.skip_biases))
    state = tx.init(params)
    update = jax.jit(tx.update) if jit else tx.update
    for i in range(50):
        key = jax.random.key(i)
        grads = jax.tree.map(lambda p, key=key: jax.random.normal(key, p.shape), params)
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    kernel = np.asarray(params["kernel"])
    assert np.all(kernel[zeros] == 0)
    assert np.signbit(kernel[0, 0]), "a -0.0 stays -0.0"
    assert not np.any(kernel[~zeros] == 0)
    assert np.any(np.asarray(params["bias"]) != 0)  # masked out: trains normally


def test_nonzero_weights_move_exactly_as_under_the_host_alone():
    params = _sparse_params()
    grads = jax.tree.map(lambda p: jnp.full(p.shape, 0.3), params)
    host = optax.adam(0.05)
    frozen = optax.chain(optax.adam(0.05), optax_l1.freeze_zeros())
    u_host, _ = host.update(grads, host.init(params), params)
    u_frozen, _ = frozen.update(grads, frozen.init(params), params)
    nonzero = params["kernel"] != 0
    assert_trees_bitwise_equal(u_frozen["kernel"][nonzero], u_host["kernel"][nonzero])
    assert np.all(np.asarray(u_frozen["kernel"][~nonzero]) == 0)


def test_after_a_sparse_phase_the_fine_tune_keeps_the_support():
    """The two-phase flow: L1 picks the support, then the host refits it without shrinkage."""
    w_star = jax.random.normal(jax.random.key(3), (200,))
    params = jnp.zeros(200)
    phase1 = optax.chain(optax.sgd(0.5), optax_l1.l1_soft_threshold(0.5, learning_rate=0.5))
    state = phase1.init(params)
    for _ in range(100):
        updates, state = phase1.update(params - w_star, state, params)
        params = optax.apply_updates(params, updates)
    support = np.asarray(params) != 0
    shrunk = w_star[support] - 0.5 * np.sign(w_star[support])  # the lasso's shrinkage
    np.testing.assert_allclose(params[support], shrunk, rtol=1e-5, atol=1e-6)
    phase2 = optax.chain(optax.sgd(0.5), optax_l1.freeze_zeros())
    state = phase2.init(params)
    for _ in range(100):
        updates, state = phase2.update(params - w_star, state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_array_equal(np.asarray(params) != 0, support)
    np.testing.assert_allclose(params[support], w_star[support], rtol=1e-5, atol=1e-6)


def test_needs_params_and_refuses_shape_mismatch():
    tx = optax_l1.freeze_zeros()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    with pytest.raises(ValueError, match="shape"):
        tx.update(jnp.ones((1, 2)), tx.init(jnp.ones(2)), jnp.ones(2))
