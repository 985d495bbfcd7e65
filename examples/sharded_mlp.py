"""L1 training of the flagship MLP across devices: data parallel x model parallel on a mesh.

Run from the repository root (after ``pip install -e '.[examples]'``):

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/sharded_mlp.py
    python examples/sharded_mlp.py --simulate-devices 8     # the same, set up for you
    python examples/sharded_mlp.py --simulate-devices 8 --method l1_soft_threshold --epochs 20
    python examples/sharded_mlp.py --help

It trains ``examples/flax_mlp.py``'s MLP on the digits with one L1 method of that
example's registry (default ``l1_cumulative_penalty``; biases are not regularized) on a
2 x 4 device mesh with axes ("data", "model"):

* "data": each batch is split over it (data parallelism); the gradient's mean over the
  batch becomes a sum across these devices, which XLA inserts.
* "model": the hidden width is split over it (tensor parallelism). A hidden layer's kernel
  ``[in, hidden]`` and bias ``[hidden]`` are split along ``hidden``; the output layer's
  kernel ``[hidden, classes]`` is split along ``hidden`` and its bias is replicated.
* The optimizer state is placed like the params it belongs to, so the per-weight L1 state
  (the cumulative penalty's record for each weight, Adam's moments) is split the same way.

The train step is an ordinary ``nnx.jit`` function: the shardings of its inputs tell XLA's
SPMD partitioner how to split the computation, and the params and optimizer state come
out sharded as they went in. The code has no device-specific parts: on a host with 8 or
more GPUs or TPU cores it uses 8 of them as they are; with fewer devices it uses a
1 x N mesh (N = 4, 2 or 1) and says so.

Simulating devices on CPU: JAX fixes the number of CPU devices when its backend starts,
i.e. at the first JAX operation. Either set the environment before starting Python,
``XLA_FLAGS=--xla_force_host_platform_device_count=8``, or pass ``--simulate-devices 8``,
which selects the CPU backend and sets ``jax.config.jax_num_cpu_devices`` before any JAX
operation runs (it has no effect when ``main`` is called in a process where JAX has
already run; the script then says so).

At the end it trains the same model once more on a single device (same initialization,
same batches, same steps) and checks that the sharded run reached the same params:
``compare_params`` (allclose with rtol 1e-5, atol 1e-6, and the same exact zeros).
Sharding changes the order of floating-point sums, so the two agree closely, not bitwise:
with the defaults, to about 2e-7. A rounding-level difference can still grow: when it
moves a ReLU input across 0, or flips the ``sign(w)`` of a weight the subgradient method
keeps near 0, that step's gradient differs by far more than rounding; Adam gives a
coordinate whose gradient is rounding noise a full-size step. Then the check reports
MISMATCH (by up to about 1e-3 here, with the same weights exactly zero) although the
sharding is not at fault: with the defaults this happens for ``group_soft_threshold`` and
``adam_l1``, and for other methods in longer runs or under ``--optimizer adam``.

With 8 simulated devices on 2 CPU cores, the default run takes about 10 seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # flax_mlp.py sits next to this file

import flax_mlp
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA, MODEL = "data", "model"  # the mesh axes
MESH_SHAPE = (2, 4)  # (data, model) with 8 or more devices
SIMULATE_HINT = "XLA_FLAGS=--xla_force_host_platform_device_count=8"
DEFAULT_METHOD = "l1_cumulative_penalty"
EPOCHS = 10
HIDDEN = [128]
BATCH_SIZE = 32
LEARNING_RATES = {"sgd": 0.1, "adam": 1e-3}
L1_TOTAL = 1.0  # default l1 = L1_TOTAL / N_train, as in flax_mlp.py on digits
SEED = 0
RTOL, ATOL = 1e-5, 1e-6  # sharded vs single-device params


# --------------------------------------------------------------------------- mesh


def simulate_cpu_devices(count: int) -> bool:
    """Asks JAX for ``count`` CPU devices; returns False when JAX has already started."""
    try:
        jax.config.update("jax_platforms", "cpu")
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # raised once a JAX operation has initialized the backends
        return False
    return True


def make_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A ("data", "model") mesh: 2 x 4 with 8 or more devices, else 1 x N, N in (4, 2, 1)."""
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) >= math.prod(MESH_SHAPE):
        shape = MESH_SHAPE
    else:
        shape = (1, max(n for n in (4, 2, 1) if n <= len(devices)))
    return jax.make_mesh(
        shape,
        (DATA, MODEL),
        axis_types=(AxisType.Auto, AxisType.Auto),
        devices=devices[: math.prod(shape)],
    )


