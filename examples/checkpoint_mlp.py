"""Checkpoint and resume L1 training with Orbax: the optimizer state is a plain pytree.

Run from the repository root:

    python examples/checkpoint_mlp.py --checkpoint-dir /tmp/ckpt --epochs 2
    python examples/checkpoint_mlp.py --checkpoint-dir /tmp/ckpt --epochs 4   # resumes at 3

It trains the examples' plain-JAX MLP (``common.init_mlp``) on the digits with
``sgd_l1`` (the cumulative penalty; ``--method`` picks another) and saves the params and
the optimizer state after every epoch: the cumulative penalty's total and per-weight
record, Adam's moments and every step count. A run restarted with the same directory
resumes from the latest complete checkpoint (Orbax writes to a temporary directory and
renames it when complete, so a save cut short is never loaded), and each epoch's batch
order depends only on (seed, epoch): the resumed run takes exactly the steps an
uninterrupted one takes, and ends bitwise identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
from common import (
    accuracy,
    batch_indices,
    example_parser,
    init_mlp,
    load_digits,
    make_optimizer,
    make_train_step,
)

import optax_l1

METHOD, L1, EPOCHS, BATCH_SIZE, HIDDEN, SEED = "sgd_l1", 1e-3, 4, 32, 64, 0


def main(argv: Sequence[str] | None = None) -> dict:
    parser = example_parser(__doc__, METHOD, L1, EPOCHS)
    parser.add_argument("--checkpoint-dir", type=Path, required=True)
    args = parser.parse_args(argv)

    data = load_digits(args.train_limit)
    tx = make_optimizer(args.method, args.l1)
    params = init_mlp(jax.random.key(SEED), [data.x_train.shape[1], HIDDEN, data.num_classes])
    opt_state = tx.init(params)
    manager = ocp.CheckpointManager(
        args.checkpoint_dir.resolve(), options=ocp.CheckpointManagerOptions(max_to_keep=2)
    )
    first = 1
    if (latest := manager.latest_step()) is not None:
        target = {"params": params, "opt_state": opt_state}
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = manager.restore(latest, args=ocp.args.StandardRestore(abstract))
        params, opt_state, first = restored["params"], restored["opt_state"], latest + 1
        print(f"resumed from the checkpoint of epoch {latest}")

    train_step = make_train_step(tx)
    for epoch in range(first, args.epochs + 1):
        rng = np.random.default_rng([SEED, epoch])
        for idx in batch_indices(rng, len(data.x_train), BATCH_SIZE):
            params, opt_state, _ = train_step(
                params, opt_state, data.x_train[idx], data.y_train[idx]
            )
        state = {"params": params, "opt_state": opt_state}
        manager.save(epoch, args=ocp.args.StandardSave(state))
        manager.wait_until_finished()  # before the next step donates these arrays
        test_accuracy = float(accuracy(params, data.x_test, data.y_test))
        zeros = float(optax_l1.sparsity(params, optax_l1.skip_biases))
        print(f"epoch {epoch}: test accuracy {test_accuracy:.2%}, {zeros:.1%} zeros, saved")
    manager.wait_until_finished()
    manager.close()
    return {"params": params, "opt_state": opt_state}


if __name__ == "__main__":
    main()
