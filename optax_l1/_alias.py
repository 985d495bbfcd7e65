"""Optimizers with L1 built in, that derive each step's threshold from the learning rate."""

from __future__ import annotations

from collections.abc import Callable

import optax

from optax_l1._coupled import add_l1_gradient
from optax_l1._cumulative import l1_cumulative_penalty
from optax_l1._decoupled import l1_sign_decay
from optax_l1._masks import MaskOrFn
from optax_l1._proximal import l1_soft_threshold
from optax_l1._validation import check_coefficient

SGD_L1_METHODS = ("cumulative", "proximal", "decoupled", "subgradient")


def per_step_threshold(
    learning_rate: optax.ScalarOrSchedule, l1: optax.ScalarOrSchedule
) -> optax.ScalarOrSchedule:
    """``learning_rate * l1`` at each step: a float when both are floats, else a schedule."""
    if not callable(learning_rate) and not callable(l1):
        return learning_rate * l1

    def at(count):
        lr = learning_rate(count) if callable(learning_rate) else learning_rate
        return lr * (l1(count) if callable(l1) else l1)

    return at


def sgd_l1(
    learning_rate: optax.ScalarOrSchedule,
    l1: optax.ScalarOrSchedule,
    momentum: float | None = None,
    nesterov: bool = False,
    method: str = "cumulative",
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""SGD (optionally with momentum) with L1 regularization of strength ``l1``.

    Minimizes :math:`\mathrm{loss}(w) + \lambda \|w\|_1` where the loss is a mean over
    the batch, so :math:`\lambda` = ``l1`` is per example (for a penalty
    :math:`C\|w\|_1` on a sum over a data set of ``N`` examples, ``l1 = C / N``). The
    per-step threshold :math:`\eta_t \lambda_t` is derived here, following a
    learning-rate schedule when one is given. ``method`` picks how L1 is applied:

    ============== ===================================================== ============
    method         chain                                                 exact zeros
    ============== ===================================================== ============
    "cumulative"   ``sgd``, then :func:`l1_cumulative_penalty` (η·λ)      yes
    "proximal"     ``sgd``, then :func:`l1_soft_threshold` (η·λ)          yes
    "decoupled"    ``sgd``, then :func:`l1_sign_decay` (η·λ)              no
    "subgradient"  :func:`add_l1_gradient` (λ), then ``sgd``              no
    ============== ===================================================== ============

    The cumulative penalty is the default because it sparsifies best under minibatch
    noise. With momentum, the proximal methods apply L1 to the momentum step (the
    threshold is still η·λ per step), and the subgradient one feeds λ·sign(w) into the
    momentum.

    Args:
      learning_rate: :math:`\eta`, a float or an Optax schedule.
      l1: :math:`\lambda \ge 0`, a float or an Optax schedule.
      momentum: heavy-ball momentum decay, or None for plain SGD.
      nesterov: use Nesterov momentum.
      method: one of ``"cumulative"``, ``"proximal"``, ``"decoupled"``,
        ``"subgradient"``.
      mask: where L1 applies, as in :func:`optax.masked` (a pytree of bools, a prefix
        of one, or a callable); other leaves get plain SGD.

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Raises:
      ValueError: for an unknown ``method``, or a negative, NaN or infinite
        ``learning_rate`` or ``l1``.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([1.0, -0.01])
      >>> tx = optax_l1.sgd_l1(learning_rate=0.1, l1=0.5)
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.zeros(2), state, params)
      >>> optax.apply_updates(params, updates)
      Array([0.95, 0.  ], dtype=float32)

    References:
      Tsuruoka, Tsujii and Ananiadou, `Stochastic Gradient Descent Training for
      L1-regularized Log-linear Models with Cumulative Penalty
      <https://aclanthology.org/P09-1054/>`_, ACL 2009;
      Duchi and Singer, `Efficient Online and Batch Learning using Forward Backward
      Splitting <https://jmlr.org/papers/v10/duchi09a.html>`_, JMLR 2009.
    """
    if method not in SGD_L1_METHODS:
        raise ValueError(f"`method` must be one of {SGD_L1_METHODS}; got {method!r}")
    check_coefficient(learning_rate, "learning_rate")
    check_coefficient(l1, "l1")
    sgd = optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov)
    if method == "subgradient":
        return optax.chain(add_l1_gradient(l1, mask=mask), sgd)
    after_step: dict[str, Callable[..., optax.GradientTransformation]] = {
        "cumulative": l1_cumulative_penalty,
        "proximal": l1_soft_threshold,
        "decoupled": l1_sign_decay,
    }
    return optax.chain(sgd, after_step[method](per_step_threshold(learning_rate, l1), mask=mask))