def key_names(path: Sequence[Any]) -> tuple[Any, ...]:
    """The names on a pytree key path: dict keys, attribute names, sequence indices."""
    return tuple(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))) for k in path)


def partition_spec(path: Sequence[Any], leaf: Any) -> P:
    """Where a leaf of the model state, or of the optimizer state, lives on the mesh.

    The path of a param's optimizer state ends with the param's path (``.../hidden/0/kernel``
    under the name of the state field), so one rule places both.
    """
    names = key_names(path)
    if "kernel" in names:  # [in, out]: split the hidden width
        spec = P(MODEL, None) if "out" in names else P(None, MODEL)
    elif "bias" in names and "out" not in names:
        spec = P(MODEL)
    else:  # the output bias, step counts, scalar totals: replicated
        spec = P()
    return spec if len(spec) == np.ndim(leaf) else P()


def shard_(node: nnx.Module | nnx.Optimizer, mesh: Mesh) -> None:
    """Moves the state of a model or optimizer onto ``mesh``, in place."""
    state = nnx.state(node)
    shardings = jax.tree_util.tree_map_with_path(
        lambda path, leaf: NamedSharding(mesh, partition_spec(path, leaf)), state
    )
    nnx.update(node, jax.device_put(state, shardings))


# --------------------------------------------------------------------------- training


@nnx.jit
def train_step(
    model: flax_mlp.MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array
) -> jax.Array:
    """One optimizer step; with sharded inputs, XLA partitions it over the mesh."""
    loss, grads = nnx.value_and_grad(lambda m: flax_mlp.cross_entropy(m(x), y))(model)
    optimizer.update(model, grads)
    return loss


def epoch_metrics(model: flax_mlp.MLP, data: flax_mlp.Data) -> dict[str, float]:
    """Train and test accuracy, and the mean |w| and exact-zero fraction of the kernels."""
    _, train_acc = flax_mlp.eval_step(model, data.x_train, data.y_train)
    _, test_acc = flax_mlp.eval_step(model, data.x_test, data.y_test)
    mean_abs, zeros = flax_mlp.kernel_stats(nnx.state(model, nnx.Param))
    return {
        "train_acc": float(train_acc),
        "test_acc": float(test_acc),
        "mean_abs_w": mean_abs,
        "zero_frac": zeros,
    }


def train(
    data: flax_mlp.Data, args: argparse.Namespace, mesh: Mesh | None, evaluate: bool = True
) -> tuple[flax_mlp.MLP, nnx.Optimizer, list[dict[str, float]]]:
    """Trains a fresh model on ``mesh``, or on the default device with ``mesh=None``.

    The initialization depends only on ``args.seed`` and each epoch's batch order only on
    ``(args.seed, epoch)``, so runs on different meshes take the same steps. With
    ``evaluate``, it prints and records the metrics after every epoch.
    """
    model = flax_mlp.MLP(
        data.x_train.shape[1], args.hidden, data.num_classes, rngs=nnx.Rngs(args.seed)
    )
    tx = flax_mlp.make_optimizer(args.method, args.optimizer, args.learning_rate, args.l1)
    if mesh is not None:
        shard_(model, mesh)  # the same initial values, now split over the mesh
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    if mesh is not None:
        shard_(optimizer, mesh)
        batch_sharding = NamedSharding(mesh, P(DATA))  # split the batch dimension
    if evaluate:
        print(
            f"{'epoch':>5}  {'loss':>7}  {'train acc':>9}  {'test acc':>8}  {'zeros':>7}  {'s':>6}"
        )
    history = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        rng = np.random.default_rng([args.seed, epoch])
        losses = []
        for idx in flax_mlp.batch_indices(rng, len(data.x_train), args.batch_size):
            x, y = data.x_train[idx], data.y_train[idx]
            if mesh is not None:
                x, y = jax.device_put((x, y), batch_sharding)
            losses.append(train_step(model, optimizer, x, y))
        loss = float(jnp.mean(jnp.stack(losses)))  # waits for the last step
        seconds = time.perf_counter() - start
        if evaluate:
            h = {"epoch": epoch, "loss": loss, **epoch_metrics(model, data), "seconds": seconds}
            history.append(h)
            print(
                f"{epoch:>5}  {loss:>7.4f}  {h['train_acc']:>9.4f}  {h['test_acc']:>8.4f}  "
                f"{h['zero_frac']:>7.2%}  {seconds:>6.3f}"
            )
    return model, optimizer, history


