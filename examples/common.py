"""What the examples share: the digits data, the L1 methods by name, a plain-JAX MLP.

Not an example itself. ``flax_mlp.py``, ``linen_mlp.py`` and ``equinox_mlp.py`` take the
data and the method registry from here and define their model and steps in their own
framework; ``checkpoint_mlp.py``, ``sharded_mlp.py`` and ``multiprocess_mlp.py`` also use
the plain-JAX MLP and train step below (params are a dict of arrays: easy to checkpoint,
shard and split across processes).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optax_l1

SPLIT_SEED = 0  # the digits train/test split does not depend on --seed
MASK = optax_l1.skip_biases  # L1 on the kernels, never on biases


# --------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class Data:
    x_train: np.ndarray  # float32 [n_train, features], standardized
    y_train: np.ndarray  # int32 [n_train]
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def load_digits(train_limit: int | None = None) -> Data:
    """scikit-learn's 8x8 digits (bundled, no download): a fixed stratified 75/25 split.

    Pixels that are constant over the training images (always blank) are dropped, and the
    others standardized with the training statistics. ``train_limit`` keeps the first N
    training images (quick runs; the test set is unchanged).
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    x, y = sklearn_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=SPLIT_SEED
    )
    if train_limit is not None:
        x_train, y_train = x_train[:train_limit], y_train[:train_limit]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    keep = std > 0
    x_train = (x_train[:, keep] - mean[keep]) / std[keep]
    x_test = (x_test[:, keep] - mean[keep]) / std[keep]
    return Data(
        x_train.astype(np.float32),
        y_train.astype(np.int32),
        x_test.astype(np.float32),
        y_test.astype(np.int32),
        num_classes=10,
    )


def batch_indices(rng: np.random.Generator, n: int, batch_size: int) -> list[np.ndarray]:
    """One epoch of shuffled batches; the ragged last batch is dropped (one compiled shape)."""
    order = rng.permutation(n)
    batch_size = min(batch_size, n)
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


# --------------------------------------------------------------------------- methods

# name -> (builder of the optimizer from learning_rate and l1, default learning rate).
# Every method takes the same l1: lambda in mean_batch_loss + lambda * ||kernels||_1.
METHODS: dict[str, tuple[Callable[[float, float], optax.GradientTransformation], float]] = {
    "adam_l1": (lambda lr, l1: optax_l1.adam_l1(lr, l1, mask=MASK), 1e-3),
    "sgd_l1": (lambda lr, l1: optax_l1.sgd_l1(lr, l1, mask=MASK), 0.1),
    "add_l1_gradient": (
        lambda lr, l1: optax.chain(optax_l1.add_l1_gradient(l1, mask=MASK), optax.adam(lr)),
        1e-3,
    ),
    "l1_soft_threshold": (
        lambda lr, l1: optax.chain(
            optax.adam(lr), optax_l1.l1_soft_threshold(l1, learning_rate=lr, mask=MASK)
        ),
        1e-3,
    ),
    "none": (lambda lr, l1: optax.adam(lr), 1e-3),
}


def make_optimizer(
    method: str, l1: float, learning_rate: float | None = None
) -> optax.GradientTransformation:
    """The optimizer of a method of ``METHODS``, at its default learning rate if None."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    build, default_lr = METHODS[method]
    return build(default_lr if learning_rate is None else learning_rate, l1)


def example_parser(doc: str, method: str, l1: float, epochs: int) -> argparse.ArgumentParser:
    """The options every example takes, with that example's defaults; at least 1 epoch."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--method", choices=list(METHODS), default=method)
    parser.add_argument("--l1", type=float, default=l1, help="lambda (default: %(default)g)")
    parser.add_argument("--epochs", type=positive, default=epochs, help="default: %(default)s")
    parser.add_argument("--train-limit", type=positive, default=None, help="first N images")
    return parser


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# --------------------------------------------------------------------------- plain-JAX MLP


def init_mlp(key: jax.Array, sizes: Sequence[int]) -> dict[str, dict[str, jax.Array]]:
    """Params of an MLP with layer widths ``sizes`` (input first): LeCun-normal kernels.

    Layers are named ``hidden_0``, ``hidden_1``, ... and ``out``; each has a ``kernel``
    ``[in, out]`` and a ``bias`` (the names ``optax_l1.skip_biases`` goes by).
    """
    keys = jax.random.split(key, len(sizes) - 1)
    names = [f"hidden_{i}" for i in range(len(sizes) - 2)] + ["out"]
    init = jax.nn.initializers.lecun_normal()
    return {
        name: {"kernel": init(k, (a, b), jnp.float32), "bias": jnp.zeros(b, jnp.float32)}
        for name, k, a, b in zip(names, keys, sizes[:-1], sizes[1:], strict=True)
    }


