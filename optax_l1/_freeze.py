"""Fine-tuning on the support: weights that are exactly zero stay exactly zero."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from optax_l1._elementwise import NO_PARAMS_MSG, check_real_params, map_float_leaves
from optax_l1._masks import MaskOrFn, with_mask


def freeze_zeros(mask: MaskOrFn | None = None) -> optax.GradientTransformation:
    r"""Zeroes the updates of weights that are exactly zero: the support is kept fixed.

    Place it **last** in a chain, after the host optimizer. Where a parameter is exactly
    zero its update becomes zero, so the weight stays zero (bitwise, either signed zero:
    the update is ``-0.0``, and ``+0.0 + -0.0`` and ``-0.0 + -0.0`` keep their signs);
    every other update passes through unchanged:

    .. math::

      u_i \leftarrow \begin{cases} 0 & w_i = 0 \\ u_i & \text{otherwise.} \end{cases}

    This is the second phase of a sparse training run: L1 has chosen which weights are
    zero, and the surviving weights are then refitted without L1, by the host optimizer
    alone, so that they are no longer shrunk toward zero (the relaxed lasso of
    Meinshausen 2007; prune-then-retrain, Han et al. 2015). The host's own state (Adam's
    moments) still sees the frozen weights' gradients; it only never applies them.

    Args:
      mask: which leaves to freeze the zeros of, as in :func:`optax.masked` (a pytree of
        bools, a prefix of one, or a callable); other leaves pass through. None: all.

    Returns:
      An :class:`optax.GradientTransformation` without state. Its ``update`` needs
      ``params``.

    Raises:
      ValueError: from ``update``, without ``params`` or for updates shaped unlike the
        params; from ``init``, for complex parameters.

    Example:
      >>> import jax.numpy as jnp
      >>> import optax, optax_l1
      >>> params = jnp.array([0.0, 0.5, -0.0])
      >>> tx = optax.chain(optax.adam(0.1), optax_l1.freeze_zeros())
      >>> updates, _ = tx.update(jnp.ones(3), tx.init(params), params)
      >>> new = optax.apply_updates(params, updates)  # Adam's first step is about -lr
      >>> [str(x) for x in new.round(3)]
      ['0.0', '0.4', '-0.0']

    References:
      Meinshausen, `Relaxed Lasso <https://doi.org/10.1016/j.csda.2006.12.019>`_, CSDA
      2007; Han, Pool, Tran and Dally, `Learning both Weights and Connections for
      Efficient Neural Networks <https://arxiv.org/abs/1506.02626>`_, NeurIPS 2015.
    """

    def init_fn(params):
        check_real_params(params, "freeze_zeros")
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(NO_PARAMS_MSG)

        def leaf(u, w):
            return jnp.where(w == 0, jnp.asarray(-0.0, u.dtype), u)

        return map_float_leaves(leaf, updates, params, "freeze_zeros"), state

    return with_mask(optax.GradientTransformation(init_fn, update_fn), mask, "freeze_zeros")
