"""ftrl: McMahan et al.'s Algorithm 1 and Keras' Ftrl, step by step, and the Optax contract."""

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
    orbax_resume,
    random_run,
    random_tree,
)

# Hyperparameters exactly representable in float32: Keras rounds its hyperparameters to
# float32 even for float64 variables, and ftrl does not, so these make the two agree.
KERAS_CASES = {
    "defaults": dict(learning_rate=0.25, l1=0.5),
    "everything": dict(
        learning_rate=0.25,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.125,
        l1=0.5,
        l2=0.125,
        l2_shrinkage=0.0625,
        beta=0.5,
    ),
    "fixed_rate": dict(learning_rate=0.0625, learning_rate_power=0.0, l1=0.25, l2=0.5),
    "power_quarter": dict(learning_rate=0.5, learning_rate_power=-0.25, l1=0.5, beta=1.0),
    "power_one": dict(
        learning_rate=2.0, learning_rate_power=-1.0, initial_accumulator_value=0.0, l1=0.5
    ),
    "no_accumulator": dict(learning_rate=0.25, initial_accumulator_value=0.0, l1=0.5, l2=0.25),
    "shrinkage_only": dict(learning_rate=0.25, l2_shrinkage=0.25),
    "schedules": dict(
        learning_rate=optax.cosine_decay_schedule(0.5, 200, alpha=0.1),
        l1=lambda count: 0.0625 * (count + 1),
        # a linear warm-up in exact binary fractions (optax.linear_schedule rounds
        # differently under jit and eagerly, so the reference could not see its values)
        l2=lambda count: 0.5 * jnp.minimum(count, 64) / 64,
        l2_shrinkage=optax.constant_schedule(0.0625),
    ),
}
DEFAULTS = dict(
    learning_rate_power=-0.5,
    initial_accumulator_value=0.1,
    l1=0.0,
    l2=0.0,
    l2_shrinkage=0.0,
    beta=0.0,
)


def keras_ftrl_step(w, z, n, g, lr, learning_rate_power, l1, l2, l2_shrinkage, beta):
    """One step of the update keras.optimizers.Ftrl documents and computes, in NumPy."""
    n_new = n + g**2
    sigma = (n_new ** (-learning_rate_power) - n ** (-learning_rate_power)) / lr
    z = z + (g + 2 * l2_shrinkage * w) - sigma * w
    quadratic = n_new ** (-learning_rate_power) / lr + 2 * (l2 + beta / (2 * lr))
    with np.errstate(invalid="ignore"):  # 0 / 0 where Keras has it; ftrl returns 0 there
        w = (np.clip(z, -l1, l1) - z) / quadratic
    return np.where(np.abs(z) <= l1, 0.0, w), z, n_new


def _values_at(case, t):
    merged = {**DEFAULTS, **case}
    return {
        k: float(v(jnp.int32(t))) if callable(v) else v
        for k, v in merged.items()
        if k not in ("initial_accumulator_value",)
    }


def _random_run(case, steps, dtype, seed=0):
    """Row 0's first 3 coordinates never see a gradient."""
    return random_run(optax_l1.ftrl(**case), steps, dtype, seed)


