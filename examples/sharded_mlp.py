"""L1 training on a device mesh: data parallel x model parallel, checked against one device.

Run from the repository root:

    python examples/sharded_mlp.py --simulate-devices 8          # a 2 x 4 mesh on CPU
    XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/sharded_mlp.py
    python examples/sharded_mlp.py --simulate-devices 8 --method adam_l1 --epochs 5

It trains the examples' plain-JAX MLP (``common.init_mlp``) on the digits with an L1
method of ``common.METHODS`` (default ``sgd_l1``, the cumulative penalty) on a mesh with
axes ("data", "model"):

* "data": each batch is split over it; XLA turns the gradient's mean over the batch into
  a sum across these devices.
* "model": the hidden width is split over it: a hidden layer's kernel ``[in, hidden]``
  and bias along ``hidden``, the output kernel ``[hidden, classes]`` along ``hidden``;
  the output bias is replicated (``common.partition_spec``).
* The optimizer state is created on the mesh (``common.init_opt_state``): every
  per-weight state (the cumulative penalty's record, Adam's moments) is split like its
  weight; no L1 transform gathers a parameter (the step has no collective beyond the
  gradient's sum).

At the end it trains the same model on one device (same initialization, batches and
steps) and prints ``MATCH`` when the params agree (allclose with rtol 1e-5, atol 1e-6,
and the same exact zeros) or ``MISMATCH`` with the largest difference. Sharding orders
floating-point sums differently, so the runs agree closely, not bitwise; a rounding-level
difference can grow when it moves a ReLU input or a near-zero weight across 0.

Simulating devices on CPU: JAX fixes its device count at its first operation, so
``--simulate-devices N`` must run before anything else uses JAX in the process (it says
so when it is too late). On a host with 8 or more GPUs or TPU cores it uses 8 of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np
from common import (
    accuracy,
    add_mesh_options,
    batch_indices,
    check_mesh_fits,
    compare_params,
    example_parser,
    init_mlp,
    init_opt_state,
    load_digits,
    make_optimizer,
    make_train_step,
    param_shardings,
    positive,
    simulate_cpu_devices,
)
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import optax_l1

METHOD, L1, EPOCHS, BATCH_SIZE, HIDDEN, SEED = "sgd_l1", 1e-3, 5, 32, 128, 0
MESH_SHAPE = (2, 4)  # (data, model) with 8 or more devices


def make_mesh() -> Mesh:
    """2 x 4 with 8 or more devices, else 1 x N for the largest N in (4, 2, 1) available."""
    n = jax.device_count()
    shape = MESH_SHAPE if n >= 8 else (1, max(k for k in (4, 2, 1) if k <= n))
    return jax.make_mesh(
        shape,
        ("data", "model"),
        axis_types=(AxisType.Auto,) * 2,  # XLA's partitioner propagates the shardings
        devices=jax.devices()[: math.prod(shape)],
    )


def train(data, args, mesh: Mesh | None):
    """Params and optimizer state after training, on ``mesh`` or (None) on one device."""
    params = init_mlp(jax.random.key(SEED), [data.x_train.shape[1], args.hidden, 10])
    tx = make_optimizer(args.method, args.l1)
    if mesh is None:
        opt_state = tx.init(params)
    else:
        params = jax.device_put(params, param_shardings(params, mesh))
        opt_state = init_opt_state(tx, params, mesh)  # per-weight state split like its weight
    train_step = make_train_step(tx)
    for epoch in range(1, args.epochs + 1):
        rng = np.random.default_rng([SEED, epoch])
        for idx in batch_indices(rng, len(data.x_train), args.batch_size):
            x, y = data.x_train[idx], data.y_train[idx]
            if mesh is not None:
                x, y = jax.device_put((x, y), NamedSharding(mesh, P("data")))
            params, opt_state, _ = train_step(params, opt_state, x, y)
    return params, opt_state


def main(argv: Sequence[str] | None = None) -> dict:
    parser = example_parser(__doc__, METHOD, L1, EPOCHS)
    add_mesh_options(parser, HIDDEN, BATCH_SIZE)
    parser.add_argument("--simulate-devices", type=positive, default=None, metavar="N")
    args = parser.parse_args(argv)
    if args.simulate_devices and not simulate_cpu_devices(args.simulate_devices):
        if jax.device_count() != args.simulate_devices:
            print("--simulate-devices had no effect: JAX had already started in this process")

    mesh = make_mesh()
    print(
        f"devices: {jax.device_count()} x {jax.devices()[0].device_kind}; mesh {dict(mesh.shape)}"
    )
    data = load_digits(args.train_limit)
    check_mesh_fits(parser, args, dict(mesh.shape))
    params, opt_state = train(data, args, mesh)

    test_accuracy = float(accuracy(params, data.x_test, data.y_test))
    zeros = float(optax_l1.sparsity(params, optax_l1.skip_biases))
    print(f"{args.method}: test accuracy {test_accuracy:.2%}, {zeros:.1%} of kernels zero")
    kernel = params["hidden_0"]["kernel"]
    per_weight = [
        leaf for leaf in jax.tree.leaves(opt_state) if getattr(leaf, "shape", None) == kernel.shape
    ]
    print(f"hidden_0 kernel {kernel.shape}: {kernel.sharding.spec}")
    for leaf in per_weight:
        print(f"  its optimizer state {leaf.shape}: {leaf.sharding.spec}")

    with jax.default_device(jax.devices()[0]):
        reference, _ = train(data, args, mesh=None)
    matches, max_diff = compare_params(params, reference)
    print(
        f"same training on 1 device: max |difference| {max_diff:.2e} -> "
        + ("MATCH" if matches else "MISMATCH")
    )
    return {
        "mesh_shape": dict(mesh.shape),
        "test_accuracy": test_accuracy,
        "zeros": zeros,
        "params": params,
        "opt_state": opt_state,
        "matches": matches,
        "max_diff": max_diff,
    }


if __name__ == "__main__":
    main()
