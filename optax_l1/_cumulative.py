"""Cumulative L1 penalty (Tsuruoka et al. 2009): exact zeros under noisy minibatches."""

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
    compute_dtype,
    landing_dtype,
    map_outputs,
    per_step_amount,
    wide_float,
)
from optax_l1._masks import MaskOrFn, is_float_leaf, with_mask
from optax_l1._proximal import clip_symmetric, soft_threshold
from optax_l1._schedule_free import refuse_inside_schedule_free
from optax_l1._validation import check_coefficient, is_static_zero


class CumulativePenaltyState(NamedTuple):
    """State of :func:`l1_cumulative_penalty`: a plain pytree of arrays, checkpointable."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32; updates made (indexes the schedules)
    total: jax.Array  # shape=(), float32 (float64 under x64); penalty every weight is owed
    total_error: jax.Array  # shape=(), like total; Kahan compensation for `total`
    unpenalized: Any  # like params, float32 or wider: the weight before this step's penalty


def _charge(u, w, unpenalized, owed_before, total, shrink=None):
    """One weight's step, relative to the live parameter ``w``.

    ``clip(r, -U_prev, U_prev)`` is minus the penalty the weight has received so far
    (``-q`` in the paper), as ``S_U(r) = r - clip(r, -U, U)`` was the parameter the last
    step gave. The new unpenalized weight is the live weight plus that, plus the
    update; the new parameter is it soft-thresholded by the new total. If the params were
    changed between steps (weights loaded, a lookahead sync, a restore), the live value
    is the one that moves: the penalty it was already charged is kept, so it is charged
    only what it still owes.

    A state entry that a non-finite step made NaN is rebuilt from the live weight: a
    nonzero weight has been charged the whole total so far (the paper's rule leaves
    ``q = -U sign(w)`` after every step that ends off zero), a zero one is taken to owe
    the whole total. So restoring finite params after a bad step recovers.

    The new state depends on ``w``, ``u`` and the old state; the new parameter only on
    the new state (and on ``w``, which the returned difference subtracts): XLA then
    reads the new state instead of computing the sum twice.
    """
    dtype = compute_dtype(u, w)
    w_wide, r = w.astype(dtype), unpenalized.astype(dtype)
    owed = owed_before.astype(dtype)
    received = jnp.where(jnp.isnan(r), owed * jnp.sign(w_wide), clip_symmetric(r, owed))
    moved = w_wide + u.astype(dtype) + received
    new_w = soft_threshold(moved, total.astype(dtype))
    if shrink is not None:  # elastic net: the L2 prox on top
        new_w = new_w / (1 + shrink.astype(dtype))
    return (new_w - w_wide).astype(landing_dtype(u, w)), moved.astype(unpenalized.dtype)


def l1_cumulative_penalty(
    l1: optax.ScalarOrSchedule,
    *,
    learning_rate: optax.ScalarOrSchedule,
    l2: optax.ScalarOrSchedule = 0.0,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Applies L1 as a cumulative penalty: exact zeros, robust to minibatch noise.

    The method of Tsuruoka, Tsujii and Ananiadou (2009), which scikit-learn's
    ``SGDClassifier``/``SGDRegressor`` use for ``penalty='l1'``. Place it **last** in a
    chain, after the learning-rate scaling, with the host optimizer's learning rate. The
    state keeps :math:`U`, the total penalty a weight could have received so far, and
    what every weight actually received, :math:`q` (signed). Each step, with
    :math:`t = \eta_t\lambda_t` the penalty of this step and :math:`z = w + u`:

    .. math::

      U &\leftarrow U + t, \\
      w' &= \begin{cases}
          \max(0,\; z - (U + q)) & z > 0 \\
          \min(0,\; z + (U - q)) & z < 0 \\
          0 & z = 0
        \end{cases}, \qquad q \leftarrow q + (w' - z).

    Every weight is charged what it is still owed, and never across zero. A plain
    soft-threshold (:func:`l1_soft_threshold`) charges only :math:`t` per step, so a
    weight that a noisy gradient pushes off zero stays off it; here the debt carries
    over, and such weights go back to exactly zero. The update returned is
    :math:`w' - w`, so zeros land bitwise. With ``l2`` = :math:`\lambda_2 > 0`, the
    weight is then divided by :math:`1 + \eta_t\lambda_2`, the prox of
    :math:`\tfrac{\lambda_2}{2}\|w\|^2` (elastic net; scikit-learn's SGD with
    ``penalty='elasticnet'`` shrinks by the L2 term each step likewise).

    The rule acts on the live parameter :math:`w` it is given: weights loaded or edited
    between steps (a fine-tuning run that loads a checkpoint into a model whose optimizer
    is already built, a lookahead sync, params restored after a bad step) are kept, and
    charged from there what they still owe. While nothing is owed (a zero penalty, a
    warm-up schedule), finite float32 and wider params land where :math:`w + u` would
    (eagerly bitwise; under ``jit`` to an ulp), though the update itself may differ from
    :math:`u` by rounding.

    How it is computed: with :math:`|q| \le U` (which the rules keep), they are exactly
    :math:`w' = S_U(r')` with :math:`r' = w + u - q`, and :math:`q' = -\mathrm{clip}(r',
    -U, U)`. The state keeps :math:`r'` (``unpenalized``), from which the next step
    recovers :math:`q'` with the total it was computed with, so that the new parameter is
    computed from the new state: one pass over memory fewer than computing both from
    the inputs. :math:`U` is summed with Kahan compensation, so it stays exact over
    millions of steps in float32, and :math:`r'` is kept in at least float32 whatever the
    parameters' dtype. A state entry made NaN by a non-finite step is rebuilt from the
    live weight at the next step (see the source's ``_charge``).

    Args:
      l1: the L1 strength :math:`\lambda \ge 0` of ``mean_batch_loss + λ‖w‖₁``, a float
        or an Optax schedule (Tsuruoka's :math:`C/N` for a penalty :math:`C\|w\|_1` on a
        sum over ``N`` examples).
      learning_rate: :math:`\eta`, the host optimizer's learning rate (a float or the
        same Optax schedule): the penalty per step is ``learning_rate * l1``.
      l2: :math:`\lambda_2 \ge 0`, an L2 term :math:`\tfrac{\lambda_2}{2}\|w\|^2`
        applied as a prox after the L1 charge (elastic net), a float or a schedule.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one, as in :func:`optax.masked`: ``True`` where L1
        applies. Only selected leaves get an entry in the state.

    Returns:
      An :class:`optax.GradientTransformation` whose state is a
      :class:`CumulativePenaltyState`. Its ``update`` needs ``params``.

    Raises:
      ValueError: if ``l1``, ``l2`` or ``learning_rate`` is negative, NaN, infinite or not a
        real scalar (for a schedule: its value at step 0); from ``init``, for complex
        parameters; from ``update``, without ``params`` or for updates shaped unlike
        the params.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([1.0, -1.0, 0.0])
      >>> tx = optax.chain(
      ...     optax.sgd(1.0), optax_l1.l1_cumulative_penalty(0.25, learning_rate=1.0)
      ... )
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([0.0, 0.0, -0.5]), state, params)
      >>> optax.apply_updates(params, updates)  # the third weight was 0 and owes 0.25
      Array([ 0.75, -0.75,  0.25], dtype=float32)

    References:
      Tsuruoka, Tsujii and Ananiadou, `Stochastic Gradient Descent Training for
      L1-regularized Log-linear Models with Cumulative Penalty
      <https://aclanthology.org/P09-1054/>`_, ACL 2009.
    """
    check_coefficient(l1, "l1")
    check_coefficient(l2, "l2")
    check_coefficient(learning_rate, "learning_rate")
    with_l2 = not is_static_zero(l2)

    def init_fn(params):
        check_real_params(params, "l1_cumulative_penalty")
        total_dtype = jnp.result_type(float)

        def entry(w):
            if not is_float_leaf(w):
                return None
            w = jnp.asarray(w)
            return jnp.array(w, wide_float(w.dtype), copy=True)

        # Distinct buffers for each field: the state may be donated to a jitted step.
        return CumulativePenaltyState(
            count=jnp.zeros([], jnp.int32),
            total=jnp.zeros([], total_dtype),
            total_error=jnp.zeros([], total_dtype),
            unpenalized=jax.tree.map(entry, params),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        refuse_inside_schedule_free("l1_cumulative_penalty")
        # No shortcut for a zero penalty: the state must follow every update regardless.
        t = per_step_amount(l1, learning_rate, state.count, state.total.dtype)
        correction = t - state.total_error
        total = state.total + correction
        total_error = (total - state.total) - correction
        shrink = None
        if with_l2:
            shrink = per_step_amount(l2, learning_rate, state.count, total.dtype)

        def leaf(path, u, w, r):
            arrays = None if r is None else as_float_leaf(path, u, w, "l1_cumulative_penalty")
            if arrays is None:
                return Outputs(u, r)
            return Outputs(*_charge(*arrays, r, state.total, total, shrink))

        new_updates, unpenalized = map_outputs(leaf, 2, updates, params, state.unpenalized)
        count = optax.safe_increment(state.count)
        return new_updates, CumulativePenaltyState(count, total, total_error, unpenalized)

    return with_mask(
        optax.GradientTransformation(init_fn, update_fn), mask, "l1_cumulative_penalty"
    )
