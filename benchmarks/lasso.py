"""Our transforms against scikit-learn's Lasso and SGDRegressor(penalty='l1') on lasso problems.

Run: python benchmarks/lasso.py

For several problem shapes it reports, for each method, the support found (against the
exact lasso solution from scikit-learn's coordinate descent), the relative objective
gap and the wall time (after compilation for the JAX runs). The per-problem code is
examples/sparse_regression.py's, so the example and the benchmark cannot drift apart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import RESULTS, machine, markdown_table, write_results  # noqa: E402
from sparse_regression import compare  # noqa: E402

PROBLEMS = [
    {"n": 2000, "d": 200, "informative": 10, "alpha": 0.1},
    {"n": 5000, "d": 500, "informative": 20, "alpha": 0.1},
    {"n": 1000, "d": 2000, "informative": 10, "alpha": 0.2},
]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="one small problem, for tests")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    problems = [{"n": 400, "d": 40, "informative": 5, "alpha": 0.1}] if args.quick else PROBLEMS

    rows, records = [], []
    for problem in problems:
        label = f"n={problem['n']}, d={problem['d']}, k={problem['informative']}"
        results = compare(**problem, epochs=args.epochs)
        for r in results:
            rows.append(
                [
                    label,
                    r["method"],
                    f"{r['nonzeros']} / {r['lasso_nonzeros']}",
                    "yes" if r["same_support"] else "no",
                    f"{r['relative_gap']:.1e}",
                    f"{r['seconds']:.3f}",
                ]
            )
            records.append({**problem, **r})
    headers = ["problem", "method", "nonzeros / Lasso's", "same support", "objective gap", "s"]
    table = markdown_table(headers, rows)
    print(f"machine: {machine()}\nminibatch SGD: batch 10, {args.epochs} epochs, lr 0.01 -> 1e-4")
    print(table)
    markdown = (
        f"Machine: {machine()}. Minibatch runs: batch 10, {args.epochs} epochs, learning "
        f"rate 0.01 decaying to 1e-4; objective gap relative to scikit-learn's Lasso.\n\n{table}"
    )
    path = write_results("lasso", markdown, {"machine": machine(), "results": records}, args.out)
    print(f"wrote {path}")
    return {"results": records}


if __name__ == "__main__":
    main()
