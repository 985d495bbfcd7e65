"""Masks that choose which parameters are regularized, and how transforms apply them."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
import optax

PyTree: TypeAlias = Any
"""A pytree (nested dicts, lists, tuples, dataclasses, Flax or Equinox modules)."""

MaskOrFn: TypeAlias = PyTree | Callable[[PyTree], PyTree]
"""A mask: a pytree of bools shaped like the params (or a prefix of them), or a callable
that returns one from the params, as :func:`optax.masked` takes."""

# Names that say what a leaf is, in Flax (linen and nnx) and Equinox.
WEIGHT_NAMES = frozenset({"kernel", "weight", "embedding"})
SKIP_NAMES = frozenset({"bias", "scale"})
# Layers whose own parameters are norm scales and offsets (Equinox names them `weight`
# and `bias`); wrappers whose name ends in "Norm" but that hold a layer's weights are not.
NORM_WRAPPERS = frozenset({"SpectralNorm", "WeightNorm"})
VARIABLE_WRAPPERS = frozenset({"Param", "Variable", "VariableState", "BatchStat"})


def is_float_leaf(leaf: Any) -> bool:
    """True for real floating-point leaves: float arrays, Python and NumPy floats."""
    if isinstance(leaf, bool):
        return False
    if isinstance(leaf, float):
        return True
    return hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)


def is_complex_leaf(leaf: Any) -> bool:
    """True for complex arrays and Python/NumPy complex numbers."""
    if isinstance(leaf, complex):
        return True
    return hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.complexfloating)


def _key_name(entry: Any) -> str | None:
    if isinstance(entry, jax.tree_util.DictKey):
        return str(entry.key)
    if isinstance(entry, jax.tree_util.GetAttrKey):
        return entry.name
    return None


def _child(node: Any, entry: Any) -> Any:
    if isinstance(entry, jax.tree_util.DictKey):
        return node[entry.key]
    if isinstance(entry, jax.tree_util.GetAttrKey):
        return getattr(node, entry.name)
    if isinstance(entry, jax.tree_util.SequenceKey):
        return node[entry.idx]
    raise LookupError(entry)


def _parent_type_names(root: Any, path: tuple[Any, ...]) -> list[str]:
    """The type names of the nodes on ``path`` above the leaf, nearest first."""
    names: list[str] = []
    node = root
    for entry in path[:-1]:
        try:
            node = _child(node, entry)
        except Exception:  # a custom node whose keys do not index it: stop there
            return names[::-1]
        names.append(type(node).__name__)
    return names[::-1]


def _in_norm_layer(parents: list[str]) -> bool:
    """True when the module that owns the leaf is a normalization layer."""
    for name in parents:
        if name in VARIABLE_WRAPPERS:
            continue  # nnx wraps each array in a Param: look at its owner
        return name.endswith("Norm") and name not in NORM_WRAPPERS
    return False


def _named(path: tuple[Any, ...], names: frozenset[str]) -> str | None:
    """The nearest name on ``path`` (from the leaf up) that is in ``names``, if any."""
    for entry in reversed(path):
        name = _key_name(entry)
        if name in names:
            return name
    return None


def skip_biases(params: PyTree) -> PyTree:
    """Default mask: regularize weights; skip biases, normalization parameters and scalars.

    For each leaf, the first rule that applies decides:

    1. not a real floating-point leaf (integers, booleans, complex): skipped;
    2. a parameter of a normalization layer (Flax ``LayerNorm``/``BatchNorm``/... name
       them ``scale`` and ``bias``; Equinox's ``LayerNorm``, ``BatchNorm``, ``GroupNorm``
       and ``RMSNorm`` name them ``weight`` and ``bias``, so their type decides): skipped;
    3. the nearest name on the leaf's path is ``bias`` or ``scale`` (any shape: an
       Equinox ``Conv`` bias is ``(C, 1, 1)``, a Flax ``MultiHeadAttention`` bias is
       ``(heads, head_dim)``): skipped;
    4. it is ``kernel`` (Flax ``Dense``/``Conv``/attention projections), ``weight``
       (Equinox ``Linear``/``Conv``/``Embedding``) or ``embedding`` (Flax ``Embed``),
       whatever its rank: selected;
    5. otherwise (no telling name: a bare array, a list): selected when it has at least
       two dimensions.

    Args:
      params: a pytree of arrays: a Flax linen param dict, the ``nnx.State`` that
        ``nnx.Optimizer`` passes to its transform, an Equinox model filtered with
        ``eqx.filter(model, eqx.is_inexact_array)``, or any other pytree.

    Returns:
      A pytree of Python bools with the structure of ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax_l1
      >>> optax_l1.skip_biases({"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)})
      {'bias': False, 'kernel': True}
    """

    def selected(path: tuple[Any, ...], leaf: Any) -> bool:
        if not is_float_leaf(leaf):
            return False
        if _in_norm_layer(_parent_type_names(params, path)):
            return False
        name = _named(path, WEIGHT_NAMES | SKIP_NAMES)
        if name is not None:
            return name in WEIGHT_NAMES
        return np.ndim(leaf) >= 2

    return jax.tree_util.tree_map_with_path(selected, params)


def mask_by_name(
    include: Iterable[str] = ("kernel", "weight", "embedding"),
    exclude: Iterable[str] = ("bias", "scale"),
    *,
    default: bool = False,
    skip_norm_layers: bool = True,
) -> Callable[[PyTree], PyTree]:
    """Builds a mask that selects parameters by the names on their pytree path.

    Flax names a Dense or Conv weight ``kernel``, an Embed table ``embedding``, and
    biases and norm scales ``bias`` and ``scale``, in linen param dicts and ``flax.nnx``
    state alike; Equinox names weights ``weight`` and biases ``bias``. For each
    floating-point leaf the mask walks the leaf's path from the leaf upwards and stops at
    the first name found in ``include`` (selected) or ``exclude`` (skipped); a leaf whose
    path names neither gets ``default``. Non-float leaves are never selected.

    Equinox's normalization layers name their scale ``weight`` too, so by default the
    parameters of a module whose type name ends in ``Norm`` (``LayerNorm``,
    ``BatchNorm``, ``GroupNorm``, ``RMSNorm``; not the ``SpectralNorm``/``WeightNorm``
    wrappers) are skipped whatever their names.

    Args:
      include: names whose parameters are regularized.
      exclude: names whose parameters are left alone.
      default: what a floating-point leaf whose path names none of them gets.
      skip_norm_layers: skip the parameters of normalization layers (see above).

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

    def build(params: PyTree) -> PyTree:
        def selected(path: tuple[Any, ...], leaf: Any) -> bool:
            if not is_float_leaf(leaf):
                return False
            if skip_norm_layers and _in_norm_layer(_parent_type_names(params, path)):
                return False
            name = _named(path, include | exclude)
            return default if name is None else name in include

        return jax.tree_util.tree_map_with_path(selected, params)

    return build


STATIC_ARGS_HINT = (
    "Under `optax.inject_hyperparams`, a mask becomes a traced value (a callable is "
    "taken for a schedule): pass `static_args=('mask',)`."
)


def _is_bool_scalar(leaf: Any) -> bool:
    return isinstance(leaf, (bool, np.bool_))


def check_mask_argument(mask: Any) -> None:
    """Refuses, when a transform is built, a mask that is an array or a bare ``False``.

    Both are what ``optax.inject_hyperparams`` makes of a mask it takes for a schedule
    (it calls the mask on the step count: a bare ``False``); neither selects a weight.
    """
    if isinstance(mask, (jax.Array, jax.core.Tracer, np.ndarray)):
        raise ValueError(f"`mask` is an array ({mask!r}), not a mask. {STATIC_ARGS_HINT}")
    if _is_bool_scalar(mask) and not mask:
        raise ValueError(
            f"`mask` is False: it selects no parameter, so L1 would do nothing. {STATIC_ARGS_HINT}"
        )


def full_mask(mask: MaskOrFn, params: PyTree) -> PyTree:
    """Resolves ``mask`` (a bool pytree, a prefix of one, or a callable) against ``params``.

    Returns a pytree of bools with exactly the structure of ``params``, or raises a
    ``ValueError`` naming ``mask`` when it does not fit or is not made of Python bools.
    """
    mask_tree = mask(params) if callable(mask) else mask
    for leaf in jax.tree.leaves(mask_tree):
        if isinstance(leaf, (jax.Array, jax.core.Tracer)):
            raise ValueError(
                f"`mask` has a JAX array leaf ({leaf!r}); mask leaves must be Python bools. "
                + STATIC_ARGS_HINT
            )
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


def complement(mask: MaskOrFn) -> Callable[[PyTree], PyTree]:
    """A mask of the floating-point leaves that ``mask`` leaves out.

    Non-float leaves are in neither ``mask``'s complement nor (for the transforms here)
    in effect in ``mask``, so integer leaves stay untouched whichever side they fall on.
    """

    def select(params):
        return jax.tree.map(
            lambda selected, leaf: not selected and is_float_leaf(leaf),
            full_mask(mask, params),
            params,
        )

    return select


def selection(mask: MaskOrFn | None, params: PyTree) -> PyTree:
    """``mask`` resolved against ``params`` (see :func:`full_mask`); all True when None.

    For the optimizers that apply their regularization per leaf themselves rather than
    through :func:`with_mask` (their state covers every floating-point leaf).
    """
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    return full_mask(mask, params)


def _is_placeholder(params: Any) -> bool:
    # optax.tree_map_params initializes with a placeholder object instead of params.
    return type(params).__name__ == "_ParamsPlaceholder"


def warn_if_nothing_selected(mask: MaskOrFn, params: PyTree, owner: str) -> None:
    """Warns when ``mask`` selects no floating-point parameter: L1 would do nothing."""
    selected = full_mask(mask, params)
    flags = jax.tree.leaves(selected)
    leaves = jax.tree.leaves(params)
    if leaves and not any(s and is_float_leaf(w) for s, w in zip(flags, leaves, strict=True)):
        warnings.warn(
            f"{owner}: `mask` selects no floating-point parameter, so L1 does nothing. "
            "Check the mask against your params' names (optax_l1.skip_biases decides by "
            "name and layer type, see its docstring).",
            UserWarning,
            stacklevel=4,
        )


def check_mask_at_init(mask: MaskOrFn | None, params: PyTree, owner: str) -> None:
    """At ``init``: a ``ValueError`` if ``mask`` does not fit, a warning if it selects nothing."""
    if mask is not None and not _is_placeholder(params):
        warn_if_nothing_selected(mask, params, owner)


def with_mask(inner: optax.GradientTransformation, mask: MaskOrFn | None, owner: str = "L1"):
    """Applies ``inner`` only where ``mask`` is True, by delegating to ``optax.masked``.

    The additions: a clear error when the mask is an array (``inject_hyperparams``
    without ``static_args``) or does not fit the params, and a warning at ``init`` when
    it selects nothing.
    """
    if mask is None:
        return inner
    check_mask_argument(mask)
    masked = optax.masked(inner, mask)

    def init_fn(params):
        if not _is_placeholder(params):
            warn_if_nothing_selected(mask, params, owner)
        return masked.init(params)

    return optax.GradientTransformationExtraArgs(init_fn, masked.update)
