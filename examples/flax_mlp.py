"""L1 regularization on a Flax NNX MLP: every registered method, side by side.

Run (from the repository root, after ``pip install -e '.[examples]'``):

    python examples/flax_mlp.py                      # digits, every method, ~12 s on 2 CPU cores
    python examples/flax_mlp.py --dataset synthetic  # overfitting demo: L1 narrows the gap
    python examples/flax_mlp.py --method l1_sign_decay --optimizer adam --l1 0.05
    python examples/flax_mlp.py --help

It trains the same MLP (same initialization, same batch order) once per method in
``METHODS`` and prints, for each, the train and test accuracy, their gap, the mean |w| of
the kernels, the fraction of kernel weights that are exactly zero and the training time
per epoch; it saves a figure (distribution of |w| per method, test accuracy against
exact zeros) to ``--out``.

Data sets (no download; the split and the synthetic teacher do not depend on --seed):

* ``digits``: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), a fixed
  stratified 75/25 train/test split, features standardized with the train statistics.
* ``synthetic``: the classic overfitting set-up. A random "teacher" MLP (fixed seed) labels
  Gaussian inputs into 3 classes using only the first 5 of 50 input features; the wide
  student sees 200 training examples and is tested on 5000. Without regularization it
  fits the training set and generalizes poorly; L1 shrinks the first-layer weights of the
  45 inputs that carry no signal far more than those of the 5 that do.

Biases are never regularized (mask ``optax_l1.skip_biases``). The L1 coefficient is per
example: the objective is ``mean_batch(cross_entropy) + l1 * sum|kernel weights|``. The
default host optimizer is plain SGD, under which the coupled and decoupled forms take the
same steps (README, "The two classic formulations"); under Adam they differ, and a
decoupled decay of ``lr * l1`` per step needs a much larger ``--l1`` to show.

To add a method, add one entry to ``METHODS`` below.

The code runs unchanged on CPU, GPU or TPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

import optax_l1

# --------------------------------------------------------------------------- defaults

SPLIT_SEED = 0  # the digits train/test split
TEACHER_SEED = 0  # the synthetic teacher network and its data
DIGITS_TEST_FRACTION = 0.25
SYNTHETIC = {
    "n_train": 200,
    "n_test": 5000,
    "dim": 50,
    "informative": 5,  # the teacher reads only the first `informative` inputs
    "teacher_hidden": 16,
    "classes": 3,
}
# Per data set defaults for the options left unset on the command line. The default
# lambda follows the rule lambda = L1_TOTAL / N_train: a penalty of L1_TOTAL * sum|w| on
# the loss *summed* over the training set (README, "Scaling lambda"). The synthetic set
# is a tiny sample for a wide network, so it gets twice the total penalty.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 30, "hidden": [128]},
    "synthetic": {"epochs": 60, "hidden": [512]},
}
L1_TOTAL = {"digits": 1.0, "synthetic": 2.0}
LEARNING_RATES = {"sgd": 0.1, "adam": 1e-3}  # default --learning-rate per optimizer
OPTIMIZER = "sgd"
BATCH_SIZE = 32
SEED = 0


# --------------------------------------------------------------------------- methods


@dataclasses.dataclass(frozen=True)
class OptConfig:
    """Everything a method needs to build its optimizer."""

    optimizer: str  # the host optimizer: "sgd" (plain, no momentum) or "adam"
    learning_rate: float
    l1: float  # lambda, per example: loss = mean over the batch + l1 * sum|w|
    mask: Any = optax_l1.skip_biases  # which leaves L1 acts on (a mask or mask callable)

    def host(self) -> optax.GradientTransformation:
        """The plain host optimizer, without any L1."""
        if self.optimizer == "sgd":
            return optax.sgd(self.learning_rate)
        if self.optimizer == "adam":
            return optax.adam(self.learning_rate)
        raise ValueError(f"unknown optimizer {self.optimizer!r}: expected 'sgd' or 'adam'")


def _l1_with_host(method: str, transform: Callable[..., optax.GradientTransformation]):
    """A method that regularizes the host's steps, through ``optax_l1.sgd_l1`` under SGD.

    Every method takes the same ``l1`` and the host's learning rate.
    """

    def build(c: OptConfig) -> optax.GradientTransformation:
        if c.optimizer == "sgd":
            return optax_l1.sgd_l1(c.learning_rate, c.l1, method=method, mask=c.mask)
        if method == "subgradient":
            return optax.chain(transform(c.l1, mask=c.mask), c.host())
        return optax.chain(c.host(), transform(c.l1, learning_rate=c.learning_rate, mask=c.mask))

    return build


def _group_neurons(l1: float, learning_rate: float, mask: Any) -> optax.GradientTransformation:
    """Group lasso over each output neuron's incoming weights (axis 0 of a Dense kernel)."""
    return optax_l1.group_soft_threshold(
        l1, axis=0, learning_rate=learning_rate, mask=mask, scale_by_group_size=True
    )


