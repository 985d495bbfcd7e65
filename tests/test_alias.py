import jax
import jax.numpy as jnp
import optax
import pytest

import optax_l1
from helpers import assert_trees_bitwise_equal, random_tree


def _explicit(method, lr, l1, momentum, mask):
    sgd = optax.sgd(lr, momentum=momentum)
    return {
        "cumulative": lambda: optax.chain(
            sgd, optax_l1.l1_cumulative_penalty(l1, learning_rate=lr, mask=mask)
        ),
        "proximal": lambda: optax.chain(
            sgd, optax_l1.l1_soft_threshold(l1, learning_rate=lr, mask=mask)
        ),
        "decoupled": lambda: optax.chain(
            sgd, optax_l1.l1_sign_decay(l1, learning_rate=lr, mask=mask)
        ),
        "subgradient": lambda: optax.chain(optax_l1.add_l1_gradient(l1, mask), sgd),
    }[method]()


@pytest.mark.parametrize("method", ["cumulative", "proximal", "decoupled", "subgradient"])
@pytest.mark.parametrize(
    "lr", [0.05, optax.cosine_decay_schedule(0.05, 20)], ids=["const", "sched"]
)
@pytest.mark.parametrize("momentum", [None, 0.9])
def test_sgd_l1_is_the_chain_it_documents(method, lr, momentum):
    params = random_tree(jax.random.key(0), low=-0.3, high=0.3)
    grads = [random_tree(jax.random.key(i + 1), low=-1.0, high=1.0) for i in range(20)]
    ours = optax_l1.sgd_l1(lr, 0.5, momentum=momentum, method=method, mask=optax_l1.skip_biases)
    theirs = _explicit(method, lr, 0.5, momentum, optax_l1.skip_biases)
    p1, s1, p2, s2 = params, ours.init(params), params, theirs.init(params)
    update1, update2 = jax.jit(ours.update), jax.jit(theirs.update)
    for g in grads:
        u1, s1 = update1(g, s1, p1)
        u2, s2 = update2(g, s2, p2)
        p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    assert_trees_bitwise_equal(p1, p2)


def test_threshold_follows_the_learning_rate_schedule():
    lr = optax.piecewise_constant_schedule(1.0, {1: 0.5})
    tx = optax_l1.sgd_l1(lr, 0.25, method="proximal")
    params, state = jnp.array([2.0]), None
    state = tx.init(params)
    steps = []
    for _ in range(2):
        updates, state = tx.update(jnp.zeros(1), state, params)
        steps.append(float(updates[0]))
    assert steps == [-0.25, -0.125]


def test_default_is_the_cumulative_penalty():
    state = optax_l1.sgd_l1(0.1, 0.1).init(jnp.ones(3))
    assert isinstance(state[1], optax_l1.CumulativePenaltyState)


def test_bad_method_and_coefficients():
    with pytest.raises(ValueError, match="`method` must be one of"):
        optax_l1.sgd_l1(0.1, 0.1, method="lasso")
    with pytest.raises(ValueError, match="`l1`"):
        optax_l1.sgd_l1(0.1, -0.1)
    with pytest.raises(ValueError, match="`learning_rate`"):
        optax_l1.sgd_l1(float("inf"), 0.1)
    for bad in (float("nan"), -1.0, 1.5, 1.0, "0.9"):
        with pytest.raises(ValueError, match="`momentum`"):
            optax_l1.sgd_l1(0.1, 0.1, momentum=bad)
    with pytest.raises(ValueError, match="`l2`"):
        optax_l1.sgd_l1(0.1, 0.1, method="decoupled", l2=0.1)
