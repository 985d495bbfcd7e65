"""Ask for a sparsity, get it: a controller that adapts ``l1`` to reach a target fraction."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optax_l1._elementwise import NO_PARAMS_MSG
from optax_l1._masks import MaskOrFn, check_mask_argument
from optax_l1._metrics import sparsity
from optax_l1._validation import check_in_range


class TargetSparsityState(NamedTuple):
    """State of :func:`target_sparsity`: a plain pytree (checkpointable, shardable)."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32; steps taken
    log_l1: jax.Array  # shape=(), float32; the integral part of log l1 (the l1 applied
    # at the last step, with the proportional part, is in inner.hyperparams["l1"])
    sparsity: jax.Array  # shape=(), float32; the params' exact sparsity it measured last
    inner: Any  # the wrapped transform's state, under optax.inject_hyperparams


def cubic_ramp(target: float, ramp_steps: int, ramp_start: int = 0) -> Callable[[Any], Any]:
    """Zhu and Gupta's gradual schedule: 0 until ``ramp_start``, then cubic to ``target``.

    ``s_t = target * (1 - (1 - (t - t0) / T)^3)`` for ``t0 <= t <= t0 + T``; ``target``
    after. It rises fast first, while there are many redundant weights, then slowly.
    """

    def schedule(count):
        progress = jnp.clip((count - ramp_start) / max(ramp_steps, 1), 0.0, 1.0)
        return target * (1 - (1 - progress) ** 3)

    return schedule


