"""FTRL-Proximal (McMahan et al. 2013) with Keras' ``Ftrl`` semantics: exact zeros from L1."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optax_l1._elementwise import (
    NO_PARAMS_MSG,
    check_real_params,
    compute_dtype,
    map_leaves_with_state,
    state_like,
    static_number,
    value_at,
)
from optax_l1._masks import MaskOrFn, check_mask_argument, check_mask_at_init, selection
from optax_l1._proximal import clip_symmetric
from optax_l1._schedule_free import refuse_inside_schedule_free
from optax_l1._validation import check_coefficient, check_in_range, is_static_zero


class FtrlState(NamedTuple):
    """State of :func:`ftrl`: the step count, and FTRL's ``z`` and ``n`` per weight."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32; indexes the schedules
    linear: Any  # like params, float32 or wider: z, the linear term of the leader's objective
    accumulator: Any  # like params, float32 or wider: n, initial value plus the sum of g**2


def _leaf_step(u, w, z, n, *, lr, power, beta, l1, l2, shrink):
    """One FTRL-Proximal step on one leaf; returns ``(w' - w, z', n')``.

    ``power`` is ``learning_rate_power`` (a number, or an array under
    ``inject_hyperparams``); ``beta``, ``l1``, ``l2`` and ``shrink`` are None where the
    term is absent.
    """
    dtype = compute_dtype(u, w)
    g, w_c = u.astype(dtype), w.astype(dtype)
    z_c, n_c = z.astype(dtype), n.astype(dtype)
    inverse_lr = 1 / jnp.asarray(lr, dtype)
    grad = g if shrink is None else g + 2 * jnp.asarray(shrink, dtype) * w_c
    static_power = static_number(power)
    if static_power == 0.0:  # a fixed rate: every n ** 0 is 1, so sigma = 0
        n_new = n_c + g * g
        root = jnp.ones([], dtype)
        z_new = z_c + grad
    else:
        if static_power == -0.5:
            root_of = jnp.sqrt
        else:
            exponent = -jnp.asarray(power, dtype)
            root_of = lambda x: jnp.power(x, exponent)  # noqa: E731
        # Two identities that only steer XLA:CPU, which computes each output in a loop of
        # its own: z's loop reads n and g behind a barrier and recomputes n' (so that the
        # root of n' is not shared with the new weight's loop and written to memory), and
        # n' selects between two equal sums on z' (so that n's loop runs after z's, which
        # reads the old n, and n is updated in place instead of copied first).
        n_z, g_z = jax.lax.optimization_barrier((n_c, g))
        sigma = (root_of(n_z + g_z * g_z) - root_of(n_z)) * inverse_lr
        z_new = z_c + (grad - sigma * w_c)
        n_new = jnp.where(jnp.isnan(z_new), g * g + n_c, n_c + g * g)
        root = root_of(n_new)
    quadratic = (root if beta is None else root + jnp.asarray(beta, dtype)) * inverse_lr
    if l2 is not None:
        quadratic = quadratic + 2 * jnp.asarray(l2, dtype)
    if l1 is None:
        beyond, shrunk = z_new != 0, z_new
    else:
        threshold = jnp.asarray(l1, dtype)
        beyond = jnp.abs(z_new) > threshold
        shrunk = z_new - clip_symmetric(z_new, threshold)
    # Keras computes (clip(z, -l1, l1) - z) / quadratic: the same bits where |z| > l1,
    # and where |z| <= l1 a zero (here also when the quadratic is 0, where it has 0 / 0).
    # Written so that a NaN z (a non-finite gradient, a rate of 0) gives a NaN weight: it
    # is never silently zeroed.
    new_w = jnp.where(~beyond & ~jnp.isnan(z_new), 0, -shrunk / quadratic)
    return (new_w - w_c).astype(w.dtype), z_new.astype(z.dtype), n_new.astype(n.dtype)


