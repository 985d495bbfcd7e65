"""The machinery shared by the per-weight L1 transforms: strengths, dtypes, skipped leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_l1._masks import MaskOrFn, PyTree, is_complex_leaf, is_float_leaf, with_mask
from optax_l1._schedule_free import refuse_inside_schedule_free
from optax_l1._validation import check_coefficient, is_static_zero

NO_PARAMS_MSG = (
    "This L1 transform needs the current parameters: call "
    "`update(updates, state, params)` with `params` (for example through "
    "`optax.chain(...).update(grads, state, params)`)."
)

LeafRule = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


class ScheduleState(NamedTuple):
    """Step count kept by an L1 transform whose ``l1`` or ``learning_rate`` is a schedule."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), dtype=jnp.int32


def wide_float(dtype: Any) -> jnp.dtype:
    """float32 for floats of 32 bits or fewer, else the dtype itself (accumulation precision).

    Spelled out rather than ``jnp.promote_types`` so that it holds under strict promotion.
    """
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits <= 32 else jnp.dtype(dtype)


def landing_dtype(u: jax.Array, w: jax.Array) -> jnp.dtype:
    """The dtype of an L1 update: the wider of the update's and the parameter's.

    With low-precision updates (bfloat16 gradients, say) for float32 params, a penalty
    rounded to bfloat16 would be lost (``g + 1e-5 * sign(w)`` is ``g``), and an update
    ``new - w`` rounded to bfloat16 would not land on ``new`` (exact zeros lost, a decay
    crossing zero). Like ``optax.add_decayed_weights``, the update then comes out in the
    params' dtype (in float32 for bfloat16 against float16).
    """
    if u.dtype == w.dtype:
        return u.dtype
    u_bits, w_bits = jnp.finfo(u.dtype).bits, jnp.finfo(w.dtype).bits
    if u_bits == w_bits:  # bfloat16 and float16: neither holds the other
        return jnp.dtype(jnp.float32)
    return u.dtype if u_bits > w_bits else w.dtype


def compute_dtype(u: jax.Array, w: jax.Array) -> jnp.dtype:
    """The dtype an L1 rule computes in: the update's landing dtype, at least float32."""
    return wide_float(landing_dtype(u, w))


def value_at(hyperparameter: optax.ScalarOrSchedule, count: jax.Array) -> Any:
    """A hyperparameter's value at ``count``: the schedule evaluated, or the constant."""
    return hyperparameter(count) if callable(hyperparameter) else hyperparameter


def per_step_amount(
    l1: optax.ScalarOrSchedule,
    learning_rate: optax.ScalarOrSchedule | None,
    count: Any,
    dtype: Any = None,
) -> Any:
    """``learning_rate * l1`` at step ``count`` (just ``l1`` without a learning rate).

    Two constants are multiplied in Python (one rounding) and returned as a Python
    number when ``dtype`` is None; otherwise both factors are cast to ``dtype`` first, so
    that the product is as precise as the computation that uses it (a float32 schedule
    value times a float64 learning rate stays float64).
    """
    lam = value_at(l1, count)
    lr = None if learning_rate is None else value_at(learning_rate, count)
    if lr is None:
        return lam if dtype is None else jnp.asarray(lam, dtype)
    if isinstance(lam, (int, float)) and isinstance(lr, (int, float)):
        return lr * lam if dtype is None else jnp.asarray(lr * lam, dtype)
    if dtype is None:
        return lr * lam
    return jnp.asarray(lr, dtype) * jnp.asarray(lam, dtype)


def uses_schedule(*hyperparameters: Any) -> bool:
    return any(callable(h) for h in hyperparameters)


def schedule_init(*hyperparameters: Any) -> ScheduleState | optax.EmptyState:
    """The state the hyperparameters need: a step count if any is a schedule, else nothing."""
    if uses_schedule(*hyperparameters):
        return ScheduleState(count=jnp.zeros([], jnp.int32))
    return optax.EmptyState()


