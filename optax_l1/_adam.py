"""Proximal Adam (ProxGen): L1 whose threshold follows Adam's per-coordinate step size."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optax_l1._elementwise import (
    NO_PARAMS_MSG,
    Outputs,
    as_float_leaf,
    check_real_params,
    map_outputs,
    value_at,
    wide_float,
)
from optax_l1._masks import MaskOrFn, complement, is_float_leaf, with_mask
from optax_l1._proximal import preconditioned_prox
from optax_l1._schedule_free import refuse_inside_schedule_free
from optax_l1._validation import check_coefficient, check_in_range, is_static_zero


class ProximalAdamState(NamedTuple):
    """State of :func:`proximal_adam`: Adam's moments and the step count."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32; indexes schedules
    mu: Any  # like params; first moment
    nu: Any  # like params; second moment


def check_adam_hyperparameters(b1: Any, b2: Any, eps: Any) -> None:
    """``b1``, ``b2`` in [0, 1) and ``eps`` in (0, inf): static numbers, not schedules."""
    check_in_range(b1, "b1", 0.0, 1.0)
    check_in_range(b2, "b2", 0.0, 1.0)
    check_in_range(eps, "eps", 0.0, float("inf"), low_open=True)


def _zeros_like_float(params: Any) -> Any:
    return jax.tree.map(
        lambda w: jnp.zeros(jnp.shape(w), jnp.asarray(w).dtype) if is_float_leaf(w) else None,
        params,
    )