def ftrl(
    learning_rate: optax.ScalarOrSchedule,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1: optax.ScalarOrSchedule = 0.0,
    l2: optax.ScalarOrSchedule = 0.0,
    l2_shrinkage: optax.ScalarOrSchedule = 0.0,
    beta: float = 0.0,
    mask: MaskOrFn | None = None,
) -> optax.GradientTransformation:
    r"""FTRL-Proximal, as Keras' ``Ftrl`` computes it: per-coordinate rates, exact zeros.

    A complete optimizer in one transform, from gradients to updates, like
    :func:`proximal_adam` (put clipping or any other gradient transform before it). It
    is McMahan et al.'s Algorithm 1 with the generalizations of
    ``keras.optimizers.Ftrl``, whose semantics it follows for every argument. Per
    coordinate, with :math:`n` the accumulator and :math:`z` the linear term (the
    state), :math:`g` the gradient, :math:`w` the parameter, :math:`\eta` the learning
    rate and :math:`c` = ``-learning_rate_power``:

    .. math::

      n' &= n + g^2, \qquad
      \sigma = \frac{n'^{\,c} - n^{c}}{\eta}, \qquad
      z' = z + g + 2\lambda_s w - \sigma w, \\
      w' &= \begin{cases}
          0 & |z'| \le \lambda_1 \\
          \dfrac{\mathrm{sign}(z')\,\lambda_1 - z'}
                {(n'^{\,c} + \beta)/\eta + 2\lambda_2} & \text{otherwise,}
        \end{cases}

    from :math:`z = 0` and :math:`n = n_0` (``initial_accumulator_value``). With the
    default :math:`c = 1/2` the per-coordinate rate is :math:`\eta / (\beta + \sqrt{n})`
    (Adagrad's); with ``learning_rate_power=0`` it is fixed. The new weight minimizes the
    *leader's* objective, every linearized loss so far plus the regularizers, once:

    .. math::

      w_{t+1} = \arg\min_x \sum_{s \le t} \hat g_s x
        + \sum_{s \le t} \frac{\sigma_s}{2} (x - w_s)^2
        + \frac{n_0^{c} + \beta}{2\eta} x^2 + \lambda_1 |x| + \lambda_2 x^2,
      \qquad \hat g_s = g_s + 2\lambda_s w_s .

    ``l2_shrinkage`` (:math:`\lambda_s`) only enters the gradient that goes into
    :math:`z`; :math:`n` accumulates the raw :math:`g^2`. The update returned is
    :math:`w' - w`, so where :math:`|z'| \le \lambda_1` the parameter lands on exactly
    (bitwise) zero.

    **The unit of** ``l1``. The other optimizers here take ``l1`` as the per-example
    :math:`\lambda` of ``mean_batch_loss + λ‖w‖₁`` and apply it at every step. FTRL
    applies it once, to the leader's objective, which *sums* the losses of all the steps
    so far: after :math:`t` steps on batch means that objective is about
    :math:`t\cdot(\overline{\mathrm{loss}} + (\lambda_1 / t)\|w\|_1)`. So ``l1`` is a
    penalty on the sum of the losses, not on their mean: the per-example
    :math:`\lambda` it stands for after :math:`t` steps is ``l1 / t``, and a constant
    ``l1`` fades as :math:`1/t` (the weights drift toward the unregularized solution).
    To solve ``mean_loss + λ‖w‖₁`` at every step, as the other optimizers do, pass the
    schedule ``l1=lambda count: λ * (count + 1)`` (:math:`\lambda t` after :math:`t`
    steps). In FTRL's online setting, one example per step, that is λ times the number
    of examples seen. (The constant ``λ * T`` for a run of :math:`T` steps gives the
    same objective at the last step only; regularized :math:`T/t` times too strongly
    before that, the weights lag behind it.) ``examples/sparse_logistic.py`` solves an
    L1 logistic regression this way to scikit-learn's optimum.

    **The L2 conventions.** ``l2`` multiplies :math:`\|w\|^2` as in Keras (it enters
    the denominator as :math:`2\lambda_2`); McMahan et al.'s :math:`\lambda_2`, the
    ``l2`` of TensorFlow's proximal optimizers and of :func:`sgd_l1`,
    :func:`proximal_adam` and :func:`proximal_adagrad` here multiply
    :math:`\|w\|^2 / 2`, so their :math:`\lambda_2` is twice this ``l2``. Like ``l1``,
    ``l2`` is applied to the sum of the losses (per example: ``l2 / t`` on
    :math:`\|w\|^2`). ``l2_shrinkage`` is the gradient of :math:`\lambda_s\|w\|^2`
    added to each step's loss, so it is per example already.

    **Weights are rebuilt from** :math:`(z, n)`, as in Keras: the parameters passed to
    ``update`` enter only through :math:`\sigma w` and the shrinkage term. FTRL assumes
    the weights it starts from are the leader's (zero, with :math:`z = 0`): a nonzero
    initial weight, or one loaded or edited after ``init``, is pulled back toward the
    leader's value at the next step (without shrinkage, a coordinate whose gradient is
    zero goes to exactly 0). Start FTRL from zero weights (linear models, the wide part
    of wide-and-deep models, where it belongs), not from pretrained ones.

    **Masked-out leaves** (``mask`` False) get FTRL without ``l1``, ``l2`` and
    ``l2_shrinkage``: the same learning rate, power, ``beta`` and initial accumulator,
    their own :math:`z` and :math:`n`; not plain gradient descent.

    **Where it differs from Keras**, by design: it computes in at least float32 (Keras
    in the variable's dtype), keeps float64 hyperparameters in float64 (Keras rounds
    them to float32), and where Keras would divide 0 by 0 (``initial_accumulator_value
    = 0``, ``beta = 0``, ``l2 = 0`` and only zero gradients so far) the weight is 0.

    Args:
      learning_rate: :math:`\eta > 0`, a float or an Optax schedule (which must stay
        positive).
      learning_rate_power: :math:`-c \le 0`; -0.5 (default) for Adagrad-like rates, 0
        for a fixed rate.
      initial_accumulator_value: :math:`n_0 \ge 0`, the starting value of :math:`n`.
      l1: :math:`\lambda_1 \ge 0`, Keras' ``l1_regularization_strength``: the L1
        strength on the *sum* of the losses so far (see above; ``lambda count: λ *
        (count + 1)`` for a per-example λ), a float or an Optax schedule.
      l2: :math:`\lambda_2 \ge 0`, Keras' ``l2_regularization_strength`` (multiplies
        :math:`\|w\|^2`), a float or an Optax schedule.
      l2_shrinkage: :math:`\lambda_s \ge 0`, Keras'
        ``l2_shrinkage_regularization_strength``, a float or an Optax schedule.
      beta: :math:`\beta \ge 0`, the paper's :math:`\beta`, added to
        :math:`n'^{\,c}`.
      mask: a pytree of bools with the structure of the params (or a prefix of it), or a
        callable returning one, as in :func:`optax.masked`: ``True`` where ``l1``,
        ``l2`` and ``l2_shrinkage`` apply (:func:`optax_l1.skip_biases` keeps biases
        and norm scales out). Every floating-point leaf is trained by FTRL.

    Returns:
      An :class:`optax.GradientTransformation` whose state is an :class:`FtrlState`.
      Its ``update`` needs ``params``.

    Raises:
      ValueError: for a ``learning_rate`` that is zero, negative, NaN, infinite or not a
        real scalar (for a schedule: at step 0), likewise a negative ``l1``, ``l2`` or
        ``l2_shrinkage``; ``learning_rate_power > 0``; a negative
        ``initial_accumulator_value`` or ``beta``; a ``mask`` that is an array (pass
        ``static_args="mask"`` to ``optax.inject_hyperparams``); from ``init``, for
        complex parameters or a ``mask`` that does not fit the params; from ``update``,
        without ``params``, for updates shaped unlike the params, or inside
        ``optax.contrib.schedule_free``.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.zeros(3)
      >>> tx = optax_l1.ftrl(0.1, initial_accumulator_value=0.0, l1=0.1)
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([0.5, -0.05, 2.0]), state, params)
      >>> optax.apply_updates(params, updates)  # |z| = |g| <= l1: exactly 0
      Array([-0.08 ,  0.   , -0.095], dtype=float32)

    References:
      McMahan et al., `Ad Click Prediction: a View from the Trenches
      <https://research.google.com/pubs/archive/41159.pdf>`_, KDD 2013 (Algorithm 1);
      McMahan, `Follow-the-Regularized-Leader and Mirror Descent: Equivalence Theorems
      and L1 Regularization <https://proceedings.mlr.press/v15/mcmahan11b.html>`_,
      AISTATS 2011.
    """
    check_coefficient(learning_rate, "learning_rate")
    first_rate = (
        learning_rate(jnp.zeros([], jnp.int32)) if callable(learning_rate) else learning_rate
    )
    if is_static_zero(first_rate):
        raise ValueError(
            "`learning_rate` must be positive for ftrl (it divides by it); got 0"
            + (" at step 0: warm up from a small positive rate" if callable(learning_rate) else "")
        )
    for value, name in ((l1, "l1"), (l2, "l2"), (l2_shrinkage, "l2_shrinkage")):
        check_coefficient(value, name)
    check_in_range(learning_rate_power, "learning_rate_power", -float("inf"), 0.0, high_closed=True)
    check_in_range(initial_accumulator_value, "initial_accumulator_value", 0.0, float("inf"))
    check_in_range(beta, "beta", 0.0, float("inf"))
    if mask is not None:
        check_mask_argument(mask)

    def init_fn(params):
        check_real_params(params, "ftrl")
        check_mask_at_init(mask, params, "ftrl")
        return FtrlState(
            count=jnp.zeros([], jnp.int32),
            linear=state_like(params, 0.0),
            accumulator=state_like(params, initial_accumulator_value),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)
        refuse_inside_schedule_free("ftrl")
        count = state.count
        common = {
            "lr": value_at(learning_rate, count),
            "power": learning_rate_power,
            "beta": None if is_static_zero(beta) else beta,
        }
        regularizers = {}
        for name, value in (("l1", l1), ("l2", l2), ("shrink", l2_shrinkage)):
            value = value_at(value, count)
            regularizers[name] = None if is_static_zero(value) else value
        plain = dict.fromkeys(regularizers)

        def step(u, w, z, n, regularized):
            return _leaf_step(u, w, z, n, **common, **(regularizers if regularized else plain))

        new_updates, (linear, accumulator) = map_leaves_with_state(
            step,
            updates,
            (state.linear, state.accumulator),
            params,
            selection(mask, params),
            "ftrl",
        )
        return new_updates, FtrlState(optax.safe_increment(count), linear, accumulator)

    return optax.GradientTransformation(init_fn, update_fn)
