"""Run on 8 simulated CPU devices by tests/test_multidevice.py (a separate process).

Every transform and alias on sharded params, updates and state: shardings are kept,
elementwise steps compile to no cross-device collective, results equal one device's.
"""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import optax_l1

if jax.device_count() < 8:
    pytest.skip(
        "needs 8 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)",
        allow_module_level=True,
    )

MESH = Mesh(np.array(jax.devices()[:8]).reshape(2, 4), ("data", "model"))
COLLECTIVES = re.compile(r"all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter")
LR, LAM = 0.05, 0.01

SPECS = {
    "dense": {"kernel": P("data", "model"), "bias": P("model")},
    "head": {"kernel": P(None, "model"), "bias": P()},
}


def _params():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    return {
        "dense": {"kernel": jax.random.normal(k1, (16, 32)) * 0.1, "bias": jnp.zeros(32)},
        "head": {"kernel": jax.random.normal(k2, (32, 8)) * 0.1, "bias": jnp.zeros(8)},
    }, jax.random.normal(k3, (8, 16))


def _shard(tree):
    return jax.tree.map(lambda x, s: jax.device_put(x, NamedSharding(MESH, s)), tree, SPECS)


ELEMENTWISE = {
    "add_l1_gradient": lambda: optax.chain(
        optax_l1.add_l1_gradient(LAM, mask=optax_l1.skip_biases), optax.sgd(LR, momentum=0.9)
    ),
    "l1_sign_decay": lambda: optax.chain(
        optax.adam(LR),
        optax_l1.l1_sign_decay(LAM, learning_rate=LR, mask=optax_l1.skip_biases),
    ),
    "l1_soft_threshold": lambda: optax.chain(
        optax.sgd(LR),
        optax_l1.l1_soft_threshold(optax.constant_schedule(LAM), learning_rate=LR),
    ),
    "l1_cumulative_penalty": lambda: optax.chain(
        optax.sgd(LR),
        optax_l1.l1_cumulative_penalty(LAM, learning_rate=LR, mask=optax_l1.skip_biases),
    ),
    "sgd_l1": lambda: optax_l1.sgd_l1(LR, LAM, momentum=0.9, mask=optax_l1.skip_biases),
    "adam_l1": lambda: optax_l1.adam_l1(LR, LAM, weight_decay=1e-4, mask=optax_l1.skip_biases),
    "ftrl": lambda: optax_l1.ftrl(
        LR, l1=LAM, l2=1e-3, l2_shrinkage=1e-4, beta=0.5, mask=optax_l1.skip_biases
    ),
    "freeze_zeros": lambda: optax.chain(
        optax.adam(LR), optax_l1.freeze_zeros(optax_l1.skip_biases)
    ),
    "proximal_adagrad": lambda: optax_l1.proximal_adagrad(
        LR, l1=LAM, l2=1e-3, mask=optax_l1.skip_biases
    ),
}


