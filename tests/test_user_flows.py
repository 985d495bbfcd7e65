"""The flows real users run: each either works exactly or fails loudly (issue "No silent failure").

Each test reproduces a flow a user runs, with a real Flax or Equinox module where the flow
involves one, and checks the result, not only that it runs.
"""

from __future__ import annotations

import functools
import re
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen, nnx

import optax_l1
from helpers import assert_trees_all_close, assert_trees_bitwise_equal, orbax_resume

LR, LAM = 0.1, 0.01

# Every transform that takes `l1` (after the learning-rate scaling they need it too).
AFTER_SCALING = {
    "l1_sign_decay": optax_l1.l1_sign_decay,
    "l1_soft_threshold": optax_l1.l1_soft_threshold,
    "l1_cumulative_penalty": optax_l1.l1_cumulative_penalty,
    "group_soft_threshold": functools.partial(optax_l1.group_soft_threshold, axis=0),
}


def with_sgd(name: str, l1, lr=LR, mask=None) -> optax.GradientTransformation:
    """SGD with each L1 transform in its place in the chain."""
    if name == "add_l1_gradient":
        return optax.chain(optax_l1.add_l1_gradient(l1, mask=mask), optax.sgd(lr))
    return optax.chain(optax.sgd(lr), AFTER_SCALING[name](l1, learning_rate=lr, mask=mask))


ALL = ["add_l1_gradient", *AFTER_SCALING]


class SmallNet(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.dense = nnx.Linear(4, 3, rngs=rngs)
        self.out = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):
        return self.out(nnx.relu(self.dense(x)))


# --------------------------------------------------------------------------- 1. live params


@pytest.mark.parametrize("method", ["cumulative", "proximal"])
def test_weights_loaded_after_the_optimizer_was_built_are_kept(method):
    """Fine-tuning: build nnx.Optimizer, then load a checkpoint's weights into the model."""
    model = SmallNet(nnx.Rngs(0))
    tx = optax_l1.sgd_l1(LR, LAM, method=method, mask=optax_l1.skip_biases)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    pretrained = jax.tree.map(lambda w: jnp.full_like(w, 3.0), nnx.state(model, nnx.Param))
    nnx.update(model, pretrained)
    for step in (1, 2):
        grads = jax.tree.map(jnp.zeros_like, nnx.state(model, nnx.Param))
        optimizer.update(model, grads)
        params = nnx.state(model, nnx.Param)
        np.testing.assert_allclose(params["dense"]["kernel"][...], 3.0 - step * LR * LAM, rtol=1e-6)
        assert_trees_bitwise_equal(params["dense"]["bias"][...], jnp.full((3,), 3.0))


def test_lookahead_sync_holds_for_the_cumulative_penalty():
    """After lookahead syncs the fast weights, the next step starts from the synced value."""
    t = LR * LAM
    fast = optax_l1.sgd_l1(LR, LAM)  # the cumulative penalty
    tx = optax.lookahead(fast, sync_period=2, slow_step_size=0.5)
    params = optax.LookaheadParams.init_synced(jnp.array([1.0, -1.0]))
    state = tx.init(params)
    history = []
    for _ in range(3):
        grads = jnp.zeros(2)  # gradients at the fast params
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        history.append(np.asarray(params.fast))
    np.testing.assert_allclose(history[0], [1 - t, -1 + t], rtol=1e-6)
    np.testing.assert_allclose(history[1], [1 - t, -1 + t], rtol=1e-6)  # synced halfway
    # charged only this step's penalty from the synced value (not rebuilt to 1 - 3t)
    np.testing.assert_allclose(history[2], [1 - 2 * t, -1 + 2 * t], rtol=1e-6)


