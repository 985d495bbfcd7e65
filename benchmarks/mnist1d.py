"""MNIST-1D: the paper's MLP and CNN under every L1 method, and the sparsity frontier.

Run: python benchmarks/mnist1d.py    (~9 min on 2 CPU cores: 10 min of CPU time)
     python benchmarks/mnist1d.py --quick --epochs 1 --out /tmp/mnist1d  (plumbing only)

MNIST-1D (Greydanus, 2020) is generated locally by the ``mnist1d`` package (4000 train /
1000 test sequences of length 40, 10 classes; no download). Models and training settings
follow the MNIST-1D repository: a 40-100-100-10 ReLU MLP whose second hidden layer is
residual, a CNN of three stride-2 convolutions (widths 5, 3, 3; 25 channels) under a
linear classifier, and a logistic regression; PyTorch's default initialization; Adam at
learning rate 1e-2, batch 100, 6000 steps (150 epochs), no weight decay.

Over ``--seeds`` seeds (a seed fixes the initialization and the batch order; the data
are fixed) it measures:

1. the dense baselines, trained on the whole training set as in the paper, next to the
   paper's test accuracies (logistic regression 32%, MLP 68%, CNN 94%);
2. each L1 method of ``METHODS`` on the MLP and the CNN, with Adam as the host: test
   accuracy, exact zeros over the kernels (biases are never regularized:
   ``optax_l1.skip_biases``) and train-test gap, at the lambda of the best mean accuracy
   on a validation split. Protocol: a fixed 20% of the training set is held out; every
   run of the comparison trains on the other 80% (the "fit" split), lambda is chosen on
   the held-out 20%, and the test set only reports (no refit on the whole training set:
   it would double the cost);
3. the sparsity frontier at ``TARGETS`` exact zeros, on the same runs: magnitude pruning
   of the dense runs (no fine-tuning; the baseline of Gale, Elsen and Hooker, 2019), L1
   in the loss (``add_l1_gradient``) then magnitude pruning at the lambda chosen per
   target on the validation split, and for each L1 method, per seed, the run of its
   lambda sweep whose sparsity is the closest at or above the target.

All the runs of one (model, method) pair are one compiled program: the whole training is
a ``jax.lax.scan`` over the steps, vmapped over the seeds and mapped over the lambdas.
It writes ``--out``/mnist1d.{md,json} and mnist1d_frontier.png (default: benchmarks/results).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import RESULTS, machine, markdown_table, write_results  # noqa: E402

import optax_l1  # noqa: E402

# --------------------------------------------------------------------------- settings

# The training settings of the MNIST-1D repository (Adam, no weight decay).
LEARNING_RATE = 1e-2
BATCH_SIZE = 100
EPOCHS = 150  # 6000 steps of 100 examples over the 4000 training examples
PAPER_ACCURACY = {"logreg": 0.32, "mlp": 0.68, "cnn": 0.94}  # the paper's test accuracy

VALIDATION_FRACTION = 0.2  # carved once from the training set, the same for every seed
SPLIT_SEED = 0
TARGETS = (0.5, 0.8, 0.9, 0.95, 0.98)  # exact-zero fractions of the frontier
MAGNITUDE = "magnitude_pruning"  # prune the dense model, no fine-tuning
L1_PRUNED = "add_l1_gradient+pruning"  # L1 in the loss, then prune

Params = Any  # an nnx.State of Params


# --------------------------------------------------------------------------- models


def _torch_uniform(fan_in: int) -> Callable[..., jax.Array]:
    """PyTorch's default initialization of Linear and Conv1d: U(-1/sqrt(fan_in), +)."""
    bound = 1 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _linear(fan_in: int, fan_out: int, rngs: nnx.Rngs) -> nnx.Linear:
    init = _torch_uniform(fan_in)
    return nnx.Linear(fan_in, fan_out, kernel_init=init, bias_init=init, rngs=rngs)


