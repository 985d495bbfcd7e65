"""proximal_adagrad: TensorFlow's ProximalAdagrad step by step, the lasso, the Optax contract."""

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
    lasso_problem,
    orbax_resume,
    random_run,
    random_tree,
    sklearn_lasso,
)


def tf_proximal_adagrad_step(w, n, g, lr, l1, l2):
    """One step of TensorFlow's ApplyProximalAdagrad kernel, in NumPy.

    The accumulator is updated first, the rate is per coordinate (lr / sqrt(n)) for the
    gradient step and for both regularizers, and l2 multiplies |w|^2 / 2.
    """
    n = n + g * g
    rate = lr / np.sqrt(n)
    z = w - rate * g
    w = np.sign(z) * np.maximum(np.abs(z) - rate * l1, 0) / (1 + rate * l2)
    return w, n


CASES = {
    "l1": dict(learning_rate=0.5, l1=0.25),
    "elastic_net": dict(learning_rate=0.25, l1=0.5, l2=0.75, initial_accumulator_value=0.5),
    "l2_only": dict(learning_rate=0.5, l2=2.0),
    "schedules": dict(
        learning_rate=optax.cosine_decay_schedule(0.5, 200, alpha=0.1),
        l1=optax.piecewise_constant_schedule(0.125, {50: 4.0}),
        l2=lambda count: 0.5 * jnp.minimum(count, 64) / 64,
    ),
}


def _hyper(case, t):
    merged = {"l1": 0.0, "l2": 0.0, **case}
    return {
        k: float(v(jnp.int32(t))) if callable(v) else v
        for k, v in merged.items()
        if k != "initial_accumulator_value"
    }


def _random_run(case, steps, dtype, seed=0):
    """Row 0's first 3 coordinates never see a gradient: still shrunk, as in TF."""
    return random_run(optax_l1.proximal_adagrad(**case), steps, dtype, seed)


