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
    """Each L1 method with plain SGD, all with the same ``l1`` and learning-rate schedule."""
    return {
        "add_l1_gradient": optax.chain(optax_l1.add_l1_gradient(alpha), optax.sgd(lr)),
        "l1_sign_decay": optax_l1.sgd_l1(lr, alpha, method="decoupled"),
        "l1_soft_threshold": optax_l1.sgd_l1(lr, alpha, method="proximal"),
        "l1_cumulative_penalty": optax_l1.sgd_l1(lr, alpha, method="cumulative"),
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


def compare(
    n: int = 2000,
    d: int = 200,
    informative: int = 10,
    noise: float = 0.5,
    alpha: float = 0.1,
    batch_size: int = 10,
    epochs: int = 20,
    learning_rate: float = 0.01,
    seed: int = 0,
) -> list[dict]:
    """Solves one lasso problem with every method; returns a row of results per method."""
    x, y = make_problem(n, d, informative, noise, seed)
    start = time.perf_counter()
    lasso = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(x, y)
    rows = [("sklearn Lasso (reference)", lasso.coef_, time.perf_counter() - start)]
    support = lasso.coef_ != 0
    best = objective(x, y, lasso.coef_, alpha)

    lr = optax.exponential_decay(learning_rate, epochs * (n // batch_size), 0.01)
    for name, tx in methods(lr, alpha).items():
        w, seconds = train(tx, x, y, batch_size, epochs, seed)
        rows.append((f"SGD + {name}", w, seconds))

    sgd = SGDRegressor(
        penalty="l1",
        alpha=alpha,
        fit_intercept=False,
        max_iter=epochs,
        tol=None,
        random_state=seed,
    )
    start = time.perf_counter()
    sgd.fit(x, y)
    rows.append(("sklearn SGDRegressor(l1)", sgd.coef_, time.perf_counter() - start))
    return [
        {
            "method": name,
            "nonzeros": int(np.count_nonzero(w)),
            "lasso_nonzeros": int(support.sum()),
            "same_support": bool(np.array_equal(w != 0, support)),
            "relative_gap": float((objective(x, y, w, alpha) - best) / best),
            "seconds": seconds,
        }
        for name, w, seconds in rows
    ]


def format_table(results: list[dict]) -> str:
    header = (
        f"{'method':<30} {'nonzeros':>8} {'support = Lasso':>15} {'objective gap':>14} {'s':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r['method']:<30} {r['nonzeros']:>8d} {('yes' if r['same_support'] else 'no'):>15} "
            f"{r['relative_gap']:>14.2e} {r['seconds']:>7.3f}"
        )
    return "\n".join(lines)


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

    results = compare(**vars(args))
    print(f"devices: {jax.devices()}")
    print(
        f"lasso: n={args.n}, d={args.d}, informative={args.informative}, alpha={args.alpha}; "
        f"the reference support has {results[0]['lasso_nonzeros']} features; SGD runs: "
        f"batch {args.batch_size}, {args.epochs} epochs"
    )
    print(format_table(results))
    print("objective gap: (objective - Lasso's) / Lasso's; s: wall time after compilation")
    return results


if __name__ == "__main__":
    main()
