"""A per-layer account of exact sparsity: zeros, fractions and whole zero units per leaf."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optax_l1._masks import MaskOrFn, PyTree, full_mask, is_float_leaf


@dataclasses.dataclass(frozen=True)
class LeafSparsity:
    """The exact sparsity of one parameter leaf."""

    name: str  # the leaf's path, e.g. "hidden/kernel"
    shape: tuple[int, ...]
    size: int
    zeros: int  # entries exactly 0.0
    zero_inputs: int | None  # slices along axis -2 that are all zero (None below 2-D)
    zero_outputs: int | None  # slices along the last axis that are all zero: dead units

    @property
    def fraction(self) -> float:
        return self.zeros / self.size if self.size else 0.0


@dataclasses.dataclass(frozen=True)
class SparsityReport:
    """What :func:`sparsity_report` returns: a table when printed, a dict for loggers."""

    leaves: list[LeafSparsity]

    @property
    def size(self) -> int:
        return sum(leaf.size for leaf in self.leaves)

    @property
    def zeros(self) -> int:
        return sum(leaf.zeros for leaf in self.leaves)

    @property
    def fraction(self) -> float:
        return self.zeros / self.size if self.size else 0.0

    def as_dict(self, prefix: str = "sparsity") -> dict[str, float]:
        """Flat ``{"sparsity/total": ..., "sparsity/<leaf>": ..., ...}`` for a logger."""
        out = {f"{prefix}/total": self.fraction, f"{prefix}/zeros": float(self.zeros)}
        for leaf in self.leaves:
            out[f"{prefix}/{leaf.name}"] = leaf.fraction
            if leaf.zero_outputs is not None:
                out[f"{prefix}/{leaf.name}/zero_outputs"] = float(leaf.zero_outputs)
        return out

    def __str__(self) -> str:
        def units(count: int | None, shape: tuple[int, ...], axis: int) -> str:
            return "-" if count is None else f"{count}/{shape[axis]}"

        rows = [
            (
                leaf.name,
                "x".join(map(str, leaf.shape)) or "scalar",
                f"{leaf.size:,}",
                f"{leaf.zeros:,}",
                f"{leaf.fraction:.2%}",
                units(leaf.zero_inputs, leaf.shape, -2),
                units(leaf.zero_outputs, leaf.shape, -1),
            )
            for leaf in self.leaves
        ]
        total = ("total", "", f"{self.size:,}", f"{self.zeros:,}", f"{self.fraction:.2%}", "", "")
        header = ("leaf", "shape", "weights", "zeros", "fraction", "zero in", "zero out")
        table = [header, *rows, total]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines = [
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in table
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)


def _name(path: tuple[Any, ...]) -> str:
    parts = []
    for entry in path:
        key = getattr(entry, "key", getattr(entry, "name", getattr(entry, "idx", entry)))
        if key != "value":  # flax.nnx wraps each array in a variable with a `.value`
            parts.append(str(key))
    return "/".join(parts) or "params"


@jax.jit
def _counts(leaves: list[jax.Array]) -> list[tuple[jax.Array, jax.Array, jax.Array]]:
    out = []
    for w in leaves:
        is_zero = w == 0
        zeros = jnp.sum(is_zero, dtype=jnp.int32)
        if w.ndim < 2:
            out.append((zeros, jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32)))
            continue
        not_in = tuple(a for a in range(w.ndim) if a != w.ndim - 2)
        not_out = tuple(range(w.ndim - 1))
        zero_inputs = jnp.sum(jnp.all(is_zero, axis=not_in), dtype=jnp.int32)
        zero_outputs = jnp.sum(jnp.all(is_zero, axis=not_out), dtype=jnp.int32)
        out.append((zeros, zero_inputs, zero_outputs))
    return out


def sparsity_report(params: PyTree, mask: MaskOrFn | None = None) -> SparsityReport:
    """Per leaf: shape, weights, exact zeros, their fraction and whole zero units; totals.

    A leaf's *zero outputs* are the slices along its last axis that are entirely zero:
    for a Flax Dense kernel ``(in, out)`` or Conv kernel ``(..., in, out)``, output units
    (neurons, filters) that receive nothing. Its *zero inputs* are the slices along axis
    -2: inputs that feed nothing. (Equinox stores ``Linear`` weights as ``(out, in)`` and
    ``Conv`` weights as ``(out, in, ...)``: for ``Linear`` read the two columns the
    other way round; for ``Conv`` count whole filters with ``jnp.all(w == 0,
    axis=(1, 2, ...))``.) All counts come from one jitted computation, so on
    params sharded across devices or processes each is a reduction, with no gather, and
    every process gets the global values.

    Args:
      params: a pytree of arrays.
      mask: which leaves to report, as in the transforms' ``mask=`` (None: every
        floating-point leaf); :func:`optax_l1.skip_biases` reports the weights.

    Returns:
      A :class:`SparsityReport`: ``print(report)`` shows a table; ``report.as_dict()``
      is a flat dict of floats for a logger; ``report.leaves`` has one
      :class:`LeafSparsity` per leaf; ``report.fraction`` is the total.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax_l1
      >>> params = {"dense": {"kernel": jnp.array([[0.0, 1.0], [0.0, 2.0]]),
      ...                     "bias": jnp.array([0.0, 1.0])}}
      >>> report = optax_l1.sparsity_report(params, optax_l1.skip_biases)
      >>> print(report)
      leaf          shape  weights  zeros  fraction  zero in  zero out
      ----------------------------------------------------------------
      dense/kernel    2x2        4      2    50.00%      0/2       1/2
      ----------------------------------------------------------------
      total                      4      2    50.00%
      >>> report.as_dict()["sparsity/total"]
      0.5
    """
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    selected = [True] * len(flat) if mask is None else jax.tree.leaves(full_mask(mask, params))
    chosen = [
        (path, jnp.asarray(leaf))
        for (path, leaf), keep in zip(flat, selected, strict=True)
        if keep and is_float_leaf(leaf)
    ]
    counts = _counts([w for _, w in chosen])
    leaves = []
    for (path, w), (zeros, zero_in, zero_out) in zip(chosen, counts, strict=True):
        two_d = w.ndim >= 2
        leaves.append(
            LeafSparsity(
                name=_name(path),
                shape=tuple(w.shape),
                size=int(w.size),
                zeros=int(np.asarray(zeros)),
                zero_inputs=int(np.asarray(zero_in)) if two_d else None,
                zero_outputs=int(np.asarray(zero_out)) if two_d else None,
            )
        )
    return SparsityReport(leaves)