def _adam_l1(c: OptConfig) -> optax.GradientTransformation:
    """Proximal Adam; it is its own optimizer, so under --optimizer sgd it uses Adam's lr."""
    lr = c.learning_rate if c.optimizer == "adam" else LEARNING_RATES["adam"]
    return optax_l1.adam_l1(lr, c.l1, mask=c.mask)


# The registry: name -> builder of the full optax transform. To compare a new method,
# add one entry here; the command line, the table, the figure and the tests pick it up.
METHODS: dict[str, Callable[[OptConfig], optax.GradientTransformation]] = {
    "none": lambda c: c.host(),
    "add_l1_gradient": _l1_with_host("subgradient", optax_l1.add_l1_gradient),
    "l1_sign_decay": _l1_with_host("decoupled", optax_l1.l1_sign_decay),
    "l1_soft_threshold": _l1_with_host("proximal", optax_l1.l1_soft_threshold),
    "l1_cumulative_penalty": _l1_with_host("cumulative", optax_l1.l1_cumulative_penalty),
    "group_soft_threshold": lambda c: optax.chain(
        c.host(), _group_neurons(c.l1, c.learning_rate, c.mask)
    ),
    "adam_l1": _adam_l1,
}


def name_width() -> int:
    """Column width for method names in the printed output."""
    return max(len("method"), *map(len, METHODS))


def make_optimizer(
    method: str, optimizer: str, learning_rate: float, l1: float, mask: Any = optax_l1.skip_biases
) -> optax.GradientTransformation:
    """Builds the transform of a registered method for a host optimizer."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; registered: {', '.join(METHODS)}")
    return METHODS[method](OptConfig(optimizer, learning_rate, l1, mask))


# --------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class Data:
    """A classification data set, features standardized with the train statistics."""

    name: str
    x_train: np.ndarray  # float32 [n_train, features]
    y_train: np.ndarray  # int32 [n_train]
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def _standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # some digit pixels are constant (always blank)
    return (
        ((x_train - mean) / std).astype(np.float32),
        ((x_test - mean) / std).astype(np.float32),
    )


def _digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return tuple(
        train_test_split(x, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    )


def _synthetic() -> tuple[np.ndarray, ...]:
    s = SYNTHETIC
    rng = np.random.default_rng(TEACHER_SEED)
    w1 = rng.normal(size=(s["informative"], s["teacher_hidden"]))
    b1 = rng.normal(size=s["teacher_hidden"])
    w2 = rng.normal(size=(s["teacher_hidden"], s["classes"]))
    x = rng.normal(size=(s["n_train"] + s["n_test"], s["dim"]))
    y = np.argmax(np.tanh(x[:, : s["informative"]] @ w1 + b1) @ w2, axis=1)
    n = s["n_train"]
    return x[:n], x[n:], y[:n], y[n:]


def load_data(name: str, train_limit: int | None = None) -> Data:
    """Loads ``digits`` or ``synthetic``; ``train_limit`` keeps the first N train examples."""
    loaders = {"digits": _digits, "synthetic": _synthetic}
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(loaders)}")
    x_train, x_test, y_train, y_test = loaders[name]()
    if train_limit is not None:
        x_train, y_train = x_train[:train_limit], y_train[:train_limit]
    x_train, x_test = _standardize(x_train, x_test)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return Data(
        name, x_train, y_train.astype(np.int32), x_test, y_test.astype(np.int32), num_classes
    )


def batch_indices(rng: np.random.Generator, n: int, batch_size: int) -> list[np.ndarray]:
    """One epoch of shuffled batches; the ragged last batch is dropped (one compiled shape)."""
    batch_size = min(batch_size, n)
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


# --------------------------------------------------------------------------- model


class MLP(nnx.Module):
    """Dense -> ReLU, repeated for each hidden width, then a Dense layer to the logits."""

    def __init__(self, features: int, hidden: Sequence[int], classes: int, *, rngs: nnx.Rngs):
        widths = [features, *hidden]
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in pairwise(widths)])
        self.out = nnx.Linear(widths[-1], classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.hidden:
            x = nnx.relu(layer(x))
        return self.out(x)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@nnx.jit
def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    """One optimizer step on a batch; returns the batch loss (data term only)."""
    loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x), y))(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def eval_step(model: MLP, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean loss and accuracy on ``(x, y)``."""
    logits = model(x)
    return cross_entropy(logits, y), jnp.mean(jnp.argmax(logits, axis=-1) == y)


