"""Sparse logistic regression: FTRL, proximal Adagrad, the cumulative penalty and proximal Adam.

Run: python examples/sparse_logistic.py [--epochs 50] [--c 0.07] [--noise-features 300]

The data: scikit-learn's bundled breast-cancer set (569 examples, 30 features) with a few
hundred Gaussian noise features appended (fixed seed), split 70/30 into train and test,
and standardized with the training split's statistics. The problem is L1-regularized
logistic regression without an intercept, on the n training examples:

    min_w  (1/n) sum_i log(1 + exp(-s_i w.x_i)) + lam ||w||_1,     s_i = +-1.

The reference is scikit-learn's LogisticRegression with the L1 penalty and the
"liblinear" solver at inverse strength C, which minimizes

    ||w||_1 + C sum_i log(1 + exp(-s_i w.x_i));

divided by C n, that is the problem above with lam = 1 / (C n): the one per-example lam
that every optimizer here gets. The intercept: liblinear fits its intercept as the weight
of a constant feature and penalizes it like any other weight, so its fit_intercept=True
solves another problem than an unpenalized intercept would; neither side fits one here
(the features are standardized).

FTRL's l1 is in another unit (see optax_l1.ftrl): FTRL applies it once, to the sum of the
losses of all the steps so far, so after t steps of batch-mean losses the per-example
strength is l1 / t. The same objective is therefore l1 = lam * t at step t, the schedule
`lambda count: lam * (count + 1)`. The other three take lam itself. (Given l1 = lam, FTRL
would regularize 600 steps' worth of loss by lam: far too little, and it keeps most of
the noise features.)

Every optimizer trains on minibatches of 32 for the same epochs and batch order, in
float32, under one jitted lax.scan. The table reports the nonzero weights, how many of
the reference's features they include, the objective gap (the objective above, minus the
reference's optimum), the test accuracy and the wall time (after compilation for ours).
"""

from __future__ import annotations

import argparse
import inspect
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import optax_l1

CONFIG = {
    "noise_features": 300,
    "c": 0.07,  # liblinear's C; lam = 1 / (C n_train)
    "batch_size": 32,
    "epochs": 50,
    "seed": 1,
    "test_fraction": 0.3,
    # learning rates: FTRL's alpha, Adagrad's eta, and initial values that decay 100x
    "ftrl_lr": 0.5,
    "adagrad_lr": 0.2,
    "sgd_lr": 1.0,
    "adam_lr": 0.05,
}