def mlp_logits(params: dict[str, Any], x: jax.Array) -> jax.Array:
    """ReLU after every layer but the last."""
    *hidden, out = [params[name] for name in sorted(params, key=lambda n: (n == "out", n))]
    for layer in hidden:
        x = jax.nn.relu(x @ layer["kernel"] + layer["bias"])
    return x @ out["kernel"] + out["bias"]


def loss_fn(params: dict[str, Any], x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean cross-entropy over the batch (the data term; L1 is the optimizer's job)."""
    return optax.softmax_cross_entropy_with_integer_labels(mlp_logits(params, x), y).mean()


def accuracy(params: dict[str, Any], x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(mlp_logits(params, x), axis=-1) == y)


def make_train_step(tx: optax.GradientTransformation) -> Callable[..., Any]:
    """``step(params, opt_state, x, y) -> (params, opt_state, loss)``, jitted.

    Params and optimizer state are donated: XLA updates them in place. With sharded
    inputs, XLA partitions the step over their mesh.
    """

    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1))


# --------------------------------------------------------------------------- sharding


def simulate_cpu_devices(count: int) -> bool:
    """Asks JAX for ``count`` CPU devices; False when JAX has already started.

    JAX fixes its device count at its first operation, so this must run before anything
    else uses JAX in the process.
    """
    try:
        jax.config.update("jax_platforms", "cpu")
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # raised once a JAX operation has initialized the backends
        return False
    return True


def add_mesh_options(parser: argparse.ArgumentParser, hidden: int, batch_size: int) -> None:
    """``--hidden`` (split over "model") and ``--batch-size`` (split over "data")."""
    parser.add_argument("--hidden", type=positive, default=hidden, help="divisible by 'model'")
    parser.add_argument(
        "--batch-size", type=positive, default=batch_size, help="divisible by 'data'"
    )


def check_mesh_fits(
    parser: argparse.ArgumentParser, args: argparse.Namespace, mesh_shape: dict[str, int]
) -> None:
    """Exits with a usage error unless the batch splits over "data" and the width over "model"."""
    data, model = mesh_shape["data"], mesh_shape["model"]
    if args.batch_size % data or args.hidden % model:
        parser.error(
            f"--batch-size ({args.batch_size}) must divide over 'data' ({data})"
            f" and --hidden ({args.hidden}) over 'model' ({model})"
        )


def partition_spec(path: Sequence[Any], leaf: Any) -> Any:
    """Where a param of the plain-JAX MLP lives on a ("data", "model") mesh.

    Hidden layers are split along their output width (kernel ``[in, hidden]`` and bias),
    the output kernel ``[hidden, classes]`` along its input width; the output bias is
    replicated.
    """
    from jax.sharding import PartitionSpec as P

    layer, name = (getattr(k, "key", None) for k in path[-2:])
    if layer == "out":
        return P("model", None) if name == "kernel" else P()
    return P(None, "model") if name == "kernel" else P("model")


def param_shardings(params: Any, mesh: Any) -> Any:
    """A ``NamedSharding`` on ``mesh`` for every param (``partition_spec``), as a tree."""
    from jax.sharding import NamedSharding

    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: NamedSharding(mesh, partition_spec(path, leaf)), params
    )


def init_opt_state(tx: optax.GradientTransformation, params: Any, mesh: Any) -> Any:
    """``tx.init(params)`` on ``mesh``: each per-weight state sharded like its weight.

    A state leaf whose key path ends with a param's path and has its shape (Adam's
    moments, the cumulative penalty's record) takes that param's sharding; the others
    (step counts, totals) are replicated. A bare ``jax.jit(tx.init)`` does not do this:
    moments that start at zero do not depend on the params, so XLA leaves them on one
    device (and the first train step recompiles for the mesh).
    """
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    params_by_path = {tuple(k): v for k, v in jax.tree_util.tree_leaves_with_path(params)}

    def sharding(path, leaf):
        for start in range(len(path)):
            param = params_by_path.get(tuple(path[start:]))
            if param is not None and param.shape == leaf.shape:
                return param.sharding
        return NamedSharding(mesh, P())

    abstract = jax.eval_shape(tx.init, params)
    shardings = jax.tree_util.tree_map_with_path(sharding, abstract)
    return jax.jit(tx.init, out_shardings=shardings)(params)


def compare_params(params: Any, reference: Any, rtol: float = 1e-5, atol: float = 1e-6):
    """``(matches, max_abs_diff)``: allclose leaf by leaf, with the same exact zeros."""
    pairs = [
        (np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(reference), strict=True)
    ]
    close = all(np.allclose(a, b, rtol=rtol, atol=atol) for a, b in pairs)
    same_zeros = all(np.array_equal(a == 0, b == 0) for a, b in pairs)
    max_diff = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in pairs)
    return close and same_zeros, max_diff