def test_restoring_the_params_after_a_nan_step_recovers():
    tx = optax.chain(optax.sgd(LR), optax_l1.l1_cumulative_penalty(0.5, learning_rate=LR))
    update = jax.jit(tx.update)
    w0 = jnp.array([1.0, -1.0, 0.02, -0.5])
    pushes = [jnp.array([0.1, -0.2, 0.0, 0.3])] * 3 + [jnp.zeros(4)] * 3

    def run(params, state, grads_seq):
        for g in grads_seq:
            u, state = update(g, state, params)
            params = optax.apply_updates(params, u)
        return params, state

    good, good_state = run(w0, tx.init(w0), pushes[:3])
    clean, _ = run(good, good_state, pushes[3:])
    bad, bad_state = run(good, good_state, [jnp.full(4, jnp.nan)])
    assert np.all(np.isnan(bad)), "a NaN step is loud: the params become NaN"
    recovered, _ = run(good, bad_state, pushes[3:])  # the user restores the params only
    assert np.all(np.isfinite(recovered))
    nonzero = np.asarray(good) != 0
    assert nonzero.sum() == 3
    # The bad step counted (the total and a schedule moved on): equal to rounding.
    np.testing.assert_allclose(recovered[nonzero], clean[nonzero], rtol=1e-6)
    np.testing.assert_array_equal(recovered == 0, clean == 0)


# --------------------------------------------------------------------------- 2. Adam, v = 0


def test_adam_l1_leaves_embedding_rows_without_gradients_alone():
    class Tagger(nnx.Module):
        def __init__(self, rngs):
            self.embed = nnx.Embed(10, 4, rngs=rngs)
            self.head = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, tokens):
            return self.head(self.embed(tokens)).mean(axis=0)

    model = Tagger(nnx.Rngs(0))
    optimizer = nnx.Optimizer(
        model, optax_l1.adam_l1(1e-3, 1e-6, mask=optax_l1.skip_biases), wrt=nnx.Param
    )
    before = jax.tree.map(jnp.copy, nnx.state(model, nnx.Param))
    tokens = jnp.array([0, 1])  # rows 2-9 are not in the batch
    for _ in range(3):
        grads = nnx.grad(lambda m: m(tokens).sum())(model)
        optimizer.update(model, grads)
    after = nnx.state(model, nnx.Param)["embed"]["embedding"][...]
    old = before["embed"]["embedding"][...]
    assert_trees_bitwise_equal(after[2:], old[2:])
    assert np.all(after[:2] != old[:2])
    assert np.all(after != 0)


def test_adam_l1_issue_example_and_the_threshold_once_a_gradient_arrives():
    tx = optax_l1.adam_l1(1e-3, 1e-6)
    p = {"emb": jnp.full((4, 3), 0.02)}
    g = {"emb": jnp.zeros((4, 3)).at[0].set(0.1)}
    state = tx.init(p)
    u, state = tx.update(g, state, p)
    new = optax.apply_updates(p, u)
    assert_trees_bitwise_equal(new["emb"][1:], p["emb"][1:])
    np.testing.assert_allclose(new["emb"][0], 0.02 - 1e-3 - 1e-3 * 1e-6 / 0.1, rtol=1e-5)
    # row 1's first gradient: from then on it is thresholded like the others
    g = {"emb": jnp.zeros((4, 3)).at[1].set(0.1)}
    u, state = tx.update(g, state, new)
    assert np.all(np.asarray(optax.apply_updates(new, u)["emb"][1]) < 0.02)


# --------------------------------------------------------------------------- 3. leaf kinds


def test_python_float_leaves_get_the_step_adam_gives():
    params, grads = {"w": 2.0}, {"w": 1.0}
    expected, _ = optax.adam(0.1).update(grads, optax.adam(0.1).init(params), params)
    for tx in (optax_l1.proximal_adam(0.1, 0.0), optax_l1.adam_l1(0.1, 0.0)):
        updates, _ = tx.update(grads, tx.init(params), params)
        np.testing.assert_allclose(updates["w"], expected["w"], rtol=1e-6)
        assert float(updates["w"]) < 0, "descent, not ascent"
    shrunk, _ = optax_l1.proximal_adam(0.1, 1.0).update(
        grads, optax_l1.proximal_adam(0.1, 1.0).init(params), params
    )
    assert float(shrunk["w"]) < float(expected["w"])


