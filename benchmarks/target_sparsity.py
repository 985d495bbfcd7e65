"""Ask for a sparsity, get it: target-controlled L1 against magnitude pruning.

Run: python benchmarks/target_sparsity.py [--epochs-scale 1.0] [--seeds 3]
     python benchmarks/target_sparsity.py --epochs 2 --seeds 1 --out /tmp/ts   (plumbing)

On the digits MLP (``examples/common.py``; hidden 512, Adam 1e-3, batch 32, 2520
steps) and MNIST-1D's MLP and CNN (``benchmarks/mnist1d.py``: the repository's models
and training, Adam 1e-2, batch 100, 6000 steps), for targets 0.5, 0.8, 0.9, 0.95 and
0.98 exact zeros over the kernels, and each seed:

(a) each target-controlled method (``optax_l1.target_sparsity`` around ``adam_l1``, and
    around ``l1_cumulative_penalty`` and ``l1_soft_threshold`` after Adam: no lambda
    sweep) trains for the model's steps with the target ramped over the first 70%; the
    controlled phase ends at the last step of its final 10% where the measured sparsity
    is within half a point of the target (or at its last step if none is), and
    ``achieved`` is the exact sparsity of the params it hands on;
(b) its test accuracy then, and
(c) after a fine-tune phase of a quarter of the steps with Adam alone and
    ``optax_l1.freeze_zeros`` (the zeros stay zero, the other weights are refitted);
(d) magnitude pruning of the dense model (trained as long) to the target, without and
    with the same fine-tune phase (the baseline of Gale, Elsen and Hooker 2019, one-shot);
(e) L1 in the loss (``add_l1_gradient`` at a fixed lambda per model) then magnitude
    pruning to the target, without and with the fine-tune phase.

Every (model, method) pair is one compiled program per phase: a ``lax.scan`` over the
steps, vmapped over the seeds, mapped over the targets. It writes
``--out``/target_sparsity.{md,json} and target_sparsity.png (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
import mnist1d as mnist1d_bench  # noqa: E402  (this repository's benchmark script)
from _common import RESULTS, machine, markdown_table, write_results  # noqa: E402

import optax_l1  # noqa: E402

TARGETS = (0.5, 0.8, 0.9, 0.95, 0.98)
MASK = optax_l1.skip_biases
RAMP_FRACTION = 0.7  # of the controlled phase's steps
LANDING_FRACTION = 0.1  # the final part of the controlled phase where it may end
LANDING_TOLERANCE = 0.005
FINE_TUNE_FRACTION = 0.25  # the fine-tune phase, relative to the training steps


# --------------------------------------------------------------------------- tasks


@dataclasses.dataclass(frozen=True)
class Task:
    """A model, its data and its training settings."""

    name: str
    init: Callable[[Sequence[int]], Any]  # seeds -> params stacked over seeds
    loss: Callable[[Any, jax.Array, jax.Array], jax.Array]  # one model's mean loss
    logits: Callable[[Any, jax.Array], jax.Array]
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x, y train; x, y test
    learning_rate: float
    batch_size: int
    steps: int
    l1_in_loss: float  # lambda of the L1-in-the-loss baseline


def digits_task() -> Task:
    data = common.load_digits()
    sizes = [data.x_train.shape[1], 512, data.num_classes]

    def init(seeds):
        states = [common.init_mlp(jax.random.key(seed), sizes) for seed in seeds]
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)

    return Task(
        "digits MLP",
        init,
        common.loss_fn,
        common.mlp_logits,
        (data.x_train, data.y_train, data.x_test, data.y_test),
        learning_rate=1e-3,
        batch_size=32,
        steps=60 * (len(data.x_train) // 32),
        l1_in_loss=2e-3,  # the best lambda for pruning under Adam (sparsity_frontier.py)
    )


def mnist1d_task(model: str) -> Task:
    data = mnist1d_bench.load_data()
    graphdef = mnist1d_bench.graphdef(model)

    def logits(params, x):
        return nnx.merge(graphdef, params)(x)

    return Task(
        f"MNIST-1D {model.upper()}",
        functools.partial(mnist1d_bench.init_params, model),
        lambda w, x, y: mnist1d_bench.cross_entropy(w, model, x, y),
        logits,
        (data.x_train, data.y_train, data.x_test, data.y_test),
        learning_rate=mnist1d_bench.LEARNING_RATE,
        batch_size=mnist1d_bench.BATCH_SIZE,
        steps=mnist1d_bench.EPOCHS * (len(data.x_train) // mnist1d_bench.BATCH_SIZE),
        # the validated lambda of add_l1_gradient in benchmarks/results/mnist1d.md
        l1_in_loss={"mlp": 3.2e-4, "cnn": 3.2e-5}[model],
    )


TASKS: dict[str, Callable[[], Task]] = {
    "digits_mlp": digits_task,
    "mnist1d_mlp": functools.partial(mnist1d_task, "mlp"),
    "mnist1d_cnn": functools.partial(mnist1d_task, "cnn"),
}


# --------------------------------------------------------------------------- methods


def _after_adam(factory: Callable[..., optax.GradientTransformation]):
    def build(target, ramp_steps, lr):
        controlled = optax_l1.target_sparsity(
            factory, target, ramp_steps=ramp_steps, learning_rate=lr, mask=MASK
        )
        return optax.chain(optax.adam(lr), controlled)

    return build


# name -> build(target, ramp_steps, learning_rate): a target-controlled optimizer
CONTROLLED: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam_l1": lambda target, ramp_steps, lr: optax_l1.target_sparsity(
        optax_l1.adam_l1, target, ramp_steps=ramp_steps, learning_rate=lr, mask=MASK
    ),
    "adam + l1_cumulative_penalty": _after_adam(optax_l1.l1_cumulative_penalty),
    "adam + l1_soft_threshold": _after_adam(optax_l1.l1_soft_threshold),
}
DENSE, L1_IN_LOSS = "dense + magnitude pruning", "L1 in loss + magnitude pruning"


# --------------------------------------------------------------------------- training


def batch_orders(n: int, seeds: Sequence[int], steps: int, batch_size: int) -> np.ndarray:
    """Per seed, ``steps`` batches of indices into ``n`` examples, reshuffled every epoch."""
    per_epoch = n // batch_size
    epochs = -(-steps // per_epoch)
    orders = []
    for seed in seeds:
        rng = np.random.default_rng([seed, n, batch_size])
        epochs_of = [
            rng.permutation(n)[: per_epoch * batch_size].reshape(per_epoch, batch_size)
            for _ in range(epochs)
        ]
        orders.append(np.concatenate(epochs_of)[:steps])
    return np.stack(orders).astype(np.int32)


def _scan(task: Task, tx, params, order, x, y, land=None):
    """Trains one model on ``order``'s batches; optionally keeps the landing params.

    With ``land = (target, first_step)``, it also returns the params after the last step
    from ``first_step`` on whose exact sparsity is within the landing tolerance of
    ``target`` (the final params if there is none).
    """

    def step(carry, inputs):
        w, state, landed, found = carry
        t, idx = inputs
        grads = jax.grad(task.loss)(w, x[idx], y[idx])
        updates, state = tx.update(grads, state, w)
        w = optax.apply_updates(w, updates)
        if land is not None:
            target, first = land
            ok = (t >= first) & (jnp.abs(optax_l1.sparsity(w, MASK) - target) <= LANDING_TOLERANCE)
            landed = jax.tree.map(lambda a, b: jnp.where(ok, a, b), w, landed)
            found = found | ok
        return (w, state, landed, found), None

    steps = jnp.arange(order.shape[0])
    carry = (params, tx.init(params), params, jnp.zeros([], bool))
    (w, _, landed, found), _ = jax.lax.scan(step, carry, (steps, order))
    if land is None:
        return w
    return jax.tree.map(lambda a, b: jnp.where(found, a, b), landed, w)


def _over_seeds_and_targets(fn):
    """``fn(params, order, target)`` vmapped over seeds, ``lax.map``-ped over targets."""
    over_seeds = jax.vmap(fn, in_axes=(0, 0, None))
    return lambda params, orders, targets: jax.lax.map(
        lambda target: over_seeds(params, orders, target), targets
    )


@functools.partial(jax.jit, static_argnames=("task_name", "method", "steps", "tune_steps"))
def controlled_runs(
    params, orders, tune_orders, targets, x, y, *, task_name, method, steps, tune_steps
):
    """Controlled phase then fine-tune, for every (target, seed): both params stacks."""
    task = _TASK_CACHE[task_name]
    ramp = int(RAMP_FRACTION * steps)
    first = int((1 - LANDING_FRACTION) * steps)

    def one(init, order_and_tune, target):
        order, tune_order = order_and_tune
        tx = CONTROLLED[method](target, ramp, task.learning_rate)
        landed = _scan(task, tx, init, order, x, y, land=(target, first))
        tuned = _scan(task, _fine_tune(task), landed, tune_order, x, y)
        return landed, tuned

    run = _over_seeds_and_targets(one)
    return run(params, (orders, tune_orders), targets)


def _fine_tune(task: Task) -> optax.GradientTransformation:
    return optax.chain(optax.adam(task.learning_rate), optax_l1.freeze_zeros(MASK))


@functools.partial(jax.jit, static_argnames=("task_name", "l1_in_loss"))
def dense_runs(params, orders, x, y, *, task_name, l1_in_loss):
    """The dense model (or, with ``l1_in_loss``, trained with L1 in the loss), per seed."""
    task = _TASK_CACHE[task_name]
    tx = optax.adam(task.learning_rate)
    if l1_in_loss:
        tx = optax.chain(optax_l1.add_l1_gradient(task.l1_in_loss, mask=MASK), tx)
    return jax.vmap(lambda w, order: _scan(task, tx, w, order, x, y))(params, orders)


@functools.partial(jax.jit, static_argnames=("task_name",))
def prune_and_tune(params, tune_orders, targets, x, y, *, task_name):
    """Each seed's params pruned to each target, then fine-tuned: both stacks."""
    task = _TASK_CACHE[task_name]

    def one(w, tune_order, target):
        pruned = mnist1d_bench.prune(jax.tree.map(lambda a: a[None], w), target)
        pruned = jax.tree.map(lambda a: a[0], pruned)
        return pruned, _scan(task, _fine_tune(task), pruned, tune_order, x, y)

    return _over_seeds_and_targets(one)(params, tune_orders, targets)


