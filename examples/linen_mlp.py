"""The flagship's sparse MLP in Flax linen: a ``TrainState``, ``jax.jit``, L1 by ``adam_l1``.

Run from the repository root: ``python examples/linen_mlp.py [--method sgd_l1] [--l1 1e-3]``

``TrainState.apply_gradients`` passes the params to the optimizer, which is all the L1
transforms need. Biases are not regularized (``optax_l1.skip_biases``).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from common import batch_indices, example_parser, load_digits, make_optimizer
from flax.training import train_state

import optax_l1

METHOD, L1, EPOCHS, BATCH_SIZE, HIDDEN, SEED = "adam_l1", 3e-3, 20, 32, 256, 0


class MLP(nn.Module):
    hidden: int
    classes: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(self.classes)(nn.relu(nn.Dense(self.hidden)(x)))


@jax.jit
def train_step(state: train_state.TrainState, x: jax.Array, y: jax.Array):
    def loss_fn(params):
        logits = state.apply_fn({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@jax.jit
def eval_step(state: train_state.TrainState, x: jax.Array, y: jax.Array):
    accuracy = jnp.mean(jnp.argmax(state.apply_fn({"params": state.params}, x), -1) == y)
    return accuracy, optax_l1.sparsity(state.params, optax_l1.skip_biases)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = example_parser(__doc__, METHOD, L1, EPOCHS)
    args = parser.parse_args(argv)

    data = load_digits(args.train_limit)
    model = MLP(HIDDEN, data.num_classes)
    params = model.init(jax.random.key(SEED), data.x_train[:1])["params"]
    tx = make_optimizer(args.method, args.l1)
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    for epoch in range(1, args.epochs + 1):
        rng = np.random.default_rng([SEED, epoch])
        for idx in batch_indices(rng, len(data.x_train), BATCH_SIZE):
            state, _ = train_step(state, data.x_train[idx], data.y_train[idx])
    accuracy, zeros = eval_step(state, data.x_test, data.y_test)
    print(
        f"linen, {args.method} (l1={args.l1:g}), {args.epochs} epochs: test accuracy "
        f"{float(accuracy):.2%}, {float(zeros):.1%} of kernel weights exactly zero"
    )
    return {"test_accuracy": float(accuracy), "zeros": float(zeros), "params": state.params}


if __name__ == "__main__":
    main()
