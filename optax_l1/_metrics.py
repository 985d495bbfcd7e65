"""Quantities to log during training: the L1 penalty's norm and the exact sparsity."""

from __future__ import annotations

import functools
import math
from typing import Any, cast

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

try:
    from jax import shard_map as _shard_map
except ImportError:  # jax < 0.7
    from jax.experimental.shard_map import shard_map as _shard_map  # type: ignore[no-redef]

from optax_l1._elementwise import wide_float
from optax_l1._masks import MaskOrFn, PyTree, full_mask, is_complex_leaf, is_float_leaf


def _counted(leaf: Any) -> bool:
    return is_float_leaf(leaf) or is_complex_leaf(leaf)


def selected_leaves(params: PyTree, mask: MaskOrFn | None) -> list[jax.Array]:
    """The floating-point (real or complex) leaves ``mask`` selects, as arrays."""
    leaves = jax.tree.leaves(params)
    chosen = [True] * len(leaves) if mask is None else jax.tree.leaves(full_mask(mask, params))
    return [
        jnp.asarray(leaf)
        for leaf, keep in zip(leaves, chosen, strict=True)
        if keep and _counted(leaf)
    ]


def _accumulation_dtype(leaf: jax.Array) -> jnp.dtype:
    real = jnp.finfo(leaf.dtype).dtype  # the real dtype of a complex leaf's modulus
    return wide_float(real)


# --------------------------------------------------------------------------- one reduction
#
# On params sharded over a mesh (across devices or processes), a per-leaf ``jnp.sum`` is
# one cross-device reduction per leaf, and XLA merges them only for leaves split over the
# same mesh axes. When every selected leaf is a concrete array split by a
# ``NamedSharding`` of one mesh, the metrics instead reduce each device's blocks locally
# and add the per-device totals with a single ``psum`` over the whole mesh: one
# all-reduce whatever the layout, and every process gets the global value. A copy that a
# leaf keeps on several devices (an axis its spec does not use) is counted once, on the
# first device along that axis. Anything else (one device, tracers under ``jit`` or
# ``grad``, mixed placements) takes one jitted computation that XLA partitions.


def _leaf_total(leaf: jax.Array, kind: str) -> jax.Array:
    if kind == "abs":
        return jnp.sum(jnp.abs(leaf), dtype=_accumulation_dtype(leaf))
    # int32 per leaf (or block), float32 across them: no overflow past 2**31 weights in all.
    return jnp.sum(leaf == 0, dtype=jnp.int32).astype(jnp.float32)


def _add(totals: list[jax.Array]) -> jax.Array:
    dtype = jnp.result_type(*totals)
    return sum((t.astype(dtype) for t in totals), start=jnp.zeros([], dtype))


@functools.partial(jax.jit, static_argnames="kind")
def _total(leaves: list[jax.Array], kind: str) -> jax.Array:
    return _add([_leaf_total(leaf, kind) for leaf in leaves])


def _names(entry: Any) -> tuple[str, ...]:
    """The mesh axes of one ``PartitionSpec`` entry: None, a name or a tuple of names."""
    return () if entry is None else entry if isinstance(entry, tuple) else (entry,)


@functools.partial(jax.jit, static_argnames=("kind", "mesh", "specs"))
def _total_in_one_psum(
    leaves: list[jax.Array], kind: str, mesh: Mesh, specs: tuple[PartitionSpec, ...]
) -> jax.Array:
    def per_device(*blocks):
        totals = []
        for block, spec in zip(blocks, specs, strict=True):
            first_copy = jnp.array(True)
            for name in set(mesh.axis_names) - {n for e in spec for n in _names(e)}:
                first_copy &= jax.lax.axis_index(name) == 0
            total = _leaf_total(block, kind)
            totals.append(jnp.where(first_copy, total, jnp.zeros_like(total)))
        return jax.lax.psum(_add(totals), tuple(mesh.axis_names))

    return _shard_map(per_device, mesh=mesh, in_specs=specs, out_specs=PartitionSpec())(*leaves)


