"""Shared helpers for the benchmark scripts: timing, tables, result files."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jax

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """A one-line description of where the numbers came from."""
    devices = ", ".join(sorted({d.device_kind for d in jax.devices()}))
    return (
        f"{platform.processor() or platform.machine()}, {jax.device_count()} x {devices} "
        f"({jax.default_backend()}), jax {jax.__version__}"
    )


def time_call(fn: Callable[[], object], inner: int) -> float:
    """Seconds per call of ``fn`` (which must block until its result is ready)."""
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def interleaved_samples(
    calls: dict[str, Callable[[], object]], repeats: int, inner: int
) -> dict[str, list[float]]:
    """Seconds per call of each entry, one sample per round, measured in interleaved rounds.

    Each round times every entry once, rotating the order, so that drifts in machine
    load hit every entry alike. Every entry is called once first to compile and warm up.
    """
    for fn in calls.values():
        fn()
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(time_call(calls[name], inner))
    return samples


def interleaved_medians(
    calls: dict[str, Callable[[], object]], repeats: int, inner: int
) -> dict[str, float]:
    """Median seconds per call of each entry (see :func:`interleaved_samples`)."""
    samples = interleaved_samples(calls, repeats, inner)
    return {name: statistics.median(values) for name, values in samples.items()}


def paired_overhead(samples: dict[str, list[float]], name: str, baseline: str) -> float:
    """Median over rounds of ``name``'s time over ``baseline``'s in the same round, minus 1.

    On a shared machine the load drifts between rounds; a ratio within a round cancels
    most of that drift, so it is steadier than a ratio of two medians.
    """
    ratios = [a / b for a, b in zip(samples[name], samples[baseline], strict=True)]
    return statistics.median(ratios) - 1


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, markdown: str, data: dict, out: Path = RESULTS) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(markdown + "\n")
    (out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    return out / f"{name}.md"