# --------------------------------------------------------------------------- checks


@dataclasses.dataclass(frozen=True)
class ParamComparison:
    """How the params of the sharded run compare with those of a single-device run."""

    max_abs_diff: float
    allclose: bool  # every leaf within rtol/atol
    same_zeros: bool  # the same weights are exactly zero
    rtol: float
    atol: float

    @property
    def matches(self) -> bool:
        return self.allclose and self.same_zeros


def compare_params(
    params: Any, reference: Any, rtol: float = RTOL, atol: float = ATOL
) -> ParamComparison:
    """Compares two param pytrees of the same structure, leaf by leaf, on the host."""
    pairs = [
        (np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(reference), strict=True)
    ]
    return ParamComparison(
        max_abs_diff=max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in pairs),
        allclose=all(np.allclose(a, b, rtol=rtol, atol=atol) for a, b in pairs),
        same_zeros=all(np.array_equal(a == 0, b == 0) for a, b in pairs),
        rtol=rtol,
        atol=atol,
    )


def single_device_params(data: flax_mlp.Data, args: argparse.Namespace) -> nnx.State:
    """The params that the same training (same init, same batches) reaches on one device."""
    with jax.default_device(jax.devices()[0]):
        model, _, _ = train(data, args, mesh=None, evaluate=False)
    return nnx.state(model, nnx.Param)


def check_against_single_device(
    model: flax_mlp.MLP, data: flax_mlp.Data, args: argparse.Namespace
) -> ParamComparison:
    """Retrains on a single device and compares its params with ``model``'s."""
    return compare_params(nnx.state(model, nnx.Param), single_device_params(data, args))


