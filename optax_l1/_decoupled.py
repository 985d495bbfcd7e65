"""Decoupled L1: each weight moves toward zero by a constant, apart from the gradient step."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from optax_l1._elementwise import per_weight_transform
from optax_l1._masks import MaskOrFn


def _decay_toward_zero(u, w, d):
    # For d >= 0, clip(w, -d, d) is sign(w) * min(|w|, d) bitwise (signed zeros, NaN)
    # in two operations instead of four: measurably cheaper on CPU.
    return u - jnp.clip(w, -d, d)


def l1_sign_decay(
    decay: optax.ScalarOrSchedule,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Moves every weight toward zero by ``decay`` per step, apart from the gradient step.

    This is L1 regularization *decoupled* from the optimizer, the L1 counterpart of
    AdamW's decoupled weight decay. Place it **after** the learning-rate scaling, where
    the updates are already steps to be added to the parameters. It adds

    .. math::

      u_t \leftarrow u_t - \mathrm{sign}(w_t)\,\min(|w_t|, d),

    that is :math:`-d\,\mathrm{sign}(w_t)` for every weight with :math:`|w_t| \ge d`,
    and for smaller weights exactly the step that takes them to zero: the decay never
    carries a weight across zero and never moves it by more than :math:`d`.

    With plain SGD, ``chain(sgd(lr), l1_sign_decay(lr * lam))`` takes the same steps
    as ``chain(add_l1_gradient(lam), sgd(lr))`` while every weight stays at least
    ``lr * lam`` away from zero (where the subgradient step would overshoot zero, this
    one stops at it). Under momentum or Adam the two differ: here the penalty never
    enters the optimizer's moments. To follow a learning-rate schedule, pass a
    schedule ``lambda step: lr_schedule(step) * lam``.

    Args:
      decay: the distance :math:`d \ge 0` each weight moves toward zero per step, a
        float or an Optax schedule of the step count.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one, as in :func:`optax.masked`: ``True`` where L1
        applies. :func:`optax_l1.skip_biases` skips biases and norm scales.

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Raises:
      ValueError: if ``decay`` is negative, NaN or infinite.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([2.0, -2.0, 0.125])
      >>> tx = optax.chain(optax.sgd(learning_rate=0.5), optax_l1.l1_sign_decay(0.25))
      >>> state = tx.init(params)
      >>> grads = jnp.zeros(3)
      >>> updates, state = tx.update(grads, state, params)
      >>> optax.apply_updates(params, updates)
      Array([ 1.75, -1.75,  0.  ], dtype=float32)

    References:
      Loshchilov and Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019 (the decoupling);
      Langford, Li and Zhang, `Sparse Online Learning via Truncated Gradient
      <https://jmlr.org/papers/v10/langford09a.html>`_, JMLR 2009 (stopping at zero).
    """
    return per_weight_transform(_decay_toward_zero, decay, "decay", mask)
