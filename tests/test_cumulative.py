import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optax_l1
from helpers import (
    assert_trees_all_close,
    assert_trees_bitwise_equal,
    lasso_objective,
    lasso_problem,
    random_tree,
    sklearn_lasso,
)


def _numpy_tsuruoka(w, updates, penalties):
    """The cumulative penalty as written in Tsuruoka et al. (2009), Figure 2, in float64."""
    w, total, applied = np.asarray(w, np.float64), 0.0, np.zeros(np.shape(w))
    path = []
    for u, t in zip(updates, penalties, strict=True):
        total += t
        z = w + np.asarray(u, np.float64)
        new = z.copy()
        pos, neg = z > 0, z < 0
        new[pos] = np.maximum(0, z[pos] - (total + applied[pos]))
        new[neg] = np.minimum(0, z[neg] + (total - applied[neg]))
        applied += new - z
        w = new
        path.append(w)
    return path, total, applied


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("scheduled", [False, True])
def test_matches_the_papers_algorithm_step_by_step(jit, scheduled):
    steps = 60
    w0 = np.asarray(random_tree(jax.random.key(0))["dense"]["kernel"]) * 0.5
    ups = [np.asarray(jax.random.normal(jax.random.key(i), w0.shape)) * 0.05 for i in range(steps)]
    schedule = optax.exponential_decay(0.01, steps, 0.25)
    penalties = (
        [float(schedule(jnp.int32(t))) for t in range(steps)] if scheduled else [0.005] * steps
    )
    tx = optax_l1.l1_cumulative_penalty(schedule if scheduled else 0.005, learning_rate=1.0)
    expected, total, applied = _numpy_tsuruoka(w0, ups, penalties)

    params, state = jnp.asarray(w0), tx.init(jnp.asarray(w0))
    update = jax.jit(tx.update) if jit else tx.update
    for t in range(steps):
        updates, state = update(jnp.asarray(ups[t]), state, params)
        params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(params, expected[t], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(params) == 0, expected[t] == 0)
    np.testing.assert_allclose(state.total, total, rtol=1e-6)
    # the state keeps the unpenalized weight r; the penalty received is w - r
    np.testing.assert_allclose(params - state.unpenalized, applied, rtol=1e-5, atol=1e-6)
    assert int(state.count) == steps and 0.1 < optax_l1.sparsity(params) < 1


def test_debt_carries_over_where_soft_threshold_forgets_it():
    """A weight at zero owes the penalty of every step it sat there; a push pays it first."""
    zero, t = jnp.zeros(1), 0.01
    cumulative = optax_l1.l1_cumulative_penalty(t, learning_rate=1.0)
    soft = optax_l1.l1_soft_threshold(t, learning_rate=1.0)
    results = {}
    for name, tx in {"cumulative": cumulative, "soft": soft}.items():
        params, state = zero, tx.init(zero)
        for push in [0.0] * 10 + [0.05]:
            updates, state = tx.update(jnp.array([push]), state, params)
            params = optax.apply_updates(params, updates)
        results[name] = float(params[0])
    assert results["soft"] == pytest.approx(0.04)
    assert results["cumulative"] == 0.0


def test_minibatch_lasso_cumulative_recovers_the_support_others_do_not():
    x, y = lasso_problem(n=2000, d=200, informative=10, seed=0)
    alpha, batch, epochs, lr0 = 0.1, 10, 20, 0.01
    reference = sklearn_lasso(x, y, alpha)
    assert np.count_nonzero(reference) == 10
    best = lasso_objective(x, y, reference, alpha)
    steps = epochs * len(x) // batch
    lr = optax.exponential_decay(lr0, steps, 0.01)
    methods = {
        "cumulative": optax.chain(
            optax.sgd(lr), optax_l1.l1_cumulative_penalty(alpha, learning_rate=lr)
        ),
        "soft": optax.chain(optax.sgd(lr), optax_l1.l1_soft_threshold(alpha, learning_rate=lr)),
        "subgradient": optax.chain(optax_l1.add_l1_gradient(alpha), optax.sgd(lr)),
    }
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    order = jnp.concatenate(
        [jax.random.permutation(jax.random.key(e), len(x)) for e in range(epochs)]
    ).reshape(-1, batch)

    def train(tx):
        def step(carry, idx):
            w, state = carry
            grads = jax.grad(lambda w: 0.5 * jnp.mean((xj[idx] @ w - yj[idx]) ** 2))(w)
            updates, state = tx.update(grads, state, w)
            return (optax.apply_updates(w, updates), state), None

        w0 = jnp.zeros(x.shape[1])
        (w, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, order))((w0, tx.init(w0)))
        return np.asarray(w, np.float64)

    found = {name: train(tx) for name, tx in methods.items()}
    w = found["cumulative"]
    np.testing.assert_array_equal(w != 0, reference != 0)
    assert lasso_objective(x, y, w, alpha) <= best * 1.001
    # what the others give on the same run: most features nonzero, and all of them
    assert np.count_nonzero(found["soft"]) > 100
    assert np.count_nonzero(found["subgradient"]) == 200
    for name in ("soft", "subgradient"):
        assert lasso_objective(x, y, found[name], alpha) > lasso_objective(x, y, w, alpha)


