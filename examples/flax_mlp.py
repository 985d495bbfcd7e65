"""A sparse MLP in Flax NNX: L1 by proximal Adam (``optax_l1.adam_l1``) on the digits.

Run from the repository root (``make demo`` does, in its own virtual environment):

    python examples/flax_mlp.py                       # adam_l1, lambda = 3e-3
    python examples/flax_mlp.py --method none         # plain Adam, for comparison
    python examples/flax_mlp.py --method sgd_l1 --l1 1e-3

It trains a one-hidden-layer MLP on scikit-learn's 8x8 handwritten digits (bundled, no
download) and prints, after every few epochs, the training loss, the test accuracy and
the fraction of kernel weights that are exactly zero. The objective is
``mean_batch(cross_entropy) + l1 * sum|kernel weights|``: biases are not regularized
(``optax_l1.skip_biases``). The code has no device-specific parts: it runs unchanged on
CPU, GPU or TPU.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from common import batch_indices, example_parser, load_digits, make_optimizer, positive
from flax import nnx

import optax_l1

# --------------------------------------------------------------------------- config

METHOD = "adam_l1"  # any of common.METHODS
L1 = 3e-3  # lambda in mean_batch_loss + lambda * ||kernels||_1
LEARNING_RATE = None  # None: the method's default (Adam 1e-3, SGD 0.1)
EPOCHS = 30
BATCH_SIZE = 32
HIDDEN = 256
SEED = 0
PRINT_EVERY = 5  # epochs


# --------------------------------------------------------------------------- model


class MLP(nnx.Module):
    def __init__(self, features: int, hidden: int, classes: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(features, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(nnx.relu(self.hidden(x)))


def loss_fn(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


@nnx.jit
def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    """One step on a batch; the optimizer applies L1 (it gets the params from the model)."""
    loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def eval_step(model: MLP, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Test accuracy, and the fraction of kernel weights exactly zero."""
    accuracy = jnp.mean(jnp.argmax(model(x), axis=-1) == y)
    return accuracy, optax_l1.sparsity(nnx.state(model, nnx.Param), optax_l1.skip_biases)


# --------------------------------------------------------------------------- training


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = example_parser(__doc__, METHOD, L1, EPOCHS)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--batch-size", type=positive, default=BATCH_SIZE)
    parser.add_argument("--hidden", type=positive, default=HIDDEN, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=SEED)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    data = load_digits(args.train_limit)
    print(f"devices: {jax.devices()}")
    print(
        f"digits: {len(data.x_train)} train / {len(data.x_test)} test images | MLP "
        f"{data.x_train.shape[1]}-{args.hidden}-{data.num_classes} | {args.method}, "
        f"l1={args.l1:g} | {args.epochs} epochs, batch {args.batch_size}"
    )
    model = MLP(data.x_train.shape[1], args.hidden, data.num_classes, rngs=nnx.Rngs(args.seed))
    tx = make_optimizer(args.method, args.l1, args.learning_rate)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    print(f"{'epoch':>5}  {'train loss':>10}  {'test acc':>8}  {'zeros':>7}")
    history = []
    for epoch in range(1, args.epochs + 1):
        rng = np.random.default_rng([args.seed, epoch])
        losses = [
            train_step(model, optimizer, data.x_train[idx], data.y_train[idx])
            for idx in batch_indices(rng, len(data.x_train), args.batch_size)
        ]
        accuracy, zeros = eval_step(model, data.x_test, data.y_test)
        history.append(
            {
                "epoch": epoch,
                "train_loss": float(jnp.mean(jnp.stack(losses))),
                "test_accuracy": float(accuracy),
                "zeros": float(zeros),
            }
        )
        if epoch % PRINT_EVERY == 0 or epoch in (1, args.epochs):
            h = history[-1]
            print(
                f"{epoch:>5}  {h['train_loss']:>10.4f}  {h['test_accuracy']:>8.2%}  "
                f"{h['zeros']:>7.2%}"
            )
    last = history[-1]
    print(
        f"{args.method}: test accuracy {last['test_accuracy']:.2%}, "
        f"{last['zeros']:.1%} of kernel weights exactly zero"
    )
    return {"args": vars(args), "history": history, "model": model, **last}


if __name__ == "__main__":
    main()
