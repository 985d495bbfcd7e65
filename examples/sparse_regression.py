"""Recover a sparse linear model with each optax_l1 method, next to scikit-learn.

Run: python examples/sparse_regression.py [--epochs 20] [--alpha 0.1]

The problem is the lasso, min_w (1/2n)||Xw - y||^2 + alpha ||w||_1, on a Gaussian design
with a few informative features. scikit-learn's Lasso (coordinate descent, full batch)
gives the reference solution; everything else trains with minibatch SGD at the same
batch size and learning-rate schedule, and SGDRegressor(penalty='l1') is scikit-learn's
own stochastic solver (it uses the cumulative penalty internally).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.linear_model import Lasso, SGDRegressor

import optax_l1


def make_problem(n: int, d: int, informative: int, noise: float, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    true_w = np.zeros(d)
    true_w[:informative] = rng.uniform(1, 2, informative) * rng.choice([-1, 1], informative)
    return x, x @ true_w + noise * rng.standard_normal(n)


def objective(x, y, w, alpha):
    return 0.5 * np.mean((x @ w - y) ** 2) + alpha * np.abs(w).sum()


def methods(lr: optax.Schedule, alpha: float) -> dict[str, optax.GradientTransformation]:
    """Each L1 method with plain SGD; per-step thresholds follow the learning rate."""

    def per_step(t):
        return lr(t) * alpha

    return {
        "add_l1_gradient": optax.chain(optax_l1.add_l1_gradient(alpha), optax.sgd(lr)),
        "l1_sign_decay": optax.chain(optax.sgd(lr), optax_l1.l1_sign_decay(per_step)),
        "l1_soft_threshold": optax.chain(optax.sgd(lr), optax_l1.l1_soft_threshold(per_step)),
        "l1_cumulative_penalty": optax.chain(
            optax.sgd(lr), optax_l1.l1_cumulative_penalty(per_step)
        ),
    }


def train(tx, x, y, batch: int, epochs: int, seed: int):
    """Minibatch training under one jitted lax.scan; returns (weights, seconds after compile)."""
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    order = jnp.concatenate(
        [jax.random.permutation(jax.random.key(seed + e), len(x)) for e in range(epochs)]
    ).reshape(-1, batch)

    def step(carry, idx):
        w, state = carry
        grads = jax.grad(lambda w: 0.5 * jnp.mean((xj[idx] @ w - yj[idx]) ** 2))(w)
        updates, state = tx.update(grads, state, w)
        return (optax.apply_updates(w, updates), state), None

    run = jax.jit(lambda carry: jax.lax.scan(step, carry, order)[0][0])
    w0 = jnp.zeros(x.shape[1])
    run((w0, tx.init(w0))).block_until_ready()  # compile
    start = time.perf_counter()
    w = run((w0, tx.init(w0))).block_until_ready()
    return np.asarray(w, np.float64), time.perf_counter() - start


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="examples")
    parser.add_argument("--d", type=int, default=200, help="features")
    parser.add_argument("--informative", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--alpha", type=float, default=0.1, help="L1 coefficient (lasso alpha)")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.01, help="initial; decays 100x")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x, y = make_problem(args.n, args.d, args.informative, args.noise, args.seed)
    start = time.perf_counter()
    lasso = Lasso(alpha=args.alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(x, y)
    rows = [("sklearn Lasso (reference)", lasso.coef_, time.perf_counter() - start)]
    support = lasso.coef_ != 0
    best = objective(x, y, lasso.coef_, args.alpha)

    steps = args.epochs * (args.n // args.batch_size)
    lr = optax.exponential_decay(args.learning_rate, steps, 0.01)
    for name, tx in methods(lr, args.alpha).items():
        w, seconds = train(tx, x, y, args.batch_size, args.epochs, args.seed)
        rows.append((f"SGD + {name}", w, seconds))

    sgd = SGDRegressor(
        penalty="l1",
        alpha=args.alpha,
        fit_intercept=False,
        max_iter=args.epochs,
        tol=None,
        random_state=args.seed,
    )
    start = time.perf_counter()
    sgd.fit(x, y)
    rows.append(("sklearn SGDRegressor(l1)", sgd.coef_, time.perf_counter() - start))

    print(f"devices: {jax.devices()}")
    print(
        f"lasso: n={args.n}, d={args.d}, informative={args.informative}, alpha={args.alpha}; "
        f"the reference support has {support.sum()} features; SGD runs: batch "
        f"{args.batch_size}, {args.epochs} epochs"
    )
    header = (
        f"{'method':<30} {'nonzeros':>8} {'support = Lasso':>15} {'objective gap':>14} {'s':>7}"
    )
    print(header)
    print("-" * len(header))
    results = []
    for name, w, seconds in rows:
        gap = (objective(x, y, w, args.alpha) - best) / best
        same = bool(np.array_equal(w != 0, support))
        print(
            f"{name:<30} {np.count_nonzero(w):>8d} {('yes' if same else 'no'):>15} "
            f"{gap:>14.2e} {seconds:>7.3f}"
        )
        results.append(
            {
                "method": name,
                "nonzeros": int(np.count_nonzero(w)),
                "same_support": same,
                "relative_gap": float(gap),
                "seconds": seconds,
            }
        )
    print("objective gap: (objective - Lasso's) / Lasso's; s: wall time after compilation")
    return results


if __name__ == "__main__":
    main()
