"""The Flax MLP examples: every registered method trains through the command-line code path."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import flax_mlp
import jax
import jax.numpy as jnp
import linen_mlp
import optax
import pytest
from flax import nnx

import optax_l1
from helpers import assert_trees_bitwise_equal

TINY = ["--epochs", "1", "--batch-size", "16", "--train-limit", "64", "--hidden", "8"]


def check_result(result: flax_mlp.Result) -> None:
    for name in ("train_acc", "test_acc", "gap", "mean_abs_w", "zero_frac", "sec_per_epoch"):
        assert math.isfinite(getattr(result, name)), (result.method, name)
    assert 0.0 <= result.train_acc <= 1.0
    assert 0.0 <= result.test_acc <= 1.0
    assert result.gap == pytest.approx(result.train_acc - result.test_acc)
    assert 0.0 <= result.zero_frac <= 1.0
    assert result.mean_abs_w > 0.0
    assert result.sec_per_epoch > 0.0
    assert result.kernel_abs.size > 0 and (result.kernel_abs >= 0).all()


@pytest.mark.parametrize("method", list(flax_mlp.METHODS))
def test_each_method_runs_from_the_command_line(method, tmp_path, capsys):
    results = flax_mlp.main(["--method", method, *TINY, "--out", str(tmp_path)])
    assert [r.method for r in results] == [method]
    check_result(results[0])
    out = capsys.readouterr().out
    assert "devices:" in out and "s/epoch" in out and method in out
    assert (tmp_path / "flax_mlp_digits.png").stat().st_size > 0


def test_synthetic_data_set_with_every_method(tmp_path):
    argv = ["--dataset", "synthetic", "--method", "all", *TINY, "--out", str(tmp_path)]
    results = flax_mlp.main([*argv, "--epochs", "2"])
    assert [r.method for r in results] == list(flax_mlp.METHODS)
    for result in results:
        check_result(result)
        assert result.timed_epochs == 1  # epoch 1, which compiles, is not timed
    assert (tmp_path / "flax_mlp_synthetic.png").stat().st_size > 0


def test_synthetic_teacher_is_fixed_and_train_limit_keeps_the_test_set():
    full, small = flax_mlp.load_data("synthetic"), flax_mlp.load_data("synthetic", 50)
    assert len(small.x_train) == 50 and len(small.x_test) == len(full.x_test)
    assert (flax_mlp.load_data("synthetic").y_test == full.y_test).all()
    assert len(set(full.y_train.tolist())) == full.num_classes  # every class appears


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_every_method_builds_for_nnx_with_both_hosts(optimizer):
    model = flax_mlp.MLP(4, [3], 2, rngs=nnx.Rngs(0))
    tx = {m: flax_mlp.make_optimizer(m, optimizer, 0.1, 1e-2) for m in flax_mlp.METHODS}
    for method, transform in tx.items():
        opt = nnx.Optimizer(model, transform, wrt=nnx.Param)
        grads = jax.tree.map(jnp.ones_like, nnx.state(model, nnx.Param))
        opt.update(model, grads)  # needs params: the L1 transforms get them
        assert all(
            bool(jnp.isfinite(w).all()) for w in jax.tree.leaves(nnx.state(model, nnx.Param))
        ), method
    with pytest.raises(ValueError, match="unknown method"):
        flax_mlp.make_optimizer("no_such_method", optimizer, 0.1, 1e-2)


def test_linen_example_trains(capsys):
    argv = ["--epochs", "3", "--train-limit", "256", "--hidden", "32"]
    results = linen_mlp.main([*argv, "--methods", "none", "l1_sign_decay"])
    assert [r["method"] for r in results] == ["none", "l1_sign_decay"]
    for r in results:
        assert r["train_losses"][-1] < 0.5 * r["train_losses"][0], r
        assert r["train_acc"] > 0.5 and r["test_acc"] > 0.5, r  # 10 classes: chance is 0.1
    none, l1 = results
    assert l1["mean_abs_w"] < none["mean_abs_w"]
    assert "l1_sign_decay" in capsys.readouterr().out


def _linen_params_with_nonzero_biases():
    model = linen_mlp.MLP(hidden=(16, 8), classes=3)
    params = model.init(jax.random.key(0), jnp.zeros((1, 5)))["params"]
    # Biases start at zero, where sign(0) = 0 would hide an unmasked L1: move them off it.
    return jax.tree_util.tree_map_with_path(
        lambda path, w: w + 0.5 if path[-1].key == "bias" else w, params
    )


def _one_step_with_zero_gradients(tx, params):
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    return optax.apply_updates(params, updates)


def _split(params):
    kernels = {layer: p["kernel"] for layer, p in params.items()}
    biases = {layer: p["bias"] for layer, p in params.items()}
    return kernels, biases


@pytest.mark.parametrize("method", list(flax_mlp.METHODS))
def test_linen_mask_leaves_biases_alone(method):
    """With zero data gradients the only force is L1: kernels shrink, biases stay bitwise."""
    params = _linen_params_with_nonzero_biases()
    new = _one_step_with_zero_gradients(linen_mlp.make_tx(method, "sgd", 0.1, 1e-2), params)
    kernels, biases = _split(params)
    new_kernels, new_biases = _split(new)
    assert_trees_bitwise_equal(new_biases, biases)
    if method in ("none", "adam_l1"):  # adam_l1: no gradient yet, no prox (lazy rule)
        assert_trees_bitwise_equal(new_kernels, kernels)
    else:
        assert float(optax_l1.l1_norm(new_kernels)) < float(optax_l1.l1_norm(kernels))


def test_linen_bias_check_would_catch_an_unmasked_l1():
    params = _linen_params_with_nonzero_biases()
    unmasked = flax_mlp.METHODS["l1_sign_decay"](flax_mlp.OptConfig("sgd", 0.1, 1e-2, mask=None))
    _, biases = _split(params)
    _, new_biases = _split(_one_step_with_zero_gradients(unmasked, params))
    assert float(optax_l1.l1_norm(new_biases)) < float(optax_l1.l1_norm(biases))
