"""The machinery shared by the per-weight L1 transforms: schedules, dtypes, skipped leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optax_l1._masks import MaskOrFn, is_float_array, with_mask
from optax_l1._validation import check_coefficient, is_static_zero

NO_PARAMS_MSG = (
    "This L1 transform needs the current parameters: call "
    "`update(updates, state, params)` with `params` (for example through "
    "`optax.chain(...).update(grads, state, params)`)."
)

LeafRule = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


class ScheduleState(NamedTuple):
    """Step count kept by an L1 transform whose coefficient is an Optax schedule."""

    count: jax.Array  # shape=(), dtype=jnp.int32


def wide_float(dtype) -> jnp.dtype:
    """float32 for floats of 32 bits or fewer, else the dtype itself (accumulation precision).

    Spelled out rather than ``jnp.promote_types`` so that it holds under strict promotion.
    """
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits <= 32 else jnp.dtype(dtype)


def coefficient_init(coefficient: optax.ScalarOrSchedule) -> ScheduleState | optax.EmptyState:
    """The state a coefficient needs: a step count for a schedule, nothing for a constant."""
    if callable(coefficient):
        return ScheduleState(count=jnp.zeros([], jnp.int32))
    return optax.EmptyState()


def coefficient_value(coefficient: optax.ScalarOrSchedule, state: Any) -> tuple[Any, Any]:
    """The coefficient for this step and the state for the next one."""
    if callable(coefficient):
        return coefficient(state.count), ScheduleState(optax.safe_increment(state.count))
    return coefficient, state


def map_float_leaves(rule: Callable[[Any, Any], Any], updates: Any, params: Any) -> Any:
    """Applies ``rule(u, w)`` to each floating-point leaf; other leaves pass through.

    ``None`` updates stay ``None``; ``optax.MaskedNode`` subtrees have no leaves and so
    pass through unchanged, as do integer and boolean parameters.
    """

    def apply(u, w):
        if u is None or not is_float_array(w):
            return u
        return rule(u, w)

    return jax.tree.map(apply, updates, params, is_leaf=lambda x: x is None)


def landing_dtype(u: jax.Array, w: jax.Array) -> jnp.dtype:
    """The dtype of an update meant to land exactly on a value: the wider of u's and w's.

    With low-precision updates (bfloat16 gradients, say) for float32 params, an update
    ``new - w`` rounded to bfloat16 would not land on ``new``, and exact zeros would be
    lost; such updates are returned in the params' dtype instead.
    """
    return u.dtype if jnp.finfo(u.dtype).bits >= jnp.finfo(w.dtype).bits else w.dtype


def per_weight_transform(
    rule: LeafRule,
    coefficient: optax.ScalarOrSchedule,
    name: str,
    mask: MaskOrFn | None,
    *,
    lands_on_param: bool = False,
) -> optax.GradientTransformation:
    """Builds a transform that maps each floating leaf ``u`` to ``rule(u, w, c)``.

    ``rule`` gets the update, the parameter and the coefficient ``c``, all in one dtype:
    the update's, or with ``lands_on_param`` (rules returning ``new - w``) the wider of
    the update's and the parameter's, so that zeros land exactly. Where ``c`` is zero the
    update is returned bitwise unchanged.
    """
    check_coefficient(coefficient, name)

    def init_fn(params):
        del params
        return coefficient_init(coefficient)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        c, new_state = coefficient_value(coefficient, state)
        if is_static_zero(c):
            return updates, new_state
        may_be_zero = callable(coefficient) or isinstance(c, jax.core.Tracer)

        def leaf(u, w):
            dtype = landing_dtype(u, w) if lands_on_param else u.dtype
            out = rule(u.astype(dtype), w.astype(dtype), jnp.asarray(c, dtype)).astype(dtype)
            return jnp.where(c == 0, u.astype(dtype), out) if may_be_zero else out

        return map_float_leaves(leaf, updates, params), new_state

    return with_mask(optax.GradientTransformation(init_fn, update_fn), mask)
