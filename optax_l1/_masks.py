"""Masks that choose which parameters are regularized, and how transforms apply them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

MaskOrFn = Any | Callable[[Any], Any]


def is_float_array(leaf: Any) -> bool:
    """True for arrays of a floating-point dtype (the leaves L1 can act on)."""
    return hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)


def skip_biases(params: Any) -> Any:
    """Mask that regularizes weight matrices and skips biases, norm scales and scalars.

    A leaf is selected (``True``) when it is a floating-point array with at least two
    dimensions: Dense and Conv kernels and embedding tables are; biases, LayerNorm and
    BatchNorm scales, scalars and integer leaves are not.

    Args:
      params: a pytree of arrays (a Flax linen param dict, the ``nnx.State`` that
        ``nnx.Optimizer`` passes to its transform, or any other pytree).

    Returns:
      A pytree of Python bools with the structure of ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax_l1
      >>> optax_l1.skip_biases({"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)})
      {'bias': False, 'kernel': True}
    """
    return jax.tree.map(lambda leaf: is_float_array(leaf) and leaf.ndim >= 2, params)


def _key_name(entry: Any) -> str | None:
    if isinstance(entry, jax.tree_util.DictKey):
        return str(entry.key)
    if isinstance(entry, jax.tree_util.GetAttrKey):
        return entry.name
    return None


def mask_by_name(
    include: Iterable[str] = ("kernel", "embedding"),
    exclude: Iterable[str] = ("bias", "scale"),
    *,
    default: bool = False,
) -> Callable[[Any], Any]:
    """Builds a mask that selects parameters by the names on their pytree path.

    Flax names a Dense or Conv weight ``kernel``, an Embed table ``embedding``, and
    biases and norm scales ``bias`` and ``scale``, both in linen param dicts and in
    ``flax.nnx`` state. For each floating-point leaf the mask walks the leaf's path from
    the leaf upwards and stops at the first name found in ``include`` (selected) or
    ``exclude`` (skipped); a leaf whose path names neither gets ``default``. Non-float
    leaves are never selected.

    Args:
      include: names whose parameters are regularized.
      exclude: names whose parameters are left alone.
      default: what a floating-point leaf whose path names none of them gets.

    Returns:
      A callable ``params -> pytree of bools``, for any ``mask=`` argument.

    Raises:
      ValueError: if a name is both included and excluded.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax_l1
      >>> params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)},
      ...           "norm": {"scale": jnp.ones(2)}}
      >>> optax_l1.mask_by_name()(params)
      {'dense': {'bias': False, 'kernel': True}, 'norm': {'scale': False}}
    """
    include, exclude = frozenset(include), frozenset(exclude)
    if both := include & exclude:
        raise ValueError(f"`include` and `exclude` both name {sorted(both)}")

    def selected(path: tuple[Any, ...], leaf: Any) -> bool:
        if not is_float_array(leaf):
            return False
        for entry in reversed(path):
            name = _key_name(entry)
            if name in include:
                return True
            if name in exclude:
                return False
        return default

    return lambda params: jax.tree_util.tree_map_with_path(selected, params)


def _is_bool_scalar(leaf: Any) -> bool:
    if isinstance(leaf, (bool, np.bool_)):
        return True
    return getattr(leaf, "dtype", None) == np.bool_ and getattr(leaf, "shape", None) == ()


def full_mask(mask: MaskOrFn, params: Any) -> Any:
    """Resolves ``mask`` (a bool pytree, a prefix of one, or a callable) against ``params``.

    Returns a pytree of bools with exactly the structure of ``params``, or raises a
    ``ValueError`` naming ``mask`` when it does not fit.
    """
    mask_tree = mask(params) if callable(mask) else mask
    for leaf in jax.tree.leaves(mask_tree):
        if not _is_bool_scalar(leaf):
            raise ValueError(
                f"`mask` leaves must be Python or NumPy bools; got {type(leaf).__name__} {leaf!r}"
            )
    try:
        return jax.tree.map(
            lambda selected, subtree: jax.tree.map(lambda _: bool(selected), subtree),
            mask_tree,
            params,
        )
    except ValueError as err:
        raise ValueError(
            "`mask` does not fit the params: it must have the structure of the params "
            f"(or of a prefix of them).\n  mask:   {jax.tree.structure(mask_tree)}\n"
            f"  params: {jax.tree.structure(params)}"
        ) from err


def complement(mask: MaskOrFn) -> Callable[[Any], Any]:
    """A mask of the floating-point leaves that ``mask`` leaves out.

    Non-float leaves are in neither ``mask``'s complement nor (for the transforms here)
    in effect in ``mask``, so integer leaves stay untouched whichever side they fall on.
    """

    def select(params):
        return jax.tree.map(
            lambda selected, leaf: not selected and is_float_array(leaf),
            full_mask(mask, params),
            params,
        )

    return select


def with_mask(inner: optax.GradientTransformation, mask: MaskOrFn | None):
    """Applies ``inner`` only where ``mask`` is True, by delegating to ``optax.masked``.

    The only addition is a clear error, at ``init``, when the mask does not fit.
    """
    if mask is None:
        return inner
    masked = optax.masked(inner, mask)

    def init_fn(params):
        # optax.tree_map_params initializes with a placeholder object instead of params.
        if type(params).__name__ != "_ParamsPlaceholder":
            full_mask(mask, params)
        return masked.init(params)

    return optax.GradientTransformationExtraArgs(init_fn, masked.update)
