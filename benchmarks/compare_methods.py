"""Every L1 method side by side on one MLP: accuracy, train-test gap, |w| and exact zeros.

Run: python benchmarks/compare_methods.py [--dataset digits|synthetic] [--optimizer sgd|adam]

It trains the examples' plain-JAX MLP (``examples/common.py``) once per method of
``METHODS`` (same initialization, same batches), with a host optimizer (plain SGD or
Adam) that every method combines L1 with, and prints and writes a table (train and test
accuracy, their gap, the mean |w| and the exact-zero fraction of the kernels, the time
per epoch) and a figure (the distribution of |w| per method; test accuracy against exact
zeros) to ``--out`` (default ``benchmarks/results``).

Data sets (no download):

* ``digits``: scikit-learn's 8x8 digits, ``common.load_digits`` (a fixed 75/25 split).
* ``synthetic``: the classic overfitting set-up. A random teacher network labels Gaussian
  inputs into 3 classes from the first 5 of 50 features; the wide student sees 200
  training examples and is tested on 5000.

The default ``l1`` follows ``l1 = C / N_train`` (a penalty ``C * ||w||_1`` on the loss
summed over the training set): C = 1 on digits, 2 on the small synthetic set. Every
method takes that same ``l1`` and the host's learning rate. ``adam_l1`` is an optimizer
of its own: it always runs Adam (at lr 1e-3 when the host is SGD).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import optax
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, markdown_table, write_results
from common import (
    Data,
    accuracy,
    batch_indices,
    init_mlp,
    load_digits,
    make_train_step,
)

import optax_l1

MASK = optax_l1.skip_biases
LEARNING_RATES = {"sgd": 0.1, "adam": 1e-3}
L1_TOTAL = {"digits": 1.0, "synthetic": 2.0}
DEFAULTS = {"digits": {"epochs": 30, "hidden": 128}, "synthetic": {"epochs": 60, "hidden": 512}}
BATCH_SIZE = 32


def host(optimizer: str, lr: float) -> optax.GradientTransformation:
    return {"sgd": optax.sgd, "adam": optax.adam}[optimizer](lr)


def _after_host(factory: Callable[..., optax.GradientTransformation], **kwargs):
    def build(optimizer: str, lr: float, l1: float) -> optax.GradientTransformation:
        return optax.chain(host(optimizer, lr), factory(l1, learning_rate=lr, mask=MASK, **kwargs))

    return build


# name -> build(host optimizer, learning rate, l1); every method takes the same l1.
METHODS: dict[str, Callable[[str, float, float], optax.GradientTransformation]] = {
    "none": lambda o, lr, l1: host(o, lr),
    "add_l1_gradient": lambda o, lr, l1: optax.chain(
        optax_l1.add_l1_gradient(l1, mask=MASK), host(o, lr)
    ),
    "l1_sign_decay": _after_host(optax_l1.l1_sign_decay),
    "l1_soft_threshold": _after_host(optax_l1.l1_soft_threshold),
    "l1_cumulative_penalty": _after_host(optax_l1.l1_cumulative_penalty),
    "group_soft_threshold": _after_host(
        optax_l1.group_soft_threshold, axis=0, scale_by_group_size=True
    ),
    "adam_l1": lambda o, lr, l1: optax_l1.adam_l1(
        lr if o == "adam" else LEARNING_RATES["adam"], l1, mask=MASK
    ),
}


def synthetic() -> Data:
    """A teacher MLP labels Gaussian inputs using 5 of 50 features; 200 train, 5000 test."""
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(5, 16)), rng.normal(size=16)
    w2 = rng.normal(size=(16, 3))
    x = rng.normal(size=(5200, 50)).astype(np.float32)
    y = np.argmax(np.tanh(x[:, :5] @ w1 + b1) @ w2, axis=1).astype(np.int32)
    return Data(x[:200], y[:200], x[200:], y[200:], num_classes=3)


@dataclasses.dataclass
class Result:
    method: str
    train_acc: float
    test_acc: float
    mean_abs_w: float  # over the kernels
    zero_frac: float  # kernel weights exactly 0.0
    sec_per_epoch: float  # median over epochs, the first (compiling) one left out
    params: dict = dataclasses.field(repr=False)

    @property
    def gap(self) -> float:
        return self.train_acc - self.test_acc


def train(
    method: str,
    data: Data,
    optimizer: str,
    l1: float,
    epochs: int,
    hidden: int,
    seed: int = 0,
    learning_rate: float | None = None,
) -> Result:
    """Trains a fresh MLP with one method; every method gets the same init and batches."""
    lr = LEARNING_RATES[optimizer] if learning_rate is None else learning_rate
    tx = METHODS[method](optimizer, lr, l1)
    params = init_mlp(jax.random.key(seed), [data.x_train.shape[1], hidden, data.num_classes])
    opt_state = tx.init(params)
    train_step = make_train_step(tx)
    times = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        rng = np.random.default_rng([seed, epoch])
        for idx in batch_indices(rng, len(data.x_train), BATCH_SIZE):
            params, opt_state, loss = train_step(
                params, opt_state, data.x_train[idx], data.y_train[idx]
            )
        jax.block_until_ready(loss)
        times.append(time.perf_counter() - start)
    kernels = [layer["kernel"] for layer in params.values()]
    return Result(
        method=method,
        train_acc=float(accuracy(params, data.x_train, data.y_train)),
        test_acc=float(accuracy(params, data.x_test, data.y_test)),
        mean_abs_w=float(optax_l1.l1_norm(kernels)) / sum(k.size for k in kernels),
        zero_frac=float(optax_l1.sparsity(kernels)),
        sec_per_epoch=statistics.median(times[1:] or times),
        params=params,
    )


def table(results: list[Result]) -> str:
    headers = ["method", "train acc", "test acc", "gap", "mean abs w", "zeros", "s/epoch"]
    rows = [
        [
            r.method,
            f"{r.train_acc:.4f}",
            f"{r.test_acc:.4f}",
            f"{r.gap:+.4f}",
            f"{r.mean_abs_w:.5f}",
            f"{r.zero_frac:.2%}",
            f"{r.sec_per_epoch:.4f}",
        ]
        for r in results
    ]
    return markdown_table(headers, rows)


def plot(results: list[Result], path: Path, title: str) -> Path:
    """|w| histograms per method, and test accuracy against exact zeros."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_hist, ax_acc) = plt.subplots(1, 2, figsize=(13, 5))
    values = [
        np.concatenate([np.abs(np.asarray(layer["kernel"])).ravel() for layer in r.params.values()])
        for r in results
    ]
    nonzero = [v[v > 0] for v in values]
    low = min((v.min() for v in nonzero if v.size), default=1e-8)
    high = max(max((v.max() for v in nonzero if v.size), default=1.0), 10 * low)
    bins = np.logspace(np.log10(low), np.log10(high), 60)
    colors = plt.get_cmap("tab10")
    for i, (r, v) in enumerate(zip(results, nonzero, strict=True)):
        label = f"{r.method} ({r.zero_frac:.1%} zeros)"
        ax_hist.hist(v, bins=bins, histtype="step", linewidth=1.6, color=colors(i), label=label)
        ax_acc.scatter(r.zero_frac * 100, r.test_acc * 100, s=60, color=colors(i), zorder=3)
        ax_acc.annotate(
            r.method,
            (r.zero_frac * 100, r.test_acc * 100),
            fontsize=9,
            textcoords="offset points",
            xytext=(6, 4 + 9 * (i % 3 - 1)),
        )
    ax_hist.set(
        xscale="log",
        xlabel="|w| of kernel weights (exact zeros in the legend)",
        ylabel="number of weights",
        title="Distribution of kernel |w|",
    )
    ax_hist.legend(fontsize=9)
    ax_acc.set(
        xlabel="kernel weights exactly zero (%)",
        ylabel="test accuracy (%)",
        title="Test accuracy vs exact sparsity",
    )
    ax_acc.grid(alpha=0.3)
    ax_acc.margins(y=0.25)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=list(DEFAULTS), default="digits")
    parser.add_argument("--optimizer", choices=list(LEARNING_RATES), default="sgd")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--l1", type=float, default=None, help="default: C / N_train")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    defaults = DEFAULTS[args.dataset]
    epochs = args.epochs or defaults["epochs"]
    hidden = args.hidden or defaults["hidden"]
    data = load_digits(args.train_limit) if args.dataset == "digits" else synthetic()
    l1 = args.l1 if args.l1 is not None else L1_TOTAL[args.dataset] / len(data.x_train)
    setup = (
        f"{args.dataset}: {len(data.x_train)} train / {len(data.x_test)} test, MLP hidden "
        f"{hidden}, {args.optimizer} lr={LEARNING_RATES[args.optimizer]:g}, l1={l1:.3g}, "
        f"{epochs} epochs, batch {BATCH_SIZE}, seed {args.seed}"
    )
    print(f"machine: {machine()}\n{setup}")
    results = []
    for method in tqdm(args.methods, disable=None, leave=False):
        results.append(train(method, data, args.optimizer, l1, epochs, hidden, args.seed))
    text = table(results)
    print(text)
    name = f"compare_methods_{args.dataset}_{args.optimizer}"
    figure = plot(results, args.out / f"{name}.png", setup)
    records = [{k: v for k, v in vars(r).items() if k != "params"} for r in results]
    markdown = f"Machine: {machine()}\n\n{setup}\n\n{text}\n\n![{name}]({figure.name})"
    write_results(
        name, markdown, {"machine": machine(), "setup": setup, "records": records}, args.out
    )
    return results


if __name__ == "__main__":
    main()