def target_sparsity(
    factory: Callable[..., optax.GradientTransformation],
    target: float,
    *,
    ramp_steps: int,
    ramp_start: int = 0,
    l1_init: float = 1e-4,
    gain: float = 0.5,
    proportional: float = 2.0,
    tolerance: float = 0.002,
    mask: MaskOrFn | None = None,
    **hyperparams: Any,
) -> optax.GradientTransformationExtraArgs:
    r"""Wraps any transform that takes ``l1`` and sets ``l1`` to reach a target sparsity.

    Instead of sweeping :math:`\lambda`, state the fraction of exact zeros you want over
    the leaves ``mask`` selects, and the number of steps to reach it in. Before every
    step the controller measures the params' exact sparsity :math:`s_t` (one reduction,
    with no gather on sharded params) and moves :math:`\log\lambda` toward the target
    of a gradual cubic ramp (Zhu and Gupta 2017):

    .. math::

      s^*_t &= s_f\,\Bigl(1 - \bigl(1 - \tfrac{t - t_0}{T}\bigr)^3\Bigr), \qquad
      e_t = s^*_t - s_t, \\
      I_{t+1} &= I_t + k_i\, e_t \quad (\text{when } |e_t| > \text{tolerance}), \qquad
      \log\lambda_t = I_{t+1} + k_p\, e_t,

    a proportional-integral controller on :math:`\log\lambda`: the integral part moves
    :math:`\lambda` by about :math:`k_i` percent per step per point of missing
    sparsity and holds within ``tolerance`` of the target; the proportional part reacts
    at once, which keeps the sparsity from overshooting the end of the ramp (a method
    with memory, like the cumulative penalty, cannot give zeros back). :math:`\lambda`
    stays finite and positive (:math:`\log\lambda` is clipped to
    ``l1_init`` · 1e±8).

    Under noisy minibatch gradients the exact-zero set of some methods churns: with
    ``adam_l1``, a zero weight is revived whenever its gradient average exceeds
    :math:`\lambda`, so the sparsity measured step to step moves within a band of a
    point or two around the target. The state's ``sparsity`` field holds the last
    measurement: to hand a second phase (e.g. :func:`freeze_zeros`) a sparsity on
    target, end the controlled phase at a step after the ramp where it is within a
    tolerance of the target (``benchmarks/target_sparsity.py`` takes the last such step
    of the phase's final 10%, within half a point). It settles best around the
    elementwise proximal methods; around :func:`group_soft_threshold` (whole groups
    flip) and :func:`ftrl` (whose ``l1`` is on the summed loss) lower the gains.

    The wrapped transform is built through :func:`optax.inject_hyperparams`, so it
    reads ``l1`` from the state: any factory that takes ``l1`` works (:func:`adam_l1`,
    :func:`sgd_l1`, :func:`l1_soft_threshold`, :func:`l1_cumulative_penalty`,
    :func:`group_soft_threshold`, ...). Put it where the factory's result would go in a
    chain; it needs the params at every update. The sparsity is the fraction of zero
    *weights* over the masked leaves (for :func:`group_soft_threshold`, zeros come in
    whole groups, and the fraction still counts weights). The methods without exact
    zeros (:func:`add_l1_gradient`, :func:`l1_sign_decay`) cannot reach a target.

    Measuring reads the masked params once more per step (the controller's only cost).

    Args:
      factory: the transform to wrap, e.g. ``optax_l1.adam_l1``; it must take ``l1``.
      target: the fraction of exact zeros to reach, in [0, 1).
      ramp_steps: :math:`T`, steps over which the target ramps from 0 to ``target``.
      ramp_start: :math:`t_0`, the step the ramp starts at (0 before it).
      l1_init: the ``l1`` to start from.
      gain: :math:`k_i`, the integral gain (per step, per unit of sparsity error).
      proportional: :math:`k_p`, the proportional gain.
      tolerance: the integral part holds while the sparsity is within this of the
        target.
      mask: which leaves are regularized and counted; passed to ``factory``.
      **hyperparams: the factory's other arguments (``learning_rate=``, ``axis=``, ...).

    Returns:
      An :class:`optax.GradientTransformationExtraArgs` with a
      :class:`TargetSparsityState`. Its ``update`` needs ``params``.

    Raises:
      ValueError: if ``target`` is not in [0, 1), ``ramp_steps`` < 1, ``l1_init`` not
        positive, ``gain``/``proportional``/``tolerance`` negative, ``factory`` takes no ``l1``, or
        ``l1`` is given in ``hyperparams``.

    Example:
      A least-squares fit whose lasso solution is ``S_l1(w_star)``: half the weights
      are zero at the ``l1`` that is the median of ``|w_star|``, which the controller
      finds:

      >>> import jax, jax.numpy as jnp
      >>> import optax, optax_l1
      >>> w_star = jax.random.normal(jax.random.key(0), (1000,))
      >>> tx = optax.chain(optax.sgd(0.5), optax_l1.target_sparsity(
      ...     optax_l1.l1_soft_threshold, target=0.5, ramp_steps=100, learning_rate=0.5,
      ...     l1_init=1e-2))
      >>> params = jnp.zeros(1000)
      >>> state = tx.init(params)
      >>> for _ in range(200):
      ...     updates, state = tx.update(params - w_star, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> round(float(optax_l1.sparsity(params)), 2)
      0.5

    References:
      Zhu and Gupta, `To prune, or not to prune: exploring the efficacy of pruning for
      model compression <https://arxiv.org/abs/1710.01878>`_, 2017.
    """
    check_in_range(target, "target", 0.0, 1.0)
    if not isinstance(ramp_steps, int) or isinstance(ramp_steps, bool) or ramp_steps < 1:
        raise ValueError(f"`ramp_steps` must be an int >= 1; got {ramp_steps!r}")
    if not isinstance(ramp_start, int) or isinstance(ramp_start, bool) or ramp_start < 0:
        raise ValueError(f"`ramp_start` must be an int >= 0; got {ramp_start!r}")
    check_in_range(l1_init, "l1_init", 0.0, math.inf, low_open=True)
    check_in_range(gain, "gain", 0.0, math.inf)
    check_in_range(proportional, "proportional", 0.0, math.inf)
    check_in_range(tolerance, "tolerance", 0.0, 1.0)
    if mask is not None:
        check_mask_argument(mask)
    parameters = inspect.signature(factory).parameters
    if "l1" not in parameters:
        raise ValueError(f"`factory` must take `l1`; {factory!r} takes {list(parameters)}")
    if "l1" in hyperparams:
        raise ValueError("`l1` is what the controller sets: pass `l1_init` instead")
    if mask is not None and "mask" not in parameters:
        raise ValueError(
            f"`mask` was given but `factory` {getattr(factory, '__name__', factory)} takes "
            "no mask, so every leaf would be regularized: use a factory that takes one "
            "(adam_l1 rather than proximal_adam), or wrap it in optax.masked yourself"
        )
    static = [name for name in ("mask", "axis") if name in parameters]
    kwargs = dict(hyperparams)
    if "mask" in parameters:
        kwargs["mask"] = mask
    # float32 hyperparameters whatever the params' dtype: inject_hyperparams would cast
    # them to it otherwise, and Adam's b2 = 0.999 is 1.0 in bfloat16.
    inject = optax.inject_hyperparams(factory, static_args=static, hyperparam_dtype=jnp.float32)
    inner = inject(l1=l1_init, **kwargs)
    schedule = cubic_ramp(target, ramp_steps, ramp_start)
    log_bounds = (math.log(l1_init) - 8 * math.log(10), math.log(l1_init) + 8 * math.log(10))

    def init_fn(params):
        return TargetSparsityState(
            count=jnp.zeros([], jnp.int32),
            log_l1=jnp.asarray(math.log(l1_init), jnp.float32),
            sparsity=jnp.zeros([], jnp.float32),
            inner=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        measured = sparsity(params, mask)
        error = schedule(state.count) - measured
        step = jnp.where(jnp.abs(error) > tolerance, gain * error, 0.0)
        log_l1 = jnp.clip(state.log_l1 + step, *log_bounds).astype(jnp.float32)
        applied = jnp.clip(log_l1 + proportional * error, *log_bounds)
        hyper = dict(state.inner.hyperparams)
        hyper["l1"] = jnp.exp(applied).astype(jnp.asarray(hyper["l1"]).dtype)
        inner_state = state.inner._replace(hyperparams=hyper)
        updates, inner_state = inner.update(updates, inner_state, params, **extra_args)
        new_state = TargetSparsityState(
            count=optax.safe_increment(state.count),
            log_l1=log_l1,
            sparsity=measured.astype(jnp.float32),
            inner=inner_state,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
