import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_l1
from helpers import assert_trees_all_close, random_tree


def test_adds_plus_lambda_sign_to_gradients():
    params = jnp.array([1.5, -0.25, 0.0, 3.0])
    grads = jnp.array([0.5, 0.5, 0.5, -1.0])
    tx = optax_l1.add_l1_gradient(0.125)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert_trees_all_close(updates, jnp.array([0.625, 0.375, 0.5, -0.875]))


def test_subgradient_at_zero_is_zero():
    params = jnp.array([0.0, -0.0])
    grads = jnp.array([0.25, -0.25])
    tx = optax_l1.add_l1_gradient(1.0)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert_trees_all_close(updates, grads)


@pytest.mark.parametrize("jit", [False, True])
def test_before_sgd_shrinks_both_signs_toward_zero(jit):
    params = jnp.array([2.0, -2.0, 0.5, -0.5])
    tx = optax.chain(optax_l1.add_l1_gradient(0.5), optax.sgd(0.25))
    update = jax.jit(tx.update) if jit else tx.update
    updates, _ = update(jnp.zeros(4), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert np.all(np.abs(new) < np.abs(params))
    assert np.all(np.sign(new) == np.sign(params))
    assert_trees_all_close(new, jnp.array([1.875, -1.875, 0.375, -0.375]))


def test_penalty_enters_the_momentum_like_a_loss_term():
    """Coupled L1 under heavy-ball momentum equals momentum on loss + lam * |w|."""
    lam, lr, beta = 0.01, 0.1, 0.9
    params = random_tree(jax.random.key(0))
    grads = [random_tree(jax.random.key(i + 1), low=-0.1, high=0.1) for i in range(20)]
    tx = optax.chain(optax_l1.add_l1_gradient(lam), optax.sgd(lr, momentum=beta))
    state = tx.init(params)
    w = jax.tree.map(np.asarray, params)
    trace = jax.tree.map(np.zeros_like, w)
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        trace = jax.tree.map(lambda t, gi, wi: beta * t + gi + lam * np.sign(wi), trace, g, w)
        w = jax.tree.map(lambda wi, t: wi - lr * t, w, trace)
    assert_trees_all_close(params, w, rtol=1e-6, atol=1e-7)
