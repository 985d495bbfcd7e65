"""Helpers shared by the tests (Optax dropped chex; we keep our own small assertions)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax


def assert_trees_all_close(actual, expected, rtol=1e-6, atol=0.0):
    """Asserts two pytrees have the same structure, dtypes and values within tolerance."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected), (
        f"structures differ:\n{jax.tree.structure(actual)}\n{jax.tree.structure(expected)}"
    )
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert np.asarray(a).dtype == np.asarray(e).dtype, (
            np.asarray(a).dtype,
            np.asarray(e).dtype,
        )
        np.testing.assert_allclose(
            np.asarray(a, np.float64), np.asarray(e, np.float64), rtol=rtol, atol=atol
        )


def assert_trees_bitwise_equal(actual, expected):
    """Asserts two pytrees are identical bit for bit (signed zeros and NaNs included)."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, e = np.asarray(a), np.asarray(e)
        assert a.dtype == e.dtype and a.shape == e.shape, (a.dtype, e.dtype, a.shape, e.shape)
        assert a.tobytes() == e.tobytes(), f"not bitwise equal:\n{a}\n{e}"


def random_tree(key, dtype=jnp.float32, low=-2.0, high=2.0):
    """A pytree of many leaves of varied shapes: kernels, biases, a scalar, nesting."""
    shapes = {
        "dense": {"kernel": (5, 4), "bias": (4,)},
        "conv": {"kernel": (3, 3, 2, 4), "bias": (4,)},
        "norm": {"scale": (4,)},
        "embed": {"embedding": (7, 3)},
        "stack": [(2, 6), (6,)],
        "temperature": (),
    }
    leaves, treedef = jax.tree.flatten(shapes, is_leaf=lambda x: isinstance(x, tuple))
    keys = jax.random.split(key, len(leaves))
    arrays = [
        jax.random.uniform(k, s, jnp.float32, low, high).astype(dtype)
        for k, s in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, arrays)


def run_steps(tx, params, grads_per_step, jit=False):
    """Applies ``tx`` for each gradient tree in turn; returns the params after every step."""
    state = tx.init(params)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    if jit:
        step = jax.jit(step)
    trajectory = []
    for grads in grads_per_step:
        params, state = step(params, state, grads)
        trajectory.append(params)
    return trajectory, state


def lasso_problem(n, d, informative, noise=0.5, seed=0):
    """A lasso problem with a known sparse truth: ``(x, y)`` with y = x @ w + noise.

    Gaussian design; ``informative`` features at random positions carry weights of
    magnitude 1 to 2 with random signs; the rest are zero.
    """
    rng = np.random.default_rng([seed, n, d])
    x = rng.normal(size=(n, d))
    truth = np.zeros(d)
    support = rng.choice(d, informative, replace=False)
    truth[support] = rng.choice([-1.0, 1.0], informative) * (1 + rng.random(informative))
    return x, x @ truth + noise * rng.normal(size=n)


def lasso_objective(x, y, w, alpha):
    """scikit-learn's Lasso objective: (1/2n)||Xw - y||^2 + alpha ||w||_1."""
    return 0.5 * np.mean((x @ w - y) ** 2) + alpha * np.abs(w).sum()


def sklearn_lasso(x, y, alpha):
    """The lasso solution by coordinate descent, solved to tight tolerance."""
    from sklearn.linear_model import Lasso

    return Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(x, y).coef_


def orbax_resume(tx, params0, grads, directory):
    """Straight training against half, an Orbax save and restore, then the rest.

    Returns ``(straight, straight_state, resumed, resumed_state, restored)``; the
    ``orbax-checkpoint`` package (the examples extra) must be importable.
    """
    import orbax.checkpoint as ocp

    update = jax.jit(tx.update)

    def run(params, state, gs):
        for g in gs:
            u, state = update(g, state, params)
            params = optax.apply_updates(params, u)
        return params, state

    half_way = len(grads) // 2
    straight, straight_state = run(params0, tx.init(params0), grads)
    half, state = run(params0, tx.init(params0), grads[:half_way])
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory / "opt", state)
        checkpointer.wait_until_finished()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, tx.init(params0))
        restored = checkpointer.restore(directory / "opt", abstract)
    resumed, resumed_state = run(half, restored, grads[half_way:])
    return straight, straight_state, resumed, resumed_state, restored


def random_run(tx, steps, dtype, seed=0, shape=(6, 7)):
    """``steps`` jitted steps of ``tx`` from uniform weights on normal gradients.

    The first 3 coordinates of the first row never see a gradient. Returns the initial
    weights, the gradients (NumPy, in ``dtype``) and each step's ``(params, state)``.
    """
    rng = np.random.default_rng(seed)
    w0 = rng.uniform(-1, 1, shape).astype(dtype)
    grads = rng.normal(0, 1, (steps, *shape)).astype(dtype)
    grads[:, 0, :3] = 0
    update = jax.jit(tx.update)
    params, state = jnp.asarray(w0), tx.init(jnp.asarray(w0))
    history = []
    for g in grads:
        updates, state = update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
        history.append((params, state))
    return w0, grads, history


def assert_runs_with_donated_state(tx, steps=3, params=None):
    """Jitted steps that donate params and state (as training loops do) run and stay finite.

    Donation fails if two fields of the state share a buffer. Returns the final state.
    """
    if params is None:
        params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    step = jax.jit(step, donate_argnums=(0, 1))
    state = tx.init(params)
    for _ in range(steps):
        params, state = step(params, state, jax.tree.map(jnp.ones_like, params))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))
    return state