@pytest.mark.parametrize("name", ALL)
def test_python_float_leaves_are_regularized(name):
    params = {"w": 2.0, "v": -2.0}
    tx = with_sgd(name, LAM)
    if name == "group_soft_threshold":
        tx = with_sgd("l1_soft_threshold", LAM)  # a scalar has no axis 0 to group along
    updates, _ = tx.update({"w": 0.0, "v": 0.0}, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose([new["w"], new["v"]], [2 - LR * LAM, -2 + LR * LAM], rtol=1e-6)


@pytest.mark.parametrize("name", [*ALL, "adam_l1", "sgd_l1"])
def test_complex_parameters_are_refused_at_init(name):
    params = {"real": jnp.ones((2, 2)), "phase": jnp.ones((2, 2), jnp.complex64)}
    tx = {
        "adam_l1": lambda: optax_l1.adam_l1(0.1, 0.1),
        "sgd_l1": lambda: optax_l1.sgd_l1(0.1, 0.1),
    }.get(name, lambda: with_sgd(name, LAM))()
    with pytest.raises(ValueError, match=r"\['phase'\] is complex"):
        tx.init(params)
    masked = optax_l1.adam_l1(0.1, 0.1, mask={"real": True, "phase": False})
    masked.init(params)  # masked out: fine


def test_metrics_count_python_floats_and_complex_moduli():
    params = {"a": 2.0, "c": jnp.array([3 + 4j, 0j]), "i": jnp.array([7])}
    assert float(optax_l1.l1_norm(params)) == 7.0
    assert float(optax_l1.sparsity(params)) == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- 4. precision


def test_coupled_penalty_keeps_its_effect_with_bfloat16_gradients():
    """As optax.add_decayed_weights does, the penalty is added at the params' precision."""
    params = jnp.full((8,), 1.0, jnp.float32)
    grads = jnp.full((8,), 0.5, jnp.bfloat16)  # 0.5 + 1e-4 is 0.5 in bfloat16
    lam, lr, steps = 1e-4, 0.01, 100

    def run(tx, grads):
        p, state = params, tx.init(params)
        for _ in range(steps):
            u, state = tx.update(grads, state, p)
            p = optax.apply_updates(p, u)
        return p

    plain = run(optax.sgd(lr), grads.astype(jnp.float32))
    ours = run(optax.chain(optax_l1.add_l1_gradient(lam), optax.sgd(lr)), grads)
    theirs = run(optax.chain(optax.add_decayed_weights(lam), optax.sgd(lr)), grads)
    assert ours.dtype == jnp.float32
    shrink = np.asarray(plain - ours, np.float64)
    np.testing.assert_allclose(shrink, steps * lr * lam, rtol=0.02)  # all of it
    assert np.all(np.asarray(plain - theirs) > 0)  # optax's L2 keeps its term too


DTYPES = [jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64]


@pytest.mark.parametrize("u_dtype", DTYPES)
@pytest.mark.parametrize("w_dtype", DTYPES)
def test_sign_decay_never_crosses_zero_in_any_dtype_combination(u_dtype, w_dtype, x64):
    w = jax.random.uniform(jax.random.key(0), (4096,), jnp.float32, -1e-2, 1e-2).astype(w_dtype)
    for lam in (1e-3, 3.3e-3, 1.0):
        tx = optax_l1.l1_sign_decay(lam, learning_rate=1.0 / 3)
        updates, _ = tx.update(jnp.zeros(w.shape, u_dtype), tx.init(w), w)
        new = np.asarray(optax.apply_updates(w, updates), np.float64)
        old = np.asarray(w, np.float64)
        assert np.all(new * old >= 0), "crossed zero"
        assert np.all(np.abs(new) <= np.abs(old))


# --------------------------------------------------------------------------- 5. hyperparameters


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: optax_l1.l1_soft_threshold(lambda c: jnp.inf, learning_rate=0.1), "l1"),
        (lambda: optax_l1.l1_soft_threshold(0.1, learning_rate=lambda c: jnp.nan), "learning_rate"),
        (lambda: optax_l1.add_l1_gradient(1e39), "l1"),
        (lambda: optax_l1.add_l1_gradient(lambda c: jnp.ones(3)), "l1"),
        (lambda: optax_l1.add_l1_gradient(lambda c: None), "l1"),
        (lambda: optax_l1.add_l1_gradient(lambda c: 1j), "l1"),
        (lambda: optax_l1.add_l1_gradient(1j), "l1"),
        (lambda: optax_l1.add_l1_gradient(lambda: 0.1), "l1"),
        (lambda: optax_l1.sgd_l1(0.1, 0.1, momentum=float("nan")), "momentum"),
        (lambda: optax_l1.sgd_l1(0.1, 0.1, momentum=-1), "momentum"),
        (lambda: optax_l1.sgd_l1(0.1, 0.1, momentum=1.5), "momentum"),
        (lambda: optax_l1.adam_l1(0.1, 0.1, eps=0), "eps"),
        (lambda: optax_l1.adam_l1(0.1, 0.1, b1=1.0), "b1"),
        (lambda: optax_l1.proximal_adam(0.1, 0.1, l2=-1.0), "l2"),
    ],
)
def test_hyperparameters_that_would_break_later_are_refused_by_name(build, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        build()


# --------------------------------------------------------------------------- 6. hyper-gradients


@pytest.mark.parametrize("name", ALL)
def test_hypergradient_with_respect_to_l1_at_zero_is_the_one_sided_derivative(name):
    """d(sum of params after k steps)/d(l1) at l1 = 0: weights far from zero, no data
    gradient, so each weight moves by k * lr * l1 toward zero and the derivative is
    -k * lr * sum(sign(w)) (for the group step, per group norm)."""
    w0 = jnp.array([[1.0, 2.0], [3.0, -4.0]])
    k = 3

    def objective(lam):
        tx = with_sgd(name, lam)
        p, state = w0, tx.init(w0)
        for _ in range(k):
            u, state = tx.update(jnp.zeros_like(w0), state, p)
            p = optax.apply_updates(p, u)
        return jnp.sum(p)

    grad = jax.grad(objective)(0.0)
    if name == "group_soft_threshold":  # columns shrink along their unit directions
        norms = jnp.linalg.norm(w0, axis=0)
        expected = -k * LR * jnp.sum(jnp.sum(w0, axis=0) / norms)
    else:
        expected = -k * LR * jnp.sum(jnp.sign(w0))
    assert float(grad) != 0.0
    np.testing.assert_allclose(grad, expected, rtol=1e-5)
    h = 1e-3  # and it agrees with a one-sided finite difference (to its curvature)
    np.testing.assert_allclose((objective(h) - objective(0.0)) / h, expected, rtol=1e-2)


@pytest.mark.parametrize("name", ["add_l1_gradient", "l1_sign_decay", "l1_soft_threshold"])
def test_a_static_zero_is_still_bitwise_the_identity(name):
    updates = jnp.array([-0.0, 1.0, jnp.nan])
    params = jnp.array([jnp.nan, 1.0, 2.0])
    if name == "add_l1_gradient":
        tx = optax_l1.add_l1_gradient(0.0)
    else:
        tx = AFTER_SCALING[name](0.0, learning_rate=LR)
    out, _ = tx.update(updates, tx.init(params), params)
    assert_trees_bitwise_equal(out, updates)


# --------------------------------------------------------------------------- 7. masks


class LinenZoo(linen.Module):
    @linen.compact
    def __call__(self, x, tokens):
        e = linen.Embed(10, 4)(tokens)
        x = linen.Conv(4, (3,))(x)
        x = linen.BatchNorm(use_running_average=True)(x)
        x = linen.MultiHeadDotProductAttention(num_heads=2, qkv_features=4)(x)
        x = linen.LayerNorm()(x)
        return linen.Dense(2)(x) + e.sum()


class NnxZoo(nnx.Module):
    def __init__(self, rngs):
        self.embed = nnx.Embed(10, 4, rngs=rngs)
        self.conv = nnx.Conv(3, 4, (3,), rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(2, 4, 4, rngs=rngs, decode=False)
        self.ln = nnx.LayerNorm(4, rngs=rngs)
        self.dense = nnx.Linear(4, 2, rngs=rngs)


class EqxZoo(eqx.Module):
    embed: eqx.nn.Embedding
    conv: eqx.nn.Conv2d
    bn: eqx.nn.BatchNorm
    attn: eqx.nn.MultiheadAttention
    ln: eqx.nn.LayerNorm
    gn: eqx.nn.GroupNorm
    rms: eqx.nn.RMSNorm
    linear: eqx.nn.Linear
    vector: jax.Array  # a 1-D weight vector of the user's own, unnamed by any framework

    def __init__(self, key):
        keys = jax.random.split(key, 5)
        self.embed = eqx.nn.Embedding(10, 4, key=keys[0])
        self.conv = eqx.nn.Conv2d(3, 4, 3, key=keys[1])
        self.bn = eqx.nn.BatchNorm(4, axis_name="batch", mode="batch")
        self.attn = eqx.nn.MultiheadAttention(2, 4, use_query_bias=True, key=keys[2])
        self.ln = eqx.nn.LayerNorm(4)
        self.gn = eqx.nn.GroupNorm(2, 4)
        self.rms = eqx.nn.RMSNorm(4)
        self.linear = eqx.nn.Linear(4, 2, key=keys[3])
        self.vector = jax.random.normal(keys[4], (4,))


def _linen_params():
    model = LinenZoo()
    variables = model.init(jax.random.key(0), jnp.ones((1, 5, 3)), jnp.array([1]))
    return variables["params"]


def _nnx_params():
    return nnx.state(NnxZoo(nnx.Rngs(0)), nnx.Param)


def _eqx_params():
    model = EqxZoo(jax.random.key(0))
    return eqx.filter(model, eqx.is_inexact_array)


def _selected_paths(params, mask_fn):
    mask = mask_fn(params)
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return {
        re.sub(r"\.value$", "", jax.tree_util.keystr(path))
        for (path, _), keep in zip(flat, jax.tree.leaves(mask), strict=True)
        if keep
    }


EXPECTED_SELECTED = {
    "linen": {
        "['Embed_0']['embedding']",
        "['Conv_0']['kernel']",
        "['Dense_0']['kernel']",
        *(
            f"['MultiHeadDotProductAttention_0']['{p}']['kernel']"
            for p in ("query", "key", "value", "out")
        ),
    },
    "nnx": {
        "['embed']['embedding']",
        "['conv']['kernel']",
        "['dense']['kernel']",
        *(f"['attn']['{p}']['kernel']" for p in ("query", "key", "value", "out")),
    },
    "equinox": {
        ".embed.weight",
        ".conv.weight",
        ".linear.weight",
        *(f".attn.{p}_proj.weight" for p in ("query", "key", "value", "output")),
    },
}
PARAMS = {"linen": _linen_params, "nnx": _nnx_params, "equinox": _eqx_params}


@pytest.mark.parametrize("framework", PARAMS)
def test_skip_biases_selects_exactly_the_weights_of_real_modules(framework):
    params = PARAMS[framework]()
    expected = EXPECTED_SELECTED[framework]  # (Equinox's `.vector`: no name, rank 1: skipped)
    assert _selected_paths(params, optax_l1.skip_biases) == expected
    assert _selected_paths(params, optax_l1.mask_by_name()) == expected
    # every bias is skipped, whatever its shape (Equinox Conv: (C, 1, 1); attention: 2-D)
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    biases = [leaf for path, leaf in flat if "bias" in jax.tree_util.keystr(path)]
    assert any(np.ndim(b) >= 2 for b in biases)


def test_a_weight_vector_named_as_a_weight_is_selected_whatever_its_rank():
    params = {"gate": {"kernel": jnp.ones(4)}, "proj": {"weight": jnp.ones(3)}, "b": jnp.ones(3)}
    assert optax_l1.skip_biases(params) == {
        "b": False,
        "gate": {"kernel": True},
        "proj": {"weight": True},
    }


@pytest.mark.parametrize("framework", PARAMS)
def test_l1_leaves_everything_but_the_weights_bitwise_alone(framework):
    params = PARAMS[framework]()
    params = jax.tree.map(lambda w: w + 0.5, params)  # off zero, where sign(0) hides L1
    tx = optax.chain(
        optax.sgd(LR), optax_l1.l1_sign_decay(0.1, learning_rate=LR, mask=optax_l1.skip_biases)
    )
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    selected = _selected_paths(params, optax_l1.skip_biases)
    flat_old = jax.tree_util.tree_flatten_with_path(params)[0]
    for (path, old), fresh in zip(flat_old, jax.tree.leaves(new), strict=True):
        name = re.sub(r"\.value$", "", jax.tree_util.keystr(path))
        if name in selected:
            assert np.all(np.abs(fresh) < np.abs(old)), name
        else:
            assert_trees_bitwise_equal(fresh, old)


def test_a_mask_that_selects_nothing_warns_at_init():
    params = _eqx_params()
    tx = optax_l1.add_l1_gradient(0.1, mask=optax_l1.mask_by_name(include=("kernel",)))
    with pytest.warns(UserWarning, match="selects no floating-point parameter"):
        tx.init(params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optax_l1.add_l1_gradient(0.1, mask=optax_l1.skip_biases).init(params)


@pytest.mark.parametrize("name", ALL)
def test_inject_hyperparams_without_static_args_is_refused_not_silently_off(name):
    factory = AFTER_SCALING.get(name, optax_l1.add_l1_gradient)
    kwargs = {} if name == "add_l1_gradient" else {"learning_rate": LR}
    static = ("axis",) if name == "group_soft_threshold" else ()
    inject = optax.inject_hyperparams(factory, static_args=static)
    tx = inject(l1=0.1, mask=optax_l1.skip_biases, **kwargs)
    with pytest.raises(ValueError, match="static_args=\\('mask',\\)"):
        tx.init({"kernel": jnp.ones((2, 2))})


def test_adam_l1_mask_that_does_not_fit_says_so():
    tx = optax_l1.adam_l1(0.1, 0.1, mask={"a": True})
    with pytest.raises(ValueError, match="`mask` does not fit the params"):
        tx.init({"a": jnp.ones((2, 2)), "b": jnp.ones(2)})


MASK_TRANSFORMS = [
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


@pytest.mark.parametrize("mask", [optax_l1.skip_biases, optax_l1.mask_by_name()])
@pytest.mark.parametrize("factory", MASK_TRANSFORMS)
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


# --------------------------------------------------------------------------- 8. wrappers


@pytest.mark.parametrize("name", ALL)
def test_updates_shaped_unlike_the_params_are_refused(name):
    tx = with_sgd(name, LAM)
    params = jnp.ones((3, 3))
    with pytest.raises(ValueError, match="shape"):
        tx.update(jnp.ones((1, 3)), tx.init(params), params)


@pytest.mark.parametrize(
    "build",
    [
        lambda: optax_l1.sgd_l1(LR, LAM),
        lambda: optax_l1.sgd_l1(LR, LAM, method="proximal"),
        lambda: optax.chain(
            optax.sgd(LR), optax_l1.group_soft_threshold(LAM, axis=0, learning_rate=LR)
        ),
        lambda: optax_l1.adam_l1(LR, LAM),
    ],
    ids=["cumulative", "proximal", "group", "adam_l1"],
)
def test_schedule_free_is_refused_for_the_exact_sparsity_methods(build):
    tx = optax.contrib.schedule_free(build(), learning_rate=LR)
    params = jnp.ones((2, 2))
    state = tx.init(params)
    with pytest.raises(ValueError, match="schedule_free"):
        tx.update(jnp.ones((2, 2)), state, params)


def test_schedule_free_with_the_coupled_penalty_is_schedule_free_on_the_l1_objective():
    w0 = jnp.array([1.0, -2.0, 0.5])
    grads = [jnp.array([0.3, -0.1, 0.2]) * (i + 1) for i in range(5)]

    def run(tx, add_penalty):
        p, state = w0, tx.init(w0)
        for g in grads:
            if add_penalty:
                g = g + LAM * jnp.sign(p)  # jax.grad of LAM * sum|p| at the point it sees
            u, state = tx.update(g, state, p)
            p = optax.apply_updates(p, u)
        return p

    ours = run(optax.contrib.schedule_free(optax_l1.add_l1_gradient(LAM), LR), False)
    reference = run(optax.contrib.schedule_free(optax.identity(), LR), True)
    assert_trees_all_close(ours, reference, rtol=1e-6)


def test_linen_train_state_flow():
    from flax.training import train_state

    model = linen.Dense(3)
    params = model.init(jax.random.key(0), jnp.ones((1, 4)))["params"]
    state = train_state.TrainState.create(
        apply_fn=model.apply,
        params=params,
        tx=optax_l1.adam_l1(3e-2, 0.1, mask=optax_l1.skip_biases),
    )
    x = jax.random.normal(jax.random.key(1), (64, 4))
    y = 2 * x[:, :1] * jnp.ones((1, 3))  # only the first input matters

    @jax.jit
    def step(state):
        grads = jax.grad(lambda p: jnp.mean((state.apply_fn({"params": p}, x) - y) ** 2))(
            state.params
        )
        return state.apply_gradients(grads=grads)

    for _ in range(200):
        state = step(state)
    kernel = state.params["kernel"]
    assert_trees_bitwise_equal(kernel[1:], jnp.zeros((3, 3)))
    assert np.all(np.asarray(kernel[0]) > 1)


def test_equinox_training_flow():
    model = eqx.nn.MLP(4, 2, 16, 1, key=jax.random.key(0))
    tx = optax_l1.adam_l1(1e-2, 3e-2, mask=optax_l1.skip_biases)
    state = tx.init(eqx.filter(model, eqx.is_inexact_array))
    x = jax.random.normal(jax.random.key(1), (32, 4))
    y = x[:, :2]

    @eqx.filter_jit
    def step(model, state):
        grads = eqx.filter_grad(lambda m: jnp.mean((jax.vmap(m)(x) - y) ** 2))(model)
        updates, state = tx.update(grads, state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state

    for _ in range(100):
        model, state = step(model, state)
    params = eqx.filter(model, eqx.is_inexact_array)
    assert float(optax_l1.sparsity(params, optax_l1.skip_biases)) > 0.3
    assert (
        float(
            optax_l1.sparsity(
                params, lambda p: jax.tree.map(lambda s: not s, optax_l1.skip_biases(p))
            )
        )
        == 0.0
    )  # biases train with plain Adam: none of them is zeroed


def test_multi_transform_routes_l1_to_the_labelled_params():
    params = {"encoder": jnp.full((2, 2), 2.0), "head": jnp.full((2, 2), 2.0)}
    tx = optax.multi_transform(
        {"sparse": optax_l1.sgd_l1(LR, LAM, method="proximal"), "dense": optax.sgd(LR)},
        {"encoder": "sparse", "head": "dense"},
    )
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new["encoder"], 2 - LR * LAM, rtol=1e-6)
    assert_trees_bitwise_equal(new["head"], params["head"])


def test_clip_by_global_norm_before_adam_l1_clips_what_adam_sees():
    params = {"w": jnp.array([[1.0, -1.0]])}
    grads = {"w": jnp.array([[30.0, 40.0]])}  # norm 50
    clipped = optax.chain(optax.clip_by_global_norm(5.0), optax_l1.adam_l1(0.1, 0.01))
    direct = optax_l1.adam_l1(0.1, 0.01)
    u1, _ = clipped.update(grads, clipped.init(params), params)
    u2, _ = direct.update({"w": grads["w"] / 10}, direct.init(params), params)
    assert_trees_all_close(u1, u2, rtol=1e-6)


@pytest.mark.parametrize("name", ["add_l1_gradient", "l1_cumulative_penalty"])
def test_multisteps_applies_l1_once_per_accumulated_step(name):
    params = jnp.array([2.0, -2.0])
    tx = optax.MultiSteps(with_sgd(name, LAM), every_k_schedule=4)
    state = tx.init(params)
    for _ in range(8):
        updates, state = tx.update(jnp.zeros(2), state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(params, [2 - 2 * LR * LAM, -2 + 2 * LR * LAM], rtol=1e-6)


def test_inject_hyperparams_with_static_mask_changes_l1_midway():
    tx = optax.inject_hyperparams(optax_l1.l1_cumulative_penalty, static_args="mask")(
        l1=0.0, learning_rate=LR, mask=optax_l1.skip_biases
    )
    params = {"kernel": jnp.full((2, 2), 1.0), "bias": jnp.ones(2)}
    state = tx.init(params)
    update = jax.jit(tx.update)
    for l1 in (0.0, 0.5, 0.5):
        state.hyperparams["l1"] = jnp.asarray(l1)
        updates, state = update(jax.tree.map(jnp.zeros_like, params), state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(params["kernel"], 1 - 2 * LR * 0.5, rtol=1e-6)
    assert_trees_bitwise_equal(params["bias"], jnp.ones(2))


def test_orbax_restore_resumes_bitwise(tmp_path):
    tx = optax.chain(optax.adam(1e-2), optax_l1.l1_cumulative_penalty(0.1, learning_rate=1e-2))
    w0 = jax.random.normal(jax.random.key(9), (3, 4))
    grads = [jax.random.normal(jax.random.key(i), (3, 4)) for i in range(6)]
    straight, straight_state, resumed, resumed_state, _ = orbax_resume(tx, w0, grads, tmp_path)
    assert_trees_bitwise_equal(resumed, straight)
    assert_trees_bitwise_equal(resumed_state, straight_state)


# --------------------------------------------------------------------------- review findings


@pytest.mark.parametrize("name", list(AFTER_SCALING))
def test_a_learning_rate_of_none_is_refused_not_taken_for_l1_per_step(name):
    with pytest.raises(ValueError, match="`learning_rate`"):
        AFTER_SCALING[name](0.1, learning_rate=None)


def test_ftrl_refuses_a_schedule_that_starts_at_zero_and_never_zeroes_a_nan():
    with pytest.raises(ValueError, match="warm up from a small positive rate"):
        optax_l1.ftrl(optax.warmup_cosine_decay_schedule(0.0, 0.5, 10, 100), l1=0.01)
    tx = optax_l1.ftrl(0.5, l1=0.01)
    params = jnp.zeros(3)
    updates, _ = tx.update(jnp.array([1.0, jnp.nan, 0.0]), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert np.isnan(new[1]), "a NaN gradient must give a NaN weight, not a silent 0"
    assert np.isfinite(new[0]) and float(new[2]) == 0.0


@pytest.mark.parametrize(
    ("build", "update"),
    [  # an update that is already a step (after the lr scaling) / a gradient
        (
            lambda: optax.inject_hyperparams(optax_l1.l1_soft_threshold)(l1=0.1, learning_rate=0.1),
            0.0,
        ),
        (
            lambda: optax_l1.target_sparsity(
                optax_l1.adam_l1, 0.5, ramp_steps=5, learning_rate=0.1
            ),
            0.1,
        ),
    ],
    ids=["inject_hyperparams", "target_sparsity"],
)
def test_bfloat16_params_under_inject_hyperparams(build, update):
    """inject_hyperparams casts hyperparameters to the params' dtype: bfloat16 included."""
    tx = build()
    params = jnp.ones((4, 3), jnp.bfloat16)
    grads = jnp.full((4, 3), update, jnp.bfloat16)
    updates, _ = tx.update(grads, tx.init(params), params)
    new = np.asarray(optax.apply_updates(params, updates), np.float32)
    assert np.all(np.isfinite(new)) and np.all(new < 1)