_TASK_CACHE: dict[str, Task] = {}


# --------------------------------------------------------------------------- measuring


def evaluate(task: Task, stack) -> tuple[np.ndarray, np.ndarray]:
    """Test accuracy and exact sparsity of a [targets, seeds, ...] stack of params."""
    x_test, y_test = task.data[2], task.data[3]

    def one(w):
        accuracy = jnp.mean(jnp.argmax(task.logits(w, x_test), -1) == y_test)
        return accuracy, optax_l1.sparsity(w, MASK)

    accuracy, zeros = jax.jit(jax.vmap(jax.vmap(one)))(stack)
    return np.asarray(accuracy), np.asarray(zeros)


def run_task(key: str, args: argparse.Namespace) -> list[dict]:
    task = TASKS[key]()
    if args.epochs is not None:  # a short run: the given number of epochs' steps
        per_epoch = len(task.data[0]) // task.batch_size
        task = dataclasses.replace(task, steps=args.epochs * per_epoch)
    _TASK_CACHE[task.name] = task
    seeds = list(range(args.seeds))
    steps, tune_steps = task.steps, max(1, int(FINE_TUNE_FRACTION * task.steps))
    orders = jnp.asarray(batch_orders(len(task.data[0]), seeds, steps, task.batch_size))
    tune_orders = jnp.asarray(
        batch_orders(len(task.data[0]), [1000 + s for s in seeds], tune_steps, task.batch_size)
    )
    targets = jnp.asarray(args.targets, jnp.float32)
    x, y = jnp.asarray(task.data[0]), jnp.asarray(task.data[1])
    params = task.init(seeds)
    records = []

    def add(method, phase_a, phase_b, extra=None):
        (acc_a, zeros_a), (acc_b, zeros_b) = evaluate(task, phase_a), evaluate(task, phase_b)
        for i, target in enumerate(args.targets):
            for j, seed in enumerate(seeds):
                records.append(
                    {
                        "model": task.name,
                        "method": method,
                        "seed": seed,
                        "target": target,
                        "achieved": float(zeros_a[i, j]),
                        "test_accuracy": float(acc_a[i, j]),
                        "test_accuracy_finetuned": float(acc_b[i, j]),
                        "achieved_finetuned": float(zeros_b[i, j]),
                        **(extra or {}),
                    }
                )

    for method in CONTROLLED:
        start = time.perf_counter()
        landed, tuned = controlled_runs(
            params,
            orders,
            tune_orders,
            targets,
            x,
            y,
            task_name=task.name,
            method=method,
            steps=steps,
            tune_steps=tune_steps,
        )
        add(method, landed, tuned)
        print(f"  {task.name}: {method} ({time.perf_counter() - start:.0f} s)", flush=True)
    for baseline, with_l1 in ((DENSE, False), (L1_IN_LOSS, True)):
        start = time.perf_counter()
        trained = dense_runs(params, orders, x, y, task_name=task.name, l1_in_loss=with_l1)
        pruned, tuned = prune_and_tune(trained, tune_orders, targets, x, y, task_name=task.name)
        extra = {"l1": task.l1_in_loss} if with_l1 else {}
        add(baseline, pruned, tuned, extra)
        print(f"  {task.name}: {baseline} ({time.perf_counter() - start:.0f} s)", flush=True)
    return records


