"""Proximal Adagrad (FOBOS with Adagrad's rates), as TensorFlow's ``ProximalAdagradOptimizer``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optax_l1._elementwise import (
    NO_PARAMS_MSG,
    check_real_params,
    compute_dtype,
    map_leaves_with_state,
    state_like,
    value_at,
)
from optax_l1._masks import MaskOrFn, check_mask_argument, check_mask_at_init, selection
from optax_l1._proximal import preconditioned_prox
from optax_l1._schedule_free import refuse_inside_schedule_free
from optax_l1._validation import check_coefficient, check_in_range, is_static_zero


class ProximalAdagradState(NamedTuple):
    """State of :func:`proximal_adagrad`: the step count and Adagrad's accumulator."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32; indexes the schedules
    accumulator: Any  # like params, float32 or wider: n, initial value plus the sum of g**2


def _leaf_step(u, w, n, *, lr, l1, l2):
    """One proximal Adagrad step on one leaf; returns ``(w' - w, n')``."""
    dtype = compute_dtype(u, w)
    g, w_c = u.astype(dtype), w.astype(dtype)
    n_new = n.astype(dtype) + g * g
    step_size = jnp.asarray(lr, dtype) * jax.lax.rsqrt(n_new)  # eta / sqrt(n), per coordinate
    z = w_c - step_size * g
    if l1 is None and l2 is None:
        return (z - w_c).astype(w.dtype), n_new.astype(n.dtype)
    new_w = preconditioned_prox(
        z,
        step_size,
        None if l1 is None else jnp.asarray(l1, dtype),
        None if l2 is None else jnp.asarray(l2, dtype),
    )
    return (new_w - w_c).astype(w.dtype), n_new.astype(n.dtype)