def kernel_stats(
    params: Any, mask: Callable[[Any], Any] = optax_l1.skip_biases
) -> tuple[float, float]:
    """Mean |w| and the exact-zero fraction over the leaves ``mask`` selects (the kernels)."""
    selected = jax.tree.leaves(mask(params))
    count = sum(w.size for w, k in zip(jax.tree.leaves(params), selected, strict=True) if k)
    return float(optax_l1.l1_norm(params, mask)) / count, float(optax_l1.sparsity(params, mask))


def kernel_abs_values(params: Any) -> np.ndarray:
    """All kernel |w| as one flat NumPy array (for the histogram)."""
    leaves = jax.tree.leaves(params)
    keep = jax.tree.leaves(optax_l1.skip_biases(params))
    return np.concatenate(
        [np.abs(np.asarray(w)).ravel() for w, k in zip(leaves, keep, strict=True) if k]
    )


# --------------------------------------------------------------------------- training


@dataclasses.dataclass
class Result:
    """What one training run reports."""

    method: str
    train_acc: float
    test_acc: float
    gap: float  # train_acc - test_acc
    mean_abs_w: float  # over the kernels
    zero_frac: float  # fraction of kernel weights exactly 0.0
    sec_per_epoch: float  # median wall time of an epoch's train steps (see `timed_epochs`)
    timed_epochs: int  # epochs that the median is taken over (the first, compiling, is left out)
    history: list[dict[str, float]] = dataclasses.field(repr=False)
    kernel_abs: np.ndarray = dataclasses.field(repr=False)  # final |w| of every kernel weight
    model: MLP | None = dataclasses.field(default=None, repr=False, compare=False)  # trained
    optimizer: nnx.Optimizer | None = dataclasses.field(default=None, repr=False, compare=False)


class Checkpoints:
    """Model and optimizer state saved with Orbax after every epoch, and restored.

    Orbax writes each checkpoint to a temporary directory and renames it when complete,
    so a save that was interrupted is never taken for a checkpoint.
    """

    def __init__(self, directory: Path):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        options = ocp.CheckpointManagerOptions(max_to_keep=2, create=True)
        self.manager = ocp.CheckpointManager(directory.resolve(), options=options)

    def latest_epoch(self) -> int | None:
        return self.manager.latest_step()

    def save(self, epoch: int, model: MLP, optimizer: nnx.Optimizer) -> None:
        state = {"model": nnx.state(model), "optimizer": nnx.state(optimizer)}
        self.manager.save(epoch, args=self._ocp.args.StandardSave(state))
        self.manager.wait_until_finished()

    def restore(self, model: MLP, optimizer: nnx.Optimizer) -> int:
        """Loads the latest checkpoint into ``model`` and ``optimizer``; returns its epoch."""
        epoch = self.manager.latest_step()
        target = {"model": nnx.state(model), "optimizer": nnx.state(optimizer)}
        abstract = jax.tree.map(self._ocp.utils.to_shape_dtype_struct, target)
        restored = self.manager.restore(epoch, args=self._ocp.args.StandardRestore(abstract))
        nnx.update(model, restored["model"])
        nnx.update(optimizer, restored["optimizer"])
        return epoch


