"""The flax_mlp.py comparison, short, with Flax linen, a plain optax state and jax.jit.

Run (from the repository root): python examples/linen_mlp.py [--methods none l1_sign_decay]

It reuses flax_mlp.py's data loading and method registry (``METHODS``). L1 acts where
``optax_l1.mask_by_name()`` selects: the Dense kernels, never the biases. The L1
coefficient is per example: the objective is ``mean(loss) + l1 * sum|kernels|``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import flax_mlp  # the sibling example: Python puts examples/ on sys.path when run as a script
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

import optax_l1

MASK = optax_l1.mask_by_name()  # kernels (and embeddings) in, biases and scales out


class MLP(nn.Module):
    """Dense -> ReLU for each hidden width, then Dense to the logits."""

    hidden: Sequence[int]
    classes: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.classes)(x)


def make_tx(
    method: str, optimizer: str, learning_rate: float, l1: float
) -> optax.GradientTransformation:
    """A registered method's transform, with the linen name-based mask."""
    return flax_mlp.make_optimizer(method, optimizer, learning_rate, l1, mask=MASK)


def train(method: str, data: flax_mlp.Data, args: argparse.Namespace) -> dict[str, Any]:
    """Trains one model with one method; returns its metrics and per-epoch train losses."""
    model = MLP(tuple(args.hidden), data.num_classes)
    params = model.init(jax.random.key(args.seed), data.x_train[:1])["params"]
    tx = make_tx(method, args.optimizer, args.learning_rate, args.l1)
    opt_state = tx.init(params)

    def loss_fn(params, x, y):
        return flax_mlp.cross_entropy(model.apply({"params": params}, x), y)

    @jax.jit
    def train_step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def eval_step(params, x, y):
        logits = model.apply({"params": params}, x)
        return flax_mlp.cross_entropy(logits, y), jnp.mean(jnp.argmax(logits, -1) == y)

    rng = np.random.default_rng(args.seed)
    losses = [float(eval_step(params, data.x_train, data.y_train)[0])]  # before training
    for _ in range(args.epochs):
        for idx in flax_mlp.batch_indices(rng, len(data.x_train), args.batch_size):
            params, opt_state, _ = train_step(
                params, opt_state, data.x_train[idx], data.y_train[idx]
            )
        losses.append(float(eval_step(params, data.x_train, data.y_train)[0]))

    mean_abs_w, zero_frac = flax_mlp.kernel_stats(params, MASK)
    return {
        "method": method,
        "train_acc": float(eval_step(params, data.x_train, data.y_train)[1]),
        "test_acc": float(eval_step(params, data.x_test, data.y_test)[1]),
        "mean_abs_w": mean_abs_w,
        "zero_frac": zero_frac,
        "train_losses": losses,  # full-train-set loss at epochs 0..N
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Parses ``argv``, trains each method and prints a table; returns one dict per method."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(flax_mlp.METHODS),
        default=["none", "l1_sign_decay"],
        help="registered methods to train (default: none l1_sign_decay)",
    )
    parser.add_argument("--dataset", choices=list(flax_mlp.DATASET_DEFAULTS), default="digits")
    parser.add_argument(
        "--l1",
        type=float,
        default=None,
        help="L1 coefficient lambda PER EXAMPLE (the loss is a batch mean); default as in "
        "flax_mlp.py: C / N_train",
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=flax_mlp.BATCH_SIZE)
    parser.add_argument("--optimizer", choices=list(flax_mlp.LEARNING_RATES), default="sgd")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--hidden", type=int, nargs="+", default=None)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=flax_mlp.SEED)
    args = parser.parse_args(argv)

    print(f"devices: {jax.devices()}")
    data = flax_mlp.load_data(args.dataset, args.train_limit)
    args.hidden = args.hidden or flax_mlp.DATASET_DEFAULTS[args.dataset]["hidden"]
    if args.learning_rate is None:
        args.learning_rate = flax_mlp.LEARNING_RATES[args.optimizer]
    if args.l1 is None:
        args.l1 = flax_mlp.L1_TOTAL[args.dataset] / len(data.x_train)
    print(
        f"linen MLP {args.hidden} on {args.dataset} ({len(data.x_train)} train): "
        f"{args.optimizer} lr={args.learning_rate:g}, l1={args.l1:g} per example, "
        f"{args.epochs} epochs"
    )
    results = [train(method, data, args) for method in args.methods]
    width = flax_mlp.name_width()
    print(
        f"{'method':<{width}} {'loss start':>10} {'loss end':>9} {'train acc':>9} {'test acc':>8} "
        f"{'mean|w|':>8} {'zeros':>7}"
    )
    for r in results:
        print(
            f"{r['method']:<{width}} {r['train_losses'][0]:>10.4f} {r['train_losses'][-1]:>9.4f} "
            f"{r['train_acc']:>9.4f} {r['test_acc']:>8.4f} {r['mean_abs_w']:>8.5f} "
            f"{r['zero_frac']:>7.2%}"
        )
    return results


if __name__ == "__main__":
    main()
