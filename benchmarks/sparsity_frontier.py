"""Test accuracy against exact sparsity for every L1 method, on the digits MLP.

Run: python benchmarks/sparsity_frontier.py [--epochs 60 --hidden 512]

For SGD and Adam it sweeps lambda for each method of ``compare_methods.METHODS`` (same
model, data, initialization and batches: that script's own training code), and records
the test accuracy and the fraction of kernel weights exactly zero. The practitioner's
usual baseline is included: L1 in the loss (``add_l1_gradient``), then magnitude pruning
of the kernels to a target sparsity, at the best lambda for each target.

It prints and writes (benchmarks/results/sparsity_frontier.{md,json,png}) the sweep, and
for each method the highest sparsity reached within 1 point of the unregularized test
accuracy. Its Adam rows are the quality target of proximal Adam (adam_l1): at least 95%
of kernel weights exactly zero within 1 point of unregularized Adam.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare_methods
from _common import RESULTS, machine, markdown_table, write_results
from common import accuracy, load_digits

import optax_l1

SWEEPS = {
    "sgd": {
        "methods": [
            "add_l1_gradient",
            "l1_sign_decay",
            "l1_soft_threshold",
            "l1_cumulative_penalty",
            "group_soft_threshold",
        ],
        "lambdas": [3e-4, 1e-3, 3e-3, 1e-2],
    },
    "adam": {
        "methods": ["add_l1_gradient", "l1_soft_threshold", "l1_cumulative_penalty", "adam_l1"],
        "lambdas": [1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0],
    },
}
PRUNE_TARGETS = [0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995]
PRUNED = "L1 in loss + magnitude pruning"


def prune_to(params: dict, target: float) -> dict:
    """A copy of ``params`` whose smallest-|w| kernel weights are zeroed to ``target``."""
    mask = optax_l1.skip_biases(params)
    leaves = zip(jax.tree.leaves(params), jax.tree.leaves(mask), strict=True)
    kernels = [w for w, keep in leaves if keep]
    magnitudes = np.sort(np.concatenate([np.abs(np.asarray(w)).ravel() for w in kernels]))
    cut = magnitudes[min(int(target * magnitudes.size), magnitudes.size - 1)]
    return jax.tree.map(
        lambda w, keep: jnp.where(jnp.abs(w) < cut, 0.0, w) if keep else w, params, mask
    )


def run(args: argparse.Namespace, sweeps: dict) -> dict:
    data = load_digits()
    records = []

    def record(optimizer, method, lam, test_acc, zero_frac):
        records.append(
            {
                "optimizer": optimizer,
                "method": method,
                "l1": lam,
                "test_acc": float(test_acc),
                "zero_frac": float(zero_frac),
            }
        )

    for optimizer, sweep in sweeps.items():

        def train(method, lam, optimizer=optimizer):
            return compare_methods.train(
                method, data, optimizer, lam, args.epochs, args.hidden, args.seed
            )

        none = train("none", 0.0)
        record(optimizer, "none", 0.0, none.test_acc, none.zero_frac)
        print(f"{optimizer}: unregularized test accuracy {none.test_acc:.4f}", flush=True)
        pruned_best: dict[float, dict] = {}
        for lam in sweep["lambdas"]:
            for method in sweep["methods"]:
                result = train(method, lam)
                record(optimizer, method, lam, result.test_acc, result.zero_frac)
                print(
                    f"  {method:<22} l1={lam:<7g} test {result.test_acc:.4f} "
                    f"zeros {result.zero_frac:.2%}",
                    flush=True,
                )
                if method != "add_l1_gradient":
                    continue
                for target in PRUNE_TARGETS:
                    pruned = prune_to(result.params, target)
                    acc = float(accuracy(pruned, data.x_test, data.y_test))
                    zeros = float(optax_l1.sparsity(pruned, optax_l1.skip_biases))
                    if acc > pruned_best.get(target, {"test_acc": -1})["test_acc"]:
                        pruned_best[target] = {
                            "optimizer": optimizer,
                            "method": PRUNED,
                            "l1": lam,
                            "test_acc": acc,
                            "zero_frac": zeros,
                        }
        records.extend(pruned_best.values())
    return {"records": records}


def summarize(records: list[dict], sweeps: dict) -> tuple[list[list[object]], list[list[object]]]:
    """The sweep rows, and per method the best sparsity within 1 point of no L1."""
    rows = [
        [
            r["optimizer"],
            r["method"],
            f"{r['l1']:g}",
            f"{r['test_acc']:.2%}",
            f"{r['zero_frac']:.2%}",
        ]
        for r in records
    ]
    best_rows = []
    for optimizer, sweep in sweeps.items():
        own = [r for r in records if r["optimizer"] == optimizer]
        reference = next(r["test_acc"] for r in own if r["method"] == "none")
        for method in [*sweep["methods"], PRUNED]:
            ok = [r for r in own if r["method"] == method and r["test_acc"] >= reference - 0.01]
            best = max(ok, key=lambda r: r["zero_frac"], default=None)
            best_rows.append(
                [
                    optimizer,
                    method,
                    f"{reference:.2%}",
                    f"{best['zero_frac']:.2%}" if best else "-",
                    f"{best['test_acc']:.2%}" if best else "-",
                    f"{best['l1']:g}" if best else "-",
                ]
            )
    return rows, best_rows


def plot(records: list[dict], path: Path, sweeps: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sweeps), figsize=(13, 5), sharey=True)
    for ax, (optimizer, sweep) in zip(axes, sweeps.items(), strict=True):
        own = [r for r in records if r["optimizer"] == optimizer]
        reference = next(r["test_acc"] for r in own if r["method"] == "none")
        for method in [*sweep["methods"], PRUNED]:
            points = sorted((r["zero_frac"], r["test_acc"]) for r in own if r["method"] == method)
            xs, ys = zip(*points, strict=True)
            ax.plot(np.array(xs) * 100, np.array(ys) * 100, marker="o", label=method)
        ax.axhline(reference * 100, color="gray", linestyle="--", label="no L1")
        ax.axhline((reference - 0.01) * 100, color="gray", linestyle=":", label="no L1 - 1 point")
        ax.set_title(f"{optimizer}: digits MLP, lambda swept")
        ax.set_xlabel("kernel weights exactly zero (%)")
        ax.set_ylim(80, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0].set_ylabel("test accuracy (%)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="a tiny sweep, for tests")
    args = parser.parse_args(argv)
    sweeps = SWEEPS
    if args.quick:
        sweeps = {k: {**v, "lambdas": v["lambdas"][:1]} for k, v in SWEEPS.items()}
        args.epochs, args.hidden = 2, 16

    print(f"machine: {machine()}; digits MLP hidden {args.hidden}, {args.epochs} epochs")
    data = run(args, sweeps)
    rows, best_rows = summarize(data["records"], sweeps)
    sweep_table = markdown_table(["optimizer", "method", "lambda", "test acc", "zeros"], rows)
    best_table = markdown_table(
        [
            "optimizer",
            "method",
            "no-L1 test acc",
            "max zeros within 1 point",
            "its test acc",
            "its lambda",
        ],
        best_rows,
    )
    print(best_table)
    figure = plot(data["records"], args.out / "sparsity_frontier.png", sweeps)
    markdown = (
        f"Machine: {machine()}. Digits MLP (benchmarks/compare_methods.py), hidden {args.hidden}, "
        f"{args.epochs} epochs, batch 32, seed {args.seed}; SGD lr 0.1, Adam lr 1e-3.\n\n"
        f"Highest exact sparsity within 1 point of the unregularized test accuracy:\n\n"
        f"{best_table}\n\nThe whole sweep:\n\n{sweep_table}\n\n![frontier]({figure.name})"
    )
    path = write_results("sparsity_frontier", markdown, {"machine": machine(), **data}, args.out)
    print(f"wrote {path}, {figure}")
    return data


if __name__ == "__main__":
    main()
