"""A typed user's training script: ``make test`` runs mypy on it against the public API.

Lines marked ``type: ignore[...]`` are misuses the annotations must catch: with mypy's
``warn_unused_ignores``, an annotation too loose to flag one fails the check.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import optax_l1

Params = dict[str, jax.Array]


def kernels_only(params: Params) -> dict[str, bool]:
    return {name: leaf.ndim >= 2 for name, leaf in params.items()}


def make_optimizer(method: optax_l1.SgdL1Method, l1: float) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(0.1, 1000)
    if method == "cumulative":
        return optax_l1.sgd_l1(schedule, l1, momentum=0.9, mask=optax_l1.skip_biases)
    return optax.chain(
        optax.sgd(schedule),
        optax_l1.l1_soft_threshold(l1, learning_rate=schedule, mask=kernels_only),
    )


def train_step(
    tx: optax.GradientTransformation, params: Params, state: optax.OptState, grads: Params
) -> tuple[Params, optax.OptState, jax.Array]:
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    return params, state, optax_l1.sparsity(params, optax_l1.skip_biases)


def main() -> float:
    params: Params = {"kernel": jnp.ones((4, 3)), "bias": jnp.zeros(3)}
    tx = make_optimizer("cumulative", 1e-3)
    state = tx.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    params, state, zeros = train_step(tx, params, state, grads)
    mask: optax_l1.MaskOrFn = optax_l1.mask_by_name(include=("kernel",))
    norm: jax.Array = optax_l1.l1_norm(params, mask)
    adam = optax_l1.adam_l1(1e-3, 1e-4, mask=optax_l1.skip_biases, l2=1e-5)
    adam.init(params)
    return float(zeros) + float(norm)


def misuses() -> None:
    optax_l1.sgd_l1(0.1, 0.1, method="lasso")  # type: ignore[arg-type]
    optax_l1.l1_sign_decay(0.1, 0.1)  # type: ignore[call-arg]
    optax_l1.l1_soft_threshold(0.1)  # type: ignore[call-arg]
    optax_l1.add_l1_gradient(l1_coeff=0.1)  # type: ignore[call-arg]
    optax_l1.group_soft_threshold(0.1, axis="rows", learning_rate=0.1)  # type: ignore[arg-type]


if __name__ == "__main__":
    print(main())