class Conv1d(nnx.Module):
    """A 1-D convolution of stride 2 and padding 1 on (batch, length, channels).

    Its kernel is stored as the matrix of the windows' product, (width * in, out), rows
    ordered by (tap, input channel): ``nnx.Conv``'s (width, in, out) kernel reshaped. So
    every kernel of these models is a 2-D matrix whose columns are output neurons or
    filters (one group-lasso axis for all), and the convolution is one matrix product,
    which XLA:CPU runs several times faster than a vmapped convolution of these shapes.
    """

    def __init__(self, channels_in: int, channels_out: int, width: int, rngs: nnx.Rngs):
        init = _torch_uniform(channels_in * width)
        self.width = width
        self.kernel = nnx.Param(init(rngs.params(), (width * channels_in, channels_out)))
        self.bias = nnx.Param(init(rngs.params(), (channels_out,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        batch, length, channels = x.shape
        out_length = (length + 2 - self.width) // 2 + 1
        # Pad by 1 each side (and 1 more to an even length), then pair up the positions:
        # tap k of output i reads position 2i + k, the (k % 2)-th of pair i + k // 2.
        padded = jnp.pad(x, ((0, 0), (1, 1 + length % 2), (0, 0)))
        pairs = padded.reshape(batch, -1, 2, channels)
        windows = jnp.concatenate(
            [pairs[:, k // 2 : k // 2 + out_length, k % 2] for k in range(self.width)], axis=-1
        )
        return windows @ self.kernel[...] + self.bias[...]


class LogReg(nnx.Module):
    """Logistic regression: one Dense layer to the logits."""

    def __init__(self, rngs: nnx.Rngs):
        self.linear = _linear(40, 10, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(x)


class MLP(nnx.Module):
    """40 -> 100 -> 100 -> 10 with ReLUs; the second hidden layer adds to its input."""

    def __init__(self, rngs: nnx.Rngs, hidden: int = 100):
        self.linear1 = _linear(40, hidden, rngs)
        self.linear2 = _linear(hidden, hidden, rngs)
        self.linear3 = _linear(hidden, 10, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = nnx.relu(self.linear1(x))
        h = h + nnx.relu(self.linear2(h))
        return self.linear3(h)


class CNN(nnx.Module):
    """Three stride-2 convolutions (widths 5, 3, 3; 25 channels): 40 -> 19 -> 10 -> 5."""

    def __init__(self, rngs: nnx.Rngs, channels: int = 25):
        self.conv1 = Conv1d(1, channels, 5, rngs)
        self.conv2 = Conv1d(channels, channels, 3, rngs)
        self.conv3 = Conv1d(channels, channels, 3, rngs)
        self.linear = _linear(5 * channels, 10, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x[..., None]  # (batch, 40, 1 channel)
        for conv in (self.conv1, self.conv2, self.conv3):
            h = nnx.relu(conv(h))
        return self.linear(h.reshape(h.shape[0], -1))


MODELS: dict[str, type[nnx.Module]] = {"logreg": LogReg, "mlp": MLP, "cnn": CNN}


@functools.cache
def graphdef(model: str) -> nnx.GraphDef:
    return nnx.split(MODELS[model](nnx.Rngs(0)))[0]


def init_params(model: str, seeds: Sequence[int]) -> Params:
    """The initial parameters of ``model`` for each seed, stacked on a leading axis."""
    states = [nnx.split(MODELS[model](nnx.Rngs(seed)))[1] for seed in seeds]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


# --------------------------------------------------------------------------- methods


def _after_adam(transform: Callable[..., optax.GradientTransformation]) -> Callable:
    """A transform placed after Adam's learning-rate scaling, with Adam's learning rate."""

    def build(l1: Any, lr: float) -> optax.GradientTransformation:
        return optax.chain(
            optax.adam(lr), transform(l1, learning_rate=lr, mask=optax_l1.skip_biases)
        )

    return build


@dataclasses.dataclass(frozen=True)
class Method:
    """How to build a method's optimizer from (l1, learning rate), and its lambda sweep."""

    build: Callable[[Any, float], optax.GradientTransformation]
    lambdas: tuple[float, ...]


# The registry: every method runs with Adam as the host at the repository's learning
# rate, one lambda per run (lambda is traced: one compiled program per method). Under Adam
# the same lambda means different things to each method (README, "L1 under Adam"), so
# each has its own sweep: five values, half a decade apart where accuracy peaks, closer
# where sparsity climbs from ~50% to ~99%; placed from a pilot run's validation accuracy
# and sparsity, on both models.
DENSER = (0.01, 0.032, 0.1, 0.18, 0.32)  # the proximal steps after Adam, and sign decay
METHODS: dict[str, Method] = {
    "none": Method(lambda l1, lr: optax.adam(lr), (0.0,)),
    "add_l1_gradient": Method(
        lambda l1, lr: optax.chain(
            optax_l1.add_l1_gradient(l1, mask=optax_l1.skip_biases), optax.adam(lr)
        ),
        (3.2e-5, 1e-4, 3.2e-4, 1e-3, 3.2e-3),
    ),
    "l1_sign_decay": Method(_after_adam(optax_l1.l1_sign_decay), DENSER),
    "l1_soft_threshold": Method(_after_adam(optax_l1.l1_soft_threshold), DENSER),
    "l1_cumulative_penalty": Method(_after_adam(optax_l1.l1_cumulative_penalty), DENSER),
    # Group lasso over output neurons and filters: the columns of every (2-D) kernel,
    # the threshold scaled by the square root of the group size.
    "group_soft_threshold": Method(
        _after_adam(
            functools.partial(optax_l1.group_soft_threshold, axis=0, scale_by_group_size=True)
        ),
        (0.01, 0.032, 0.056, 0.1, 0.18),
    ),
    "adam_l1": Method(
        lambda l1, lr: optax_l1.adam_l1(lr, l1, mask=optax_l1.skip_biases),
        (3.2e-5, 1e-4, 3.2e-4, 1e-3, 3.2e-3),
    ),
}
L1_METHODS = [name for name in METHODS if name != "none"]


# --------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class Data:
    """MNIST-1D as the repository generates it, and a validation split of its train set."""

    x_train: np.ndarray  # float32 [4000, 40]
    y_train: np.ndarray  # int32 [4000]
    x_test: np.ndarray
    y_test: np.ndarray
    fit: np.ndarray  # indices into the train set: what the compared runs train on (80%)
    validation: np.ndarray  # the held-out rest, which chooses lambda (20%)


def _mnist1d_data_module() -> ModuleType:
    """The package's ``mnist1d.data``, which this script's own name shadows.

    With benchmarks/ on ``sys.path`` (running this script, or tests importing the other
    benchmarks), ``import mnist1d`` would find this file: look past that directory.
    """
    here = Path(__file__).resolve().parent
    saved_path, saved_module = sys.path[:], sys.modules.get("mnist1d")
    shadow = getattr(saved_module, "__file__", None)
    if shadow is not None and Path(shadow).resolve() == Path(__file__).resolve():
        del sys.modules["mnist1d"]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        return importlib.import_module("mnist1d.data")
    finally:
        sys.path[:] = saved_path


def load_data() -> Data:
    data_module = _mnist1d_data_module()
    # The repository's default data set, generated locally (its seed 42): no download.
    raw = data_module.make_dataset(data_module.get_dataset_args())
    n = len(raw["y"])
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    held_out = round(VALIDATION_FRACTION * n)
    return Data(
        raw["x"].astype(np.float32),
        raw["y"].astype(np.int32),
        raw["x_test"].astype(np.float32),
        raw["y_test"].astype(np.int32),
        np.sort(order[held_out:]),
        np.sort(order[:held_out]),
    )


def batch_orders(pool: np.ndarray, seeds: Sequence[int], steps: int) -> np.ndarray:
    """Per seed, ``steps`` batches of indices from ``pool``: a fresh shuffle every epoch.

    Shape [seeds, steps, BATCH_SIZE]; the ragged end of each epoch is dropped.
    """
    per_epoch = len(pool) // BATCH_SIZE
    epochs = -(-steps // per_epoch)
    orders = []
    for seed in seeds:
        rng = np.random.default_rng([seed, len(pool)])
        batches = [
            rng.permutation(pool)[: per_epoch * BATCH_SIZE].reshape(per_epoch, BATCH_SIZE)
            for _ in range(epochs)
        ]
        orders.append(np.concatenate(batches)[:steps])
    return np.stack(orders).astype(np.int32)


# --------------------------------------------------------------------------- training


def cross_entropy(params: Params, model: str, x: jax.Array, y: jax.Array) -> jax.Array:
    logits = nnx.merge(graphdef(model), params)(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@functools.partial(jax.jit, static_argnames=("model", "method"))
def train(
    params: Params,
    lambdas: jax.Array,
    orders: jax.Array,
    x: jax.Array,
    y: jax.Array,
    *,
    model: str,
    method: str,
) -> Params:
    """Trains every (lambda, seed) pair; returns params shaped [lambdas, seeds, ...].

    ``params`` holds each seed's initialization ([seeds, ...]), ``orders`` each seed's
    batches ([seeds, steps, batch]); the batches index ``x`` and ``y``. The seeds of one
    lambda train side by side (vmap), the lambdas one after the other (``lax.map``): on
    CPU a wider vmap costs more per run than it saves.
    """

    def one_run(init: Params, l1: jax.Array, order: jax.Array) -> Params:
        tx = METHODS[method].build(l1, LEARNING_RATE)

        def step(carry: tuple, idx: jax.Array) -> tuple:
            w, opt_state = carry
            grads = jax.grad(cross_entropy)(w, model, x[idx], y[idx])
            updates, opt_state = tx.update(grads, opt_state, w)
            return (optax.apply_updates(w, updates), opt_state), None

        (w, _), _ = jax.lax.scan(step, (init, tx.init(init)), order)
        return w

    over_seeds = jax.vmap(one_run, in_axes=(0, None, 0))
    return jax.lax.map(lambda l1: over_seeds(params, l1, orders), lambdas)


@functools.partial(jax.jit, static_argnames="model")
def accuracy(params: Params, x: jax.Array, y: jax.Array, *, model: str) -> jax.Array:
    """Accuracy of each run of a stack (leading axis) of params."""

    def one(w: Params) -> jax.Array:
        logits = nnx.merge(graphdef(model), w)(x)
        return jnp.mean(jnp.argmax(logits, axis=-1) == y)

    return jax.vmap(one)(params)


@jax.jit
def zeros(params: Params) -> jax.Array:
    """Fraction of kernel weights exactly zero, for each run of a stack of params."""
    return jax.vmap(lambda w: optax_l1.sparsity(w, optax_l1.skip_biases))(params)


@jax.jit
def prune(params: Params, target: jax.Array) -> Params:
    """Each run of a stack with its smallest-|w| kernel weights zeroed, to ``target`` zeros."""

    def one(w: Params) -> Params:
        mask = optax_l1.skip_biases(w)
        leaves = zip(jax.tree.leaves(w), jax.tree.leaves(mask), strict=True)
        kernels = [k for k, keep in leaves if keep]
        magnitudes = jnp.sort(jnp.concatenate([jnp.abs(k).ravel() for k in kernels]))
        position = jnp.minimum((target * magnitudes.size).astype(jnp.int32), magnitudes.size - 1)
        cut = magnitudes[position]
        return jax.tree.map(
            lambda k, keep: jnp.where(jnp.abs(k) < cut, 0.0, k) if keep else k, w, mask
        )

    return jax.vmap(one)(params)


# --------------------------------------------------------------------------- experiment


@dataclasses.dataclass(frozen=True)
class Sweep:
    """One method's runs on one model and one training set, every lambda and seed."""

    model: str
    method: str
    data: str  # "fit": the 80% of the training set left by the validation split; "train": all
    lambdas: tuple[float, ...]
    seeds: tuple[int, ...]
    params: Params  # [lambdas * seeds, ...], lambda-major
    seconds: float  # training wall time, compilation included

    def runs(self) -> list[tuple[float, int]]:
        """(lambda, seed) of each run, in the order of ``params``."""
        return [(l1, seed) for l1 in self.lambdas for seed in self.seeds]

    def at(self, l1: float) -> Sweep:
        """The runs of one lambda, one per seed."""
        i = self.lambdas.index(l1) * len(self.seeds)
        params = jax.tree.map(lambda a: a[i : i + len(self.seeds)], self.params)
        return dataclasses.replace(self, lambdas=(l1,), params=params)


def run_sweep(
    model: str,
    method: str,
    data: str,
    lambdas: Sequence[float],
    seeds: Sequence[int],
    orders: dict[str, jax.Array],
    dataset: Data,
) -> Sweep:
    start = time.perf_counter()
    params = train(
        init_params(model, seeds),
        jnp.asarray(lambdas, jnp.float32),
        orders[data],
        dataset.x_train,
        dataset.y_train,
        model=model,
        method=method,
    )
    flat = jax.block_until_ready(jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), params))
    seconds = time.perf_counter() - start
    return Sweep(model, method, data, tuple(lambdas), tuple(seeds), flat, seconds)


def evaluate(
    sweep: Sweep, dataset: Data, params: Params | None = None, **fields: Any
) -> list[dict[str, Any]]:
    """One record per run of ``sweep`` (or of ``params``: its pruned copies).

    Train accuracy is measured on the examples the run trained on; runs on the fit split
    also get their validation accuracy, the only one that chooses anything.
    """
    params = sweep.params if params is None else params
    pool = dataset.fit if sweep.data == "fit" else slice(None)
    measured = {
        "train_accuracy": accuracy(
            params, dataset.x_train[pool], dataset.y_train[pool], model=sweep.model
        ),
        "test_accuracy": accuracy(params, dataset.x_test, dataset.y_test, model=sweep.model),
        "zeros": zeros(params),
    }
    if sweep.data == "fit":
        measured["validation_accuracy"] = accuracy(
            params,
            dataset.x_train[dataset.validation],
            dataset.y_train[dataset.validation],
            model=sweep.model,
        )
    records = []
    for i, (l1, seed) in enumerate(sweep.runs()):
        record = {"model": sweep.model, "method": sweep.method, "data": sweep.data}
        record |= {"seed": seed, "l1": l1, **fields}
        record |= {name: float(values[i]) for name, values in measured.items()}
        record["gap"] = record["train_accuracy"] - record["test_accuracy"]
        records.append(record)
    return records


def _mean(records: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in records]))


def _where(records: list[dict], **fields: Any) -> list[dict]:
    """The records whose fields have these values (None: a field that is absent)."""
    return [r for r in records if all(r.get(k) == v for k, v in fields.items())]


def best_lambda(records: list[dict]) -> float:
    """The lambda of the best mean validation accuracy over seeds (the smaller on ties)."""
    lambdas = sorted({r["l1"] for r in records})
    scores = [_mean(_where(records, l1=l1), "validation_accuracy") for l1 in lambdas]
    return lambdas[int(np.argmax(scores))]


def pruned_baselines(
    sweeps: dict[str, Sweep], dataset: Data, targets: Sequence[float]
) -> list[dict[str, Any]]:
    """The practitioner's baselines, pruned to each target, no fine-tuning.

    Magnitude pruning of the dense runs; and L1 in the loss then magnitude pruning, at
    the lambda whose pruned runs have the best mean validation accuracy at that target.
    """
    records = []
    for target in targets:
        dense = sweeps["none"]
        records += evaluate(
            dense, dataset, prune(dense.params, target), method=MAGNITUDE, target=target
        )
        if "add_l1_gradient" not in sweeps:
            continue
        coupled = sweeps["add_l1_gradient"]
        chosen = coupled.at(best_lambda(evaluate(coupled, dataset, prune(coupled.params, target))))
        records += evaluate(
            chosen, dataset, prune(chosen.params, target), method=L1_PRUNED, target=target
        )
    return records


def frontier_picks(records: list[dict], target: float) -> list[dict] | None:
    """Per seed, the run of a sweep whose sparsity is the closest at or above ``target``.

    ``records``: one model's and method's runs. The pick looks at sparsity only, never at
    an accuracy. None when some seed has no run that sparse.
    """
    picks = []
    for seed in sorted({r["seed"] for r in records}):
        reached = [r for r in _where(records, seed=seed) if r["zeros"] >= target]
        if not reached:
            return None
        picks.append(min(reached, key=lambda r: r["zeros"]))
    return picks


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Trains every sweep; returns the records, the lambdas chosen and the frontier."""
    dataset = load_data()
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    steps = args.epochs * (len(dataset.y_train) // BATCH_SIZE)
    orders = {
        "train": jnp.asarray(batch_orders(np.arange(len(dataset.y_train)), seeds, steps)),
        "fit": jnp.asarray(batch_orders(dataset.fit, seeds, steps)),
    }
    records: list[dict] = []
    selected: list[dict] = []
    frontier: list[dict] = []
    seconds: dict[str, float] = {}

    def sweep(model: str, method: str, data: str) -> Sweep:
        lambdas = METHODS[method].lambdas
        if args.quick:
            lambdas = lambdas[:: max(1, len(lambdas) // 2)]
        result = run_sweep(model, method, data, lambdas, seeds, orders, dataset)
        records.extend(evaluate(result, dataset))
        seconds[f"{model} {method} {data}"] = round(result.seconds, 2)
        print(f"{model:<6} {method:<22} on {data:<5} {result.seconds:6.1f} s", flush=True)
        return result

    for model in args.models:
        sweep(model, "none", "train")  # the paper's setting: all 4000 training examples
        if model == "logreg":
            continue
        sweeps = {method: sweep(model, method, "fit") for method in ["none", *args.methods]}
        for method in sweeps:
            fit = _where(records, model=model, method=method, data="fit")
            selected.append({"model": model, "method": method, "l1": best_lambda(fit)})
            if method == "none":
                continue
            for target in args.targets:
                picks = frontier_picks(fit, target)
                frontier.append({"model": model, "method": method, "target": target, "runs": picks})
        records += pruned_baselines(sweeps, dataset, args.targets)
    return {
        "records": records,
        "selected": selected,
        "frontier": frontier,
        "seconds": seconds,
        "steps": steps,
    }


# --------------------------------------------------------------------------- report


def _percent(values: Sequence[float]) -> str:
    """Mean (min-max) in percent."""
    values = 100 * np.asarray(values)
    return f"{values.mean():.1f} ({values.min():.1f}–{values.max():.1f})"


def baseline_table(results: dict) -> str:
    rows = []
    for model, paper in PAPER_ACCURACY.items():
        full = _where(results["records"], model=model, method="none", data="train")
        if not full:
            continue
        fit = _where(results["records"], model=model, method="none", data="fit", target=None)
        rows.append(
            [
                model,
                f"{100 * paper:.0f}",
                _percent([r["test_accuracy"] for r in full]),
                f"{100 * _mean(full, 'train_accuracy'):.1f}",
                f"{100 * _mean(full, 'gap'):.1f}",
                _percent([r["test_accuracy"] for r in fit]) if fit else "–",
            ]
        )
    headers = ["model", "paper test %", "test %", "train %", "gap (points)"]
    return markdown_table([*headers, "test % trained on the fit split"], rows)


def methods_table(results: dict) -> str:
    """Each method at its lambda chosen on validation."""
    rows = []
    for choice in results["selected"]:
        model, method, l1 = choice["model"], choice["method"], choice["l1"]
        fit = _where(results["records"], model=model, data="fit", target=None)
        runs = _where(fit, method=method, l1=l1)
        dense = {r["seed"]: r["test_accuracy"] for r in _where(fit, method="none")}
        paired = [r["test_accuracy"] - dense[r["seed"]] for r in runs]
        rows.append(
            [
                model,
                method,
                f"{l1:g}",
                f"{100 * _mean(runs, 'validation_accuracy'):.1f}",
                _percent([r["test_accuracy"] for r in runs]),
                f"{100 * np.mean(paired):+.1f}",
                f"{100 * _mean(runs, 'zeros'):.1f}",
                f"{100 * _mean(runs, 'train_accuracy'):.1f}",
                f"{100 * _mean(runs, 'gap'):.1f}",
            ]
        )
    headers = ["model", "method", "λ", "validation %", "test %", "vs none (points)"]
    return markdown_table([*headers, "exact zeros %", "train %", "gap (points)"], rows)


def frontier_table(results: dict, model: str, targets: Sequence[float]) -> str:
    rows = []
    for method in (MAGNITUDE, L1_PRUNED):
        cells = []
        for target in targets:
            runs = _where(results["records"], model=model, method=method, target=target)
            note = f" λ={runs[0]['l1']:g}" if runs and method == L1_PRUNED else ""
            cells.append(_percent([r["test_accuracy"] for r in runs]) + note if runs else "–")
        rows.append([method, *cells])
    for method in dict.fromkeys(f["method"] for f in _where(results["frontier"], model=model)):
        cells = []
        for target in targets:
            (entry,) = _where(results["frontier"], model=model, method=method, target=target)
            picks = entry["runs"]
            if picks is None:
                cells.append("–")
                continue
            accuracy_cell = _percent([r["test_accuracy"] for r in picks])
            cells.append(f"{accuracy_cell} at {100 * _mean(picks, 'zeros'):.1f}%")
        rows.append([method, *cells])
    return markdown_table(["method", *(f"{100 * t:g}% zeros" for t in targets)], rows)


def sweep_table(results: dict) -> str:
    fit = _where(results["records"], data="fit", target=None)
    groups = dict.fromkeys((r["model"], r["method"], r["l1"]) for r in fit)
    rows = []
    for model, method, l1 in groups:
        runs = _where(fit, model=model, method=method, l1=l1)
        rows.append(
            [
                model,
                method,
                f"{l1:g}",
                f"{100 * _mean(runs, 'validation_accuracy'):.1f}",
                _percent([r["test_accuracy"] for r in runs]),
                f"{100 * _mean(runs, 'zeros'):.1f}",
                f"{100 * _mean(runs, 'train_accuracy'):.1f}",
            ]
        )
    headers = ["model", "method", "λ", "validation %", "test %", "exact zeros %", "train %"]
    return markdown_table(headers, rows)


def plot(results: dict, models: Sequence[str], path: Path) -> Path:
    """Test accuracy against exact zeros, one panel per model, baselines included."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def squash(z: np.ndarray) -> np.ndarray:  # spreads out the high sparsities
        return -np.log10(1.001 - np.asarray(z) / 100)

    def unsquash(s: np.ndarray) -> np.ndarray:
        return 100 * (1.001 - 10 ** -np.asarray(s))

    def mean_point(runs: list[dict]) -> tuple[float, float]:
        return 100 * _mean(runs, "zeros"), 100 * _mean(runs, "test_accuracy")

    fig, axes = plt.subplots(1, len(models), figsize=(7 * len(models), 5.5), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        own = _where(results["records"], model=model, data="fit")
        dense = _where(own, method="none", target=None)
        baselines = {
            MAGNITUDE: {"color": "black", "linewidth": 2.5},
            L1_PRUNED: {"color": "gray", "linewidth": 2.5, "linestyle": "--"},
        }
        for method, style in baselines.items():
            targets = sorted({r["target"] for r in _where(own, method=method)})
            points = [mean_point(_where(own, method=method, target=t)) for t in targets]
            if method == MAGNITUDE:
                points = [mean_point(dense), *points]
            if points:
                ax.plot(*np.array(points).T, marker="s", markersize=4, label=method, **style)
        for method in dict.fromkeys(r["method"] for r in own):
            if method in ("none", "add_l1_gradient", *baselines):
                continue  # coupled L1 makes no exact zeros: it is plotted pruned
            runs = _where(own, method=method, target=None)
            points = [
                mean_point(_where(runs, l1=l1)) for l1 in dict.fromkeys(r["l1"] for r in runs)
            ]
            ax.plot(*np.array(points).T, marker="o", markersize=4, label=method)
        dense_accuracy = 100 * _mean(dense, "test_accuracy")
        ax.axhline(dense_accuracy, color="black", linestyle=":", label="dense, same split")
        paper = 100 * PAPER_ACCURACY[model]
        ax.axhline(paper, color="tab:red", linestyle=":", label=f"paper's dense ({paper:.0f}%)")
        ax.set_xscale("function", functions=(squash, unsquash))
        ax.set_xticks([0, 50, 80, 90, 95, 98, 99, 99.5])
        ax.xaxis.set_major_formatter("{x:g}")
        ax.set_xlim(0, 99.8)
        ax.set_ylim(max(0, paper - 40), min(100, paper + 8))
        ax.set_xlabel("kernel weights exactly zero (%)")
        ax.set_ylabel("test accuracy (%), mean over seeds")
        ax.set_title(f"MNIST-1D {model.upper()}: lambda sweeps and pruned baselines")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="the first seed (default: 0)")
    parser.add_argument("--seeds", type=int, default=3, help="how many (default: 3)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--methods", nargs="+", choices=L1_METHODS, default=L1_METHODS)
    parser.add_argument("--targets", type=float, nargs="+", default=list(TARGETS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="default: %(default)s")
    parser.add_argument("--quick", action="store_true", help="3 lambdas per method (tests)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.seeds < 1:
        parser.error("--epochs and --seeds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark, writes its result files, returns the results."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    command = " ".join(["python benchmarks/mnist1d.py", *argv])
    start, cpu_start, load_start = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    print(f"machine: {machine()}\n{command}", flush=True)
    results = run(args)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    load = (round(load_start, 1), round(os.getloadavg()[0], 1))
    models = [m for m in args.models if m != "logreg"]
    figure = plot(results, models, args.out / "mnist1d_frontier.png") if models else None
    sections = [
        f"Machine: {machine()}. Command: `{command}`: {wall / 60:.1f} min wall time, "
        f"{cpu / 60:.1f} min CPU time of its process (all threads); 1-minute load average "
        f"{load[0]:g} at the start, {load[1]:g} at the end (above 2: other jobs shared the 2 "
        "cores).",
        f"MNIST-1D as `mnist1d` generates it (4000 train / 1000 test). Adam, lr "
        f"{LEARNING_RATE:g}, batch {BATCH_SIZE}, {results['steps']} steps for every run; seeds "
        f"{args.seed}–{args.seed + args.seeds - 1} (initialization and batch order; the data "
        "are fixed). Cells: mean (min–max) over the seeds. Exact zeros: over the kernels "
        "(biases excluded). Gap: train minus test accuracy.",
        "## Dense baselines against the paper\n\nTrained on the whole training set, as in "
        "the paper; the last column trains on the fit split (80%) as every run below does.\n\n"
        + baseline_table(results),
    ]
    if models:
        sections += [
            "## Each L1 method at its validated lambda\n\n"
            "Every run below trains on the fit split (80% of the training set, the same for "
            "every seed); lambda is the one of best mean accuracy on the validation split "
            "(the other 20%), and the test set only reports. `vs none`: test accuracy minus "
            "the dense run of the same seed, averaged.\n\n" + methods_table(results),
            "## Sparsity frontier\n\n"
            f"Test accuracy at each target fraction of exact zeros. `{MAGNITUDE}`: the "
            "dense runs with their smallest-|w| kernel weights zeroed to the target, no "
            f"fine-tuning. `{L1_PRUNED}`: L1 in the loss, pruned the same way, its lambda "
            "chosen per target on the validation split. L1 methods: for each seed, the run "
            "of the lambda sweep whose sparsity is the closest at or above the target (the "
            "choice looks at sparsity only; `at`: the picked runs' mean exact zeros); – "
            "where some seed never gets that sparse.",
            *(f"### {m.upper()}\n\n{frontier_table(results, m, args.targets)}" for m in models),
            f"![frontier]({figure.name})",
            "## The whole sweep\n\nMeans over seeds, runs on the fit split.\n\n"
            + sweep_table(results),
        ]
    markdown = "# MNIST-1D\n\n" + "\n\n".join(sections)
    data = {
        "machine": machine(),
        "command": command,
        "wall_time_s": round(wall, 1),
        "cpu_time_s": round(cpu, 1),
        "load_average": load,
        "settings": {
            "learning_rate": LEARNING_RATE,
            "batch_size": BATCH_SIZE,
            "epochs": args.epochs,
            "seeds": list(range(args.seed, args.seed + args.seeds)),
            "validation_fraction": VALIDATION_FRACTION,
            "targets": args.targets,
            "lambdas": {m: METHODS[m].lambdas for m in ["none", *args.methods]},
        },
        **results,
    }
    path = write_results("mnist1d", markdown, data, args.out)
    print(f"\n{markdown}\n\nwrote {path}" + (f", {figure}" if figure else ""))
    print(f"wall time {wall:.0f} s, CPU time {cpu:.0f} s, load average {load}")
    return data


if __name__ == "__main__":
    main()