def _leaf_name(path: tuple[Any, ...]) -> str:
    return jax.tree_util.keystr(path) or "(the root)"


def check_real_params(params: PyTree, owner: str) -> None:
    """Refuses complex leaves: L1 here acts on real parameters (mask them out)."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if is_complex_leaf(leaf):
            raise ValueError(
                f"{owner}: `params` leaf {_leaf_name(path)} is complex; L1 here acts on "
                "real floating-point parameters. Leave it out with `mask=`."
            )


def as_float_leaf(path: tuple[Any, ...], u: Any, w: Any, owner: str) -> tuple[Any, Any] | None:
    """``(u, w)`` as arrays when L1 acts on this leaf, else None (the update passes through).

    L1 acts on real floating-point parameters, Python floats included (as ``optax.adam``
    treats them); ``None`` updates, integer and boolean parameters pass through. A
    complex parameter, or an update shaped unlike its parameter, raises ``ValueError``.
    """
    if u is None:
        return None
    if is_complex_leaf(w):
        check_real_params({"": w}, owner)
    if not is_float_leaf(w):
        return None
    u, w = jnp.asarray(u), jnp.asarray(w)
    if u.shape != w.shape:
        raise ValueError(
            f"{owner}: `updates` leaf {_leaf_name(path)} has shape {u.shape} but its "
            f"`params` leaf has shape {w.shape}; they must match (no broadcasting)."
        )
    return u, w


def map_float_leaves(
    rule: Callable[[Any, Any], Any], updates: PyTree, params: PyTree, owner: str
) -> PyTree:
    """Applies ``rule(u, w)`` to each leaf L1 acts on (see :func:`as_float_leaf`).

    ``optax.MaskedNode`` subtrees have no leaves and so pass through unchanged.
    """

    def apply(path, u, w):
        leaf = as_float_leaf(path, u, w, owner)
        return u if leaf is None else rule(*leaf)

    return jax.tree_util.tree_map_with_path(apply, updates, params, is_leaf=lambda x: x is None)


class Outputs:
    """Several results of one leaf's step, kept together as a single pytree leaf."""

    def __init__(self, *values: Any):
        self.values = values


def map_outputs(
    fn: Callable[..., Outputs], count: int, tree: PyTree, *rest: PyTree
) -> tuple[PyTree, ...]:
    """``jax.tree_util.tree_map_with_path(fn, ...)`` for an ``fn`` with ``count`` results.

    ``fn`` returns an :class:`Outputs` per leaf of ``tree`` (``None`` leaves included);
    the result is one tree per output, each with the structure of ``tree``.
    """
    is_none = lambda x: x is None  # noqa: E731
    outputs = jax.tree_util.tree_map_with_path(fn, tree, *rest, is_leaf=is_none)
    is_outputs = lambda x: isinstance(x, Outputs)  # noqa: E731
    return tuple(
        jax.tree.map(lambda o, i=i: o.values[i], outputs, is_leaf=is_outputs) for i in range(count)
    )


@jax.custom_jvp
def unless_zero(c: jax.Array, u: jax.Array, out: jax.Array) -> jax.Array:
    """``u`` where the per-step amount ``c`` is zero, else ``out``; differentiable at 0.

    The value is bitwise ``u`` at ``c == 0`` (NaN params and signed zeros included), but
    the derivative is ``out``'s everywhere, so that a hyper-gradient with respect to the
    L1 strength at exactly zero is the one-sided derivative, not 0.
    """
    return jnp.where(c == 0, u, out)


@unless_zero.defjvp
def _unless_zero_jvp(primals, tangents):
    c, u, out = primals
    return unless_zero(c, u, out), tangents[2]