def epoch_metrics(model: MLP, data: Data) -> dict[str, float]:
    """Train and test accuracy, and mean |w| and exact zeros of the kernels."""
    _, train_acc = eval_step(model, data.x_train, data.y_train)
    _, test_acc = eval_step(model, data.x_test, data.y_test)
    mean_abs, zeros = kernel_stats(nnx.state(model, nnx.Param))
    return {
        "train_acc": float(train_acc),
        "test_acc": float(test_acc),
        "mean_abs_w": mean_abs,
        "zero_frac": zeros,
    }


def train(method: str, data: Data, args: argparse.Namespace) -> Result:
    """Trains one fresh model with one method; every method gets the same init and batches.

    With ``args.checkpoint_dir``, the state is saved after every epoch under
    ``checkpoint_dir/method`` and a run resumes from the latest checkpoint there. Each
    epoch's batch order depends only on (seed, epoch), so a resumed run takes exactly
    the steps an uninterrupted one would.
    """
    model = MLP(data.x_train.shape[1], args.hidden, data.num_classes, rngs=nnx.Rngs(args.seed))
    tx = make_optimizer(method, args.optimizer, args.learning_rate, args.l1)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    checkpoints = None
    first_epoch = 1
    if getattr(args, "checkpoint_dir", None) is not None:
        checkpoints = Checkpoints(args.checkpoint_dir / method)
        if checkpoints.latest_epoch() is not None:
            first_epoch = checkpoints.restore(model, optimizer) + 1
            tqdm.write(f"{method}: resumed from the checkpoint of epoch {first_epoch - 1}")
    history, times = [], []
    bar = tqdm(
        range(first_epoch, args.epochs + 1),
        desc=f"{method:<{name_width()}}",
        leave=False,
        unit="epoch",
        disable=None,  # no bar when stdout is not a terminal (logs, CI)
    )
    for epoch in bar:
        start = time.perf_counter()
        losses = []
        rng = np.random.default_rng([args.seed, epoch])
        for idx in batch_indices(rng, len(data.x_train), args.batch_size):
            losses.append(train_step(model, optimizer, data.x_train[idx], data.y_train[idx]))
        loss = float(jnp.mean(jnp.stack(losses)))  # waits for the last step
        times.append(time.perf_counter() - start)
        if checkpoints is not None:
            checkpoints.save(epoch, model, optimizer)

        metrics = epoch_metrics(model, data)
        history.append({"epoch": epoch, "loss": loss, **metrics})
        bar.set_postfix(
            loss=f"{loss:.3f}",
            train=f"{metrics['train_acc']:.3f}",
            test=f"{metrics['test_acc']:.3f}",
            mean_w=f"{metrics['mean_abs_w']:.4f}",
            zeros=f"{metrics['zero_frac']:.1%}",
        )
    bar.close()

    last = history[-1] if history else {"epoch": first_epoch - 1, **epoch_metrics(model, data)}
    timed = times[1:] or times  # the first epoch includes compiling train_step
    return Result(
        method=method,
        train_acc=last["train_acc"],
        test_acc=last["test_acc"],
        gap=last["train_acc"] - last["test_acc"],
        mean_abs_w=last["mean_abs_w"],
        zero_frac=last["zero_frac"],
        sec_per_epoch=statistics.median(timed) if timed else float("nan"),
        timed_epochs=len(timed),
        history=history or [last],
        kernel_abs=kernel_abs_values(nnx.state(model, nnx.Param)),
        model=model,
        optimizer=optimizer,
    )


