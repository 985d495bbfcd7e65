"""Proximal L1 (FOBOS / ISTA): soft-thresholding after the gradient step, exact zeros."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from optax_l1._elementwise import per_weight_transform
from optax_l1._masks import MaskOrFn
from optax_l1._validation import check_coefficient, is_static_zero


def clip_symmetric(x, bound):
    """``clip(x, -bound, bound)`` for ``bound >= 0``, with the one-sided derivative at 0.

    ``jnp.clip`` splits the derivative between its two bounds where they tie (at a bound
    of zero), so the derivative with respect to ``bound`` at 0 would be halved or lost;
    selecting with strict comparisons keeps it (and is bitwise ``jnp.clip`` in value,
    NaN and signed zeros included).
    """
    return jnp.where(x > bound, bound, jnp.where(x < -bound, -bound, x))


def soft_threshold(z, t):
    """``sign(z) * max(|z| - t, 0)``, the proximal operator of ``t * |.|``."""
    return jnp.sign(z) * jnp.maximum(jnp.abs(z) - t, 0)


def elastic_net_prox(z, t1, t2=None):
    """``S_t1(z) / (1 + t2)``: the prox of ``t1 |.| + (t2 / 2) (.)^2`` (``t2`` None: 0)."""
    shrunk = soft_threshold(z, t1)
    return shrunk if t2 is None else shrunk / (1 + t2)


def preconditioned_prox(z, step, l1=None, l2=None):
    r"""The prox of ``step * (l1 |.| + (l2 / 2) (.)^2)`` at ``z``, per coordinate.

    ``step`` is the optimizer's per-coordinate step size (``η`` for SGD, ``η / D`` for
    Adam's or Adagrad's preconditioner ``D``); ``None`` leaves a term out. This is the
    building block of :func:`proximal_adam` and :func:`proximal_adagrad`: the elastic-net
    prox :math:`S_{\text{step}\,\lambda_1}(z) / (1 + \text{step}\,\lambda_2)`.
    """
    out = z if l1 is None else soft_threshold(z, step * l1)
    return out if l2 is None else out / (1 + step * l2)


def _threshold_step(u, w, t):
    return soft_threshold(w + u, t) - w


def _elastic_net_step(u, w, t1, t2):
    return elastic_net_prox(w + u, t1, t2) - w


def l1_soft_threshold(
    l1: optax.ScalarOrSchedule,
    *,
    learning_rate: optax.ScalarOrSchedule,
    l2: optax.ScalarOrSchedule = 0.0,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Soft-thresholds the parameters after the optimizer's step: the L1 proximal step.

    Place it **last** in a chain, after the learning-rate scaling, with the same
    learning rate as the host optimizer. With :math:`z = w + u` the parameter the
    optimizer's step would give and :math:`t_t = \eta_t\lambda_t` the per-step
    threshold, it returns the update :math:`S_{t}(z) - w`, so that after
    ``optax.apply_updates`` the parameter is

    .. math::

      S_t(z) = \mathrm{sign}(z)\,\max(|z| - t, 0)
             = \arg\min_x \tfrac{1}{2\eta} \|x - z\|_2^2 + \lambda\,\|x\|_1 .

    With ``l2`` = :math:`\lambda_2 > 0` it is the elastic-net prox, the minimizer of
    :math:`\tfrac{1}{2\eta}\|x - z\|^2 + \lambda\|x\|_1 + \tfrac{\lambda_2}{2}\|x\|^2`:
    :math:`S_t(z) / (1 + \eta_t\lambda_2)`. (That is TensorFlow's
    ``ProximalGradientDescentOptimizer(learning_rate, l1, l2)``, whose ``l2`` also
    multiplies :math:`\|w\|^2/2`; scikit-learn's ``ElasticNet(alpha, l1_ratio)`` is
    ``l1 = alpha * l1_ratio``, ``l2 = alpha * (1 - l1_ratio)``.)

    Entries that reach zero are exactly (bitwise) zero: ``w + (0 - w) == 0`` in IEEE
    arithmetic. With plain SGD this is FOBOS (Duchi and Singer), and with full-batch
    gradients and ``learning_rate = 1/L`` it is ISTA, whose fixed point is the lasso
    solution of :math:`\frac{1}{2n}\|Xw - y\|^2 + \lambda\|w\|_1`. Under noisy
    minibatch gradients many weights hover just off zero;
    :func:`l1_cumulative_penalty` handles that case.

    Args:
      l1: the L1 strength :math:`\lambda \ge 0` of ``mean_batch_loss + λ‖w‖₁``, a
        float or an Optax schedule.
      learning_rate: :math:`\eta`, the host optimizer's learning rate (a float or the
        same Optax schedule): the threshold per step is ``learning_rate * l1``.
      l2: :math:`\lambda_2 \ge 0`, an L2 term :math:`\tfrac{\lambda_2}{2}\|w\|^2` in
        the same prox (elastic net), a float or an Optax schedule.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one, as in :func:`optax.masked`: ``True`` where L1
        applies.

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Raises:
      ValueError: if ``l1``, ``l2`` or ``learning_rate`` is negative, NaN, infinite or
        not a real scalar (for a schedule: its value at step 0); from ``init``, for
        complex parameters; from ``update``, without ``params`` or for updates shaped
        unlike the params.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([1.0, -1.0, 0.25])
      >>> tx = optax.chain(
      ...     optax.sgd(learning_rate=1.0),
      ...     optax_l1.l1_soft_threshold(0.5, learning_rate=1.0),
      ... )
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([0.5, 0.0, 0.0]), state, params)
      >>> optax.apply_updates(params, updates)
      Array([ 0. , -0.5,  0. ], dtype=float32)

    References:
      Duchi and Singer, `Efficient Online and Batch Learning using Forward Backward
      Splitting <https://jmlr.org/papers/v10/duchi09a.html>`_, JMLR 2009;
      Beck and Teboulle, `A Fast Iterative Shrinkage-Thresholding Algorithm for Linear
      Inverse Problems <https://doi.org/10.1137/080716542>`_, SIAM J. Imaging Sci. 2009;
      Zou and Hastie, `Regularization and Variable Selection via the Elastic Net
      <https://doi.org/10.1111/j.1467-9868.2005.00503.x>`_, JRSS B 2005.
    """
    check_coefficient(l2, "l2")
    rule: Callable[..., jax.Array] = _elastic_net_step
    strengths = {"l1": l1, "l2": l2}
    if is_static_zero(l2):
        strengths, rule = {"l1": l1}, _threshold_step
    return per_weight_transform(
        rule, strengths, learning_rate, mask, "l1_soft_threshold", lands_on_param=True
    )
