"""One name and one unit for the L1 strength: swapping methods never needs l1 rescaled."""

import functools
import inspect

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_l1

LR, L1, STEPS = 0.05, 0.02, 5

# Every way to get L1 with plain SGD, built from the same `l1` and `learning_rate`.
SGD_METHODS = {
    "add_l1_gradient": lambda: optax.chain(optax_l1.add_l1_gradient(L1), optax.sgd(LR)),
    "l1_sign_decay": lambda: optax.chain(
        optax.sgd(LR), optax_l1.l1_sign_decay(L1, learning_rate=LR)
    ),
    "l1_soft_threshold": lambda: optax.chain(
        optax.sgd(LR), optax_l1.l1_soft_threshold(L1, learning_rate=LR)
    ),
    "l1_cumulative_penalty": lambda: optax.chain(
        optax.sgd(LR), optax_l1.l1_cumulative_penalty(L1, learning_rate=LR)
    ),
    # a group of one weight: its norm is |w|
    "group_soft_threshold": lambda: optax.chain(
        optax.sgd(LR), optax_l1.group_soft_threshold(L1, axis=-1, learning_rate=LR)
    ),
    **{
        f"sgd_l1[{method}]": functools.partial(optax_l1.sgd_l1, LR, L1, method=method)
        for method in optax_l1._alias.SGD_L1_METHODS
    },
}


@pytest.mark.parametrize("name", SGD_METHODS)
@pytest.mark.parametrize("schedule", [False, True])
def test_every_method_moves_a_weight_by_learning_rate_times_l1_per_step(name, schedule):
    tx = SGD_METHODS[name]()
    if schedule:  # the same, with a constant learning-rate schedule where a lr is taken
        tx = {
            "l1_soft_threshold": optax.chain(
                optax.sgd(optax.constant_schedule(LR)),
                optax_l1.l1_soft_threshold(L1, learning_rate=optax.constant_schedule(LR)),
            ),
        }.get(name, tx)
    params = jnp.array([[3.0], [-3.0]])
    state = tx.init(params)
    for step in range(1, STEPS + 1):
        updates, state = tx.update(jnp.zeros_like(params), state, params)
        params = optax.apply_updates(params, updates)
        expected = 3.0 - step * LR * L1
        np.testing.assert_allclose(params, [[expected], [-expected]], rtol=1e-6)


# factory -> whether it acts after the learning-rate scaling (and so takes learning_rate)
FACTORIES = {
    "add_l1_gradient": False,
    "l1_sign_decay": True,
    "l1_soft_threshold": True,
    "l1_cumulative_penalty": True,
    "group_soft_threshold": True,
    "sgd_l1": True,
    "adam_l1": True,
    "proximal_adam": True,
    "proximal_adagrad": True,
    "ftrl": True,
}


@pytest.mark.parametrize("name", FACTORIES)
def test_signatures_name_the_strength_l1(name):
    parameters = inspect.signature(getattr(optax_l1, name)).parameters
    assert "l1" in parameters
    assert ("learning_rate" in parameters) == FACTORIES[name]
    for old in ("l1_coeff", "decay", "threshold", "penalty", "l1_regularization_strength"):
        assert old not in parameters
    if name.startswith("l1_") or name == "group_soft_threshold":
        assert parameters["learning_rate"].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters["learning_rate"].default is inspect.Parameter.empty  # required


def test_every_public_factory_taking_a_strength_is_covered():
    factories = {
        name
        for name in optax_l1.__all__
        if callable(getattr(optax_l1, name))
        and "l1" in inspect.signature(getattr(optax_l1, name)).parameters
    }
    assert factories <= set(FACTORIES), factories - set(FACTORIES)