def log_epochs(epochs: int, points: int = 5) -> list[int]:
    """The (1-based) epochs that the per-method progress line shows."""
    return sorted({1 + round(i * (epochs - 1) / max(points - 1, 1)) for i in range(points)})


def format_epochs(result: Result) -> str:
    """One compact line: test accuracy, mean |w| and exact zeros at a few epochs."""
    cells = [
        f"{h['test_acc']:.3f} {h['mean_abs_w']:.4f} {h['zero_frac']:5.1%}"
        for h in (result.history[e - 1] for e in log_epochs(len(result.history)))
    ]
    return f"{result.method:<{name_width()}}  " + " | ".join(cells)


def format_table(results: Sequence[Result]) -> str:
    """The results as an aligned text table."""
    width = name_width()
    header = (
        f"{'method':<{width}}  {'train acc':>9}  {'test acc':>8}  {'gap':>7}  "
        f"{'mean|w|':>8}  {'zeros':>7}  {'s/epoch':>8}"
    )
    rows = [
        f"{r.method:<{width}}  {r.train_acc:>9.4f}  {r.test_acc:>8.4f}  {r.gap:>+7.4f}  "
        f"{r.mean_abs_w:>8.5f}  {r.zero_frac:>7.2%}  {r.sec_per_epoch:>8.4f}"
        for r in results
    ]
    return "\n".join([header, "-" * len(header), *rows])


# --------------------------------------------------------------------------- figure


