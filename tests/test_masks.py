import functools

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen, nnx
from hypothesis import given, settings
from hypothesis import strategies as st

import optax_l1
from helpers import assert_trees_bitwise_equal

TRANSFORMS = [
    optax_l1.add_l1_gradient,
    functools.partial(optax_l1.l1_sign_decay, learning_rate=1.0),
    functools.partial(optax_l1.l1_soft_threshold, learning_rate=1.0),
    functools.partial(optax_l1.l1_cumulative_penalty, learning_rate=1.0),
]


class NnxNet(nnx.Module):
    def __init__(self, rngs):
        self.embed = nnx.Embed(10, 4, rngs=rngs)
        self.dense = nnx.Linear(4, 3, rngs=rngs)
        self.norm = nnx.LayerNorm(3, rngs=rngs)

    def __call__(self, tokens):
        return self.norm(self.dense(self.embed(tokens).mean(axis=0)))


class LinenNet(linen.Module):
    @linen.compact
    def __call__(self, x):
        x = linen.Dense(3)(x)
        return linen.LayerNorm()(x)


def test_skip_biases_selects_float_matrices_only():
    params = {
        "kernel": jnp.ones((2, 3)),
        "conv": jnp.ones((3, 3, 1, 2)),
        "bias": jnp.ones(3),
        "scalar": jnp.ones(()),
        "int_table": jnp.ones((2, 2), jnp.int32),
        "gone": None,
    }
    assert optax_l1.skip_biases(params) == {
        "kernel": True,
        "conv": True,
        "bias": False,
        "scalar": False,
        "int_table": False,
        "gone": None,
    }


def test_mask_by_name_rules():
    params = {
        "block": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2), "w": jnp.ones((2, 2))},
        "embed": {"embedding": jnp.ones((5, 2))},
        "norm": {"scale": jnp.ones(2)},
        "ids": {"kernel": jnp.ones((2, 2), jnp.int32)},
    }
    assert optax_l1.mask_by_name()(params) == {
        "block": {"kernel": True, "bias": False, "w": False},
        "embed": {"embedding": True},
        "norm": {"scale": False},
        "ids": {"kernel": False},
    }
    custom = optax_l1.mask_by_name(include=("w",), exclude=("embed",), default=True)(params)
    assert custom["block"] == {"kernel": True, "bias": True, "w": True}
    assert custom["embed"] == {"embedding": False}


def test_mask_by_name_refuses_a_name_in_both_lists():
    with pytest.raises(ValueError, match="both name"):
        optax_l1.mask_by_name(include=("kernel",), exclude=("kernel",))


@pytest.mark.parametrize("mask", [optax_l1.skip_biases, optax_l1.mask_by_name()])
@pytest.mark.parametrize("factory", TRANSFORMS)
def test_masks_work_on_flax_nnx_optimizer_state(mask, factory):
    model = NnxNet(nnx.Rngs(0))
    before = nnx.state(model, nnx.Param)
    before = jax.tree.map(jnp.copy, before)
    if factory is optax_l1.add_l1_gradient:
        tx = optax.chain(factory(0.01, mask=mask), optax.sgd(0.1))
    else:
        tx = optax.chain(optax.sgd(0.1), factory(0.001, mask=mask))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    grads = jax.tree.map(jnp.zeros_like, nnx.state(model, nnx.Param))
    optimizer.update(model, grads)
    after = nnx.state(model, nnx.Param)
    for skipped in (("dense", "bias"), ("norm", "bias"), ("norm", "scale")):
        assert_trees_bitwise_equal(after[skipped[0]][skipped[1]], before[skipped[0]][skipped[1]])
    regularized = [("dense", "kernel"), ("embed", "embedding")]
    for module, name in regularized:
        new, old = np.asarray(after[module][name][...]), np.asarray(before[module][name][...])
        assert np.all(np.abs(new) < np.abs(old))


@pytest.mark.parametrize("mask", [optax_l1.skip_biases, optax_l1.mask_by_name()])
def test_masks_work_on_linen_params(mask):
    model = LinenNet()
    variables = model.init(jax.random.key(0), jnp.ones((1, 4)))
    params = variables["params"]
    tx = optax.chain(optax_l1.add_l1_gradient(0.01, mask=mask), optax.sgd(0.1))
    state = tx.init(params)
    updates, state = tx.update(jax.tree.map(jnp.zeros_like, params), state, params)
    new = optax.apply_updates(params, updates)
    assert_trees_bitwise_equal(new["Dense_0"]["bias"], params["Dense_0"]["bias"])
    assert_trees_bitwise_equal(new["LayerNorm_0"], params["LayerNorm_0"])
    assert np.all(np.abs(new["Dense_0"]["kernel"]) < np.abs(params["Dense_0"]["kernel"]))


@pytest.mark.parametrize("factory", TRANSFORMS)
def test_mask_that_does_not_fit_says_so(factory):
    params = {"a": jnp.ones((2, 2)), "b": jnp.ones(2)}
    tx = factory(0.1, mask={"a": True})
    with pytest.raises(ValueError, match="`mask` does not fit the params"):
        tx.init(params)
    tx = factory(0.1, mask={"a": True, "b": False, "c": True})
    with pytest.raises(ValueError, match="`mask` does not fit the params"):
        tx.init(params)


def test_mask_with_non_bool_leaves_is_refused():
    tx = optax_l1.add_l1_gradient(0.1, mask={"a": 1.0})
    with pytest.raises(ValueError, match="`mask` leaves must be"):
        tx.init({"a": jnp.ones(2)})


def test_mask_may_be_a_prefix_of_the_params():
    params = {"enc": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}, "head": jnp.ones((2, 2))}
    tx = optax_l1.add_l1_gradient(0.5, mask={"enc": False, "head": True})
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    assert_trees_bitwise_equal(updates["enc"], jax.tree.map(jnp.zeros_like, params["enc"]))
    assert np.all(updates["head"] == 0.5)


finite = st.floats(-1e3, 1e3, width=32)


@settings(max_examples=40, deadline=None)
@given(
    w=hnp.arrays(np.float32, (3, 4), elements=finite),
    u=hnp.arrays(np.float32, (3, 4), elements=finite),
    b=hnp.arrays(np.float32, (4,), elements=finite),
    coeff=st.floats(0.0, 10.0),
    which=st.sampled_from(TRANSFORMS),
)
def test_masked_leaves_are_bitwise_unchanged(w, u, b, coeff, which):
    params = {"kernel": jnp.asarray(w), "bias": jnp.asarray(b)}
    updates = {"kernel": jnp.asarray(u), "bias": jnp.asarray(b) * -0.5}
    tx = which(coeff, mask=optax_l1.skip_biases)
    out, _ = tx.update(updates, tx.init(params), params)
    assert_trees_bitwise_equal(out["bias"], updates["bias"])
