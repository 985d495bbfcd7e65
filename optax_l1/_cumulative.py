"""Cumulative L1 penalty (Tsuruoka et al. 2009): exact zeros under noisy minibatches."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optax_l1._elementwise import NO_PARAMS_MSG, landing_dtype, wide_float
from optax_l1._masks import MaskOrFn, is_float_array, with_mask
from optax_l1._proximal import soft_threshold
from optax_l1._validation import check_coefficient


class CumulativePenaltyState(NamedTuple):
    """State of :func:`l1_cumulative_penalty`: a plain pytree of arrays, checkpointable."""

    count: jax.Array  # shape=(), dtype=jnp.int32; updates made (indexes a schedule)
    total: jax.Array  # shape=(), float32 (float64 under x64); penalty every weight is owed
    total_error: jax.Array  # shape=(), like total; Kahan compensation for `total`
    unpenalized: Any  # like params, float32 or wider: w_0 + the sum of all updates u


def _charge(u, w, unpenalized, total):
    """One weight's step: the new weight is the unpenalized one soft-thresholded by the total.

    Returns the update and the new unpenalized weight. The new parameter depends on the
    old parameter only through the returned difference, and the new state not at all,
    so XLA can write both in place of their (donated) inputs.
    """
    if u is None or unpenalized is None:
        return u, unpenalized
    wide = unpenalized.dtype
    moved = unpenalized + u.astype(wide)
    new_w = soft_threshold(moved, total.astype(wide))
    dtype = landing_dtype(u, w)
    # Not `where(total == 0, u, ...)`: reading u a second time costs a pass over memory
    # (and under Adam, materializing its update). With nothing owed, r == w, and
    # w + ((w + u) - w) rounds to w + u exactly, so finite params still land bitwise.
    return (new_w - w.astype(wide)).astype(dtype), moved


def l1_cumulative_penalty(
    penalty: optax.ScalarOrSchedule,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""Applies L1 as a cumulative penalty: exact zeros, robust to minibatch noise.

    The method of Tsuruoka, Tsujii and Ananiadou (2009), which scikit-learn's
    ``SGDClassifier``/``SGDRegressor`` use for ``penalty='l1'``. Place it **last** in a
    chain. The state keeps :math:`U`, the total penalty a weight could have received so
    far, and for every weight :math:`q`, the (signed) penalty it actually received.
    Each step, with :math:`t` the penalty of this step and :math:`z = w + u`:

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
    :math:`w' - w`, so zeros land bitwise. It is that even while nothing is owed (a
    zero penalty, a warm-up schedule): finite float32 and wider params then land where
    :math:`w + u` would, bitwise (eagerly; under ``jit``, to an ulp), though the update
    itself may differ from :math:`u` by rounding and an infinite param becomes NaN.
    Narrower params (bfloat16, float16) follow the float32 unpenalized weight rounded
    to their dtype, so they differ from a run without the transform.

    How it is computed: with :math:`|q| \le U` (which the rules keep), they are exactly
    :math:`w' = S_U(r')` with :math:`r' = r + u` and :math:`r = w - q`: the weight is the
    *unpenalized* weight :math:`r` (the initial weight plus every update so far)
    soft-thresholded by the total penalty. The state keeps :math:`r`, so that the new
    parameter and the new state are computed from separate inputs and XLA can write
    both in place. As with FTRL or dual averaging, the parameter is recomputed from the
    state each step: changes made to the params outside the optimizer between steps
    (a projection applied after the update, say) are not kept. The penalty a weight
    has received is ``params - state.unpenalized``.

    ``penalty`` is a distance per step: for :math:`\lambda\|w\|_1` on a loss that is a
    mean over the batch, ``penalty = learning_rate * λ`` (Tsuruoka's :math:`\eta_k C/N`
    for a penalty :math:`C\|w\|_1` on a sum over ``N`` examples); pass a schedule to
    follow a learning-rate schedule. ``U`` is summed with Kahan compensation, so it
    stays exact over millions of steps in float32, and ``r`` is kept in at least float32
    whatever the parameters' dtype.

    Args:
      penalty: the penalty :math:`t \ge 0` per step, a float or an Optax schedule.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or
        a callable returning one, as in :func:`optax.masked`: ``True`` where L1
        applies. Only selected leaves get an unpenalized weight in the state.

    Returns:
      An :class:`optax.GradientTransformation` whose state is a
      :class:`CumulativePenaltyState`. Its ``update`` needs ``params``.

    Raises:
      ValueError: if ``penalty`` is negative, NaN or infinite.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([1.0, -1.0, 0.0])
      >>> tx = optax.chain(optax.sgd(1.0), optax_l1.l1_cumulative_penalty(0.25))
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([0.0, 0.0, -0.5]), state, params)
      >>> optax.apply_updates(params, updates)  # the third weight was 0 and owes 0.25
      Array([ 0.75, -0.75,  0.25], dtype=float32)

    References:
      Tsuruoka, Tsujii and Ananiadou, `Stochastic Gradient Descent Training for
      L1-regularized Log-linear Models with Cumulative Penalty
      <https://aclanthology.org/P09-1054/>`_, ACL 2009.
    """
    check_coefficient(penalty, "penalty")

    def init_fn(params):
        total_dtype = jnp.result_type(float)
        unpenalized = jax.tree.map(
            lambda w: jnp.array(w, wide_float(w.dtype), copy=True) if is_float_array(w) else None,
            params,
        )
        # Distinct buffers for each field: the state may be donated to a jitted step.
        return CumulativePenaltyState(
            count=jnp.zeros([], jnp.int32),
            total=jnp.zeros([], total_dtype),
            total_error=jnp.zeros([], total_dtype),
            unpenalized=unpenalized,
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        # No shortcut for a zero penalty: the state must follow every update regardless.
        t = penalty(state.count) if callable(penalty) else penalty
        t = jnp.asarray(t, state.total.dtype)
        correction = t - state.total_error
        total = state.total + correction
        total_error = (total - state.total) - correction

        treedef = jax.tree.structure(updates, is_leaf=lambda x: x is None)
        charged = [
            _charge(u, w, q, total)
            for u, w, q in zip(
                treedef.flatten_up_to(updates),
                treedef.flatten_up_to(params),
                treedef.flatten_up_to(state.unpenalized),
                strict=True,
            )
        ]
        new_updates = treedef.unflatten([u for u, _ in charged])
        unpenalized = treedef.unflatten([r for _, r in charged])
        count = optax.safe_increment(state.count)
        return new_updates, CumulativePenaltyState(count, total, total_error, unpenalized)

    return with_mask(optax.GradientTransformation(init_fn, update_fn), mask)
