"""The flagship's sparse MLP in Equinox: ``eqx.filter``, ``eqx.is_inexact_array``, ``adam_l1``.

Run from the repository root: ``python examples/equinox_mlp.py [--method sgd_l1] [--l1 1e-3]``

Equinox keeps params in the model, so the optimizer is initialized and updated with
``eqx.filter(model, eqx.is_inexact_array)``: the arrays that train, with ``None`` where
the model holds anything else. Equinox names a layer's arrays ``weight`` and ``bias``;
``optax_l1.skip_biases`` selects the ``weight`` of ``Linear``, ``Conv`` and ``Embedding``
and skips biases and the ``weight``/``bias`` of Equinox's normalization layers (it looks
at the layer's type as well as the names).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from common import batch_indices, example_parser, load_digits, make_optimizer

import optax_l1

METHOD, L1, EPOCHS, BATCH_SIZE, HIDDEN, SEED = "adam_l1", 3e-3, 20, 32, 256, 0


def loss_fn(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    logits = jax.vmap(model)(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def make_train_step(tx: optax.GradientTransformation):
    @eqx.filter_jit
    def train_step(model, opt_state, x, y):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
        params = eqx.filter(model, eqx.is_inexact_array)
        updates, opt_state = tx.update(grads, opt_state, params)
        return eqx.apply_updates(model, updates), opt_state, loss

    return train_step


@eqx.filter_jit
def eval_step(model: eqx.nn.MLP, x: jax.Array, y: jax.Array):
    accuracy = jnp.mean(jnp.argmax(jax.vmap(model)(x), -1) == y)
    zeros = optax_l1.sparsity(eqx.filter(model, eqx.is_inexact_array), optax_l1.skip_biases)
    return accuracy, zeros


def main(argv: Sequence[str] | None = None) -> dict:
    parser = example_parser(__doc__, METHOD, L1, EPOCHS)
    args = parser.parse_args(argv)

    data = load_digits(args.train_limit)
    model = eqx.nn.MLP(
        data.x_train.shape[1], data.num_classes, HIDDEN, depth=1, key=jax.random.key(SEED)
    )
    tx = make_optimizer(args.method, args.l1)
    opt_state = tx.init(eqx.filter(model, eqx.is_inexact_array))
    train_step = make_train_step(tx)
    for epoch in range(1, args.epochs + 1):
        rng = np.random.default_rng([SEED, epoch])
        for idx in batch_indices(rng, len(data.x_train), BATCH_SIZE):
            model, opt_state, _ = train_step(model, opt_state, data.x_train[idx], data.y_train[idx])
    accuracy, zeros = eval_step(model, data.x_test, data.y_test)
    print(
        f"equinox, {args.method} (l1={args.l1:g}), {args.epochs} epochs: test accuracy "
        f"{float(accuracy):.2%}, {float(zeros):.1%} of kernel weights exactly zero"
    )
    return {"test_accuracy": float(accuracy), "zeros": float(zeros), "model": model}


if __name__ == "__main__":
    main()