def proximal_adam(
    learning_rate: optax.ScalarOrSchedule,
    l1: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: optax.ScalarOrSchedule = 0.0,
    l2: optax.ScalarOrSchedule = 0.0,
) -> optax.GradientTransformation:
    r"""Adam followed by a soft-threshold scaled by Adam's own preconditioner (ProxGen).

    A complete optimizer step in one transform: it takes gradients (put clipping or any
    other gradient transform before it) and returns the updates to add to the params.
    With Adam's bias-corrected moments :math:`\hat m, \hat v` and
    :math:`D = \sqrt{\hat v} + \epsilon`, each coordinate does

    .. math::

      z = w - \eta\,\bigl(\hat m / D + \mu\, w\bigr), \qquad
      w' = \frac{S_{\eta\lambda / D}(z)}{1 + \eta\lambda_2 / D}
         = \arg\min_x \tfrac{1}{2\eta} D\,(x - z)^2 + \lambda |x|
           + \tfrac{\lambda_2}{2} x^2,

    the proximal step of :math:`\lambda\|w\|_1 + \tfrac{\lambda_2}{2}\|w\|^2` in the
    metric Adam preconditions with (:math:`\mu` is AdamW's decoupled weight decay). A
    fixed threshold :math:`\eta\lambda` would be tiny next to Adam's per-coordinate steps
    :math:`\eta \hat m / D`; dividing it by :math:`D` too keeps L1 in proportion, so
    exact zeros appear at a usable :math:`\lambda`. It returns :math:`w' - w`, so zeros
    land bitwise. With ``l1 = l2 = weight_decay = 0`` it is Adam.

    **Coordinates with no gradient yet.** Where :math:`\hat v = 0` (a coordinate whose
    gradient has always been zero: an embedding row not yet in any batch, a layer just
    loaded and not yet reached, an input that is constant zero) the metric :math:`D =
    \epsilon` is an artefact, not an estimate, and the threshold :math:`\eta\lambda /
    \epsilon` would wipe the weight out at once. Such coordinates get no proximal step
    (Adam does not move them either: :math:`\hat m = 0`); the weight decay still
    applies. Their L1 starts with their first nonzero gradient. This is the lazy rule
    of TensorFlow's sparse proximal updates and scikit-learn's lazy L1 penalty: L1 acts
    where the data says something.

    It regularizes every leaf it sees. To keep biases and norm scales out (while they
    still train with Adam), use :func:`adam_l1` with a ``mask``.

    Args:
      learning_rate: :math:`\eta`, a float or an Optax schedule.
      l1: :math:`\lambda \ge 0` of ``mean_batch_loss + λ‖w‖₁``, a float or an Optax
        schedule.
      b1: decay of the first moment, in [0, 1).
      b2: decay of the second moment, in [0, 1).
      eps: :math:`\epsilon > 0`, added to :math:`\sqrt{\hat v}`.
      weight_decay: :math:`\mu \ge 0`, AdamW's decoupled weight decay, a float or an
        Optax schedule.
      l2: :math:`\lambda_2 \ge 0`, an L2 term :math:`\tfrac{\lambda_2}{2}\|w\|^2` in the
        same preconditioned prox (elastic net), a float or an Optax schedule.

    Returns:
      An :class:`optax.GradientTransformation` with a :class:`ProximalAdamState`. Its
      ``update`` needs ``params``.

    Raises:
      ValueError: for a negative, NaN, infinite or non-scalar ``learning_rate``, ``l1``,
        ``l2`` or ``weight_decay``, ``b1``/``b2`` outside [0, 1), ``eps`` not positive;
        from ``init``, for complex parameters; from ``update``, without ``params``, for
        updates shaped unlike the params, or inside ``optax.contrib.schedule_free``.

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
    for value, name in (
        (learning_rate, "learning_rate"),
        (l1, "l1"),
        (l2, "l2"),
        (weight_decay, "weight_decay"),
    ):
        check_coefficient(value, name)
    check_adam_hyperparameters(b1, b2, eps)

    def init_fn(params):
        check_real_params(params, "proximal_adam")
        mu, nu = _zeros_like_float(params), _zeros_like_float(params)
        return ProximalAdamState(jnp.zeros([], jnp.int32), mu, nu)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        refuse_inside_schedule_free("proximal_adam")
        count = optax.safe_increment(state.count)
        lr = value_at(learning_rate, state.count)
        lam, lam2 = value_at(l1, state.count), value_at(l2, state.count)
        decay = value_at(weight_decay, state.count)
        no_l1, no_l2, no_decay = is_static_zero(lam), is_static_zero(lam2), is_static_zero(decay)

        def step(path, u, m, v, w):
            arrays = as_float_leaf(path, u, w, "proximal_adam")
            if arrays is None or m is None:
                return Outputs(u, m, v)
            g, w = arrays
            wide = wide_float(w.dtype)
            g_wide = g.astype(wide)
            # Adam's moments and bias corrections, as optax.scale_by_adam computes them.
            m = ((1 - b1) * g_wide + b1 * m.astype(wide)).astype(m.dtype)
            v = ((1 - b2) * (g_wide * g_wide) + b2 * v.astype(wide)).astype(v.dtype)
            m_hat = m.astype(wide) / (1 - b1**count).astype(wide)
            v_hat = v.astype(wide) / (1 - b2**count).astype(wide)
            w_wide = w.astype(wide)
            denom = jnp.sqrt(v_hat) + jnp.asarray(eps, wide)
            lr_wide = jnp.asarray(lr, wide)
            if no_l1 and no_l2:
                direction = m_hat / denom
            else:  # one division for the step and the thresholds
                inverse = 1 / denom
                direction = m_hat * inverse
            if not no_decay:
                direction = direction + jnp.asarray(decay, wide) * w_wide
            if no_l1 and no_l2:
                return Outputs((-lr_wide * direction).astype(w.dtype), m, v)
            z = w_wide - lr_wide * direction
            # No gradient yet (v = 0): no prox, see the docstring.
            step_size = jnp.where(v_hat > 0, lr_wide * inverse, 0)
            shrunk = preconditioned_prox(
                z,
                step_size,
                None if no_l1 else jnp.asarray(lam, wide),
                None if no_l2 else jnp.asarray(lam2, wide),
            )
            return Outputs((shrunk - w_wide).astype(w.dtype), m, v)

        new_updates, mu, nu = map_outputs(step, 3, updates, state.mu, state.nu, params)
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
    l2: optax.ScalarOrSchedule = 0.0,
) -> optax.GradientTransformation:
    r"""Adam (AdamW when ``weight_decay > 0``) with proximal L1 scaled by its preconditioner.

    The optimizer of :func:`proximal_adam` where ``mask`` selects the leaves that get L1,
    L2 and weight decay; every other floating-point leaf gets plain :func:`optax.adam`
    with the same hyperparameters (it *is* ``optax.adam`` there). Both halves delegate
    to :func:`optax.masked`, with complementary masks. Coordinates that have had no
    gradient yet get no proximal step (see :func:`proximal_adam`).

    Args:
      learning_rate: :math:`\eta`, a float or an Optax schedule.
      l1: :math:`\lambda \ge 0` of ``mean_batch_loss + λ‖w‖₁``, a float or an Optax
        schedule.
      b1: decay of the first moment.
      b2: decay of the second moment.
      eps: added to :math:`\sqrt{\hat v}`.
      weight_decay: AdamW's decoupled weight decay on the selected leaves.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one: ``True`` where L1 and weight decay apply.
        :func:`optax_l1.skip_biases` keeps biases and norm scales plain Adam.
      l2: :math:`\lambda_2 \ge 0`, an L2 term in the same prox (elastic net).

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Raises:
      ValueError: as :func:`proximal_adam`; and when ``mask`` does not fit the params
        (at ``init``) or is an array (``inject_hyperparams`` without ``static_args``).

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
    prox = proximal_adam(learning_rate, l1, b1, b2, eps, weight_decay, l2)
    if mask is None:
        return prox
    return optax.chain(
        with_mask(prox, mask, "adam_l1"),
        optax.masked(optax.adam(learning_rate, b1, b2, eps), complement(mask)),
    )