def proximal_adagrad(
    learning_rate: optax.ScalarOrSchedule,
    l1: optax.ScalarOrSchedule = 0.0,
    l2: optax.ScalarOrSchedule = 0.0,
    initial_accumulator_value: float = 0.1,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Adagrad followed by an elastic-net prox at Adagrad's per-coordinate step size.

    A complete optimizer in one transform, from gradients to updates, like
    :func:`proximal_adam`, with the semantics of TensorFlow's
    ``ProximalAdagradOptimizer(learning_rate, initial_accumulator_value,
    l1_regularization_strength, l2_regularization_strength)``. Per coordinate, with
    :math:`n` the accumulator (the state), :math:`g` the gradient and :math:`w` the
    parameter:

    .. math::

      n' = n + g^2, \qquad \eta_t = \frac{\eta}{\sqrt{n'}}, \qquad z = w - \eta_t g, \qquad
      w' = \frac{S_{\eta_t\lambda_1}(z)}{1 + \eta_t\lambda_2}
         = \arg\min_x \frac{(x - z)^2}{2\eta_t} + \lambda_1 |x|
           + \frac{\lambda_2}{2} x^2,

    from :math:`n = n_0` (``initial_accumulator_value``). The accumulator is updated
    before it is used and there is no :math:`\epsilon`, so :math:`n_0` must be
    positive. This is FOBOS (Duchi and Singer) with Adagrad's rates: the proximal step
    of :math:`\lambda_1\|w\|_1 + \tfrac{\lambda_2}{2}\|w\|^2` in the metric Adagrad
    preconditions with, the Adagrad counterpart of :func:`proximal_adam`; the threshold
    :math:`\eta_t\lambda_1` follows each coordinate's step size. The update returned is
    :math:`w' - w`, so zeros land bitwise. With ``l1 = l2 = 0`` it is Adagrad with
    :math:`\epsilon = 0` (``optax.adagrad(learning_rate, initial_accumulator_value,
    eps=0)``, to rounding).

    ``l1`` is the per-example :math:`\lambda_1` of ``mean_batch_loss + λ‖w‖₁``, as
    everywhere in this library. ``l2`` multiplies :math:`\|w\|^2 / 2` (TensorFlow's
    convention for its proximal optimizers, and that of :func:`sgd_l1` and
    :func:`proximal_adam`; Keras' and :func:`ftrl`'s ``l2`` multiplies
    :math:`\|w\|^2`).

    Like TensorFlow's dense update, every coordinate gets the prox at every step,
    including those whose gradient is zero (TensorFlow's sparse update skips the rows
    not in the batch): their threshold is :math:`\eta\lambda_1/\sqrt{n}`, as large as
    :math:`\eta\lambda_1/\sqrt{n_0}` for a coordinate that has had no gradient yet. A
    small ``initial_accumulator_value`` makes that threshold large.

    **Masked-out leaves** (``mask`` False) get the same Adagrad step without ``l1`` and
    ``l2``.

    Args:
      learning_rate: :math:`\eta \ge 0`, a float or an Optax schedule.
      l1: :math:`\lambda_1 \ge 0` of ``mean_batch_loss + λ‖w‖₁``, a float or an Optax
        schedule.
      l2: :math:`\lambda_2 \ge 0`, an L2 term :math:`\tfrac{\lambda_2}{2}\|w\|^2` in the
        same prox (elastic net), a float or an Optax schedule.
      initial_accumulator_value: :math:`n_0 > 0`, the starting value of :math:`n`.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or a
        callable returning one, as in :func:`optax.masked`: ``True`` where ``l1`` and
        ``l2`` apply (:func:`optax_l1.skip_biases` keeps biases and norm scales out).
        Every floating-point leaf is trained by Adagrad.

    Returns:
      An :class:`optax.GradientTransformation` whose state is a
      :class:`ProximalAdagradState`. Its ``update`` needs ``params``.

    Raises:
      ValueError: for a negative, NaN, infinite or non-scalar ``learning_rate``, ``l1``
        or ``l2`` (for a schedule: at step 0); ``initial_accumulator_value <= 0``; a
        ``mask`` that is an array (pass ``static_args="mask"`` to
        ``optax.inject_hyperparams``); from ``init``, for complex parameters or a
        ``mask`` that does not fit the params; from ``update``, without ``params``, for
        updates shaped unlike the params, or inside ``optax.contrib.schedule_free``.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([1.0, -1.0, 0.05])
      >>> tx = optax_l1.proximal_adagrad(0.1, l1=0.5, initial_accumulator_value=0.09)
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([0.4, 0.4, 0.4]), state, params)
      >>> new = optax.apply_updates(params, updates)  # step 0.1 / sqrt(0.09 + 0.16) = 0.2
      >>> [round(float(x), 4) for x in new]  # z = w - 0.08, threshold 0.2 * 0.5
      [0.82, -0.98, 0.0]

    References:
      Duchi, Hazan and Singer, `Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011;
      Duchi and Singer, `Efficient Online and Batch Learning using Forward Backward
      Splitting <https://jmlr.org/papers/v10/duchi09a.html>`_, JMLR 2009.
    """
    for value, name in ((learning_rate, "learning_rate"), (l1, "l1"), (l2, "l2")):
        check_coefficient(value, name)
    check_in_range(
        initial_accumulator_value, "initial_accumulator_value", 0.0, float("inf"), low_open=True
    )
    if mask is not None:
        check_mask_argument(mask)

    def init_fn(params):
        check_real_params(params, "proximal_adagrad")
        check_mask_at_init(mask, params, "proximal_adagrad")
        return ProximalAdagradState(
            count=jnp.zeros([], jnp.int32),
            accumulator=state_like(params, initial_accumulator_value),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        refuse_inside_schedule_free("proximal_adagrad")
        lr = value_at(learning_rate, state.count)
        strengths = {}
        for name, value in (("l1", l1), ("l2", l2)):
            value = value_at(value, state.count)
            strengths[name] = None if is_static_zero(value) else value
        plain = dict.fromkeys(strengths)

        def step(u, w, n, regularized):
            return _leaf_step(u, w, n, lr=lr, **(strengths if regularized else plain))

        new_updates, (accumulator,) = map_leaves_with_state(
            step, updates, (state.accumulator,), params, selection(mask, params), "proximal_adagrad"
        )
        return new_updates, ProximalAdagradState(optax.safe_increment(state.count), accumulator)

    return optax.GradientTransformation(init_fn, update_fn)