@pytest.mark.parametrize("case", CASES)
def test_matches_tensorflow_proximal_adagrad_in_float64(case, x64):
    steps = 200
    w0, grads, history = _random_run(CASES[case], steps, np.float64)
    w, n = w0, np.full_like(w0, CASES[case].get("initial_accumulator_value", 0.1))
    zeros = 0
    for t in range(steps):
        h = _hyper(CASES[case], t)
        w, n = tf_proximal_adagrad_step(w, n, grads[t], h["learning_rate"], h["l1"], h["l2"])
        params, state = history[t]
        assert params.dtype == jnp.float64 and state.accumulator.dtype == jnp.float64
        np.testing.assert_allclose(params, w, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(state.accumulator, n, rtol=1e-12)
        np.testing.assert_array_equal(np.asarray(params) == 0, w == 0)
        zeros += int(np.sum(w == 0))
    if case != "l2_only":
        assert zeros > 0, "the case should produce exact zeros"


@pytest.mark.parametrize("case", CASES)
def test_each_float32_step_matches_tensorflow(case):
    steps = 60
    w0, grads, history = _random_run(CASES[case], steps, np.float32, seed=1)
    w = np.float64(w0)
    n = np.full(w0.shape, CASES[case].get("initial_accumulator_value", 0.1), np.float32)
    for t in range(steps):
        h = _hyper(CASES[case], t)
        want_w, want_n = tf_proximal_adagrad_step(
            w, np.float64(n), np.float64(grads[t]), h["learning_rate"], h["l1"], h["l2"]
        )
        params, state = history[t]
        assert params.dtype == jnp.float32 and state.accumulator.dtype == jnp.float32
        np.testing.assert_allclose(state.accumulator, want_n, rtol=1e-6)
        np.testing.assert_allclose(params, want_w, rtol=1e-5, atol=1e-6)
        w, n = np.float64(params), np.float64(state.accumulator)


def test_without_regularization_it_is_adagrad_without_epsilon():
    params = random_tree(jax.random.key(0))
    grads = [random_tree(jax.random.key(i + 1)) for i in range(10)]
    ours, theirs = optax_l1.proximal_adagrad(0.1), optax.adagrad(0.1, eps=0.0)
    p1, s1, p2, s2 = params, ours.init(params), params, theirs.init(params)
    ours_update, theirs_update = jax.jit(ours.update), jax.jit(theirs.update)
    for g in grads:
        u1, s1 = ours_update(g, s1, p1)
        u2, s2 = theirs_update(g, s2, p2)
        p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    assert_trees_all_close(p1, p2, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jit", [False, True])
def test_zeros_are_bitwise(jit):
    tx = optax_l1.proximal_adagrad(1.0, l1=0.5, initial_accumulator_value=0.75)
    params = jnp.array([0.3, -0.3, 1e-3, 2.0, -2.0])
    grads = jnp.array([0.5, -0.5, 0.0, 0.5, 0.5])  # n = 1: rate 1, threshold 0.5
    update = jax.jit(tx.update) if jit else tx.update
    updates, _ = update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    # z = [-0.2, 0.2, 1e-3 (rate 1/sqrt(0.75)), 1.5, -2.5]
    assert_trees_bitwise_equal(new[:3], jnp.zeros(3))
    assert_trees_all_close(new[3:], jnp.array([1.0, -2.0]))


def test_full_batch_reaches_the_lasso_solution(x64):
    """Fixed points of a proximal step with any positive per-coordinate rates are the lasso's."""
    x, y = lasso_problem(n=200, d=40, informative=6, seed=5)
    alpha = 0.1
    expected = sklearn_lasso(x, y, alpha)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    tx = optax_l1.proximal_adagrad(0.5, l1=alpha)

    def step(carry, _):
        w, state = carry
        grads = jax.grad(lambda w: 0.5 * jnp.mean((xj @ w - yj) ** 2))(w)
        updates, state = tx.update(grads, state, w)
        return (optax.apply_updates(w, updates), state), None

    w0 = jnp.zeros(x.shape[1])
    (w, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, length=3000))((w0, tx.init(w0)))
    np.testing.assert_array_equal(np.asarray(w) != 0, expected != 0)
    np.testing.assert_allclose(w, expected, atol=1e-8)


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize("jit", [False, True])
def test_masked_out_leaves_get_unregularized_adagrad_bitwise(jit):
    params = random_tree(jax.random.key(3), low=-0.3, high=0.3)
    grads = [random_tree(jax.random.key(10 + i)) for i in range(8)]
    masked = optax_l1.proximal_adagrad(0.1, l1=2.0, l2=0.1, mask=optax_l1.skip_biases)
    plain = optax_l1.proximal_adagrad(0.1)
    everywhere = optax_l1.proximal_adagrad(0.1, l1=2.0, l2=0.1)
    results = []
    for tx in (masked, plain, everywhere):
        update = jax.jit(tx.update) if jit else tx.update
        p, state = params, tx.init(params)
        for g in grads:
            u, state = update(g, state, p)
            p = optax.apply_updates(p, u)
        results.append(p)
    mask = optax_l1.skip_biases(params)
    for selected, a, b, c in zip(*(jax.tree.leaves(t) for t in (mask, *results)), strict=True):
        assert_trees_bitwise_equal(a, c if selected else b)
    assert optax_l1.sparsity(results[0], optax_l1.skip_biases) > 0.3


def test_a_mask_that_does_not_fit_or_is_an_array_is_refused():
    params = {"a": jnp.ones((2, 2)), "b": jnp.ones(2)}
    with pytest.raises(ValueError, match="`mask` does not fit the params"):
        optax_l1.proximal_adagrad(0.1, l1=0.1, mask={"a": True}).init(params)
    with pytest.raises(ValueError, match="static_args"):
        optax_l1.proximal_adagrad(0.1, l1=0.1, mask=np.array(True))


# --------------------------------------------------------------------------- Optax contract


def test_chain_inside_optax_masked_and_multisteps():
    params = {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)}
    grads = {"kernel": jnp.full((2, 3), 0.5), "bias": jnp.full(3, 0.5)}
    alone = optax_l1.proximal_adagrad(0.1, l1=0.5)
    expected, _ = alone.update(grads["kernel"], alone.init(params["kernel"]), params["kernel"])
    tx = optax.chain(
        optax.masked(optax_l1.proximal_adagrad(0.1, l1=0.5), {"kernel": True, "bias": False}),
        optax.scale(1.0),
    )
    updates, _ = tx.update(grads, tx.init(params), params)
    assert_trees_all_close(updates["kernel"], expected)
    assert_trees_bitwise_equal(updates["bias"], grads["bias"])

    multi = optax.MultiSteps(optax_l1.proximal_adagrad(0.1, l1=0.5), every_k_schedule=2)
    state = multi.init(params["kernel"])
    _, state = multi.update(grads["kernel"] * 2, state, params["kernel"])
    second, _ = jax.jit(multi.update)(jnp.zeros((2, 3)), state, params["kernel"])
    assert_trees_all_close(second, expected)  # the mean of 2 * g and 0 is g


