"""target_sparsity: ask for a fraction of exact zeros, get it, without a lambda sweep."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_l1
from helpers import assert_trees_bitwise_equal


def _lasso_run(factory_kwargs, target, steps=300, w_star_size=1000, **kwargs):
    """Least squares to w_star: the l1 that gives a sparsity s is a quantile of |w_star|."""
    w_star = jax.random.normal(jax.random.key(0), (w_star_size,))
    inner = optax_l1.target_sparsity(
        optax_l1.l1_soft_threshold,
        target=target,
        ramp_steps=100,
        l1_init=1e-2,
        **factory_kwargs,
        **kwargs,
    )
    tx = optax.chain(optax.sgd(0.5), inner)
    params = jnp.zeros(w_star_size)
    state = tx.init(params)
    update = jax.jit(tx.update)
    history = []
    for _ in range(steps):
        updates, state = update(params - w_star, state, params)
        params = optax.apply_updates(params, updates)
        history.append(float(optax_l1.sparsity(params)))
    return np.array(history), state[1], params, w_star


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.95, 0.98])
def test_reaches_the_target_and_holds_it_after_the_ramp(target):
    history, state, params, w_star = _lasso_run({"learning_rate": 0.5}, target)
    after_ramp = history[110:]
    assert abs(history[-1] - target) <= 0.01
    assert after_ramp.max() - after_ramp.min() <= 0.01  # no oscillation past a point
    l1 = float(jnp.exp(state.log_l1))
    assert np.isfinite(l1) and l1 > 0
    # the lasso solution at that l1 is S_l1(w_star): its zeros are |w_star| <= l1
    np.testing.assert_allclose(
        float(optax_l1.sparsity(params)), np.mean(np.abs(w_star) <= l1), atol=0.01
    )


def test_follows_the_cubic_ramp():
    history, _, _, _ = _lasso_run({"learning_rate": 0.5}, 0.9, steps=100)
    ramp = optax_l1._target.cubic_ramp(0.9, 100)
    expected = np.array([float(ramp(t)) for t in range(1, 101)])
    assert np.all(np.diff(history) >= -0.005)  # it rises with the ramp
    assert np.max(np.abs(history[60:] - expected[60:])) < 0.05  # once l1 has caught up
    assert history[0] < 0.1  # it starts from no zeros, as the ramp does


@pytest.mark.parametrize(
    "factory",
    [
        functools.partial(optax_l1.sgd_l1, 0.1),
        optax_l1.adam_l1,
        functools.partial(optax_l1.group_soft_threshold, axis=0),
        optax_l1.proximal_adagrad,
        optax_l1.ftrl,
    ],
    ids=["sgd_l1", "adam_l1", "group_soft_threshold", "proximal_adagrad", "ftrl"],
)
def test_wraps_any_transform_that_takes_l1_under_jit_with_a_mask(factory):
    kwargs = {} if "sgd_l1" in str(factory) else {"learning_rate": 0.05}
    if factory in (optax_l1.adam_l1, optax_l1.proximal_adagrad):
        kwargs = {"learning_rate": 0.01 if factory is optax_l1.adam_l1 else 0.5}
    if factory is optax_l1.ftrl:
        kwargs = {"learning_rate": 0.5}
    tx = optax_l1.target_sparsity(
        factory, target=0.5, ramp_steps=50, mask=optax_l1.skip_biases, **kwargs
    )
    if "group" in str(factory):
        tx = optax.chain(optax.sgd(0.05), tx)
    params = {
        "kernel": jax.random.normal(jax.random.key(1), (32, 16)),
        "bias": jnp.ones(16),
    }
    target_kernel = params["kernel"] * (jnp.abs(params["kernel"]) > 0.7)
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        grads = {"kernel": params["kernel"] - target_kernel, "bias": jnp.zeros(16)}
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(200):
        params, state = step(params, state)
    if factory is not optax_l1.ftrl:  # FTRL rebuilds every weight from its state
        assert_trees_bitwise_equal(params["bias"], jnp.ones(16))  # masked out: untouched
    sparsity = float(optax_l1.sparsity(params, optax_l1.skip_biases))
    assert 0.3 < sparsity < 0.7, sparsity


def test_state_is_a_checkpointable_pytree_and_l1_stays_bounded():
    tx = optax_l1.target_sparsity(
        optax_l1.l1_soft_threshold, target=0.99, ramp_steps=5, learning_rate=0.1, l1_init=1.0
    )
    params = jnp.ones(10)
    state = tx.init(params)
    for _ in range(50):  # a target it cannot reach from a gradient that revives weights
        updates, state = tx.update(-jnp.ones(10), state, params)
        params = optax.apply_updates(params, updates)
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(state))
    assert np.isfinite(float(state.log_l1))
    assert float(state.log_l1) <= np.log(1.0) + 8 * np.log(10) + 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": 1.0}, "target"),
        ({"target": -0.1}, "target"),
        ({"ramp_steps": 0}, "ramp_steps"),
        ({"l1_init": 0.0}, "l1_init"),
        ({"gain": -1.0}, "gain"),
        ({"l1": 0.1}, "l1_init"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, match):
    base = {"target": 0.5, "ramp_steps": 10, "learning_rate": 0.1}
    with pytest.raises(ValueError, match=match):
        optax_l1.target_sparsity(optax_l1.l1_soft_threshold, **{**base, **kwargs})


def test_a_factory_without_l1_is_refused():
    with pytest.raises(ValueError, match="must take `l1`"):
        optax_l1.target_sparsity(optax.adam, target=0.5, ramp_steps=10, learning_rate=0.1)


def test_a_mask_for_a_factory_that_takes_none_is_refused():
    with pytest.raises(ValueError, match="takes no mask"):
        optax_l1.target_sparsity(
            optax_l1.proximal_adam,
            0.5,
            ramp_steps=10,
            learning_rate=0.1,
            mask=optax_l1.skip_biases,
        )