def test_total_stays_exact_over_many_small_steps():
    steps, t = 200_000, 1e-7
    tx = optax_l1.l1_cumulative_penalty(t, learning_rate=1.0)
    params = jnp.ones(1)

    def step(state, _):
        return tx.update(jnp.zeros(1), state, params)[1], None

    state, _ = jax.jit(lambda s: jax.lax.scan(step, s, length=steps))(tx.init(params))
    # naive float32 summation is off by about 2% here; the compensated sum is not
    np.testing.assert_allclose(float(state.total), steps * float(np.float32(t)), rtol=1e-6)


def test_state_is_a_plain_pytree_of_arrays_like_the_params():
    params = random_tree(jax.random.key(1))
    params["step"] = jnp.array(3, jnp.int32)
    tx = optax_l1.l1_cumulative_penalty(0.01, mask=optax_l1.skip_biases, learning_rate=1.0)
    state = tx.init(params)
    leaves = jax.tree.leaves(state)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    unpenalized = state.inner_state.unpenalized
    assert unpenalized["dense"]["kernel"].shape == params["dense"]["kernel"].shape
    assert isinstance(unpenalized["dense"]["bias"], optax.MaskedNode)
    # a round trip through host memory (what a checkpoint does) resumes identically
    grads = random_tree(jax.random.key(2), low=-0.1, high=0.1)
    grads["step"] = jnp.array(0, jnp.int32)
    _, state = tx.update(grads, state, params)
    restored = jax.tree.unflatten(
        jax.tree.structure(state), [jnp.asarray(np.asarray(x)) for x in jax.tree.leaves(state)]
    )
    a, sa = tx.update(grads, state, params)
    b, sb = tx.update(grads, restored, params)
    assert_trees_bitwise_equal((a, sa), (b, sb))


def test_masked_leaves_pass_through_bitwise():
    params = {"kernel": jnp.full((2, 2), 0.5), "bias": jnp.full((2,), 0.5)}
    grads = {"kernel": jnp.zeros((2, 2)), "bias": jnp.full((2,), -0.0)}
    tx = optax_l1.l1_cumulative_penalty(1.0, mask=optax_l1.skip_biases, learning_rate=1.0)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert_trees_bitwise_equal(updates["bias"], grads["bias"])
    assert_trees_all_close(optax.apply_updates(params, updates)["kernel"], jnp.zeros((2, 2)))


finite = st.floats(-1.0, 1.0, width=32)


@settings(max_examples=40, deadline=None)
@given(
    w=hnp.arrays(np.float32, 6, elements=finite),
    pushes=hnp.arrays(np.float32, (8, 6), elements=finite),
    t=st.floats(0.0, 0.5, width=32),
)
def test_never_applies_more_than_the_total_to_any_weight(w, pushes, t):
    tx = optax_l1.l1_cumulative_penalty(t, learning_rate=1.0)
    params = jnp.asarray(w)
    state = tx.init(params)
    for push in pushes:
        z = params + jnp.asarray(push)
        updates, state = tx.update(jnp.asarray(push), state, params)
        new = optax.apply_updates(params, updates)
        slack = 4 * np.finfo(np.float32).eps * (1 + float(state.total) + np.abs(np.asarray(z)))
        if t > 0:  # a constant zero penalty is the identity and keeps no state up to date
            applied = np.asarray(new) - np.asarray(state.unpenalized)
            assert np.all(np.abs(applied) <= float(state.total) + slack)
        assert np.all(np.asarray(new * z) >= 0), "pulled across zero"
        params = new


def test_it_follows_params_edited_between_steps():
    """Weights changed outside the optimizer are kept, and charged only what they owe."""
    tx = optax_l1.l1_cumulative_penalty(0.125, learning_rate=1.0)
    params = jnp.array([1.0])
    state = tx.init(params)
    updates, state = tx.update(jnp.zeros(1), state, params)
    params = optax.apply_updates(params, updates)
    assert float(params[0]) == 0.875  # charged the first 0.125
    edited = jnp.array([5.0])  # changed outside the optimizer
    updates, state = tx.update(jnp.zeros(1), state, edited)
    assert float(optax.apply_updates(edited, updates)[0]) == 4.875  # this step's 0.125 only


def test_a_zero_penalty_still_keeps_the_state_up_to_date():
    """Raising a zero penalty later (inject_hyperparams, eager) must not lose earlier steps."""
    outcomes = []
    for jit in (False, True):
        tx = optax.inject_hyperparams(optax_l1.l1_cumulative_penalty)(l1=0.0, learning_rate=1.0)
        update = jax.jit(tx.update) if jit else tx.update
        params = jnp.array([1.0, -1.0])
        state = tx.init(params)
        for _ in range(3):
            updates, state = update(jnp.array([0.5, 0.5]), state, params)
            params = optax.apply_updates(params, updates)
        assert int(state.inner_state.count) == 3
        state.hyperparams["l1"] = jnp.asarray(0.125)
        updates, state = update(jnp.zeros(2), state, params)
        outcomes.append(np.asarray(optax.apply_updates(params, updates)))
    np.testing.assert_array_equal(outcomes[0], outcomes[1])
    np.testing.assert_allclose(outcomes[0], [2.375, 0.375])
