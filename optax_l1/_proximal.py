"""Proximal L1 (FOBOS / ISTA): soft-thresholding after the gradient step, exact zeros."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from optax_l1._elementwise import per_weight_transform
from optax_l1._masks import MaskOrFn


def soft_threshold(z, t):
    """``sign(z) * max(|z| - t, 0)``, the proximal operator of ``t * |.|``."""
    return jnp.sign(z) * jnp.maximum(jnp.abs(z) - t, 0)


def _threshold_step(u, w, t):
    return soft_threshold(w + u, t) - w


def l1_soft_threshold(
    threshold: optax.ScalarOrSchedule,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Soft-thresholds the parameters after the optimizer's step: the L1 proximal step.

    Place it **last** in a chain. With :math:`z = w + u` the parameter the optimizer's
    step would give, it returns the update :math:`S_t(z) - w`, so that after
    ``optax.apply_updates`` the parameter is

    .. math::

      S_t(z) = \mathrm{sign}(z)\,\max(|z| - t, 0)
             = \arg\min_x \tfrac12 \|x - z\|_2^2 + t\,\|x\|_1 .

    Entries that reach zero are exactly (bitwise) zero: ``w + (0 - w) == 0`` in IEEE
    arithmetic. With plain SGD this is FOBOS (Duchi and Singer), and with full-batch
    gradients and ``learning_rate = 1/L`` it is ISTA, whose fixed point is the lasso
    solution of :math:`\frac{1}{2n}\|Xw - y\|^2 + \lambda\|w\|_1` when ``t = λ/L``.

    The threshold is a distance per step: for a penalty :math:`\lambda \|w\|_1` added to
    a loss that is a mean over the batch, use ``threshold = learning_rate * λ`` (and for
    a penalty :math:`C\|w\|_1` on a sum over a data set of ``N`` examples,
    ``λ = C / N``). With a learning-rate schedule pass a schedule,
    ``lambda step: lr_schedule(step) * λ``. Under noisy minibatch gradients many
    weights hover just off zero; :func:`l1_cumulative_penalty` handles that case.

    Args:
      threshold: the threshold :math:`t \ge 0` per step, a float or an Optax schedule.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one, as in :func:`optax.masked`: ``True`` where L1
        applies.

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Raises:
      ValueError: if ``threshold`` is negative, NaN or infinite.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([1.0, -1.0, 0.25])
      >>> tx = optax.chain(optax.sgd(learning_rate=1.0), optax_l1.l1_soft_threshold(0.5))
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([0.5, 0.0, 0.0]), state, params)
      >>> optax.apply_updates(params, updates)
      Array([ 0. , -0.5,  0. ], dtype=float32)

    References:
      Duchi and Singer, `Efficient Online and Batch Learning using Forward Backward
      Splitting <https://jmlr.org/papers/v10/duchi09a.html>`_, JMLR 2009;
      Beck and Teboulle, `A Fast Iterative Shrinkage-Thresholding Algorithm for Linear
      Inverse Problems <https://doi.org/10.1137/080716542>`_, SIAM J. Imaging Sci. 2009.
    """
    return per_weight_transform(_threshold_step, threshold, "threshold", mask, lands_on_param=True)
