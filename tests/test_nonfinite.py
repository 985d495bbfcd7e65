"""Non-finite gradients: skipped whole by optax.apply_if_finite, propagated without it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_l1
from helpers import assert_trees_bitwise_equal

SCHEDULE = optax.constant_schedule(0.01)
OPTIMIZERS = {
    "add_l1_gradient": lambda: optax.chain(optax_l1.add_l1_gradient(SCHEDULE), optax.sgd(0.1)),
    "l1_sign_decay": lambda: optax.chain(
        optax.sgd(0.1), optax_l1.l1_sign_decay(SCHEDULE, learning_rate=1.0)
    ),
    "l1_soft_threshold": lambda: optax.chain(
        optax.sgd(0.1), optax_l1.l1_soft_threshold(SCHEDULE, learning_rate=1.0)
    ),
    "l1_cumulative_penalty": lambda: optax.chain(
        optax.sgd(0.1),
        optax_l1.l1_cumulative_penalty(SCHEDULE, mask=optax_l1.skip_biases, learning_rate=1.0),
    ),
    "group_soft_threshold": lambda: optax.chain(
        optax.sgd(0.1),
        optax_l1.group_soft_threshold(
            SCHEDULE, axis=0, mask=optax_l1.skip_biases, learning_rate=1.0
        ),
    ),
    "sgd_l1": lambda: optax_l1.sgd_l1(optax.cosine_decay_schedule(0.1, 100), 0.1),
    "adam_l1": lambda: optax_l1.adam_l1(0.1, 0.1, mask=optax_l1.skip_biases),
}

PARAMS = {"kernel": jnp.array([[0.5, -0.25], [0.0, 1.0]]), "bias": jnp.array([0.1, -0.1])}
GOOD = jax.tree.map(lambda x: jnp.full_like(x, 0.1), PARAMS)
BAD = {"kernel": jnp.array([[0.1, jnp.nan], [0.1, 0.1]]), "bias": jnp.array([0.1, 0.1])}


def _step(tx, params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_nan_step_is_skipped_and_leaves_every_l1_state_unchanged(name):
    tx = optax.apply_if_finite(OPTIMIZERS[name](), max_consecutive_errors=5)
    step = jax.jit(lambda p, s, g: _step(tx, p, s, g))
    params, state = step(PARAMS, tx.init(PARAMS), GOOD)  # some history: counts, totals
    before = (params, state.inner_state)
    params, state = step(params, state, BAD)
    assert_trees_bitwise_equal(params, before[0])
    assert_trees_bitwise_equal(state.inner_state, before[1])
    assert int(state.notfinite_count) == 1 and int(state.total_notfinite) == 1
    params, state = step(params, state, GOOD)  # and training goes on
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_without_the_guard_a_nan_is_propagated_not_hidden(name):
    tx = OPTIMIZERS[name]()
    params, state = _step(tx, PARAMS, tx.init(PARAMS), GOOD)
    params, state = _step(tx, params, state, BAD)
    assert np.isnan(np.asarray(params["kernel"])[0, 1])
