"""How the coupled and decoupled formulations relate: equal under SGD, not under momentum/Adam."""

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optax_l1
from helpers import assert_trees_all_close, random_tree, run_steps

STEPS, LR = 120, 0.01


def _problem(dtype):
    """Weights of magnitude 1..2 and small gradients: no weight comes near zero."""
    magnitudes = random_tree(jax.random.key(0), dtype, 1.0, 2.0)
    signs = random_tree(jax.random.key(1), dtype, -1.0, 1.0)
    params = jax.tree.map(lambda m, s: m * jnp.sign(s), magnitudes, signs)
    grads = [random_tree(jax.random.key(10 + i), dtype, -0.05, 0.05) for i in range(STEPS)]
    return params, grads


def _tree_mask(params):
    mask = optax_l1.skip_biases(params)
    mask["embed"]["embedding"] = False
    return mask


CONFIGS = {
    "constant": (0.5, None),
    "constant+skip_biases": (0.5, optax_l1.skip_biases),
    # exact in float32 (a power-of-two horizon), so eager and jit evaluate it alike
    "schedule+tree_mask": (optax.linear_schedule(0.5, 0.25, 128), _tree_mask),
}


def _numpy_reference(params, grads, lam, mask):
    """Plain SGD on loss + lam * sum|w| over the masked leaves, written without optax."""
    selected = jax.tree.leaves(jax.tree.map(bool, mask(params))) if mask else None
    w = [np.asarray(x) for x in jax.tree.leaves(params)]
    dtype = w[0].dtype
    trajectory = []
    for t, g in enumerate(grads):
        lam_t = dtype.type(lam(jnp.int32(t)) if callable(lam) else lam)
        new = []
        for i, (wi, gi) in enumerate(zip(w, jax.tree.leaves(g), strict=True)):
            on = selected is None or selected[i]
            new.append(wi - dtype.type(LR) * (np.asarray(gi) + (lam_t * np.sign(wi) if on else 0)))
        w = new
        trajectory.append(w)
    return trajectory


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_coupled_and_decoupled_are_identical_under_sgd(config, jit, dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    dtype = jnp.dtype(dtype)
    lam, mask = CONFIGS[config]
    params, grads = _problem(dtype)

    coupled = optax.chain(optax_l1.add_l1_gradient(lam, mask=mask), optax.sgd(LR))
    decoupled = optax.chain(optax.sgd(LR), optax_l1.l1_sign_decay(lam, learning_rate=LR, mask=mask))
    coupled_path, _ = run_steps(coupled, params, grads, jit=jit)
    decoupled_path, _ = run_steps(decoupled, params, grads, jit=jit)
    reference = _numpy_reference(params, grads, lam, mask)

    largest_decay = LR * (lam(0) if callable(lam) else lam)
    assert min(np.abs(w).min() for w in reference[-1]) > largest_decay, "precondition"
    rtol = 1e-6 if dtype == jnp.float32 else 1e-13
    for t in range(STEPS):
        assert_trees_all_close(jax.tree.leaves(coupled_path[t]), reference[t], rtol=rtol)
        assert_trees_all_close(jax.tree.leaves(decoupled_path[t]), reference[t], rtol=rtol)
        assert_trees_all_close(decoupled_path[t], coupled_path[t], rtol=rtol)
    if mask is not None:
        skipped = [not m for m in jax.tree.leaves(mask(params))]
        start = jax.tree.leaves(params)
        plain, _ = run_steps(optax.sgd(LR), params, grads, jit=jit)
        # Eagerly the skipped leaves follow plain SGD bit for bit; under jit XLA may fuse
        # the two programs differently (e.g. into a fused multiply-add), so allow rounding.
        skipped_rtol = rtol if jit else 0.0
        for i, skip in enumerate(skipped):
            if skip:
                for path in (coupled_path, decoupled_path):
                    np.testing.assert_allclose(
                        jax.tree.leaves(path[-1])[i],
                        jax.tree.leaves(plain[-1])[i],
                        rtol=skipped_rtol,
                    )
                assert not np.array_equal(jax.tree.leaves(plain[-1])[i], start[i])


finite = st.floats(-4.0, 4.0, width=32, allow_subnormal=False)


@settings(max_examples=50, deadline=None)
@given(
    w=hnp.arrays(np.float32, 8, elements=finite),
    g=hnp.arrays(np.float32, 8, elements=finite),
    lr=st.floats(1e-3, 0.5),
    lam=st.floats(0.0, 1.0),
)
def test_one_sgd_step_agrees_away_from_zero(w, g, lr, lam):
    w = np.where(np.abs(w) < lr * lam, np.float32(lr * lam + 1.0), w)  # outside the clipped band
    params = jnp.asarray(w)
    coupled = optax.chain(optax_l1.add_l1_gradient(lam), optax.sgd(lr))
    decoupled = optax.chain(optax.sgd(lr), optax_l1.l1_sign_decay(lam, learning_rate=lr))
    u1, _ = coupled.update(jnp.asarray(g), coupled.init(params), params)
    u2, _ = decoupled.update(jnp.asarray(g), decoupled.init(params), params)
    new1, new2 = optax.apply_updates(params, u1), optax.apply_updates(params, u2)
    # a few roundings of numbers no larger than |w| + lr * (|g| + lam)
    scale = np.abs(w) + lr * (np.abs(g) + lam)
    assert np.all(
        np.abs(np.asarray(new1) - np.asarray(new2)) <= 4 * np.finfo(np.float32).eps * scale
    )


def test_momentum_makes_them_differ():
    lam, lr = 0.5, 0.01
    params, grads = _problem(jnp.float32)
    coupled = optax.chain(optax_l1.add_l1_gradient(lam), optax.sgd(lr, momentum=0.9))
    decoupled = optax.chain(
        optax.sgd(lr, momentum=0.9), optax_l1.l1_sign_decay(lam, learning_rate=lr)
    )
    (c, *_), _ = run_steps(coupled, params, grads[:1])
    (d, *_), _ = run_steps(decoupled, params, grads[:1])
    assert_trees_all_close(c, d)  # the first step has no momentum history yet
    c_path, _ = run_steps(coupled, params, grads[:20])
    d_path, _ = run_steps(decoupled, params, grads[:20])
    gap = max(
        np.abs(a - b).max()
        for a, b in zip(jax.tree.leaves(c_path[-1]), jax.tree.leaves(d_path[-1]), strict=True)
    )
    # the coupled penalty accumulates in the momentum: about 1/(1-0.9) times larger steps
    assert gap > 0.1 * 20 * lr * lam


def test_adam_normalizes_the_coupled_penalty_away():
    """With zero data gradient, coupled L1 under Adam steps by ~lr whatever lambda is."""
    params = jnp.array([1.0, -1.0, 0.5])
    zeros = jnp.zeros(3)
    steps = {}
    for lam in (1e-4, 1e-2):
        tx = optax.chain(optax_l1.add_l1_gradient(lam), optax.adam(0.1))
        updates, _ = tx.update(zeros, tx.init(params), params)
        steps[lam] = updates
    assert_trees_all_close(steps[1e-4], steps[1e-2], rtol=1e-3)
    assert_trees_all_close(steps[1e-2], -0.1 * jnp.sign(params), rtol=1e-3)
    tx = optax.chain(optax.adam(0.1), optax_l1.l1_sign_decay(1e-3, learning_rate=1.0))
    updates, _ = tx.update(zeros, tx.init(params), params)
    assert_trees_all_close(updates, -1e-3 * jnp.sign(params))