def plot_results(results: Sequence[Result], path: Path, title: str) -> Path:
    """Saves the |w| histograms and the accuracy-vs-zeros scatter to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_hist, ax_acc) = plt.subplots(1, 2, figsize=(13, 5))
    nonzero = [r.kernel_abs[r.kernel_abs > 0] for r in results]
    low = min((v.min() for v in nonzero if v.size), default=1e-8)
    high = max((v.max() for v in nonzero if v.size), default=1.0)
    high = max(high, 10 * low)  # a single distinct value still gets a range of bins
    bins = np.logspace(np.log10(low), np.log10(high), 60)
    colors = plt.get_cmap("tab10")
    for i, (r, values) in enumerate(zip(results, nonzero, strict=True)):
        ax_hist.hist(
            values,
            bins=bins,
            histtype="step",
            linewidth=1.6,
            color=colors(i % 10),
            label=f"{r.method} ({r.zero_frac:.1%} zeros)",
        )
        ax_acc.scatter(r.zero_frac * 100, r.test_acc * 100, s=60, color=colors(i % 10), zorder=3)
        ax_acc.annotate(
            r.method,
            (r.zero_frac * 100, r.test_acc * 100),
            textcoords="offset points",
            xytext=(6, 4 + 9 * (i % 3 - 1)),
            fontsize=9,
        )
    ax_hist.set_xscale("log")
    ax_hist.set_xlabel("|w| of kernel weights (exact zeros counted in the legend)")
    ax_hist.set_ylabel("number of weights")
    ax_hist.set_title("Distribution of kernel |w|")
    ax_hist.legend(fontsize=9)
    ax_acc.set_xlabel("kernel weights exactly zero (%)")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_title("Test accuracy vs exact sparsity")
    ax_acc.grid(alpha=0.3)
    ax_acc.margins(y=0.25)
    right = 1.3 * max(1.0, *(r.zero_frac * 100 for r in results))
    ax_acc.set_xlim(-0.05 * right, right)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    defaults = "; ".join(
        f"{name}: --l1 {L1_TOTAL[name]:g}/N_train --epochs {d['epochs']} "
        f"--hidden {' '.join(map(str, d['hidden']))}"
        for name, d in DATASET_DEFAULTS.items()
    )
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"Defaults that depend on --dataset: {defaults}.",
    )
    parser.add_argument(
        "--method",
        choices=[*METHODS, "all"],
        default="all",
        help="the regularization method to train, or all of them (default: all)",
    )
    parser.add_argument(
        "--l1",
        type=float,
        default=None,
        help="L1 coefficient lambda, PER EXAMPLE: the loss is a mean over the batch, so the "
        "objective is mean(loss) + l1 * sum|kernel weights|; decoupled methods move weights "
        "by lr * l1 per step (with adam's small lr, raise it). Default: C / N_train with C "
        "set per data set (below), i.e. a penalty C * sum|w| on the loss summed over the "
        "training set",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default: per data set)"
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="default: %(default)s")
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="default: " + ", ".join(f"{lr:g} for {k}" for k, lr in LEARNING_RATES.items()),
    )
    parser.add_argument(
        "--optimizer",
        choices=list(LEARNING_RATES),
        default=OPTIMIZER,
        help="host optimizer that every method combines L1 with "
        "(sgd: plain, no momentum; default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help="model init and batch order, not the data (default: %(default)s)",
    )
    parser.add_argument(
        "--dataset",
        choices=list(DATASET_DEFAULTS),
        default="digits",
        help="digits (bundled with scikit-learn) or synthetic (generated); no download "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=None,
        help="hidden layer widths, e.g. --hidden 256 256 (default: per data set)",
    )
    parser.add_argument(
        "--train-limit",
        type=int,
        default=None,
        help="train on the first N training examples only (quick runs; test set unchanged)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out"), help="figure directory (default: %(default)s)"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the figure")
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="save model and optimizer state with Orbax after every epoch, one "
        "subdirectory per method, and resume from the latest checkpoint found there",
    )
    return parser


def require_positive(
    parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]
) -> None:
    """Exits with a usage error if any of the named integer options is given below 1."""
    for name in names:
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses ``argv`` and fills the per-data-set and per-optimizer defaults but ``l1``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    require_positive(parser, args, ("epochs", "batch_size", "train_limit"))
    for key, value in DATASET_DEFAULTS[args.dataset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.learning_rate is None:
        args.learning_rate = LEARNING_RATES[args.optimizer]
    return args


def main(argv: Sequence[str] | None = None) -> list[Result]:
    """Runs the comparison from command-line arguments; returns one Result per method."""
    args = parse_args(argv)
    print(f"devices: {jax.devices()}")
    data = load_data(args.dataset, args.train_limit)
    if args.l1 is None:
        args.l1 = L1_TOTAL[args.dataset] / len(data.x_train)
    methods = list(METHODS) if args.method == "all" else [args.method]
    print(
        f"{args.dataset}: {len(data.x_train)} train / {len(data.x_test)} test, "
        f"{data.x_train.shape[1]} features, {data.num_classes} classes | MLP hidden "
        f"{args.hidden} | {args.optimizer} lr={args.learning_rate:g} l1={args.l1:g} (per "
        f"example) | {args.epochs} epochs, batch {min(args.batch_size, len(data.x_train))}"
    )
    if "adam_l1" in methods and args.optimizer != "adam":
        print(
            f"(adam_l1 is an optimizer of its own: it runs Adam at lr={LEARNING_RATES['adam']:g})"
        )
    shown = ", ".join(map(str, log_epochs(args.epochs)))
    print(f"test acc, mean|w| and exact zeros of the kernels at epochs {shown}:")
    results = []
    for method in methods:
        results.append(train(method, data, args))
        tqdm.write(format_epochs(results[-1]))

    print()
    print(format_table(results))
    timed = results[0].timed_epochs
    print(
        f"s/epoch: median wall time of an epoch's train steps over {timed} epoch(s)"
        + (" (epoch 1, which compiles, left out)" if args.epochs > 1 else " (includes compiling)")
    )
    if not args.no_plot:
        path = plot_results(
            results,
            args.out / f"flax_mlp_{args.dataset}.png",
            f"{args.dataset}: {args.optimizer} lr={args.learning_rate:g}, l1={args.l1:g}, "
            f"{args.epochs} epochs, hidden {args.hidden}",
        )
        print(f"figure: {path}")
    return results


if __name__ == "__main__":
    main()