@pytest.mark.parametrize("jit", [False, True])
def test_inject_hyperparams_changes_take_effect(jit):
    tx = optax.inject_hyperparams(optax_l1.proximal_adagrad, static_args="mask")(
        learning_rate=0.1, l1=0.0, mask=optax_l1.skip_biases
    )
    params = {"kernel": jnp.full((2, 2), 0.05), "bias": jnp.full(2, 0.05)}
    grads = jax.tree.map(jnp.zeros_like, params)
    update = jax.jit(tx.update) if jit else tx.update
    state = tx.init(params)
    u, state = update(grads, state, params)
    assert_trees_all_close(u, grads)
    state.hyperparams["l1"] = jnp.asarray(1.0)  # threshold 0.1 / sqrt(0.1) > 0.05
    u, state = update(grads, state, params)
    new = optax.apply_updates(params, u)
    assert_trees_bitwise_equal(new["kernel"], jnp.zeros((2, 2)))
    assert_trees_bitwise_equal(new["bias"], params["bias"])


@pytest.mark.parametrize("scheduled", [False, True])
def test_state_can_be_donated_to_a_jitted_step(scheduled):
    lr = optax.constant_schedule(0.1) if scheduled else 0.1
    tx = optax_l1.proximal_adagrad(lr, l1=0.01, mask=optax_l1.skip_biases)
    assert_runs_with_donated_state(tx)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32", "float64"])
@pytest.mark.parametrize("how", ["float", "schedule", "inject_hyperparams"])
def test_each_leaf_keeps_its_dtype_under_strict_promotion(dtype, how, x64):
    dtype = jnp.dtype(dtype)
    if how == "float":
        tx = optax_l1.proximal_adagrad(0.5, l1=0.25, l2=0.125)
    elif how == "schedule":
        tx = optax_l1.proximal_adagrad(optax.constant_schedule(0.5), l1=0.25, l2=0.125)
    else:
        tx = optax.inject_hyperparams(optax_l1.proximal_adagrad, hyperparam_dtype=jnp.float32)(
            learning_rate=0.5, l1=0.25, l2=0.125
        )
    params = {"w": jnp.array([[2.0, -2.0], [0.1, 0.0]], dtype), "b": jnp.array([1.0], dtype)}
    grads = {"w": jnp.array([[1.0, -1.0], [0.5, 0.0]], dtype), "b": jnp.array([1.0], dtype)}
    with jax.numpy_dtype_promotion("strict"):
        updates, state = tx.update(grads, tx.init(params), params)
        updates, state = jax.jit(tx.update)(grads, state, optax.apply_updates(params, updates))
    assert updates["w"].dtype == dtype and updates["b"].dtype == dtype
    inner = state.inner_state if how == "inject_hyperparams" else state
    wide = jnp.float64 if dtype == jnp.float64 else jnp.float32
    assert inner.accumulator["w"].dtype == wide