@pytest.mark.parametrize("case", KERAS_CASES)
def test_matches_the_keras_update_in_float64(case, x64):
    steps = 200
    w0, grads, history = _random_run(KERAS_CASES[case], steps, np.float64)
    n0 = KERAS_CASES[case].get("initial_accumulator_value", 0.1)
    w, z, n = w0, np.zeros_like(w0), np.full_like(w0, n0)
    zeros = 0
    for t in range(steps):
        h = _values_at(KERAS_CASES[case], t)
        w, z, n = keras_ftrl_step(w, z, n, grads[t], h.pop("learning_rate"), **h)
        params, state = history[t]
        assert params.dtype == jnp.float64 and state.linear.dtype == jnp.float64
        np.testing.assert_allclose(params, w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(state.linear, z, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(state.accumulator, n, rtol=1e-12)
        np.testing.assert_array_equal(np.asarray(params) == 0, w == 0)
        zeros += int(np.sum(w == 0))
    if KERAS_CASES[case].get("l1"):
        assert zeros > 0, "the case should produce exact zeros"
    assert int(history[-1][1].count) == steps


@pytest.mark.parametrize("case", ["everything", "fixed_rate", "power_quarter", "schedules"])
def test_each_float32_step_matches_the_keras_update(case):
    """From ftrl's own float32 state each step, one float64 Keras step agrees to float32."""
    steps = 100
    w0, grads, history = _random_run(KERAS_CASES[case], steps, np.float32, seed=1)
    n0 = KERAS_CASES[case].get("initial_accumulator_value", 0.1)
    w, z, n = (np.float64(w0), np.zeros(w0.shape), np.full(w0.shape, n0, np.float32))
    for t in range(steps):
        h = _values_at(KERAS_CASES[case], t)
        want_w, want_z, want_n = keras_ftrl_step(
            w, z, np.float64(n), np.float64(grads[t]), h.pop("learning_rate"), **h
        )
        params, state = history[t]
        assert params.dtype == jnp.float32 and state.linear.dtype == jnp.float32
        scale = 1 + np.abs(want_z)
        np.testing.assert_allclose(state.linear, want_z, rtol=0, atol=2e-6 * scale.max())
        np.testing.assert_allclose(state.accumulator, want_n, rtol=1e-6)
        np.testing.assert_allclose(params, want_w, rtol=2e-5, atol=2e-6)
        w, z, n = np.float64(params), np.float64(state.linear), np.float64(state.accumulator)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def mcmahan_algorithm_1(examples, labels, alpha, beta, lambda1, lambda2):
    """Algorithm 1 of McMahan et al. (2013), per coordinate, as printed in the paper.

    Per-coordinate FTRL-Proximal with L1 and L2 for logistic regression: for each example
    the active coordinates' weights are computed from (z, n), the prediction made, and
    z and n updated. Returns the weights predicted with at each round.
    """
    d = examples.shape[1]
    z, n = np.zeros(d), np.zeros(d)
    used = []
    for x, y in zip(examples, labels, strict=True):
        active = np.flatnonzero(x)
        w = np.zeros(d)
        for i in range(d):  # every coordinate, to report the full vector
            if abs(z[i]) <= lambda1:
                w[i] = 0.0
            else:
                w[i] = -(z[i] - np.sign(z[i]) * lambda1) / (
                    (beta + np.sqrt(n[i])) / alpha + lambda2
                )
        p = _sigmoid(x @ w)
        for i in active:
            g = (p - y) * x[i]
            sigma = (np.sqrt(n[i] + g * g) - np.sqrt(n[i])) / alpha
            z[i] += g - sigma * w[i]
            n[i] += g * g
        used.append(w)
    return np.array(used)


def test_matches_mcmahan_algorithm_1_on_sparse_logistic_regression(x64):
    """The paper's setting: one example per step, sparse binary features, L1 and L2.

    The paper's lambda2 multiplies |w|^2 / 2 and Keras' l2 multiplies |w|^2, so
    l2 = lambda2 / 2; the paper's n starts at 0.
    """
    rng = np.random.default_rng(3)
    n_examples, d = 400, 30
    x = (rng.uniform(size=(n_examples, d)) < 0.15).astype(np.float64)
    true_w = np.where(np.arange(d) < 5, 2.0, 0.0) * rng.choice([-1, 1], d)
    y = (rng.uniform(size=n_examples) < _sigmoid(x @ true_w - 0.3)).astype(np.float64)
    alpha, beta, lambda1, lambda2 = 0.3, 1.0, 1.5, 0.5
    expected = mcmahan_algorithm_1(x, y, alpha, beta, lambda1, lambda2)

    tx = optax_l1.ftrl(alpha, initial_accumulator_value=0.0, l1=lambda1, l2=lambda2 / 2, beta=beta)

    def step(carry, example):
        w, state = carry
        xi, yi = example
        grad = jax.grad(lambda w: optax.sigmoid_binary_cross_entropy(xi @ w, yi))(w)
        updates, state = tx.update(grad, state, w)
        return (optax.apply_updates(w, updates), state), w

    w0 = jnp.zeros(d)
    _, used = jax.jit(lambda c: jax.lax.scan(step, c, (jnp.asarray(x), jnp.asarray(y))))(
        (w0, tx.init(w0))
    )
    np.testing.assert_allclose(used, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(used) == 0, expected == 0)
    final = expected[-1]
    assert 0 < np.count_nonzero(final) < d, "L1 should keep some coordinates at exactly 0"


@pytest.mark.parametrize("jit", [False, True])
def test_zeros_are_exact_wherever_z_is_within_l1(jit):
    tx = optax_l1.ftrl(0.5, l1=1.0, l2=0.25)
    params = jnp.array([0.7, -0.3, 1e-3, 2.0, -5.0, 0.0])
    grads = jnp.array([0.9, -0.2, 0.0, -3.0, 4.0, 1.0])
    update = jax.jit(tx.update) if jit else tx.update
    state = tx.init(params)
    for _ in range(3):
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
        within = np.abs(np.asarray(state.linear)) <= 1.0
        assert within.any() and not within.all()
        assert_trees_bitwise_equal(params[within], jnp.zeros(int(within.sum())))
        assert np.all(np.asarray(params)[~within] != 0)


def test_a_zero_gradient_zeroes_a_nonzero_start_as_keras_does():
    """FTRL rebuilds w from (z, n) and starts at z = 0: it assumes zero initial weights."""
    params = jnp.array([0.5, -2.0, 0.25])
    tx = optax_l1.ftrl(0.1)
    updates, _ = tx.update(jnp.array([0.0, 0.0, 1.0]), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert_trees_bitwise_equal(new[:2], jnp.zeros(2))
    w, _, _ = keras_ftrl_step(
        np.asarray(params, np.float64), 0.0, 0.1, np.array([0.0, 0.0, 1.0]), 0.1, -0.5, 0, 0, 0, 0
    )
    np.testing.assert_allclose(new, w, rtol=1e-6)


def test_where_keras_divides_zero_by_zero_the_weight_is_zero():
    tx = optax_l1.ftrl(0.1, initial_accumulator_value=0.0)
    params = jnp.zeros(3)
    updates, _ = tx.update(jnp.array([0.0, 1.0, -1.0]), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert_trees_bitwise_equal(new, jnp.array([0.0, -0.1, 0.1]))


def test_fixed_rate_is_lazy_projected_gradient_descent_without_l1():
    """learning_rate_power=0, no L1/L2: w_t = -lr * (sum of gradients) / (1 + beta)."""
    tx = optax_l1.ftrl(0.5, learning_rate_power=0.0, beta=1.0)
    params = jnp.zeros(4)
    state = tx.init(params)
    grads = [jnp.array([1.0, -2.0, 0.5, 0.0]), jnp.array([0.25, 1.0, -0.5, 0.0])]
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
    assert_trees_all_close(params, -0.5 * (grads[0] + grads[1]) / 2)


def test_state_dtypes_and_fields():
    params = {"w": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.ones(3), "step": jnp.array(1)}
    state = optax_l1.ftrl(0.1, initial_accumulator_value=0.5).init(params)
    assert isinstance(state, optax_l1.FtrlState)
    assert state.count.dtype == jnp.int32 and int(state.count) == 0
    assert state.linear["w"].dtype == jnp.float32 and state.accumulator["w"].dtype == jnp.float32
    assert_trees_bitwise_equal(state.accumulator["b"], jnp.full(3, 0.5))
    assert_trees_bitwise_equal(state.linear["b"], jnp.zeros(3))
    assert state.linear["step"] is None and state.accumulator["step"] is None


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize("jit", [False, True])
def test_masked_out_leaves_get_unregularized_ftrl_bitwise(jit):
    # Eagerly, each operation compiles for each leaf shape: fewer leaves keep it quick.
    keep = (lambda tree: tree) if jit else (lambda tree: {k: tree[k] for k in ("dense", "norm")})
    params = keep(jax.tree.map(jnp.zeros_like, random_tree(jax.random.key(3))))
    grads = [keep(random_tree(jax.random.key(10 + i))) for i in range(8)]
    hyper = dict(learning_rate=0.2, learning_rate_power=-0.5, beta=0.5)
    reg = dict(l1=3.0, l2=0.5, l2_shrinkage=0.1)
    masked = optax_l1.ftrl(**hyper, **reg, mask=optax_l1.skip_biases)
    plain = optax_l1.ftrl(**hyper)
    regularized = optax_l1.ftrl(**hyper, **reg)
    results = []
    for tx in (masked, plain, regularized):
        update = jax.jit(tx.update) if jit else tx.update
        p, state = params, tx.init(params)
        for g in grads:
            u, state = update(g, state, p)
            p = optax.apply_updates(p, u)
        results.append(p)
    got, unregularized, everywhere = results
    mask = optax_l1.skip_biases(params)
    for selected, a, b, c in zip(
        jax.tree.leaves(mask),
        jax.tree.leaves(got),
        jax.tree.leaves(unregularized),
        jax.tree.leaves(everywhere),
        strict=True,
    ):
        assert_trees_bitwise_equal(a, c if selected else b)
    assert optax_l1.sparsity(got, optax_l1.skip_biases) > 0.3
    assert optax_l1.sparsity(got, lambda p: jax.tree.map(lambda s: not s, mask)) == 0


def test_a_mask_that_does_not_fit_or_is_an_array_is_refused():
    params = {"a": jnp.ones((2, 2)), "b": jnp.ones(2)}
    with pytest.raises(ValueError, match="`mask` does not fit the params"):
        optax_l1.ftrl(0.1, l1=0.1, mask={"a": True}).init(params)
    with pytest.raises(ValueError, match="static_args"):
        optax_l1.ftrl(0.1, l1=0.1, mask=jnp.array(True))
    with pytest.warns(UserWarning, match="selects no floating-point parameter"):
        optax_l1.ftrl(0.1, l1=0.1, mask={"a": False, "b": False}).init(params)


# --------------------------------------------------------------------------- Optax contract


def test_chain_after_clipping_equals_ftrl_on_clipped_gradients():
    params = {"w": jnp.array([[0.1, -0.2]])}
    grads = {"w": jnp.array([[30.0, 40.0]])}
    chained = optax.chain(optax.clip_by_global_norm(5.0), optax_l1.ftrl(0.1, l1=0.5))
    direct = optax_l1.ftrl(0.1, l1=0.5)
    u1, _ = chained.update(grads, chained.init(params), params)
    u2, _ = direct.update({"w": grads["w"] / 10}, direct.init(params), params)
    assert_trees_all_close(u1, u2, rtol=1e-6)


def test_inside_optax_masked():
    params = {"kernel": jnp.zeros((2, 3)), "bias": jnp.ones(3)}
    grads = {"kernel": jnp.ones((2, 3)), "bias": jnp.full(3, 0.5)}
    tx = optax.masked(optax_l1.ftrl(0.1, l1=0.5), {"kernel": True, "bias": False})
    updates, _ = tx.update(grads, tx.init(params), params)
    alone = optax_l1.ftrl(0.1, l1=0.5)
    expected, _ = alone.update(grads["kernel"], alone.init(params["kernel"]), params["kernel"])
    assert_trees_bitwise_equal(updates["kernel"], expected)
    assert_trees_bitwise_equal(updates["bias"], grads["bias"])  # optax.masked passes it on


@pytest.mark.parametrize("jit", [False, True])
def test_inject_hyperparams_changes_take_effect(jit):
    tx = optax.inject_hyperparams(optax_l1.ftrl, static_args="mask")(
        learning_rate=0.1, l1=0.0, mask=optax_l1.skip_biases
    )
    reference = optax_l1.ftrl(0.1, l1=0.0, mask=optax_l1.skip_biases)
    switched = optax_l1.ftrl(0.1, l1=3.0, mask=optax_l1.skip_biases)
    params = {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros(2)}
    grads = {"kernel": jnp.array([[1.0, -1.0], [3.0, 0.5]]), "bias": jnp.ones(2)}
    update = jax.jit(tx.update) if jit else tx.update
    state, ref_state = tx.init(params), reference.init(params)
    u, state = update(grads, state, params)
    u_ref, ref_state = reference.update(grads, ref_state, params)
    assert_trees_all_close(u, u_ref, rtol=1e-6)
    params = optax.apply_updates(params, u)
    state.hyperparams["l1"] = jnp.asarray(3.0)
    u, state = update(grads, state, params)
    u_switched, _ = switched.update(grads, ref_state, params)
    assert_trees_all_close(u, u_switched, rtol=1e-6)
    new = optax.apply_updates(params, u)
    assert float(new["kernel"][0, 0]) == 0.0  # |z| = 2 + sigma |w| <= l1 = 3


def test_inject_hyperparams_of_every_number_including_the_power():
    params = jnp.zeros(5)
    grads = [jnp.array([1.0, -0.5, 0.25, 2.0, 0.0]) * (i + 1) for i in range(4)]
    kwargs = dict(learning_rate_power=-0.25, initial_accumulator_value=0.5, l1=0.5, beta=0.5)
    injected = optax.inject_hyperparams(optax_l1.ftrl)(learning_rate=0.25, **kwargs)
    plain = optax_l1.ftrl(0.25, **kwargs)
    p1, s1, p2, s2 = params, injected.init(params), params, plain.init(params)
    update = jax.jit(injected.update)  # the power is traced: the general power path
    for g in grads:
        u1, s1 = update(g, s1, p1)
        u2, s2 = plain.update(g, s2, p2)
        p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    assert_trees_all_close(p1, p2, rtol=1e-6)
    assert_trees_bitwise_equal(p1 == 0, p2 == 0)


def test_inside_multisteps_steps_once_on_the_mean_gradient():
    params = jnp.zeros(3)
    grads = [jnp.array([0.5, -1.0, 2.0]), jnp.array([1.5, 0.0, -1.0])]
    tx = optax.MultiSteps(optax_l1.ftrl(0.1, l1=0.3), every_k_schedule=2)
    state = tx.init(params)
    first, state = tx.update(grads[0], state, params)
    assert_trees_all_close(first, jnp.zeros(3))
    second, state = jax.jit(tx.update)(grads[1], state, params)
    once = optax_l1.ftrl(0.1, l1=0.3)
    expected, _ = once.update((grads[0] + grads[1]) / 2, once.init(params), params)
    assert_trees_all_close(second, expected, rtol=1e-6)


@pytest.mark.parametrize("scheduled", [False, True])
def test_state_can_be_donated_to_a_jitted_step(scheduled):
    lr = optax.constant_schedule(0.1) if scheduled else 0.1
    tx = optax_l1.ftrl(lr, l1=0.01, mask=optax_l1.skip_biases)
    zeros = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}  # FTRL's weights start at zero
    state = assert_runs_with_donated_state(tx, params=zeros)
    assert int(state.count) == 3


DTYPES = ["bfloat16", "float16", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("how", ["float", "schedule", "inject_hyperparams"])
def test_each_leaf_keeps_its_dtype_under_strict_promotion(dtype, how, x64):
    dtype = jnp.dtype(dtype)
    kwargs = dict(l1=0.25, l2=0.125, l2_shrinkage=0.0625, beta=0.5)
    if how == "float":
        tx = optax_l1.ftrl(0.5, **kwargs)
    elif how == "schedule":
        tx = optax_l1.ftrl(optax.constant_schedule(0.5), **kwargs)
    else:
        tx = optax.inject_hyperparams(optax_l1.ftrl, hyperparam_dtype=jnp.float32)(
            learning_rate=0.5, **kwargs
        )
    params = {"w": jnp.array([[0.0, 0.5], [-0.25, 0.0]], dtype), "b": jnp.array([0.0], dtype)}
    grads = {"w": jnp.array([[1.0, -2.0], [0.125, 0.0]], dtype), "b": jnp.array([1.0], dtype)}
    with jax.numpy_dtype_promotion("strict"):
        state = tx.init(params)
        updates, state = tx.update(grads, state, params)
        updates, state = jax.jit(tx.update)(grads, state, optax.apply_updates(params, updates))
    assert updates["w"].dtype == dtype and updates["b"].dtype == dtype
    inner = state.inner_state if how == "inject_hyperparams" else state
    wide = jnp.float64 if dtype == jnp.float64 else jnp.float32
    assert inner.linear["w"].dtype == wide and inner.accumulator["w"].dtype == wide


def test_complex_leaves_are_refused_at_init_unless_masked_out():
    params = {"real": jnp.ones((2, 2)), "phase": jnp.ones((2, 2), jnp.complex64)}
    with pytest.raises(ValueError, match=r"\['phase'\] is complex"):
        optax_l1.ftrl(0.1, l1=0.1).init(params)
    tx = optax.masked(optax_l1.ftrl(0.1, l1=0.1), {"real": True, "phase": False})
    tx.init(params)


def test_updates_shaped_unlike_the_params_are_refused():
    tx = optax_l1.ftrl(0.1, l1=0.1)
    params = jnp.ones((3, 3))
    with pytest.raises(ValueError, match="shape"):
        tx.update(jnp.ones((1, 3)), tx.init(params), params)


def test_needs_params_and_refuses_schedule_free():
    tx = optax_l1.ftrl(0.1, l1=0.1)
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    sf = optax.contrib.schedule_free(optax_l1.ftrl(0.1, l1=0.1), learning_rate=0.1)
    with pytest.raises(ValueError, match="schedule_free"):
        sf.update(jnp.ones(2), sf.init(jnp.ones(2)), jnp.ones(2))


def test_python_float_leaves_follow_the_keras_update():
    params, grads = {"w": 0.0, "v": 0.5}, {"w": 2.0, "v": -0.25}
    tx = optax_l1.ftrl(0.25, l1=0.125)
    updates, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    for name in params:
        w, _, _ = keras_ftrl_step(
            np.float64(params[name]), 0.0, 0.1, np.float64(grads[name]), 0.25, -0.5,
            0.125, 0.0, 0.0, 0.0,
        )  # fmt: skip
        np.testing.assert_allclose(new[name], w, rtol=1e-6)


def test_integer_and_none_leaves_pass_through():
    params = {"kernel": jnp.zeros((2, 2)), "step": jnp.array([3], jnp.int32), "frozen": None}
    grads = {"kernel": jnp.ones((2, 2)), "step": jnp.array([1], jnp.int32), "frozen": None}
    tx = optax_l1.ftrl(0.1, l1=0.1, mask=optax_l1.skip_biases)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert_trees_bitwise_equal(updates["step"], grads["step"])
    assert updates["frozen"] is None


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(learning_rate=lambda c: float("nan")), "learning_rate"),
        (dict(l1=-1.0), "l1"),
        (dict(l2=float("inf")), "l2"),
        (dict(l2_shrinkage=-0.1), "l2_shrinkage"),
        (dict(learning_rate_power=0.5), "learning_rate_power"),
        (dict(learning_rate_power=lambda c: -0.5), "learning_rate_power"),
        (dict(initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (dict(beta=-1.0), "beta"),
        (dict(beta=float("nan")), "beta"),
    ],
)
def test_bad_hyperparameters_are_refused_by_name(kwargs, name):
    kwargs = {"learning_rate": 0.1, **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        optax_l1.ftrl(**kwargs)


def test_orbax_checkpoint_and_resume_is_bitwise_identical(tmp_path):
    pytest.importorskip("orbax.checkpoint")  # the examples extra
    tx = optax_l1.ftrl(
        optax.exponential_decay(0.2, 10, 0.5), l1=0.05, l2=0.01, mask=optax_l1.skip_biases
    )
    params0 = jax.tree.map(jnp.zeros_like, random_tree(jax.random.key(0)))
    grads = [random_tree(jax.random.key(i + 1)) for i in range(8)]
    straight, straight_state, resumed, resumed_state, restored = orbax_resume(
        tx, params0, grads, tmp_path
    )
    assert isinstance(restored, optax_l1.FtrlState) and int(restored.count) == 4
    assert_trees_bitwise_equal(resumed, straight)
    assert_trees_bitwise_equal(resumed_state, straight_state)


def test_trains_a_flax_nnx_model_through_nnx_optimizer():
    nnx = pytest.importorskip("flax.nnx")  # the examples extra
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 20)).astype(np.float32)
    y = (x[:, 0] - 2 * x[:, 1] + 0.1 * rng.standard_normal(256) > 0).astype(np.float32)
    model = nnx.Linear(20, 1, rngs=nnx.Rngs(0), kernel_init=nnx.initializers.zeros)
    steps = 200
    tx = optax_l1.ftrl(0.5, l1=lambda count: 0.02 * (count + 1), mask=optax_l1.skip_biases)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, xb, yb):
        def loss_fn(model):
            return optax.sigmoid_binary_cross_entropy(model(xb)[:, 0], yb).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(train_step(model, optimizer, x, y)) for _ in range(steps)]
    kernel = np.asarray(model.kernel[...])[:, 0]
    assert losses[-1] < 0.5 * losses[0]
    assert np.all(kernel[:2] != 0) and kernel[0] > 0 > kernel[1]
    assert np.count_nonzero(kernel[2:] == 0) >= 15, kernel
    assert float(model.bias[...][0]) != 0.0  # the bias trains, unregularized
