"""Decoupled L1: each weight moves toward zero by a constant, apart from the gradient step."""

from __future__ import annotations

import optax

from optax_l1._elementwise import per_weight_transform
from optax_l1._masks import MaskOrFn
from optax_l1._proximal import clip_symmetric


def _decay_toward_zero(u, w, d):
    # For d >= 0, clip(w, -d, d) is sign(w) * min(|w|, d) bitwise (signed zeros, NaN),
    # in fewer operations; written with comparisons for the derivative at d = 0.
    return u - clip_symmetric(w, d)


def l1_sign_decay(
    l1: optax.ScalarOrSchedule,
    *,
    learning_rate: optax.ScalarOrSchedule,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Moves every weight toward zero by ``learning_rate * l1`` per step, apart from the step.

    This is L1 regularization *decoupled* from the optimizer, the L1 counterpart of
    AdamW's decoupled weight decay. Place it **after** the learning-rate scaling, where
    the updates are already steps to be added to the parameters. With the per-step
    distance :math:`d_t = \eta_t \lambda_t` it adds

    .. math::

      u_t \leftarrow u_t - \mathrm{sign}(w_t)\,\min(|w_t|, d_t),

    that is :math:`-d_t\,\mathrm{sign}(w_t)` for every weight with :math:`|w_t| \ge d_t`,
    and for smaller weights exactly the step that takes them to zero: the decay never
    carries a weight across zero and never moves it by more than :math:`d_t` (in every
    combination of update and parameter dtypes: it is computed at the wider of the two
    and returned in it).

    With plain SGD, ``chain(sgd(lr), l1_sign_decay(lam, learning_rate=lr))`` takes the
    same steps as ``chain(add_l1_gradient(lam), sgd(lr))`` while every weight stays at
    least ``lr * lam`` away from zero (where the subgradient step would overshoot zero,
    this one stops at it). Under momentum or Adam the two differ: here the penalty never
    enters the optimizer's moments.

    Args:
      l1: the L1 strength :math:`\lambda \ge 0` of ``mean_batch_loss + λ‖w‖₁``, a
        float or an Optax schedule of the step count.
      learning_rate: :math:`\eta`, the host optimizer's learning rate (a float or the
        same Optax schedule), so that each step moves weights by :math:`\eta_t\lambda_t`.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one, as in :func:`optax.masked`: ``True`` where L1
        applies. :func:`optax_l1.skip_biases` skips biases and norm scales.

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Raises:
      ValueError: if ``l1`` or ``learning_rate`` is negative, NaN, infinite or not a
        real scalar (for a schedule: its value at step 0); from ``init``, for complex
        parameters; from ``update``, without ``params`` or for updates shaped unlike
        the params.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([2.0, -2.0, 0.125])
      >>> tx = optax.chain(
      ...     optax.sgd(learning_rate=0.5),
      ...     optax_l1.l1_sign_decay(0.5, learning_rate=0.5),  # 0.25 per step
      ... )
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
    return per_weight_transform(
        _decay_toward_zero, {"l1": l1}, learning_rate, mask, "l1_sign_decay"
    )
