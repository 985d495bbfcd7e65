"""Coupled L1: the subgradient of ``l1 * sum|w|`` added to the gradient."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from optax_l1._elementwise import per_weight_transform
from optax_l1._masks import MaskOrFn


def _add_subgradient(u, w, c):
    return u + c * jnp.sign(w)


def add_l1_gradient(
    l1: optax.ScalarOrSchedule,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Adds the L1 subgradient ``l1 * sign(w)`` to the incoming gradients.

    This is L1 regularization *coupled* to the optimizer: the penalty becomes part of
    the gradient, exactly as if ``l1 * sum(|w|)`` had been added to the loss.
    Place it **before** the optimizer, where the updates are still gradients:

    .. math::

      g_t \leftarrow g_t + \lambda \, \mathrm{sign}(w_t), \qquad
      \mathrm{sign}(0) = 0.

    Under momentum or Adam the penalty enters the moment estimates (and, under Adam,
    is divided by the second moment); use :func:`l1_sign_decay` to keep it out of
    them. Subgradient L1 never produces exact zeros: weights chatter around zero with
    an amplitude of about ``learning_rate * (l1 + |g|)``. It takes no learning rate:
    it acts on gradients, before the optimizer scales them.

    ``l1`` is :math:`\lambda` in ``mean_batch_loss + λ‖w‖₁``, as everywhere in this
    library: the penalty per example (to regularize a sum over a data set of ``N``
    examples by ``C‖w‖₁``, pass ``C / N``). The penalty is computed at the wider of the
    gradient's and the parameter's precision and returned in it, as
    :func:`optax.add_decayed_weights` does: with bfloat16 gradients for float32 params
    a small ``l1`` is not rounded away.

    Args:
      l1: the L1 strength :math:`\lambda \ge 0`, a float or an Optax schedule of the
        step count.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one, as in :func:`optax.masked`: ``True`` where L1
        applies. :func:`optax_l1.skip_biases` skips biases and norm scales.

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Raises:
      ValueError: if ``l1`` is negative, NaN, infinite or not a real scalar (for a
        schedule: its value at step 0); from ``init``, for complex parameters; from
        ``update``, without ``params`` or for updates shaped unlike the params.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([2.0, -2.0, 0.0])
      >>> tx = optax.chain(optax_l1.add_l1_gradient(0.5), optax.sgd(learning_rate=0.5))
      >>> state = tx.init(params)
      >>> grads = jnp.zeros(3)
      >>> updates, state = tx.update(grads, state, params)
      >>> optax.apply_updates(params, updates)
      Array([ 1.75, -1.75,  0.  ], dtype=float32)

    References:
      Tibshirani, `Regression Shrinkage and Selection via the Lasso
      <https://doi.org/10.1111/j.2517-6161.1996.tb02080.x>`_, JRSS B 1996.
    """
    return per_weight_transform(
        _add_subgradient, {"l1": l1}, None, mask, "add_l1_gradient", needs_learning_rate=False
    )
