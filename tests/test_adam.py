import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_l1
from helpers import (
    assert_trees_all_close,
    assert_trees_bitwise_equal,
    lasso_problem,
    random_tree,
    sklearn_lasso,
)

STEPS = 50


def _numpy_proxgen_step(w, m, v, g, t, lr, l1, wd, l2=0.0, b1=0.9, b2=0.999, eps=1e-8):
    """One ProxGen Adam step (Yun et al. 2021) in float64 NumPy, from step count t >= 1.

    With ``l2``, the prox of ``l1 |w| + (l2 / 2) w^2`` in Adam's metric D (elastic net):
    ``S_{lr l1 / D}(z) / (1 + lr l2 / D)``.

    The bias corrections 1 - b**t are taken in float32, as Optax (and so any float32
    Adam) computes them: 1 - float32(0.999) is off from 0.001 by 1.3e-5 relatively.
    """
    w, g = np.asarray(w, np.float64), np.asarray(g, np.float64)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    c1 = np.float64(1 - np.float32(b1) ** np.float32(t))
    c2 = np.float64(1 - np.float32(b2) ** np.float32(t))
    denom = np.sqrt(v / c2) + eps
    z = w - lr * (m / c1 / denom + wd * w)
    shrunk = np.sign(z) * np.maximum(np.abs(z) - lr * l1 / denom, 0)
    return shrunk / (1 + lr * l2 / denom), m, v


CASES = {
    "constant": (0.01, 0.05, 0.0, 0.0),
    "weight_decay": (0.01, 0.05, 0.1, 0.0),
    "elastic_net": (0.01, 0.05, 0.0, 0.5),
    "schedules": (
        optax.cosine_decay_schedule(0.01, STEPS),
        optax.linear_schedule(0.0, 0.1, STEPS),
        optax.constant_schedule(0.05),
        optax.constant_schedule(0.25),
    ),
}


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_matches_a_numpy_proxgen_reference(case, jit):
    lr, l1, wd, l2 = CASES[case]
    params = random_tree(jax.random.key(0), low=-0.5, high=0.5)
    grads = [random_tree(jax.random.key(i + 1), low=-1.0, high=1.0) for i in range(STEPS)]
    tx = optax_l1.proximal_adam(lr, l1, weight_decay=wd, l2=l2)
    state = tx.init(params)
    update = jax.jit(tx.update) if jit else tx.update
    hyper = [
        (lambda t, h=h: float(h(jnp.int32(t)))) if callable(h) else h for h in (lr, l1, wd, l2)
    ]
    moments = [(0.0, 0.0) for _ in jax.tree.leaves(params)]
    zeros_seen = 0
    for t in range(STEPS):
        lr_t, l1_t, wd_t, l2_t = (h(t) if callable(h) else h for h in hyper)
        expected, new_moments = [], []
        for w, g, (m, v) in zip(
            jax.tree.leaves(params), jax.tree.leaves(grads[t]), moments, strict=True
        ):
            w_new, m, v = _numpy_proxgen_step(w, m, v, g, t + 1, lr_t, l1_t, wd_t, l2_t)
            expected.append(w_new)
            new_moments.append((m, v))
        moments = new_moments
        updates, state = update(grads[t], state, params)
        params = optax.apply_updates(params, updates)
        for got, want in zip(jax.tree.leaves(params), expected, strict=True):
            # the parameters are compared after one step from the same float32 inputs
            # the elastic net's extra division rounds once more (jax 0.4.35 differs by 2 ulp)
            atol = 3e-7 if case == "elastic_net" else 1e-7
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=atol)
            np.testing.assert_array_equal(np.asarray(got) == 0, want == 0)
            zeros_seen += int(np.sum(np.asarray(got) == 0))
    assert zeros_seen > 0, "the case should produce exact zeros"


def test_without_l1_it_is_adam_and_adamw():
    params = random_tree(jax.random.key(0))
    grads = [random_tree(jax.random.key(i + 1)) for i in range(5)]
    for ours, theirs in [
        (optax_l1.proximal_adam(0.01, 0.0), optax.adam(0.01)),
        (optax_l1.proximal_adam(0.01, 0.0, weight_decay=0.1), optax.adamw(0.01, weight_decay=0.1)),
    ]:
        p1, s1, p2, s2 = params, ours.init(params), params, theirs.init(params)
        for g in grads:
            u1, s1 = ours.update(g, s1, p1)
            u2, s2 = theirs.update(g, s2, p2)
            p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
        assert_trees_all_close(p1, p2, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jit", [False, True])
def test_masked_leaves_get_plain_adam_bitwise(jit):
    params = random_tree(jax.random.key(3), low=-0.3, high=0.3)
    grads = [random_tree(jax.random.key(10 + i)) for i in range(10)]
    ours = optax_l1.adam_l1(0.05, 2.0, weight_decay=0.1, mask=optax_l1.skip_biases)
    plain = optax.adam(0.05)
    up1 = jax.jit(ours.update) if jit else ours.update
    up2 = jax.jit(plain.update) if jit else plain.update
    p1, s1, p2, s2 = params, ours.init(params), params, plain.init(params)
    for g in grads:
        u1, s1 = up1(g, s1, p1)
        u2, s2 = up2(g, s2, p2)
        p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    for path in (("dense", "bias"), ("conv", "bias"), ("norm", "scale"), ("temperature",)):
        a, b = p1, p2
        for key in path:
            a, b = a[key], b[key]
        assert_trees_bitwise_equal(a, b)
    assert optax_l1.sparsity(p1["dense"]["kernel"]) > 0.5
    assert optax_l1.sparsity(p2["dense"]["kernel"]) == 0


def test_full_batch_reaches_the_lasso_support():
    x, y = lasso_problem(n=400, d=40, informative=6, seed=2)
    alpha = 0.1
    reference = sklearn_lasso(x, y, alpha)
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    steps = 3000
    tx = optax_l1.proximal_adam(optax.exponential_decay(0.05, steps, 0.01), alpha)

    def step(carry, _):
        w, state = carry
        grads = jax.grad(lambda w: 0.5 * jnp.mean((xj @ w - yj) ** 2))(w)
        updates, state = tx.update(grads, state, w)
        return (optax.apply_updates(w, updates), state), None

    w0 = jnp.zeros(x.shape[1])
    (w, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, length=steps))((w0, tx.init(w0)))
    w = np.asarray(w)
    np.testing.assert_array_equal(w != 0, reference != 0)
    np.testing.assert_allclose(w, reference, atol=1e-3)


