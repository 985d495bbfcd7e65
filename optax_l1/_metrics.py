"""Quantities to log during training: the L1 penalty's norm and the exact sparsity."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

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


def l1_norm(params: PyTree, mask: MaskOrFn | None = None) -> jax.Array:
    r"""The L1 norm :math:`\sum_i |w_i|` over the floating-point leaves that ``mask`` selects.

    Multiply by ``l1`` to get the penalty term of the objective. Sums are accumulated in
    at least float32, so low-precision parameters do not lose the total. Python floats
    count; a complex entry counts its modulus.

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
    sums = [jnp.sum(jnp.abs(leaf), dtype=_accumulation_dtype(leaf)) for leaf in leaves]
    dtype = jnp.result_type(*sums)
    return sum((s.astype(dtype) for s in sums), start=jnp.zeros([], dtype))


def sparsity(params: PyTree, mask: MaskOrFn | None = None) -> jax.Array:
    """The fraction of entries exactly equal to zero among the leaves that ``mask`` selects.

    On params sharded across devices (or processes), each leaf's count of zeros is one
    reduction: no parameter is gathered.

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
    # int32 per leaf, float32 across leaves: no overflow past 2**31 weights in all.
    counts = [jnp.sum(leaf == 0, dtype=jnp.int32).astype(jnp.float32) for leaf in leaves]
    zeros = sum(counts, start=jnp.zeros([], jnp.float32))
    return (zeros / total).astype(jnp.float32)
