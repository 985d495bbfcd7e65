"""SGD with L1 built in: one ``l1`` and one ``learning_rate`` for every method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import optax

from optax_l1._coupled import add_l1_gradient
from optax_l1._cumulative import l1_cumulative_penalty
from optax_l1._decoupled import l1_sign_decay
from optax_l1._masks import MaskOrFn
from optax_l1._proximal import l1_soft_threshold
from optax_l1._validation import check_coefficient, check_in_range, is_static_zero

SgdL1Method = Literal["cumulative", "proximal", "decoupled", "subgradient"]
SGD_L1_METHODS: tuple[SgdL1Method, ...] = get_args(SgdL1Method)


def sgd_l1(
    learning_rate: optax.ScalarOrSchedule,
    l1: optax.ScalarOrSchedule,
    momentum: float | None = None,
    nesterov: bool = False,
    method: SgdL1Method = "cumulative",
    mask: MaskOrFn | None = None,
    l2: optax.ScalarOrSchedule = 0.0,
) -> optax.GradientTransformation:
    r"""SGD (optionally with momentum) with L1 regularization of strength ``l1``.

    Minimizes :math:`\mathrm{loss}(w) + \lambda \|w\|_1` where the loss is a mean over
    the batch, so :math:`\lambda` = ``l1`` is per example (for a penalty
    :math:`C\|w\|_1` on a sum over a data set of ``N`` examples, ``l1 = C / N``). Every
    method below takes the same ``l1`` and ``learning_rate``: swapping one for another
    never needs ``l1`` rescaled. ``method`` picks how L1 is applied:

    ============== =========================================================== ===========
    method         chain                                                       exact zeros
    ============== =========================================================== ===========
    "cumulative"   ``sgd``, then :func:`l1_cumulative_penalty`                 yes
    "proximal"     ``sgd``, then :func:`l1_soft_threshold`                     yes
    "decoupled"    ``sgd``, then :func:`l1_sign_decay`                         no
    "subgradient"  :func:`add_l1_gradient`, then ``sgd``                        no
    ============== =========================================================== ===========

    The cumulative penalty is the default because it sparsifies best under minibatch
    noise. With momentum, the proximal methods apply L1 to the momentum step (the
    threshold is still :math:`\eta_t\lambda` per step), and the subgradient one feeds
    :math:`\lambda\,\mathrm{sign}(w)` into the momentum.

    With ``l2`` = :math:`\lambda_2 > 0` (methods ``"proximal"`` and ``"cumulative"``) the
    objective is the elastic net :math:`\mathrm{loss} + \lambda\|w\|_1 +
    \tfrac{\lambda_2}{2}\|w\|^2`, and the prox each step is
    :math:`S_{\eta\lambda}(z)/(1 + \eta\lambda_2)`. scikit-learn's
    ``ElasticNet(alpha, l1_ratio)`` (and ``SGDRegressor(penalty='elasticnet')``) is
    ``l1 = alpha * l1_ratio``, ``l2 = alpha * (1 - l1_ratio)``; TensorFlow's
    ``ProximalGradientDescentOptimizer(l1_regularization_strength=l1,
    l2_regularization_strength=l2)`` uses the same convention.

    Args:
      learning_rate: :math:`\eta`, a float or an Optax schedule.
      l1: :math:`\lambda \ge 0`, a float or an Optax schedule.
      momentum: heavy-ball momentum decay in [0, 1), or None for plain SGD.
      nesterov: use Nesterov momentum.
      method: one of ``"cumulative"``, ``"proximal"``, ``"decoupled"``,
        ``"subgradient"``.
      mask: where L1 applies, as in :func:`optax.masked` (a pytree of bools, a prefix
        of one, or a callable); other leaves get plain SGD.
      l2: :math:`\lambda_2 \ge 0`, the elastic-net L2 term (``"proximal"`` and
        ``"cumulative"`` only).

    Returns:
      An :class:`optax.GradientTransformation`. Its ``update`` needs ``params``.

    Raises:
      ValueError: for an unknown ``method``; a negative, NaN, infinite or non-scalar
        ``learning_rate``, ``l1`` or ``l2``; ``momentum`` outside [0, 1); ``l2`` with a
        method that has no prox.

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
    check_coefficient(l2, "l2")
    if momentum is not None:
        check_in_range(momentum, "momentum", 0.0, 1.0)
    if not is_static_zero(l2) and method not in ("proximal", "cumulative"):
        raise ValueError(
            f"`l2` is the elastic-net term of the prox: methods 'proximal' and "
            f"'cumulative' take it; method {method!r} has no prox (add "
            "`optax.add_decayed_weights(l2)` before the optimizer for a coupled L2)"
        )
    sgd = optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov)
    if method == "subgradient":
        return optax.chain(add_l1_gradient(l1, mask=mask), sgd)
    if method == "decoupled":
        return optax.chain(sgd, l1_sign_decay(l1, learning_rate=learning_rate, mask=mask))
    after: Callable[..., optax.GradientTransformation] = (
        l1_soft_threshold if method == "proximal" else l1_cumulative_penalty
    )
    return optax.chain(sgd, after(l1, learning_rate=learning_rate, l2=l2, mask=mask))
