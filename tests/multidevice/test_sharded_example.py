"""examples/sharded_mlp.py on a 2 x 4 mesh of simulated CPU devices (run by test_multidevice.py).

The example trains the plain-JAX MLP with L1 sharded over ("data", "model"); these tests
check that it uses the mesh, that params and per-weight L1 state stay sharded over
"model" through training, and that it reaches the params of one device's training.
"""

import contextlib
import io

import jax
import numpy as np
import pytest
import sharded_mlp
from common import (
    compare_params,
    init_mlp,
    init_opt_state,
    load_digits,
    make_optimizer,
    param_shardings,
)
from jax.sharding import PartitionSpec as P

if jax.device_count() < 8:
    pytest.skip(
        "needs 8 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)",
        allow_module_level=True,
    )

TINY = ["--epochs", "3", "--hidden", "16", "--train-limit", "512", "--batch-size", "32"]
FEATURES = load_digits(512).x_train.shape[1]  # pixels blank in every training image go
HIDDEN, CLASSES = 16, 10
SHARD_SHAPES = {  # each device's block
    ("hidden_0", "kernel"): (FEATURES, HIDDEN // 4),
    ("hidden_0", "bias"): (HIDDEN // 4,),
    ("out", "kernel"): (HIDDEN // 4, CLASSES),
    ("out", "bias"): (CLASSES,),
}


@pytest.fixture(scope="module", params=["sgd_l1", "adam_l1"])
def run(request):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = sharded_mlp.main(["--method", request.param, *TINY])
    return result, out.getvalue()


def test_uses_a_2_by_4_mesh_and_keeps_params_sharded(run):
    result, out = run
    assert result["mesh_shape"] == {"data": 2, "model": 4}
    for path, leaf in jax.tree_util.tree_leaves_with_path(result["params"]):
        names = tuple(k.key for k in path)
        assert leaf.sharding.shard_shape(leaf.shape) == SHARD_SHAPES[names], names
        assert len(leaf.sharding.device_set) == 8
    assert f"hidden_0 kernel ({FEATURES}, 16): P(None, 'model')" in out


def test_per_weight_optimizer_state_is_sharded_like_its_param(run):
    result, _ = run
    kernel = result["params"]["hidden_0"]["kernel"]
    per_weight = [
        leaf for leaf in jax.tree.leaves(result["opt_state"]) if leaf.shape == kernel.shape
    ]
    assert per_weight  # the cumulative penalty's record; Adam's moments
    for leaf in per_weight:
        assert leaf.sharding.is_equivalent_to(kernel.sharding, 2)
        assert leaf.sharding.spec == P(None, "model")


def test_matches_the_same_training_on_one_device(run):
    result, out = run
    assert result["matches"], result["max_diff"]
    assert "-> MATCH" in out
    assert 0.3 < result["test_accuracy"] <= 1.0  # chance: 0.1
    assert 0.0 < result["zeros"] < 1.0


def test_compare_params_detects_differences():
    params = {"kernel": np.array([[0.5, 0.0], [-0.25, 1e-3]], np.float32)}
    close, diff = compare_params(params, {"kernel": params["kernel"] * (1 + 2e-6)})
    assert close and diff == pytest.approx(1e-6, rel=0.1)
    assert not compare_params(params, {"kernel": params["kernel"] * (1 + 1e-4)})[0]
    zeroed = params["kernel"].copy()
    zeroed[1, 1] = 0.0
    assert not compare_params(params, {"kernel": zeroed})[0]


@pytest.mark.parametrize("method", ["sgd_l1", "adam_l1"])
def test_init_opt_state_shards_each_per_weight_state_like_its_weight(method):
    """Before the first step already (a bare jit(tx.init) leaves Adam's zero moments on one
    device); values as tx.init's, scalars replicated over the mesh."""
    mesh = sharded_mlp.make_mesh()
    params = init_mlp(jax.random.key(0), [FEATURES, HIDDEN, CLASSES])
    tx = make_optimizer(method, 1e-3)
    expected = tx.init(params)
    params = jax.device_put(params, param_shardings(params, mesh))
    state = init_opt_state(tx, params, mesh)
    assert jax.tree.structure(state) == jax.tree.structure(expected)
    for leaf, value in zip(jax.tree.leaves(state), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(np.asarray(leaf), np.asarray(value))
        assert len(leaf.sharding.device_set) == 8
    kernel = params["hidden_0"]["kernel"]
    per_weight = [leaf for leaf in jax.tree.leaves(state) if leaf.shape == kernel.shape]
    assert len(per_weight) == (2 if method == "adam_l1" else 1)  # moments; the record
    for leaf in per_weight:
        assert leaf.sharding.is_equivalent_to(kernel.sharding, 2)
