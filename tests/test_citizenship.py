"""The contract every optax_l1 transform keeps: schedules, dtypes, skipped leaves, wrappers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_l1
from helpers import (
    assert_runs_with_donated_state,
    assert_trees_all_close,
    assert_trees_bitwise_equal,
    random_tree,
)


def _soft(w, c):
    return jnp.sign(w) * jnp.maximum(jnp.abs(w) - c, 0) - w


def group_rows(l1, mask=None, learning_rate=1.0):
    return optax_l1.group_soft_threshold(l1, axis=-1, mask=mask, learning_rate=learning_rate)


def _group_rows(w, c):
    norm = jnp.sqrt(jnp.sum(w * w, axis=-1, keepdims=True))
    return w * jnp.maximum(0, 1 - c / norm) - w


def _per_step(factory):
    """The transform with learning_rate=1: its `l1` is then the amount per step."""
    return functools.partial(factory, learning_rate=1.0)


# factory, its strength's name, and the update it returns for zero incoming updates
TRANSFORMS = {
    "add_l1_gradient": (optax_l1.add_l1_gradient, "l1", lambda w, c: c * jnp.sign(w)),
    "l1_sign_decay": (
        _per_step(optax_l1.l1_sign_decay),
        "l1",
        lambda w, c: -jnp.sign(w) * jnp.minimum(jnp.abs(w), c),
    ),
    "l1_soft_threshold": (_per_step(optax_l1.l1_soft_threshold), "l1", _soft),
    "l1_cumulative_penalty": (_per_step(optax_l1.l1_cumulative_penalty), "l1", _soft),
    "group_soft_threshold": (group_rows, "l1", _group_rows),
}


@pytest.fixture(params=TRANSFORMS)
def transform(request):
    return TRANSFORMS[request.param]


def _one_update(tx, updates, params, jit=False):
    update = jax.jit(tx.update) if jit else tx.update
    return update(updates, tx.init(params), params)[0]


@pytest.mark.parametrize("jit", [False, True])
def test_schedule_is_evaluated_at_the_step_count(transform, jit):
    factory, _, expected_update = transform
    schedule = optax.piecewise_constant_schedule(0.5, {2: 0.5, 4: 0.0})
    tx = factory(schedule)
    params = jnp.array([[4.0, -4.0]])
    state = tx.init(params)
    assert state.count.dtype == jnp.int32 and int(state.count) == 0
    update = jax.jit(tx.update) if jit else tx.update
    for t, coefficient in enumerate([0.5, 0.5, 0.25, 0.25, 0.0, 0.0]):
        updates, state = update(jnp.zeros((1, 2)), state, params)
        assert_trees_all_close(updates, expected_update(params, coefficient))
        assert int(state.count) == t + 1
        params = optax.apply_updates(params, updates)


def test_constant_coefficient_keeps_only_the_state_it_needs(transform):
    factory, _, _ = transform
    state = factory(0.1).init(jnp.ones((2, 3)))
    if factory is TRANSFORMS["l1_cumulative_penalty"][0]:
        assert isinstance(state, optax_l1.CumulativePenaltyState)
    else:
        assert state == optax.EmptyState()


DTYPES = ["bfloat16", "float16", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("how", ["float", "schedule", "inject_hyperparams"])
def test_each_leaf_keeps_its_dtype_under_strict_promotion(transform, dtype, how, x64):
    factory, name, expected_update = transform
    dtype = jnp.dtype(dtype)
    if how == "float":
        tx = factory(0.25)
    elif how == "schedule":
        tx = factory(optax.constant_schedule(0.25))
    else:
        tx = optax.inject_hyperparams(factory, hyperparam_dtype=jnp.float32)(**{name: 0.25})
    params = {"w": jnp.array([[2.0, -2.0]], dtype), "b": jnp.array([1.0], dtype)}
    with jax.numpy_dtype_promotion("strict"):
        updates = _one_update(tx, jax.tree.map(jnp.zeros_like, params), params)
    assert updates["w"].dtype == dtype and updates["b"].dtype == dtype
    expected = expected_update(params["w"].astype(jnp.float32), 0.25).astype(dtype)
    assert_trees_all_close(updates["w"], expected)


def test_integer_and_bool_leaves_are_left_alone(transform):
    factory, _, _ = transform
    params = {"w": jnp.ones((1, 2)), "step": jnp.array([7], jnp.int32), "on": jnp.array([True])}
    updates = {"w": jnp.zeros((1, 2)), "step": jnp.array([3], jnp.int32), "on": jnp.array([False])}
    out = _one_update(factory(0.5), updates, params)
    assert_trees_bitwise_equal(out["step"], updates["step"])
    assert_trees_bitwise_equal(out["on"], updates["on"])


def test_none_and_masked_node_leaves_pass_through(transform):
    factory, _, _ = transform
    params = {"w": jnp.ones((1, 2)), "frozen": None, "masked": optax.MaskedNode()}
    updates = {"w": jnp.zeros((1, 2)), "frozen": None, "masked": optax.MaskedNode()}
    out = _one_update(factory(0.5), updates, params)
    assert out["frozen"] is None and out["masked"] == optax.MaskedNode()
    none_update = _one_update(factory(0.5), {"w": None}, {"w": jnp.ones((1, 2))})
    assert none_update == {"w": None}


SPECIAL = {
    "params": jnp.array([[1.0, -1.0, 0.0, -0.0, jnp.nan, jnp.inf, 2.0]]),
    "updates": jnp.array([[-0.0, 0.0, -0.0, 0.5, 0.25, -1.0, jnp.nan]]),
}


@pytest.mark.parametrize("how", ["static", "schedule", "inject_hyperparams"])
@pytest.mark.parametrize("jit", [False, True])
def test_zero_coefficient_leaves_updates_bitwise_unchanged(transform, how, jit):
    factory, name, _ = transform
    if how == "static":
        tx = factory(0.0)
    elif how == "schedule":
        tx = factory(optax.constant_schedule(0.0))
    else:
        tx = optax.inject_hyperparams(factory)(**{name: 0.0})
    out = _one_update(tx, SPECIAL["updates"], SPECIAL["params"], jit=jit)
    if factory is TRANSFORMS["l1_cumulative_penalty"][0]:
        # It recomputes the parameter from its state (w' = r + u with r == w): the update
        # is w' - w, and the params land bitwise where w + u would, for finite params.
        finite = np.isfinite(np.asarray(SPECIAL["params"]))
        landed = optax.apply_updates(SPECIAL["params"], out)
        expected = optax.apply_updates(SPECIAL["params"], SPECIAL["updates"])
        assert_trees_bitwise_equal(landed[finite], expected[finite])
        assert np.isnan(landed[0, 4]), "a NaN param must stay NaN"
    else:
        assert_trees_bitwise_equal(out, SPECIAL["updates"])


@pytest.mark.parametrize("jit", [False, True])
def test_cumulative_penalty_with_zero_penalty_trains_as_without_it(jit):
    """A zero penalty (a warm-up schedule, say) leaves training as it is without one."""
    params = random_tree(jax.random.key(3))
    grads = [random_tree(jax.random.key(10 + i)) for i in range(20)]
    schedule = optax.constant_schedule(0.0)
    with_penalty = optax.chain(
        optax.adam(0.1), optax_l1.l1_cumulative_penalty(schedule, learning_rate=1.0)
    )
    plain = optax.adam(0.1)
    results = []
    for tx in (with_penalty, plain):
        update = jax.jit(tx.update) if jit else tx.update
        p, state = params, tx.init(params)
        for g in grads:
            u, state = update(g, state, p)
            p = optax.apply_updates(p, u)
        results.append(p)
    if jit:  # XLA fuses the two programs differently (FMA contraction): an ulp apart
        assert_trees_all_close(results[0], results[1], rtol=1e-6, atol=1e-6)
    else:
        assert_trees_bitwise_equal(results[0], results[1])


def test_nonzero_coefficient_propagates_nan_params(transform):
    factory, _, _ = transform
    out = _one_update(factory(0.5), jnp.zeros((2, 1)), jnp.array([[jnp.nan], [1.0]]))
    assert np.isnan(out[0, 0]) and np.isfinite(out[1, 0])


def test_needs_params(transform):
    factory, _, _ = transform
    tx = factory(0.1)
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones((1, 2)), tx.init(jnp.ones((1, 2))))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), -float("inf"), np.float32(-1)])
def test_bad_coefficient_is_refused_at_construction(transform, bad):
    factory, name, _ = transform
    with pytest.raises(ValueError, match=f"`{name}` must be finite and non-negative"):
        factory(bad)


@pytest.mark.parametrize("bad", ["0.1", jnp.ones(3), None, True])
def test_non_scalar_coefficient_is_refused(transform, bad):
    factory, name, _ = transform
    with pytest.raises(ValueError, match=f"`{name}` must be a real scalar"):
        factory(bad)


def test_bad_value_through_inject_hyperparams_is_refused(transform):
    factory, name, _ = transform
    tx = optax.inject_hyperparams(factory)(**{name: -1.0})
    with pytest.raises(ValueError, match=name):
        tx.init(jnp.ones((1, 2)))


@pytest.mark.parametrize("jit", [False, True])
def test_inject_hyperparams_changes_take_effect(transform, jit):
    factory, name, expected_update = transform
    tx = optax.inject_hyperparams(factory, static_args="mask")(
        **{name: 0.25}, mask=optax_l1.skip_biases
    )
    params = {"kernel": jnp.full((2, 2), 3.0), "bias": jnp.full((2,), 3.0)}
    grads = jax.tree.map(jnp.zeros_like, params)
    state = tx.init(params)
    update = jax.jit(tx.update) if jit else tx.update
    updates, state = update(grads, state, params)
    assert_trees_all_close(updates["kernel"], expected_update(params["kernel"], 0.25))
    params = optax.apply_updates(params, updates)
    state.hyperparams[name] = jnp.asarray(0.5)
    updates, state = update(grads, state, params)
    assert_trees_all_close(updates["kernel"], expected_update(params["kernel"], 0.5))
    assert_trees_bitwise_equal(updates["bias"], grads["bias"])


def test_inside_optax_masked_and_chain(transform):
    factory, _, expected_update = transform
    params = random_tree(jax.random.key(0), low=1.0, high=2.0)
    mask = jax.tree.map(lambda _: False, params)
    mask["dense"]["kernel"] = True
    tx = optax.chain(optax.masked(factory(0.125), mask), optax.scale(1.0))
    updates = _one_update(tx, jax.tree.map(jnp.zeros_like, params), params)
    kernel = params["dense"]["kernel"]
    assert_trees_all_close(updates["dense"]["kernel"], expected_update(kernel, 0.125))
    updates["dense"]["kernel"] = jnp.zeros((5, 4))
    assert_trees_bitwise_equal(updates, jax.tree.map(jnp.zeros_like, params))


def test_inside_multisteps_acts_once_per_accumulated_step():
    lam, lr = 0.25, 0.5
    params = jnp.array([2.0, -2.0, 1.0])
    grads = [jnp.array([0.5, 0.25, -0.5]), jnp.array([0.25, 0.25, 0.0])]
    tx = optax.MultiSteps(
        optax.chain(optax_l1.add_l1_gradient(lam), optax.sgd(lr)), every_k_schedule=2
    )
    state = tx.init(params)
    first, state = tx.update(grads[0], state, params)
    assert_trees_all_close(first, jnp.zeros(3))  # MultiSteps emits (signed) zeros meanwhile
    second, state = jax.jit(tx.update)(grads[1], state, params)
    mean = (grads[0] + grads[1]) / 2
    assert_trees_all_close(second, -lr * (mean + lam * jnp.sign(params)))

    decoupled = optax.MultiSteps(
        optax.chain(optax.sgd(lr), optax_l1.l1_sign_decay(lam, learning_rate=lr)), 2
    )
    state = decoupled.init(params)
    _, state = decoupled.update(grads[0], state, params)
    second_decoupled, _ = decoupled.update(grads[1], state, params)
    assert_trees_all_close(second_decoupled, second)


@pytest.mark.parametrize("scheduled", [False, True])
def test_state_can_be_donated_to_a_jitted_step(transform, scheduled):
    """Training loops donate params and state; no two state fields may share a buffer."""
    factory, _, _ = transform
    tx = factory(optax.constant_schedule(0.01) if scheduled else 0.01)
    assert_runs_with_donated_state(tx)


def test_a_negative_schedule_is_refused_at_construction(transform):
    factory, name, _ = transform
    with pytest.raises(ValueError, match=f"`{name}` is a schedule whose value at step 0"):
        factory(lambda count: -0.5)


@pytest.mark.parametrize("name", ["l1_soft_threshold", "l1_cumulative_penalty", "group"])
def test_low_precision_updates_still_land_on_exact_zeros(name):
    """Mixed precision: bfloat16 gradients for float32 params must not lose the zeros."""
    factory = {
        "l1_soft_threshold": lambda: optax_l1.l1_soft_threshold(0.5, learning_rate=1.0),
        "l1_cumulative_penalty": lambda: optax_l1.l1_cumulative_penalty(0.5, learning_rate=1.0),
        "group": lambda: optax_l1.group_soft_threshold(2.0, axis=0, learning_rate=1.0),
    }[name]
    tx = factory()
    params = jnp.array([0.3, 0.7], jnp.float32)
    updates, _ = tx.update(jnp.zeros(2, jnp.bfloat16), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert new.dtype == jnp.float32 and updates.dtype == jnp.float32
    assert float(new[0]) == 0.0