def per_weight_transform(
    rule: Callable[..., jax.Array],
    strengths: dict[str, optax.ScalarOrSchedule],
    learning_rate: optax.ScalarOrSchedule | None,
    mask: MaskOrFn | None,
    owner: str,
    *,
    lands_on_param: bool = False,
    needs_learning_rate: bool = True,
) -> optax.GradientTransformation:
    """Builds a transform that maps each real float leaf ``u`` to ``rule(u, w, *c)``.

    ``strengths`` maps argument names (``l1``, ``l2``) to their values; each ``c`` is a
    per-step amount ``learning_rate * strength`` (the strength itself when
    ``learning_rate`` is None). ``rule`` gets the update, the parameter and the amounts
    in one dtype, the wider of the update's and the parameter's and at least float32, and
    its result is returned in the wider of the two (see :func:`landing_dtype`). Where
    every amount is zero the update is returned bitwise unchanged. Rules that return
    ``new - w`` (``lands_on_param``) refuse to run inside ``optax.contrib.schedule_free``,
    which applies updates to another point than ``params``.
    """
    for name, value in strengths.items():
        check_coefficient(value, name)
    if needs_learning_rate:  # None is refused here: it would mean "l1 per step"
        check_coefficient(learning_rate, "learning_rate")
    hyperparameters = (*strengths.values(), learning_rate)

    def init_fn(params):
        check_real_params(params, owner)
        return schedule_init(*hyperparameters)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        if lands_on_param:
            refuse_inside_schedule_free(owner)
        count = state.count if isinstance(state, ScheduleState) else None
        new_state = ScheduleState(optax.safe_increment(count)) if count is not None else state
        no_lr = learning_rate is not None and is_static_zero(learning_rate)
        if no_lr or all(is_static_zero(v) for v in strengths.values()):
            return updates, new_state
        amounts = [per_step_amount(v, learning_rate, count) for v in strengths.values()]
        if all(is_static_zero(c) for c in amounts):  # e.g. a constant schedule of 0
            return updates, new_state
        may_be_zero = not all(isinstance(c, (int, float)) for c in amounts)

        def leaf(u, w):
            dtype = compute_dtype(u, w)
            cs = [per_step_amount(v, learning_rate, count, dtype) for v in strengths.values()]
            out = rule(u.astype(dtype), w.astype(dtype), *cs).astype(landing_dtype(u, w))
            if may_be_zero:
                return unless_zero(sum(cs), u.astype(out.dtype), out)
            return out

        return map_float_leaves(leaf, updates, params, owner), new_state

    return with_mask(optax.GradientTransformation(init_fn, update_fn), mask, owner)


def static_number(value: Any) -> float | None:
    """``value`` as a Python float when it is a concrete scalar; None for schedules and tracers."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return None
    return float(np.asarray(value))


def state_like(params: Any, fill: Any) -> Any:
    """A fresh array of ``fill`` per floating-point leaf (float32 or wider), None elsewhere.

    Each leaf gets a buffer of its own, so that the state can be donated to a jitted step.
    """

    def entry(w):
        if not is_float_leaf(w):
            return None
        dtype = wide_float(jnp.asarray(w).dtype)
        return jnp.full(jnp.shape(w), jnp.asarray(fill, dtype), dtype)

    return jax.tree.map(entry, params)


def map_leaves_with_state(
    step: Callable[..., tuple[Any, ...]],
    updates: PyTree,
    states: tuple[PyTree, ...],
    params: PyTree,
    selected: PyTree,
    owner: str,
) -> tuple[PyTree, tuple[PyTree, ...]]:
    """Applies ``step(u, w, *state_leaves, regularized)`` to each floating-point leaf.

    ``states`` is a tuple of pytrees shaped like the params (None at non-float leaves);
    returns the new updates and a tuple of new state pytrees. Leaves that L1 does not act
    on (None updates, integer params, ``MaskedNode``) pass through with their state.
    """

    def leaf(path, u, w, regularized, *state_leaves):
        arrays = as_float_leaf(path, u, w, owner)
        if arrays is None or any(s is None for s in state_leaves):
            return Outputs(u, *state_leaves)
        return Outputs(*step(*arrays, *state_leaves, bool(regularized)))

    new_updates, *new_states = map_outputs(
        leaf, 1 + len(states), updates, params, selected, *states
    )
    return new_updates, tuple(new_states)