def test_complex_shapes_params_and_schedule_free_are_checked():
    params = {"real": jnp.ones((2, 2)), "phase": jnp.ones((2, 2), jnp.complex64)}
    with pytest.raises(ValueError, match=r"\['phase'\] is complex"):
        optax_l1.proximal_adagrad(0.1, l1=0.1).init(params)
    tx = optax_l1.proximal_adagrad(0.1, l1=0.1)
    with pytest.raises(ValueError, match="shape"):
        tx.update(jnp.ones((1, 3)), tx.init(jnp.ones((3, 3))), jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    sf = optax.contrib.schedule_free(tx, learning_rate=0.1)
    with pytest.raises(ValueError, match="schedule_free"):
        sf.update(jnp.ones(2), sf.init(jnp.ones(2)), jnp.ones(2))


def test_python_float_leaves_follow_the_tensorflow_update():
    params, grads = {"w": 0.5, "v": -0.01}, {"w": 0.25, "v": 0.0}
    tx = optax_l1.proximal_adagrad(0.25, l1=0.5, l2=0.5)
    updates, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    for name in params:
        w, _ = tf_proximal_adagrad_step(params[name], 0.1, grads[name], 0.25, 0.5, 0.5)
        np.testing.assert_allclose(new[name], w, rtol=1e-5)  # float32 z - threshold
    assert float(new["v"]) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(l1=float("nan")), "l1"),
        (dict(l2=-1.0), "l2"),
        (dict(initial_accumulator_value=0.0), "initial_accumulator_value"),
        (dict(initial_accumulator_value=lambda c: 0.1), "initial_accumulator_value"),
    ],
)
def test_bad_hyperparameters_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        optax_l1.proximal_adagrad(**{"learning_rate": 0.1, **kwargs})


def test_orbax_checkpoint_and_resume_is_bitwise_identical(tmp_path):
    pytest.importorskip("orbax.checkpoint")  # the examples extra
    tx = optax_l1.proximal_adagrad(
        optax.exponential_decay(0.2, 10, 0.5), l1=0.5, l2=0.1, mask=optax_l1.skip_biases
    )
    params0 = random_tree(jax.random.key(0))
    grads = [random_tree(jax.random.key(i + 1)) for i in range(8)]
    straight, straight_state, resumed, resumed_state, restored = orbax_resume(
        tx, params0, grads, tmp_path
    )
    assert isinstance(restored, optax_l1.ProximalAdagradState) and int(restored.count) == 4
    assert_trees_bitwise_equal(resumed, straight)
    assert_trees_bitwise_equal(resumed_state, straight_state)
    assert optax_l1.sparsity(resumed, optax_l1.skip_biases) > 0


def test_trains_a_flax_nnx_model_through_nnx_optimizer():
    nnx = pytest.importorskip("flax.nnx")  # the examples extra

    class Mlp(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(20, 16, rngs=rngs)
            self.out = nnx.Linear(16, 1, rngs=rngs)

        def __call__(self, x):
            return self.out(nnx.relu(self.hidden(x)))

    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 20)).astype(np.float32)
    y = (x[:, 0] - 2 * x[:, 1] > 0).astype(np.float32)
    model = Mlp(nnx.Rngs(0))
    tx = optax_l1.proximal_adagrad(0.1, l1=0.01, mask=optax_l1.skip_biases)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer):
        def loss_fn(model):
            return optax.sigmoid_binary_cross_entropy(model(x)[:, 0], y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(train_step(model, optimizer)) for _ in range(300)]
    kernel = np.asarray(model.hidden.kernel[...])
    assert losses[-1] < 0.3 * losses[0]
    # the 18 irrelevant inputs lose most of their connections, the 2 relevant ones far
    # fewer; biases are not zeroed
    assert np.mean(kernel[2:] == 0) > 0.9 and np.mean(kernel[:2] != 0) > 0.25
    assert np.all(np.asarray(model.hidden.bias[...]) != 0)
