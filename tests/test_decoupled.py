import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optax_l1
from helpers import assert_trees_all_close, assert_trees_bitwise_equal

finite_f32 = st.floats(-100.0, 100.0, width=32, allow_subnormal=False)
weights = hnp.arrays(np.float32, st.integers(1, 16), elements=finite_f32)
decays = st.floats(0.0, 10.0, width=32, allow_subnormal=False)


def test_update_is_minus_decay_times_sign():
    params = jnp.array([1.0, -1.0, 0.75, -3.0])
    tx = optax_l1.l1_sign_decay(0.25, learning_rate=1.0)
    updates, _ = tx.update(jnp.zeros(4), tx.init(params), params)
    assert_trees_all_close(updates, jnp.array([-0.25, 0.25, -0.25, 0.25]))


@pytest.mark.parametrize("jit", [False, True])
def test_shrinks_positive_and_negative_weights(jit):
    """The seed write-up's `w + sign(w) * lambda` grows |w|; ours must shrink it."""
    params = jnp.array([2.0, -2.0, 0.5, -0.5])
    tx = optax.chain(optax.sgd(0.1), optax_l1.l1_sign_decay(0.125, learning_rate=1.0))
    update = jax.jit(tx.update) if jit else tx.update
    updates, _ = update(jnp.zeros(4), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert new[0] < params[0] and new[2] < params[2]
    assert new[1] > params[1] and new[3] > params[3]
    assert_trees_all_close(new, jnp.array([1.875, -1.875, 0.375, -0.375]))


def test_small_weights_stop_exactly_at_zero():
    params = jnp.array([0.1, -0.1, 0.0, -0.0, 1.0])
    tx = optax_l1.l1_sign_decay(0.25, learning_rate=1.0)
    updates, _ = tx.update(jnp.zeros(5), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert_trees_bitwise_equal(jnp.abs(new[:4]), jnp.zeros(4))
    assert new[4] == 0.75


def test_applies_after_the_gradient_step_not_inside_it():
    params = jnp.array([1.0, -1.0])
    grads = jnp.array([2.0, 2.0])
    tx = optax.chain(optax.sgd(0.5), optax_l1.l1_sign_decay(0.25, learning_rate=1.0))
    updates, _ = tx.update(grads, tx.init(params), params)
    assert_trees_all_close(updates, jnp.array([-1.25, -0.75]))


@settings(max_examples=60, deadline=None)
@given(w=weights, decay=decays)
def test_decay_never_increases_magnitude_nor_moves_more_than_decay(w, decay):
    tx = optax_l1.l1_sign_decay(decay, learning_rate=1.0)
    params = jnp.asarray(w)
    updates, _ = tx.update(jnp.zeros_like(params), tx.init(params), params)
    new = np.asarray(optax.apply_updates(params, updates))
    assert np.all(np.abs(new) <= np.abs(w))
    assert np.all(np.abs(np.asarray(updates)) <= np.float32(decay))
    assert np.all(new * w >= 0), "decay carried a weight across zero"


@pytest.mark.parametrize("jit", [False, True])
def test_update_is_bitwise_the_sign_times_min_definition(jit):
    """The rule is computed as a clip; it must equal -sign(w) * min(|w|, d) bit for bit."""
    specials = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 0.25, -0.25, 0.3, -3.0]
    rng = np.random.default_rng(0)
    params = jnp.asarray(np.concatenate([specials, rng.normal(size=200)]), jnp.float32)
    grads = jnp.asarray(rng.normal(size=params.shape), jnp.float32)
    d = np.float32(0.25)
    tx = optax_l1.l1_sign_decay(d, learning_rate=1.0)
    update = jax.jit(tx.update) if jit else tx.update
    updates, _ = update(grads, tx.init(params), params)
    w = np.asarray(params)
    expected = np.asarray(grads) - np.sign(w) * np.minimum(np.abs(w), d)
    assert_trees_bitwise_equal(updates, jnp.asarray(expected, jnp.float32))
