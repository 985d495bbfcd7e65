"""Checks made on hyperparameters when a transform is constructed."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def check_coefficient(value: Any, name: str) -> None:
    """Raises unless ``value`` is an Optax schedule or a finite, non-negative scalar.

    A schedule is checked at step 0 only (its later values are the caller's
    responsibility: they are traced inside the jitted step). Traced values (for
    instance under ``optax.inject_hyperparams`` inside ``jax.jit``) were concrete
    when the transform was first built, so they are not checked again.
    """
    if isinstance(value, jax.core.Tracer):
        return
    if callable(value):
        first = value(jnp.zeros([], jnp.int32))
        if not isinstance(first, jax.core.Tracer) and not float(first) >= 0:
            raise ValueError(
                f"`{name}` is a schedule whose value at step 0 is {float(first)}; "
                "it must be finite and non-negative"
            )
        return
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` must be a real scalar or an optax schedule; got {value!r}"
        ) from err
    is_real = jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)
    if array.ndim != 0 or not is_real or array.dtype == np.bool_:
        raise TypeError(f"`{name}` must be a real scalar or an optax schedule; got {value!r}")
    number = float(array)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"`{name}` must be finite and non-negative; got {value!r}")


def is_static_zero(value: Any) -> bool:
    """True when ``value`` is a concrete scalar equal to zero (never for schedules or tracers)."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return False
    return float(np.asarray(value)) == 0.0