# --------------------------------------------------------------------------- reporting


def _stat(values: Sequence[float], percent: bool = True) -> str:
    values = np.asarray(values) * (100 if percent else 1)
    return f"{values.mean():.1f} ({values.min():.1f}-{values.max():.1f})"


def tables(records: list[dict], targets: Sequence[float]) -> str:
    """Per model: achieved sparsity of the controlled methods, and accuracy per target."""
    out = []
    models = list(dict.fromkeys(r["model"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    headers = ["method", *(f"{t:.0%}" for t in targets)]
    for model in models:
        own = [r for r in records if r["model"] == model]

        def cells(method, key, own=own):
            row = []
            for t in targets:
                values = [r[key] for r in own if r["method"] == method and r["target"] == t]
                row.append(_stat(values))
            return row

        achieved = [[m, *cells(m, "achieved")] for m in methods if m in CONTROLLED]
        before = [[m, *cells(m, "test_accuracy")] for m in methods]
        after = [[m, *cells(m, "test_accuracy_finetuned")] for m in methods]
        out += [
            f"### {model}",
            "Achieved exact sparsity (%) of the controlled phase, mean (min-max) over seeds:",
            markdown_table(headers, achieved),
            "Test accuracy (%) at the target, before fine-tuning:",
            markdown_table(headers, before),
            "Test accuracy (%) after the fine-tune phase (`freeze_zeros`, Adam alone):",
            markdown_table(headers, after),
        ]
    return "\n\n".join(out)


def plot(records: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.5), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for method in methods:
            own = [r for r in records if r["model"] == model and r["method"] == method]
            targets = sorted({r["target"] for r in own})
            means = [
                100 * np.mean([r["test_accuracy_finetuned"] for r in own if r["target"] == t])
                for t in targets
            ]
            ax.plot([100 * t for t in targets], means, marker="o", label=method)
        ax.set(
            title=f"{model}: after fine-tuning",
            xlabel="target exact zeros (%)",
            ylabel="test accuracy (%)",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--targets", type=float, nargs="+", default=list(TARGETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="default: each model's own")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = " ".join(["python benchmarks/target_sparsity.py", *(argv or [])])
    start = time.perf_counter()
    print(f"machine: {machine()}", flush=True)
    records = []
    for key in args.tasks:
        records += run_task(key, args)
    text = tables(records, args.targets)
    print(text)
    figure = plot(records, args.out / "target_sparsity.png")
    seconds = time.perf_counter() - start
    markdown = (
        f"Machine: {machine()}. `{command}` ({seconds / 60:.1f} min). "
        f"{args.seeds} seeds; the controlled phase ramps the target over its first "
        f"{RAMP_FRACTION:.0%} and ends at the last step of its final "
        f"{LANDING_FRACTION:.0%} within {LANDING_TOLERANCE:.1%} of the target; the "
        f"fine-tune phase is {FINE_TUNE_FRACTION:.0%} of the training steps.\n\n"
        f"{text}\n\n![target sparsity]({figure.name})"
    )
    data = {"machine": machine(), "seconds": seconds, "records": records}
    write_results("target_sparsity", markdown, data, args.out)
    return data


if __name__ == "__main__":
    main()
