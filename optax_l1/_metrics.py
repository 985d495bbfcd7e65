"""Quantities to log during training: the L1 penalty's norm and the exact sparsity."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optax_l1._elementwise import wide_float
from optax_l1._masks import MaskOrFn, full_mask, is_float_array


def _selected_float_leaves(params: Any, mask: MaskOrFn | None) -> list[jax.Array]:
    leaves = jax.tree.leaves(params)
    chosen = [True] * len(leaves) if mask is None else jax.tree.leaves(full_mask(mask, params))
    return [
        leaf for leaf, keep in zip(leaves, chosen, strict=True) if keep and is_float_array(leaf)
    ]


def l1_norm(params: Any, mask: MaskOrFn | None = None) -> jax.Array:
    r"""The L1 norm :math:`\sum_i |w_i|` over the floating-point leaves that ``mask`` selects.

    Multiply by the L1 coefficient to get the penalty term of the objective. Sums are
    accumulated in at least float32, so low-precision parameters do not lose the total.

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
    leaves = _selected_float_leaves(params, mask)
    if not leaves:
        return jnp.zeros([], jnp.float32)
    sums = [jnp.sum(jnp.abs(leaf), dtype=wide_float(leaf.dtype)) for leaf in leaves]
    dtype = jnp.result_type(*sums)
    return sum((s.astype(dtype) for s in sums), start=jnp.zeros([], dtype))


def sparsity(params: Any, mask: MaskOrFn | None = None) -> jax.Array:
    """The fraction of entries exactly equal to zero among the leaves that ``mask`` selects.

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
    leaves = _selected_float_leaves(params, mask)
    total = sum(leaf.size for leaf in leaves)
    if total == 0:
        raise ValueError("`sparsity` needs at least one floating-point entry selected by `mask`")
    zeros = sum(jnp.sum(leaf == 0, dtype=jnp.int32) for leaf in leaves)
    return (zeros / total).astype(jnp.float32)
