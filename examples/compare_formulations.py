"""Coupled vs decoupled L1, side by side, on a small sparse regression problem.

Run: python examples/compare_formulations.py

Under plain SGD the two formulations take the same steps; under Adam they do not,
because the coupled penalty goes through Adam's normalization.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax

import optax_l1


def make_problem(key, n=256, d=32, informative=4):
    kx, kw, kn = jax.random.split(key, 3)
    x = jax.random.normal(kx, (n, d))
    true_w = (
        jnp.zeros(d)
        .at[:informative]
        .set(jax.random.uniform(kw, (informative,), minval=1, maxval=2))
    )
    y = x @ true_w + 0.1 * jax.random.normal(kn, (n,))
    return x, y, true_w


def train(tx, x, y, steps):
    def loss_fn(w):
        return 0.5 * jnp.mean((x @ w - y) ** 2)

    def step(carry, _):
        w, state = carry
        updates, state = tx.update(jax.grad(loss_fn)(w), state, w)
        w = optax.apply_updates(w, updates)
        return (w, state), w

    w0 = jnp.full(x.shape[1], 0.5)
    _, path = jax.jit(lambda c: jax.lax.scan(step, c, length=steps))((w0, tx.init(w0)))
    return path, float(loss_fn(path[-1]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l1", type=float, default=0.05, help="L1 coefficient lambda")
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args(argv)
    x, y, true_w = make_problem(jax.random.key(0))
    lr, lam = 0.05, args.l1
    runs = {
        "SGD + add_l1_gradient": optax.chain(optax_l1.add_l1_gradient(lam), optax.sgd(lr)),
        "SGD + l1_sign_decay": optax.chain(
            optax.sgd(lr), optax_l1.l1_sign_decay(lam, learning_rate=lr)
        ),
        "Adam + add_l1_gradient": optax.chain(optax_l1.add_l1_gradient(lam), optax.adam(lr)),
        "Adam + l1_sign_decay": optax.chain(
            optax.adam(lr), optax_l1.l1_sign_decay(lam, learning_rate=lr)
        ),
    }
    print(f"devices: {jax.devices()}")
    print(
        f"{'method':<24} {'data loss':>10} {'|w|_1':>8} {'|w| off-support':>16} {'exact zeros':>12}"
    )
    results = {}
    for name, tx in runs.items():
        path, loss = train(tx, x, y, args.steps)
        results[name], w = path, path[-1]
        off = float(jnp.abs(w[true_w == 0]).mean())
        print(
            f"{name:<24} {loss:>10.5f} {float(optax_l1.l1_norm(w)):>8.4f} "
            f"{off:>16.2e} {float(optax_l1.sparsity(w)):>12.2%}"
        )
    print()
    for opt in ("SGD", "Adam"):
        coupled, decoupled = results[f"{opt} + add_l1_gradient"], results[f"{opt} + l1_sign_decay"]
        gaps = jnp.abs(coupled - decoupled).max(axis=1)
        apart = jnp.flatnonzero(gaps > 1e-6)
        if not apart.size:
            print(f"{opt}: coupled and decoupled agree to 1e-6 for all {args.steps} steps")
            continue
        first = int(apart[0])
        entering = float(jnp.abs(coupled[first - 1]).min()) if first else 0.5
        print(
            f"{opt}: coupled and decoupled agree to 1e-6 for the first {first} of "
            f"{args.steps} steps; step {first + 1} starts with min |w| = {entering:.4f} "
            f"(lr * l1 = {lr * lam:.4g})"
        )
    print(
        "Under SGD the formulations take identical steps while |w| >= lr * l1; near zero the\n"
        "subgradient step overshoots zero and chatters while the decoupled one stops at it.\n"
        "Under Adam the coupled penalty is normalized by the second moment, so they differ."
    )


if __name__ == "__main__":
    main()