def _one_mesh(leaves: list[jax.Array]) -> tuple[Mesh, tuple[PartitionSpec, ...]] | None:
    """The mesh and specs when every leaf is split evenly by a NamedSharding of one mesh."""
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
        return None  # under jit or grad: XLA partitions the surrounding computation
    if not all(isinstance(leaf.sharding, NamedSharding) for leaf in leaves):
        return None
    shardings = [cast(NamedSharding, leaf.sharding) for leaf in leaves]
    mesh = shardings[0].mesh
    if not isinstance(mesh, Mesh) or mesh.size == 1 or any(s.mesh != mesh for s in shardings):
        return None
    for leaf, sharding in zip(leaves, shardings, strict=True):
        entries = (*sharding.spec, *[None] * (leaf.ndim - len(sharding.spec)))
        if any(n % _ways(mesh, e) for n, e in zip(leaf.shape, entries, strict=True)):
            return None  # padded (uneven) blocks, which older JAX allows: not for shard_map
    return mesh, tuple(s.spec for s in shardings)


def _ways(mesh: Mesh, entry: Any) -> int:
    """Into how many blocks a spec entry splits a dimension."""
    return math.prod(mesh.shape[name] for name in _names(entry))


def _global_total(leaves: list[jax.Array], kind: str) -> jax.Array:
    if leaves and (placement := _one_mesh(leaves)) is not None:
        mesh, specs = placement
        return _total_in_one_psum(leaves, kind, mesh, specs)
    return _total(leaves, kind)


# --------------------------------------------------------------------------- the metrics


def l1_norm(params: PyTree, mask: MaskOrFn | None = None) -> jax.Array:
    r"""The L1 norm :math:`\sum_i |w_i|` over the floating-point leaves that ``mask`` selects.

    Multiply by ``l1`` to get the penalty term of the objective. Sums are accumulated in
    at least float32, so low-precision parameters do not lose the total. Python floats
    count; a complex entry counts its modulus.

    On params sharded across devices or processes (``NamedSharding`` on one mesh), each
    device sums its own blocks and a single cross-device reduction adds them: no
    parameter is gathered, and every process gets the global value (call it from every
    process, like any computation on global arrays).

    Args:
      params: a pytree of arrays.
      mask: which leaves count, as in the transforms' ``mask=`` (None: all of them).

    Returns:
      A scalar array (0.0 when nothing is selected). Integer leaves never count.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax_l1
      >>> params = {"kernel": jnp.array([[1.0, -2.0]]), "bias": jnp.array([5.0])}
      >>> optax_l1.l1_norm(params, mask=optax_l1.skip_biases)
      Array(3., dtype=float32)
    """
    leaves = selected_leaves(params, mask)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    return _global_total(leaves, "abs")


def sparsity(params: PyTree, mask: MaskOrFn | None = None) -> jax.Array:
    """The fraction of entries exactly equal to zero among the leaves that ``mask`` selects.

    On params sharded across devices or processes (``NamedSharding`` on one mesh), each
    device counts the zeros of its own blocks and a single cross-device reduction adds
    the counts: no parameter is gathered, and every process gets the global fraction
    (call it from every process, like any computation on global arrays).

    Args:
      params: a pytree of arrays.
      mask: which leaves count, as in the transforms' ``mask=`` (None: all of them).

    Returns:
      A float32 scalar in [0, 1].

    Raises:
      ValueError: if the mask selects no floating-point entry (the fraction is then
        undefined).

    Example:
      >>> import jax.numpy as jnp
      >>> import optax_l1
      >>> optax_l1.sparsity({"kernel": jnp.array([[0.0, 1.0], [0.0, -0.0]])})
      Array(0.75, dtype=float32)
    """
    leaves = selected_leaves(params, mask)
    total = sum(leaf.size for leaf in leaves)
    if total == 0:
        raise ValueError("`sparsity` needs at least one floating-point entry selected by `mask`")
    return (_global_total(leaves, "zeros") / total).astype(jnp.float32)