def _update_fn(tx):
    def update(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return update


def _loss(params, x):
    h = jnp.tanh(x @ params["dense"]["kernel"] + params["dense"]["bias"])
    return jnp.mean((h @ params["head"]["kernel"] + params["head"]["bias"]) ** 2)


def _run(tx, params, x, steps=5, sharded=True):
    """Training steps whose gradients come from one device in both runs.

    A sharded matmul sums in another order than a single-device one, and Adam turns
    those last-bit differences in small gradients into visible ones; the claim here is
    about the optimizer, so both runs take the same gradients (sharded in one of them).
    """
    if sharded:
        params = _shard(params)
    state = tx.init(params)
    update = jax.jit(_update_fn(tx))
    for _ in range(steps):
        grads = jax.grad(_loss)(jax.device_get(params), x)
        if sharded:
            grads = _shard(grads)
        params, state = update(params, state, grads)
    return params, state


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_update_has_no_collective_and_keeps_shardings(name):
    tx = ELEMENTWISE[name]()
    params, _ = _params()
    params = _shard(params)
    grads = _shard(jax.tree.map(jnp.ones_like, params))
    state = tx.init(params)
    compiled = jax.jit(_update_fn(tx)).lower(params, state, grads).compile()
    hlo = compiled.as_text()
    assert not COLLECTIVES.search(hlo), COLLECTIVES.findall(hlo)
    new_params, new_state = compiled(params, state, grads)
    for old, new in zip(jax.tree.leaves(params), jax.tree.leaves(new_params), strict=True):
        assert new.sharding.is_equivalent_to(old.sharding, old.ndim)
    # per-weight state (moments, cumulative penalties) is sharded like the params
    for leaf in jax.tree.leaves(new_state):
        if leaf.shape == (16, 32):
            assert leaf.sharding.is_equivalent_to(params["dense"]["kernel"].sharding, 2)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_sharded_training_equals_one_device(name):
    params, x = _params()
    sharded, sharded_state = _run(ELEMENTWISE[name](), params, x, sharded=True)
    single, single_state = _run(ELEMENTWISE[name](), params, x, sharded=False)
    for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(single), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(np.asarray(a) == 0, np.asarray(b) == 0)
    for a, b in zip(jax.tree.leaves(sharded_state), jax.tree.leaves(single_state), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_target_sparsity_on_sharded_params_keeps_shardings_and_equals_one_device():
    """The controller's measurement is one reduction across devices; nothing is gathered."""

    def build():
        return optax_l1.target_sparsity(
            optax_l1.adam_l1, 0.5, ramp_steps=3, learning_rate=LR, mask=optax_l1.skip_biases
        )

    params, x = _params()
    sharded, state = _run(build(), params, x, sharded=True)
    single, _ = _run(build(), params, x, sharded=False)
    for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(single), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(np.asarray(a) == 0, np.asarray(b) == 0)
    assert sharded["dense"]["kernel"].sharding.is_equivalent_to(
        NamedSharding(MESH, SPECS["dense"]["kernel"]), 2
    )
    assert optax_l1.sparsity(sharded, optax_l1.skip_biases) > 0
    hlo = jax.jit(_update_fn(build())).lower(sharded, state, sharded).compile().as_text()
    assert "all-gather" not in hlo


def test_group_soft_threshold_across_devices_is_correct():
    """Groups along a sharded axis need a reduction across devices; the result must not change."""
    tx = optax.chain(
        optax.sgd(LR),
        optax_l1.group_soft_threshold(
            0.08 / LR, axis=0, learning_rate=LR, mask=optax_l1.skip_biases
        ),
    )
    params, x = _params()
    sharded, _ = _run(tx, params, x, sharded=True)
    single, _ = _run(tx, params, x, sharded=False)
    for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(single), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(np.asarray(a) == 0, np.asarray(b) == 0)
    assert optax_l1.sparsity(sharded, optax_l1.skip_biases) > 0
    assert sharded["dense"]["kernel"].sharding.is_equivalent_to(
        NamedSharding(MESH, SPECS["dense"]["kernel"]), 2
    )


def test_devices_are_simulated_here():
    assert "xla_force_host_platform_device_count=8" in os.environ.get("XLA_FLAGS", "")


METRIC_SPECS = {  # every layout at once: split over both axes, one, none; a bf16 leaf
    "both": P("data", "model"),
    "flat": P(("data", "model")),
    "model": P(None, "model"),
    "data": P("data"),
    "replicated": P(),
    "bf16": P("model"),
}


def _metric_params():
    rng = np.random.default_rng(0)
    shapes = {"both": (8, 16), "flat": (24,), "model": (6, 8), "data": (10,), "replicated": (5,)}
    host = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    host["bf16"] = rng.normal(size=(12,)).astype(jnp.bfloat16)
    host = {k: np.where(np.abs(v) < 0.6, 0, v).astype(v.dtype) for k, v in host.items()}
    sharded = {k: jax.device_put(v, NamedSharding(MESH, METRIC_SPECS[k])) for k, v in host.items()}
    return host, sharded


def test_metrics_on_sharded_params_are_one_all_reduce_and_exact():
    """Each device reduces its blocks; one psum adds them; a replicated copy counts once."""
    from optax_l1 import _metrics

    host, sharded = _metric_params()
    wide = [np.asarray(v, np.float64) for v in host.values()]
    zeros = sum(int((v == 0).sum()) for v in wide) / sum(v.size for v in wide)
    assert float(optax_l1.sparsity(sharded)) == pytest.approx(zeros, rel=1e-7)
    assert float(optax_l1.sparsity(sharded)) == float(optax_l1.sparsity(host))
    norm = sum(float(np.abs(v).sum()) for v in wide)
    np.testing.assert_allclose(float(optax_l1.l1_norm(sharded)), norm, rtol=1e-6)
    np.testing.assert_allclose(float(jax.jit(optax_l1.l1_norm)(sharded)), norm, rtol=1e-6)

    leaves = _metrics.selected_leaves(sharded, None)
    mesh, specs = _metrics._one_mesh(leaves)
    for kind in ("abs", "zeros"):
        hlo = _metrics._total_in_one_psum.lower(leaves, kind, mesh, specs).compile().as_text()
        reductions = re.findall(r"all-reduce(?:-start)?\(", hlo)
        assert len(reductions) == 1, hlo
        assert not re.search(r"all-gather|all-to-all|collective-permute", hlo)


def test_metrics_fall_back_on_mixed_placements():
    host, sharded = _metric_params()
    mixed = dict(sharded, replicated=host["replicated"])  # a host array among sharded ones
    assert float(optax_l1.sparsity(mixed)) == float(optax_l1.sparsity(host))
    np.testing.assert_allclose(
        float(optax_l1.l1_norm(mixed)), float(optax_l1.l1_norm(host)), rtol=1e-6
    )
