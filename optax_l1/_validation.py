"""Checks made on hyperparameters when a transform is constructed."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _real_number(value: Any) -> float | None:
    """``value`` as a Python float if it is a real scalar (not a bool), else None."""
    if value is None or isinstance(value, (bool, str, bytes, np.bool_)):
        return None
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    # jnp's dtype tests know bfloat16 (an ml_dtypes type that NumPy does not class as
    # floating): optax.inject_hyperparams casts hyperparameters to the params' dtype.
    real = jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)
    if not real or array.ndim != 0:
        return None
    return float(array)


def _finite_in_float32(number: float) -> bool:
    with np.errstate(over="ignore"):
        return math.isfinite(number) and math.isfinite(float(np.float32(number)))


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"an array of shape {shape}" if shape else repr(value)


def check_coefficient(value: Any, name: str) -> None:
    """Raises ``ValueError`` unless ``value`` is a finite, non-negative scalar or schedule.

    A schedule is called at step 0 and its value checked the same way (its later values
    are traced inside the jitted step, so they are the caller's responsibility). Traced
    values (``optax.inject_hyperparams`` inside ``jax.jit``) were concrete when the
    transform was first built, so they are not checked again. Strings, booleans,
    ``None``, arrays of more than one element, complex numbers and values that overflow
    float32 (``1e39``) are refused.
    """
    if isinstance(value, jax.core.Tracer):
        return
    if callable(value):
        try:
            first = value(jnp.zeros([], jnp.int32))
        except Exception as err:
            raise ValueError(
                f"`{name}` is a schedule that fails at step 0 ({type(err).__name__}: {err})"
            ) from err
        if isinstance(first, jax.core.Tracer):
            return
        number = _real_number(first)
        if number is None or not _finite_in_float32(number) or number < 0:
            raise ValueError(
                f"`{name}` is a schedule whose value at step 0 is {_describe(first)}; it "
                "must be a finite (in float32), non-negative real scalar"
            )
        return
    number = _real_number(value)
    if number is None:
        raise ValueError(
            f"`{name}` must be a real scalar or an optax schedule; got {_describe(value)}"
        )
    if not _finite_in_float32(number) or number < 0:
        note = " (it overflows float32)" if math.isfinite(number) and number >= 0 else ""
        raise ValueError(f"`{name}` must be finite and non-negative; got {value!r}{note}")


def check_in_range(
    value: Any,
    name: str,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_closed: bool = False,
) -> None:
    """A static number in ``[low, high)``; ``ValueError`` otherwise.

    ``low_open`` excludes ``low``, ``high_closed`` includes ``high``.
    """
    if isinstance(value, jax.core.Tracer):
        return
    if callable(value):
        raise ValueError(f"`{name}` must be a number, not a schedule; got {value!r}")
    number = _real_number(value)
    if number is None or not _finite_in_float32(number):
        raise ValueError(f"`{name}` must be a finite real number; got {_describe(value)}")
    below = number <= low if low_open else number < low
    above = number > high if high_closed else number >= high
    if below or above:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{']' if high_closed else ')'}"
        raise ValueError(f"`{name}` must be in {interval}; got {value!r}")


def is_static_zero(value: Any) -> bool:
    """True when ``value`` is a concrete scalar equal to zero (never for schedules or tracers)."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return False
    return float(np.asarray(value)) == 0.0
