"""Elastic net (``l2`` next to ``l1``) against scikit-learn's ElasticNet.

scikit-learn's ``ElasticNet(alpha, l1_ratio)`` minimizes

    1/(2n) ||y - Xw||^2 + alpha * l1_ratio * ||w||_1 + alpha * (1 - l1_ratio) / 2 * ||w||^2,

which is this library's ``mean loss + l1 ||w||_1 + (l2 / 2) ||w||^2`` with the loss half the
mean squared error, ``l1 = alpha * l1_ratio`` and ``l2 = alpha * (1 - l1_ratio)``.

Full-batch ``sgd_l1(1/L, l1, method="proximal", l2=l2)`` is proximal gradient descent
whose prox holds both penalties, ``S_{l1/L}(z) / (1 + l2/L)``: the smooth part is the data
term alone, so ``L`` is its Lipschitz constant, the largest eigenvalue of ``X^T X / n``
(had the L2 term been differentiated instead, the step would have to be
``1 / (L + l2)``). With ``l2 > 0`` the objective is strongly convex and the iteration
converges linearly.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.linear_model import ElasticNet

import optax_l1
from helpers import lasso_problem


def elastic_net_objective(x, y, w, l1, l2):
    return 0.5 * np.mean((x @ w - y) ** 2) + l1 * np.abs(w).sum() + 0.5 * l2 * w @ w


def sklearn_elastic_net(x, y, alpha, l1_ratio):
    model = ElasticNet(
        alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-14, max_iter=100_000
    )
    return model.fit(x, y).coef_


def full_batch(tx, x, y, steps):
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def step(carry, _):
        w, state = carry
        grads = jax.grad(lambda w: 0.5 * jnp.mean((xj @ w - yj) ** 2))(w)
        updates, state = tx.update(grads, state, w)
        return (optax.apply_updates(w, updates), state), None

    w0 = jnp.zeros(x.shape[1], xj.dtype)
    (w, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, length=steps))((w0, tx.init(w0)))
    return np.asarray(w)


@pytest.mark.parametrize("l1_ratio", [0.3, 0.7])
def test_proximal_sgd_reaches_sklearn_elastic_net_in_float64(l1_ratio, x64):
    x, y = lasso_problem(n=200, d=50, informative=8, seed=1)
    alpha = 0.2
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    expected = sklearn_elastic_net(x, y, alpha, l1_ratio)
    lipschitz = float(np.linalg.eigvalsh(x.T @ x / len(x)).max())
    w = full_batch(optax_l1.sgd_l1(1 / lipschitz, l1, method="proximal", l2=l2), x, y, 2000)
    assert w.dtype == np.float64
    assert 0 < np.count_nonzero(expected) < 50
    np.testing.assert_array_equal(w != 0, expected != 0)
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-8)
    ours, theirs = (elastic_net_objective(x, y, v, l1, l2) for v in (w, expected))
    assert ours <= theirs + 1e-12
    # and the L2 term matters: the lasso at the same l1 is a different point
    lasso = full_batch(optax_l1.sgd_l1(1 / lipschitz, l1, method="proximal"), x, y, 2000)
    assert np.abs(lasso - expected).max() > 1e-2


def test_cumulative_penalty_with_l2_reaches_the_same_solution(x64):
    """Full batch, the cumulative penalty's fixed points are the elastic net's too."""
    x, y = lasso_problem(n=200, d=50, informative=8, seed=1)
    alpha, l1_ratio = 0.2, 0.5
    l1, l2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    expected = sklearn_elastic_net(x, y, alpha, l1_ratio)
    lipschitz = float(np.linalg.eigvalsh(x.T @ x / len(x)).max())
    w = full_batch(optax_l1.sgd_l1(1 / lipschitz, l1, method="cumulative", l2=l2), x, y, 2000)
    np.testing.assert_array_equal(w != 0, expected != 0)
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-6)
    # without the L2 term it is a sparser, larger lasso solution
    plain = full_batch(optax_l1.sgd_l1(1 / lipschitz, l1, method="cumulative"), x, y, 2000)
    assert np.count_nonzero(plain) <= np.count_nonzero(w)
    assert np.abs(plain).sum() > np.abs(w).sum()


def test_cumulative_penalty_l2_is_a_shrink_per_step():
    """One step from a weight far from zero: charge the L1 step, then divide by 1 + lr l2."""
    lr, l1, l2 = 0.1, 0.5, 2.0
    tx = optax_l1.l1_cumulative_penalty(l1, learning_rate=lr, l2=l2)
    params = jnp.array([3.0, -3.0, 0.01])
    updates, _ = tx.update(jnp.array([0.5, 0.0, 0.0]), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    expected = np.array([(3.5 - lr * l1), -(3.0 - lr * l1), 0.0]) / (1 + lr * l2)
    np.testing.assert_allclose(new, expected, rtol=1e-6)
    assert float(new[2]) == 0.0
