import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optax_l1
from helpers import (
    assert_trees_all_close,
    assert_trees_bitwise_equal,
    lasso_objective,
    lasso_problem,
    sklearn_lasso,
)


def _ista(x, y, alpha, steps, w0=None):
    """Full-batch chain(sgd(1/L), l1_soft_threshold(alpha/L)), run with lax.scan."""
    n = x.shape[0]
    lipschitz = float(np.linalg.eigvalsh(x.T @ x / n).max())
    tx = optax.chain(
        optax.sgd(1 / lipschitz), optax_l1.l1_soft_threshold(alpha, learning_rate=1 / lipschitz)
    )
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def loss(w):
        return 0.5 * jnp.mean((xj @ w - yj) ** 2)

    def step(carry, _):
        w, state = carry
        updates, state = tx.update(jax.grad(loss)(w), state, w)
        return (optax.apply_updates(w, updates), state), None

    w = jnp.zeros(x.shape[1], xj.dtype) if w0 is None else w0
    (w, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, length=steps))((w, tx.init(w)))
    return np.asarray(w)


def test_ista_converges_to_sklearn_lasso_in_float64(x64):
    x, y = lasso_problem(n=200, d=50, informative=8, seed=1)
    alpha = 0.1
    expected = sklearn_lasso(x, y, alpha)
    w = _ista(x, y, alpha, steps=3000)
    assert w.dtype == np.float64
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(w != 0, expected != 0)
    assert 0 < np.count_nonzero(expected) < 50
    assert np.all(w[expected == 0] == 0), "off-support entries must be exact zeros"
    assert lasso_objective(x, y, w, alpha) <= lasso_objective(x, y, expected, alpha) + 1e-12


def test_orthonormal_design_has_the_closed_form_solution(x64):
    n, d, alpha = 64, 16, 0.3
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    x = np.sqrt(n) * q  # X^T X / n = I, so L = 1
    y = x @ rng.normal(0, 0.5, d) + 0.1 * rng.standard_normal(n)
    z = x.T @ y / n
    closed_form = np.sign(z) * np.maximum(np.abs(z) - alpha, 0)
    assert 0 < np.count_nonzero(closed_form) < d
    np.testing.assert_allclose(_ista(x, y, alpha, steps=1), closed_form, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_ista(x, y, alpha, steps=50), closed_form, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sklearn_lasso(x, y, alpha), closed_form, atol=1e-10)


@pytest.mark.parametrize("jit", [False, True])
def test_entries_that_reach_zero_are_bitwise_zero(jit):
    params = jnp.array([0.3, -0.3, 1e-3, -1e-7, 2.0, -2.0])
    grads = jnp.array([0.1, -0.1, 0.0, 0.0, 0.0, 0.0])
    tx = optax.chain(optax.sgd(1.0), optax_l1.l1_soft_threshold(0.25, learning_rate=1.0))
    update = jax.jit(tx.update) if jit else tx.update
    updates, _ = update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert_trees_bitwise_equal(new[:4], jnp.zeros(4))
    assert_trees_all_close(new[4:], jnp.array([1.75, -1.75]))
    assert optax_l1.sparsity(new) == 4 / 6


finite = st.floats(-1e3, 1e3, width=32, allow_subnormal=False)


@settings(max_examples=60, deadline=None)
@given(
    w=hnp.arrays(np.float32, 12, elements=finite),
    u=hnp.arrays(np.float32, 12, elements=finite),
    t=st.floats(0.0, 100.0, width=32, allow_subnormal=False),  # as w and u: no FTZ
)
def test_prox_never_flips_a_sign_nor_grows_the_step_it_is_given(w, u, t):
    tx = optax_l1.l1_soft_threshold(t, learning_rate=1.0)
    params = jnp.asarray(w)
    updates, _ = tx.update(jnp.asarray(u), tx.init(params), params)
    z = np.asarray(params + jnp.asarray(u))
    new = np.asarray(params + updates)
    # compared with the float32 z and |z| - t, allowing the one rounding of w + (S(z) - w)
    slack = np.finfo(np.float32).eps * (np.abs(w) + np.abs(z))
    assert np.all(np.abs(new) <= np.abs(z) + slack)
    assert np.all((new * z >= 0) | (np.abs(new) <= slack)), "sign flipped"
    assert np.all(np.abs(new) <= np.maximum(np.abs(z) - t, 0) + slack)
