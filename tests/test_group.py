import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_l1
from helpers import assert_trees_all_close, assert_trees_bitwise_equal


def _group_prox(z, t, axes):
    """The closed-form group-lasso prox, written with NumPy in float64."""
    z = np.asarray(z, np.float64)
    norm = np.sqrt(np.sum(z**2, axis=axes, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(norm > t, 1 - t / norm, 0.0)
    return z * factor


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize(
    ("shape", "axis"), [((6, 5), 0), ((6, 5), 1), ((6, 5), -1), ((3, 3, 2, 4), (0, 1, 2))]
)
def test_equals_the_closed_form_group_prox(shape, axis, jit):
    w = jax.random.normal(jax.random.key(0), shape)
    u = 0.3 * jax.random.normal(jax.random.key(1), shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    t = float(np.median(np.sqrt(np.sum(np.asarray(w + u) ** 2, axis=axes))))  # zeroes about half
    tx = optax.chain(optax.sgd(1.0), optax_l1.group_soft_threshold(t, axis=axis, learning_rate=1.0))
    update = jax.jit(tx.update) if jit else tx.update
    updates, _ = update(-u, tx.init(w), w)  # sgd(1.0) turns -u into +u
    new = optax.apply_updates(w, updates)
    expected = _group_prox(w + u, t, axes)
    np.testing.assert_allclose(new, expected, rtol=1e-5, atol=1e-6)
    zero_groups = np.all(expected == 0, axis=axes)
    assert 0 < zero_groups.sum() < zero_groups.size, "the case should zero some groups, not all"
    assert np.all(np.asarray(new)[np.broadcast_to(np.expand_dims(zero_groups, axes), shape)] == 0)


def test_whole_neurons_go_to_exact_zero_together():
    kernel = jnp.array([[3.0, 0.3, -2.0], [4.0, -0.4, 0.0]])  # column norms 5, 0.5, 2
    tx = optax_l1.group_soft_threshold(1.0, axis=0, learning_rate=1.0)
    updates, _ = tx.update(jnp.zeros_like(kernel), tx.init(kernel), kernel)
    new = optax.apply_updates(kernel, updates)
    assert_trees_bitwise_equal(new[:, 1], jnp.zeros(2))
    assert_trees_all_close(new[:, 0], jnp.array([2.4, 3.2]))
    assert_trees_all_close(new[:, 2], jnp.array([-1.0, 0.0]))


def test_scale_by_group_size_uses_sqrt_of_the_group_size():
    kernel = jnp.full((4, 2), 1.0)  # each column: 4 entries, norm 2
    plain = optax_l1.group_soft_threshold(1.0, axis=0, learning_rate=1.0)  # t = 1
    scaled = optax_l1.group_soft_threshold(
        1.0, axis=0, scale_by_group_size=True, learning_rate=1.0
    )  # t = 2
    zeros = jnp.zeros_like(kernel)
    up_plain, _ = plain.update(zeros, plain.init(kernel), kernel)
    up_scaled, _ = scaled.update(zeros, scaled.init(kernel), kernel)
    assert_trees_all_close(optax.apply_updates(kernel, up_plain), jnp.full((4, 2), 0.5))
    assert_trees_bitwise_equal(optax.apply_updates(kernel, up_scaled), jnp.zeros((4, 2)))


def test_never_grows_a_group_and_keeps_directions():
    z = jax.random.normal(jax.random.key(5), (8, 16))
    tx = optax_l1.group_soft_threshold(2.0, axis=0, learning_rate=1.0)
    updates, _ = tx.update(jnp.zeros_like(z), tx.init(z), z)
    new = np.asarray(optax.apply_updates(z, updates))
    assert np.all(np.linalg.norm(new, axis=0) <= np.linalg.norm(z, axis=0) + 1e-6)
    assert np.all(new * np.asarray(z) >= 0)


def test_axis_errors_are_clear():
    with pytest.raises(TypeError, match="`axis`"):
        optax_l1.group_soft_threshold(0.1, axis=(), learning_rate=1.0)
    with pytest.raises(TypeError, match="`axis`"):
        optax_l1.group_soft_threshold(0.1, axis=1.5, learning_rate=1.0)
    with pytest.raises(ValueError, match="repeats"):
        optax_l1.group_soft_threshold(0.1, axis=(0, 0), learning_rate=1.0)
    tx = optax_l1.group_soft_threshold(0.1, axis=1, learning_rate=1.0)
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    with pytest.raises(ValueError, match="does not fit a parameter of shape"):
        tx.update(params, tx.init(params), params)
    masked = optax_l1.group_soft_threshold(
        0.1, axis=1, mask=optax_l1.skip_biases, learning_rate=1.0
    )
    masked.update(params, masked.init(params), params)
    with pytest.raises(ValueError, match="same axis twice"):
        bad = optax_l1.group_soft_threshold(0.1, axis=(1, -1), learning_rate=1.0)
        bad.update(params["kernel"], bad.init(params["kernel"]), params["kernel"])


def test_inject_hyperparams_needs_axis_static_and_says_so():
    tx = optax.inject_hyperparams(optax_l1.group_soft_threshold)(l1=0.1, axis=0, learning_rate=1.0)
    with pytest.raises(TypeError, match="static_args"):
        tx.init(jnp.ones((2, 2)))
    tx = optax.inject_hyperparams(optax_l1.group_soft_threshold, static_args="axis")(
        l1=0.1, axis=0, learning_rate=1.0
    )
    params = jnp.full((2, 2), 1.0)
    updates, _ = jax.jit(tx.update)(jnp.zeros((2, 2)), tx.init(params), params)
    expected_norm_after = np.sqrt(2) - 0.1
    np.testing.assert_allclose(np.linalg.norm(params + updates, axis=0), expected_norm_after)


def test_numpy_integer_axes_are_accepted():
    kernel = jnp.array([[3.0, 0.1], [4.0, -0.1]])
    for axis in (np.int64(0), (np.int32(0),)):
        tx = optax_l1.group_soft_threshold(1.0, axis=axis, learning_rate=1.0)
        updates, _ = tx.update(jnp.zeros_like(kernel), tx.init(kernel), kernel)
        assert float(optax.apply_updates(kernel, updates)[0, 1]) == 0.0
