"""Proximal Adam (ProxGen): L1 whose threshold follows Adam's per-coordinate step size."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optax_l1._elementwise import NO_PARAMS_MSG, wide_float
from optax_l1._masks import MaskOrFn, complement, is_float_array
from optax_l1._proximal import soft_threshold
from optax_l1._validation import check_coefficient, is_static_zero


class ProximalAdamState(NamedTuple):
    """State of :func:`proximal_adam`: Adam's moments and the step count."""

    count: jax.Array  # shape=(), dtype=jnp.int32; indexes the schedules too
    mu: Any  # like params; first moment
    nu: Any  # like params; second moment


def _check_static(value: float, name: str, upper: float | None = None) -> None:
    """``b1``, ``b2`` and ``eps`` are numbers (not schedules), within their ranges."""
    if callable(value):
        raise TypeError(f"`{name}` must be a number, not a schedule; got {value!r}")
    check_coefficient(value, name)
    if upper is not None and not isinstance(value, jax.core.Tracer) and float(value) >= upper:
        raise ValueError(f"`{name}` must be in [0, {upper:g}); got {value!r}")


def proximal_adam(
    learning_rate: optax.ScalarOrSchedule,
    l1: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: optax.ScalarOrSchedule = 0.0,
) -> optax.GradientTransformation:
    r"""Adam followed by a soft-threshold scaled by Adam's own preconditioner (ProxGen).

    A complete optimizer step in one transform: it takes gradients (put clipping or any
    other gradient transform before it) and returns the updates to add to the params.
    With Adam's bias-corrected moments :math:`\hat m, \hat v` and
    :math:`D = \sqrt{\hat v} + \epsilon`, each coordinate does

    .. math::

      z = w - \eta\,\bigl(\hat m / D + \mu\, w\bigr), \qquad
      w' = S_{\eta\lambda / D}(z) = \arg\min_x \tfrac{1}{2\eta} D\,(x - z)^2 + \lambda |x|,

    the proximal step of :math:`\lambda\|w\|_1` in the metric Adam preconditions with
    (:math:`\mu` is AdamW's decoupled weight decay). A fixed threshold :math:`\eta\lambda`
    would be tiny next to Adam's per-coordinate steps :math:`\eta \hat m / D`; dividing
    it by :math:`D` too keeps L1 in proportion, so exact zeros appear at a usable
    :math:`\lambda`. It returns :math:`w' - w`, so zeros land bitwise. With
    ``l1 = 0`` and ``weight_decay = 0`` it is Adam.

    It regularizes every leaf it sees. To keep biases and norm scales out (while they
    still train with Adam), use :func:`adam_l1` with a ``mask``.

    Args:
      learning_rate: :math:`\eta`, a float or an Optax schedule.
      l1: :math:`\lambda \ge 0`, the L1 coefficient per example for a mean loss, a
        float or an Optax schedule.
      b1: decay of the first moment.
      b2: decay of the second moment.
      eps: :math:`\epsilon`, added to :math:`\sqrt{\hat v}`.
      weight_decay: :math:`\mu \ge 0`, AdamW's decoupled weight decay, a float or an
        Optax schedule.

    Returns:
      An :class:`optax.GradientTransformation` with a :class:`ProximalAdamState`. Its
      ``update`` needs ``params``.

    Raises:
      ValueError: for a negative, NaN or infinite coefficient, or ``b1``/``b2``
        outside [0, 1).

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([1.0, -1.0, 0.05])
      >>> tx = optax_l1.proximal_adam(learning_rate=0.1, l1=0.05)
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([0.1, 0.1, 0.1]), state, params)
      >>> new = optax.apply_updates(params, updates)  # each threshold: 0.1 * 0.05 / 0.1
      >>> [round(float(x), 4) for x in new]
      [0.85, -1.05, 0.0]

    References:
      Yun, Lozano and Yang, `Adaptive Proximal Gradient Methods for Structured Neural
      Networks <https://openreview.net/forum?id=ILfaCkSNXHH>`_, NeurIPS 2021;
      Kingma and Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, ICLR 2015;
      Loshchilov and Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019.
    """
    for value, name in ((learning_rate, "learning_rate"), (l1, "l1")):
        check_coefficient(value, name)
    check_coefficient(weight_decay, "weight_decay")
    _check_static(eps, "eps")
    _check_static(b1, "b1", upper=1)
    _check_static(b2, "b2", upper=1)

    def value_at(hyperparameter, count):
        return hyperparameter(count) if callable(hyperparameter) else hyperparameter

    def init_fn(params):
        mu = optax.tree.zeros_like(params)
        return ProximalAdamState(jnp.zeros([], jnp.int32), mu, optax.tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = optax.safe_increment(state.count)
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        nu_hat = optax.tree.bias_correction(nu, b2, count)
        lr = value_at(learning_rate, state.count)
        lam = value_at(l1, state.count)
        decay = value_at(weight_decay, state.count)
        no_l1, no_decay = is_static_zero(lam), is_static_zero(decay)

        def step(m, v, w):
            wide = wide_float(w.dtype)
            w_wide = w.astype(wide)
            denom = jnp.sqrt(v.astype(wide)) + jnp.asarray(eps, wide)
            if no_l1:
                direction = m.astype(wide) / denom
            else:  # one division for both the step and the threshold
                inverse = 1 / denom
                direction = m.astype(wide) * inverse
            if not no_decay:
                direction = direction + jnp.asarray(decay, wide) * w_wide
            lr_wide = jnp.asarray(lr, wide)
            if no_l1:
                return (-lr_wide * direction).astype(w.dtype)
            z = w_wide - lr_wide * direction
            shrunk = soft_threshold(z, lr_wide * jnp.asarray(lam, wide) * inverse)
            return (shrunk - w_wide).astype(w.dtype)

        new_updates = jax.tree.map(
            lambda u, m, v, w: step(m, v, w) if is_float_array(w) else u,
            updates,
            mu_hat,
            nu_hat,
            params,
        )
        mu = optax.tree.cast_like(mu, state.mu)
        nu = optax.tree.cast_like(nu, state.nu)
        return new_updates, ProximalAdamState(count, mu, nu)

    return optax.GradientTransformation(init_fn, update_fn)


def adam_l1(
    learning_rate: optax.ScalarOrSchedule,
    l1: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: optax.ScalarOrSchedule = 0.0,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Adam (AdamW when ``weight_decay > 0``) with proximal L1 scaled by its preconditioner.

    The optimizer of :func:`proximal_adam` where ``mask`` selects the leaves that get L1
    and weight decay; every other leaf gets plain :func:`optax.adam` with the same
    hyperparameters (it *is* ``optax.adam`` there). Both halves delegate to
    :func:`optax.masked`, with complementary masks.

    Args:
      learning_rate: :math:`\eta`, a float or an Optax schedule.
      l1: :math:`\lambda \ge 0`, the L1 coefficient per example for a mean loss, a
        float or an Optax schedule.
      b1: decay of the first moment.
      b2: decay of the second moment.
      eps: added to :math:`\sqrt{\hat v}`.
      weight_decay: AdamW's decoupled weight decay on the selected leaves.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one: ``True`` where L1 and weight decay apply.
        :func:`optax_l1.skip_biases` keeps biases and norm scales plain Adam.

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = {"kernel": jnp.array([[0.05, -1.0]]), "bias": jnp.array([0.05])}
      >>> tx = optax_l1.adam_l1(0.1, l1=0.05, mask=optax_l1.skip_biases)
      >>> state = tx.init(params)
      >>> grads = {"kernel": jnp.array([[0.1, 0.1]]), "bias": jnp.array([0.1])}
      >>> updates, state = tx.update(grads, state, params)
      >>> new = optax.apply_updates(params, updates)
      >>> [round(float(x), 4) for x in new["kernel"][0]], round(float(new["bias"][0]), 4)
      ([0.0, -1.05], -0.05)

    References:
      Yun, Lozano and Yang, `Adaptive Proximal Gradient Methods for Structured Neural
      Networks <https://openreview.net/forum?id=ILfaCkSNXHH>`_, NeurIPS 2021.
    """
    prox = proximal_adam(learning_rate, l1, b1, b2, eps, weight_decay)
    if mask is None:
        return prox
    return optax.chain(
        optax.masked(prox, mask),
        optax.masked(optax.adam(learning_rate, b1, b2, eps), complement(mask)),
    )