def test_composes_after_gradient_clipping_and_under_inject_hyperparams():
    params = {"kernel": jnp.full((2, 2), 1.0), "bias": jnp.ones(2)}
    huge = jax.tree.map(lambda x: 1e6 * jnp.ones_like(x), params)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax_l1.proximal_adam(0.1, 0.0))
    updates, _ = tx.update(huge, tx.init(params), params)
    # Adam's first step is lr * sign(g); rtol covers float32 bias correction (1.3e-5 in v)
    assert_trees_all_close(updates, jax.tree.map(lambda x: -0.1 * jnp.ones_like(x), params), 1e-5)

    tx = optax.inject_hyperparams(optax_l1.adam_l1, static_args="mask")(
        learning_rate=0.1, l1=0.0, mask=optax_l1.skip_biases
    )
    state = tx.init(params)
    small = jax.tree.map(lambda x: 0.1 * jnp.ones_like(x), params)
    u0, _ = jax.jit(tx.update)(small, state, params)
    state.hyperparams["l1"] = jnp.asarray(5.0)  # threshold 0.1 * 5 / 0.1 = 5 > |z|
    u1, _ = jax.jit(tx.update)(small, state, params)
    assert_trees_all_close(u0["kernel"], jnp.full((2, 2), -0.1), rtol=1e-5)
    assert_trees_all_close(optax.apply_updates(params, u1)["kernel"], jnp.zeros((2, 2)))
    assert_trees_bitwise_equal(u0["bias"], u1["bias"])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_keeps_dtypes(dtype):
    params = {"w": jnp.ones((2, 3), dtype), "step": jnp.array(2, jnp.int32)}
    grads = {"w": jnp.full((2, 3), 0.5, dtype), "step": jnp.array(0, jnp.int32)}
    tx = optax_l1.proximal_adam(optax.constant_schedule(0.1), 0.01, weight_decay=0.01)
    updates, state = tx.update(grads, tx.init(params), params)
    assert updates["w"].dtype == jnp.dtype(dtype)
    assert_trees_bitwise_equal(updates["step"], grads["step"])
    assert state.mu["w"].dtype == jnp.dtype(dtype)


def test_bad_input():
    with pytest.raises(ValueError, match="`l1`"):
        optax_l1.adam_l1(0.1, -1.0)
    with pytest.raises(ValueError, match="`learning_rate`"):
        optax_l1.adam_l1(float("nan"), 0.1)
    with pytest.raises(ValueError, match="`weight_decay`"):
        optax_l1.adam_l1(0.1, 0.1, weight_decay=-0.1)
    with pytest.raises(ValueError, match="`b2`"):
        optax_l1.adam_l1(0.1, 0.1, b2=1.0)
    tx = optax_l1.proximal_adam(0.1, 0.1)
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_state_can_be_donated_to_a_jitted_step():
    tx = optax_l1.adam_l1(optax.constant_schedule(0.01), 0.1, mask=optax_l1.skip_biases)
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    step = jax.jit(step, donate_argnums=(0, 1))
    state = tx.init(params)
    for _ in range(3):
        params, state = step(params, state, jax.tree.map(jnp.ones_like, params))
    assert bool(jnp.all(jnp.isfinite(params["w"])))


def test_static_hyperparameters_are_checked_by_name():
    with pytest.raises(ValueError, match="`b1` must be a number, not a schedule"):
        optax_l1.proximal_adam(0.1, 0.1, b1=lambda count: 0.9)
    with pytest.raises(ValueError, match="`eps` must be a number"):
        optax_l1.proximal_adam(0.1, 0.1, eps=lambda count: 1e-8)
    for name, bad in [("b1", -0.5), ("b2", float("nan")), ("eps", 0.0), ("eps", -1e-8)]:
        with pytest.raises(ValueError, match=f"`{name}`"):
            optax_l1.proximal_adam(0.1, 0.1, **{name: bad})


def test_integer_leaves_are_left_alone_with_a_mask():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2), "steps": jnp.array([3, 4], jnp.int32)}
    grads = {"w": jnp.ones((2, 2)), "b": jnp.ones(2), "steps": jnp.array([1, 1], jnp.int32)}
    tx = optax_l1.adam_l1(0.1, 0.2, mask=optax_l1.skip_biases)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert_trees_bitwise_equal(updates["steps"], grads["steps"])
