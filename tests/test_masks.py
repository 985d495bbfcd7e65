import functools

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
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