def _opt_state_kernel_leaf(optimizer: nnx.Optimizer) -> tuple[str, jax.Array] | None:
    """A per-weight optimizer-state leaf of the first hidden kernel, with its path."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(optimizer)):
        names = [str(n) for n in key_names(path) if n != "value"]
        if names[-3:] == ["hidden", "0", "kernel"]:
            return "/".join(names), leaf
    return None


# --------------------------------------------------------------------------- command line


@dataclasses.dataclass
class Result:
    """What ``main`` reports; ``model`` and ``optimizer`` hold the trained, sharded state."""

    method: str
    mesh_shape: dict[str, int]
    device_count: int  # devices JAX sees (the mesh may use fewer)
    train_acc: float
    test_acc: float
    mean_abs_w: float  # over the kernels
    zero_frac: float  # fraction of kernel weights exactly 0.0
    kernel_spec: P  # sharding of the first hidden kernel
    opt_state_spec: P | None  # of its per-weight optimizer state (None: the method has none)
    comparison: ParamComparison  # against the same training on one device
    history: list[dict[str, float]] = dataclasses.field(repr=False)
    model: flax_mlp.MLP = dataclasses.field(repr=False)
    optimizer: nnx.Optimizer = dataclasses.field(repr=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"Simulate 8 devices on CPU: {SIMULATE_HINT} python examples/sharded_mlp.py, "
        "or pass --simulate-devices 8.",
    )
    parser.add_argument(
        "--method",
        choices=list(flax_mlp.METHODS),
        default=DEFAULT_METHOD,
        help="an L1 method of flax_mlp.METHODS (default: %(default)s)",
    )
    parser.add_argument(
        "--l1",
        type=float,
        default=None,
        help=f"L1 coefficient per example (default: {L1_TOTAL:g} / N_train)",
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="default: %(default)s")
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=HIDDEN,
        help="hidden layer widths, each divisible by the 'model' axis size (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=BATCH_SIZE,
        help="divisible by the 'data' axis size (default: %(default)s)",
    )
    parser.add_argument(
        "--optimizer", choices=list(LEARNING_RATES), default="sgd", help="default: %(default)s"
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="default: " + ", ".join(f"{lr:g} for {k}" for k, lr in LEARNING_RATES.items()),
    )
    parser.add_argument("--seed", type=int, default=SEED, help="default: %(default)s")
    parser.add_argument(
        "--train-limit", type=int, default=None, help="train on the first N examples only"
    )
    parser.add_argument(
        "--simulate-devices",
        type=int,
        default=None,
        metavar="N",
        help="run on N simulated CPU devices (selects the CPU backend; only before JAX has "
        "started in this process)",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    flax_mlp.require_positive(
        parser, args, ("epochs", "batch_size", "train_limit", "simulate_devices")
    )
    if args.learning_rate is None:
        args.learning_rate = LEARNING_RATES[args.optimizer]
    return args


def main(argv: Sequence[str] | None = None) -> Result:
    """Trains on the mesh, checks against one device, prints and returns the outcome."""
    args = parse_args(argv)
    n = args.simulate_devices
    if n is not None and not simulate_cpu_devices(n) and jax.device_count() != n:
        print(
            f"--simulate-devices {n} had no effect: JAX had already "
            "started in this process (start Python with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={n} instead)"
        )
    devices = jax.devices()
    mesh = make_mesh(devices)
    print(f"devices: {len(devices)} x {devices[0].platform} ({devices[0].device_kind})")
    print(
        f"mesh: {' x '.join(f'{k}={v}' for k, v in mesh.shape.items())} over "
        f"{mesh.devices.size} of {len(devices)} devices"
    )
    if len(devices) < math.prod(MESH_SHAPE) and jax.default_backend() == "cpu":
        print(
            f"(for the 2 x 4 mesh on CPU, simulate 8 devices: --simulate-devices 8, or "
            f"{SIMULATE_HINT} python examples/sharded_mlp.py)"
        )

    data = flax_mlp.load_data("digits", args.train_limit)
    if args.l1 is None:
        args.l1 = L1_TOTAL / len(data.x_train)
    batch = min(args.batch_size, len(data.x_train))
    if batch % mesh.shape[DATA] or any(h % mesh.shape[MODEL] for h in args.hidden):
        raise SystemExit(
            f"batch size {batch} must be divisible by {mesh.shape[DATA]} ('data') and every "
            f"hidden width {args.hidden} by {mesh.shape[MODEL]} ('model')"
        )
    print(
        f"digits: {len(data.x_train)} train / {len(data.x_test)} test | MLP hidden "
        f"{args.hidden} | {args.method} ({args.optimizer} lr={args.learning_rate:g}, "
        f"l1={args.l1:g} per example) | {args.epochs} epochs, batch {batch}"
    )

    model, optimizer, history = train(data, args, mesh)
    last = history[-1]
    print(
        f"test accuracy {last['test_acc']:.4f}, train accuracy {last['train_acc']:.4f}, "
        f"kernels: mean |w| {last['mean_abs_w']:.5f}, exactly zero {last['zero_frac']:.2%}"
    )

    kernel = model.hidden[0].kernel[...]
    print(
        f"hidden[0].kernel {kernel.shape}: {kernel.sharding.spec}, "
        f"{kernel.sharding.shard_shape(kernel.shape)} per device"
    )
    found = _opt_state_kernel_leaf(optimizer)
    if found is None:
        print(f"optimizer state: {args.method} keeps no per-weight state here")
    else:
        path, leaf = found
        print(
            f"optimizer state {path} {leaf.shape}: {leaf.sharding.spec}, "
            f"{leaf.sharding.shard_shape(leaf.shape)} per device"
        )

    start = time.perf_counter()
    comparison = check_against_single_device(model, data, args)
    print(
        f"same training on 1 device ({time.perf_counter() - start:.1f} s): max |difference| "
        f"{comparison.max_abs_diff:.2e}, allclose(rtol={comparison.rtol:g}, "
        f"atol={comparison.atol:g}): {comparison.allclose}, same exact zeros: "
        f"{comparison.same_zeros} -> {'MATCH' if comparison.matches else 'MISMATCH'}"
    )
    if not comparison.matches:
        print(
            "(float sums are ordered differently on the mesh; see the module docstring for "
            "how a rounding-level difference can grow over a run)"
        )
    return Result(
        method=args.method,
        mesh_shape=dict(mesh.shape),
        device_count=len(devices),
        train_acc=last["train_acc"],
        test_acc=last["test_acc"],
        mean_abs_w=last["mean_abs_w"],
        zero_frac=last["zero_frac"],
        kernel_spec=kernel.sharding.spec,
        opt_state_spec=None if found is None else found[1].sharding.spec,
        comparison=comparison,
        history=history,
        model=model,
        optimizer=optimizer,
    )


if __name__ == "__main__":
    main()