def make_problem(noise_features: int, seed: int, test_fraction: float):
    """Breast cancer plus Gaussian noise features, split and standardized (train stats)."""
    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    x = np.hstack([x, rng.standard_normal((len(x), noise_features))])
    order = rng.permutation(len(x))
    n_test = int(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    x = (x - mean) / std
    return x[train], y[train].astype(np.float64), x[test], y[test].astype(np.float64)


def objective(x, y, w, lam: float) -> float:
    """Mean log-loss (labels 0/1) plus lam ||w||_1, in float64."""
    margin = x @ w
    return float(np.mean(np.logaddexp(0, margin) - y * margin) + lam * np.abs(w).sum())


def reference(x, y, c: float) -> np.ndarray:
    """scikit-learn's L1 logistic regression (liblinear), no intercept, solved tightly."""
    # scikit-learn 1.8 spells the L1 penalty l1_ratio=1 and deprecates penalty="l1".
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        penalty = {"l1_ratio": 1.0}
    else:
        penalty = {"penalty": "l1"}
    model = LogisticRegression(
        **penalty, C=c, solver="liblinear", fit_intercept=False, tol=1e-10, max_iter=10_000
    )
    return model.fit(x, y).coef_[0].astype(np.float64)


def optimizers(lam: float, steps: int, cfg: dict) -> dict[str, optax.GradientTransformation]:
    """The four optimizers, each solving mean log-loss + lam ||w||_1."""

    def decaying(lr):
        return optax.exponential_decay(lr, steps, 0.01)

    return {
        "ftrl (l1 = lam * t)": optax_l1.ftrl(cfg["ftrl_lr"], l1=lambda count: lam * (count + 1)),
        "proximal_adagrad": optax_l1.proximal_adagrad(cfg["adagrad_lr"], l1=lam),
        "sgd_l1 (cumulative)": optax_l1.sgd_l1(decaying(cfg["sgd_lr"]), lam),
        "adam_l1": optax_l1.adam_l1(decaying(cfg["adam_lr"]), lam),
    }


def batch_order(n: int, batch: int, epochs: int, seed: int) -> jax.Array:
    per_epoch = n // batch
    return jnp.concatenate(
        [
            jax.random.permutation(jax.random.key(seed + e), n)[: per_epoch * batch]
            for e in range(epochs)
        ]
    ).reshape(-1, batch)


def train(tx, x, y, order):
    """Minibatch training under one jitted lax.scan; returns (weights, seconds after compile)."""
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

    def loss(w, idx):
        return optax.sigmoid_binary_cross_entropy(xj[idx] @ w, yj[idx]).mean()

    @jax.jit
    def run(carry):
        def step(carry, idx):
            w, state = carry
            updates, state = tx.update(jax.grad(loss)(w, idx), state, w)
            return (optax.apply_updates(w, updates), state), None

        return jax.lax.scan(step, carry, order)[0][0]

    w0 = jnp.zeros(x.shape[1], jnp.float32)
    run((w0, tx.init(w0))).block_until_ready()  # compile
    start = time.perf_counter()
    w = run((w0, tx.init(w0))).block_until_ready()
    return np.asarray(w, np.float64), time.perf_counter() - start


def compare(**cfg) -> list[dict]:
    cfg = {**CONFIG, **cfg}
    x, y, x_test, y_test = make_problem(cfg["noise_features"], cfg["seed"], cfg["test_fraction"])
    n = len(x)
    lam = 1 / (cfg["c"] * n)
    start = time.perf_counter()
    w_ref = reference(x, y, cfg["c"])
    rows = [("sklearn liblinear (reference)", w_ref, time.perf_counter() - start)]
    order = batch_order(n, cfg["batch_size"], cfg["epochs"], cfg["seed"])
    for name, tx in optimizers(lam, len(order), cfg).items():
        w, seconds = train(tx, x, y, order)
        rows.append((name, w, seconds))

    support = w_ref != 0
    best = objective(x, y, w_ref, lam)
    return [
        {
            "method": name,
            "nonzeros": int(np.count_nonzero(w)),
            "overlap": int(np.count_nonzero((w != 0) & support)),
            "reference_nonzeros": int(support.sum()),
            "noise_nonzeros": int(np.count_nonzero(w[30:])),
            "same_support": bool(np.array_equal(w != 0, support)),
            "objective": objective(x, y, w, lam),
            "objective_gap": objective(x, y, w, lam) - best,
            "test_accuracy": float(np.mean((x_test @ w > 0) == (y_test == 1))),
            "seconds": seconds,
            "lam": lam,
            "n_train": n,
            "steps": len(order),
        }
        for name, w, seconds in rows
    ]


def format_table(results: list[dict]) -> str:
    k = results[0]["reference_nonzeros"]
    header = (
        f"{'method':<30} {'nonzeros':>8} {f'overlap (of {k})':>15} {'objective gap':>14} "
        f"{'test acc':>9} {'s':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r['method']:<30} {r['nonzeros']:>8d} {r['overlap']:>15d} "
            f"{r['objective_gap']:>14.2e} {r['test_accuracy']:>9.3f} {r['seconds']:>7.3f}"
        )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise-features", type=int, default=CONFIG["noise_features"])
    parser.add_argument("--c", type=float, default=CONFIG["c"], help="liblinear's C")
    parser.add_argument("--batch-size", type=int, default=CONFIG["batch_size"])
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--seed", type=int, default=CONFIG["seed"])
    args = parser.parse_args(argv)
    if args.c <= 0 or args.batch_size < 1 or args.epochs < 1 or args.noise_features < 0:
        parser.error("--c, --batch-size and --epochs must be positive, --noise-features >= 0")

    results = compare(**vars(args))
    first = results[0]
    print(f"devices: {jax.devices()}")
    print(
        f"breast cancer + {args.noise_features} noise features, {first['n_train']} training "
        f"examples; C = {args.c} -> lam = 1/(C n) = {first['lam']:.4g}; the reference keeps "
        f"{first['reference_nonzeros']} features ({first['noise_nonzeros']} of them noise); "
        f"minibatches of {args.batch_size}, {args.epochs} epochs ({first['steps']} steps)"
    )
    print(format_table(results))
    print(
        "objective: mean log-loss + lam ||w||_1 on the training set; gap: minus the "
        "reference's; s: wall time (ours after compilation)"
    )
    return results


if __name__ == "__main__":
    main()
