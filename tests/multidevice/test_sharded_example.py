"""examples/sharded_mlp.py on a 2 x 4 mesh of simulated CPU devices (run by test_multidevice.py).

The example trains the flagship MLP with L1 sharded over ("data", "model"); these tests
check that it really uses the mesh, that params and per-weight L1 state stay sharded over
"model" through training, and that it reaches the params of the same training on one device.
"""

import contextlib
import dataclasses
import io
import math
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import sharded_mlp

if jax.device_count() < 8:
    pytest.skip(
        "needs 8 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)",
        allow_module_level=True,
    )

TINY = ["--epochs", "2", "--hidden", "16", "--train-limit", "256", "--batch-size", "32"]
HIDDEN, FEATURES, CLASSES = 16, 64, 10
# Each device's block of a param: hidden layers split along their output (hidden) width,
# the output layer along its input (hidden) width; the output bias is replicated.
SHARD_SHAPES = {
    ("hidden", 0, "kernel"): (FEATURES, HIDDEN // 4),
    ("hidden", 0, "bias"): (HIDDEN // 4,),
    ("out", "kernel"): (HIDDEN // 4, CLASSES),
    ("out", "bias"): (CLASSES,),
}


def _names(path):
    return tuple(n for n in sharded_mlp.key_names(path) if n != "value")


METHOD_ARGS = {
    "l1_cumulative_penalty": [],  # plain SGD, the example's default
    "adam_l1": ["--optimizer", "adam", "--learning-rate", "0.01"],
}


@dataclasses.dataclass
class Run:
    result: sharded_mlp.Result
    out: str  # what main printed


@pytest.fixture(scope="module", params=list(METHOD_ARGS))
def run(request):
    """One tiny training run per method, shared by the tests below."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = sharded_mlp.main(["--method", request.param, *METHOD_ARGS[request.param], *TINY])
    return Run(result, out.getvalue())


def test_uses_a_2_by_4_mesh(run):
    assert run.result.mesh_shape == {"data": 2, "model": 4}
    assert run.result.device_count == jax.device_count()


def test_params_stay_sharded_over_model(run):
    assert run.result.kernel_spec == jax.sharding.PartitionSpec(None, "model")
    leaves = jax.tree_util.tree_leaves_with_path(nnx.state(run.result.model, nnx.Param))
    assert {_names(path) for path, _ in leaves} == set(SHARD_SHAPES)
    for path, leaf in leaves:
        assert leaf.sharding.shard_shape(leaf.shape) == SHARD_SHAPES[_names(path)], path
        assert len(leaf.sharding.device_set) == 8


def test_per_weight_optimizer_state_is_sharded_like_its_param(run):
    assert run.result.opt_state_spec == jax.sharding.PartitionSpec(None, "model")
    params = {
        _names(path): leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(
            nnx.state(run.result.model, nnx.Param)
        )
    }
    per_weight = 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(run.result.optimizer)):
        names = _names(path)
        param = next((params[k] for k in params if names[-len(k) :] == k), None)
        if param is None:  # counts and scalar totals
            assert leaf.ndim == 0, names
            continue
        per_weight += 1
        assert leaf.shape == param.shape, names
        assert leaf.sharding.is_equivalent_to(param.sharding, leaf.ndim), names
        if leaf.ndim == 2:
            assert "model" in leaf.sharding.spec, names
    assert per_weight >= 2  # cumulative penalty: a record per kernel; Adam: mu and nu of all


def test_matches_the_same_training_on_one_device(run):
    c = run.result.comparison
    assert (c.rtol, c.atol) == (1e-5, 1e-6)
    assert c.allclose and c.same_zeros and c.matches, c
    assert c.max_abs_diff < 1e-5


def test_metrics_are_finite_and_in_range(run):
    assert [h["epoch"] for h in run.result.history] == [1, 2]
    for h in run.result.history:
        assert math.isfinite(h["loss"]) and h["loss"] > 0
        for key in ("train_acc", "test_acc", "zero_frac"):
            assert 0.0 <= h[key] <= 1.0, (key, h)
    assert run.result.test_acc == run.result.history[-1]["test_acc"] > 0.3  # chance: 0.1
    assert run.result.mean_abs_w > 0


def test_compare_params_detects_differences():
    params = {"kernel": np.array([[0.5, 0.0], [-0.25, 1e-3]], np.float32)}
    close = sharded_mlp.compare_params(params, {"kernel": params["kernel"] * (1 + 2e-6)})
    assert close.matches and close.max_abs_diff == pytest.approx(1e-6, rel=0.1)
    nudged = sharded_mlp.compare_params(params, {"kernel": params["kernel"] * (1 + 1e-4)})
    assert not nudged.allclose and not nudged.matches
    zeroed_kernel = params["kernel"].copy()
    zeroed_kernel[1, 1] = 0.0
    zeroed = sharded_mlp.compare_params(params, {"kernel": zeroed_kernel})
    assert not zeroed.same_zeros and not zeroed.matches


@pytest.mark.parametrize(("count", "shape"), [(8, (2, 4)), (5, (1, 4)), (3, (1, 2)), (1, (1, 1))])
def test_mesh_falls_back_to_fewer_devices(count, shape):
    mesh = sharded_mlp.make_mesh(jax.devices()[:count])
    assert tuple(mesh.shape.values()) == shape
    assert tuple(mesh.axis_names) == ("data", "model")


def test_prints_the_mesh_and_the_shardings(run):
    spec = jax.sharding.PartitionSpec(None, "model")
    assert "mesh: data=2 x model=4 over 8 of 8 devices" in run.out
    assert f"hidden[0].kernel (64, 16): {spec}, (64, 4) per device" in run.out
    assert "optimizer state opt_state/" in run.out
    assert f"/hidden/0/kernel (64, 16): {spec}, (64, 4) per device" in run.out
    assert "-> MATCH" in run.out
