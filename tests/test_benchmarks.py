"""The benchmark scripts run end to end on tiny settings (they are measured by `make bench`)."""

import json

import compare_methods
import lasso
import pytest
import sparsity_frontier
import step_overhead
import target_sparsity


@pytest.fixture(scope="module")
def step_overhead_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("step_overhead")
    argv = ["--layers", "2", "--width", "64", "--mlp-layers", "2", "--mlp-width", "32"]
    argv += ["--batch-size", "8", "--repeats", "1", "--inner", "1", "--out", str(out)]
    return step_overhead.main(argv), out


def test_step_overhead_reports_every_variant(step_overhead_run):
    data, out = step_overhead_run
    variants = {r["variant"] for r in data["update_step"]}
    for host in step_overhead.HOSTS:
        assert host in variants
        for addon in step_overhead.ADDONS:
            assert f"{host} + {addon}" in variants
    assert all(r["bytes"] > 0 and r["seconds"] > 0 for r in data["update_step"])
    saved = json.loads((out / "step_overhead.json").read_text())
    assert saved["train_step"] and (out / "step_overhead.md").exists()


def test_memory_traffic_stays_at_its_floor(step_overhead_run):
    """XLA's byte count is deterministic: a regression in fusion shows here, not in timings."""
    data, _ = step_overhead_run
    beyond = {r["variant"]: r["bytes_beyond_own_state"] for r in data["update_step"] if "host" in r}
    kernel_bytes = 2 * 64 * 64 * 4  # the tree's kernels, the leaves L1 applies to
    scalars = 128  # step counts and totals
    for host in step_overhead.HOSTS:
        for addon in ("l1_sign_decay", "l1_soft_threshold"):
            assert beyond[f"{host} + {addon}"] <= scalars
        # coupled L1 costs what Optax's own coupled L2 costs, no more
        coupled = beyond[f"{host} + add_l1_gradient"]
        assert coupled <= beyond[f"{host} + add_decayed_weights (L2 peer)"] + scalars
        # Its state, plus two reads of the kernels: it reads the live params to follow
        # edits made between steps, and XLA:CPU does not fuse sibling outputs, so the
        # new params re-read the new state (docs, Performance).
        assert beyond[f"{host} + l1_cumulative_penalty"] <= 2 * kernel_bytes + scalars
    assert beyond["sgd + add_l1_gradient"] <= scalars
    assert beyond["adam_l1 (proximal Adam)"] <= scalars
    # Adagrad's accumulator is proximal_adagrad's whole state: nothing beyond it.
    assert beyond["proximal_adagrad"] <= scalars
    # FTRL's three outputs (w, z, n) all depend on the old n and on g, and XLA:CPU computes
    # each output in a loop of its own: z's loop reads z, g, w, n; n's loop n, g (and z',
    # its ordering after z's); w's loop w, z', n'. Thirteen passes over a params-sized
    # array against Adagrad's seven, two of them for z: four beyond its own state, on
    # every leaf (masked-out leaves get FTRL too). Twelve is the floor for three loops.
    param_bytes = 2 * (64 * 64 + 64) * 4
    assert beyond["ftrl"] <= 4 * param_bytes + scalars


def test_sparsity_frontier_quick(tmp_path):
    data = sparsity_frontier.main(["--quick", "--out", str(tmp_path)])
    methods = {(r["optimizer"], r["method"]) for r in data["records"]}
    assert ("adam", "adam_l1") in methods and ("sgd", sparsity_frontier.PRUNED) in methods
    assert all(0 <= r["zero_frac"] <= 1 and 0 <= r["test_acc"] <= 1 for r in data["records"])
    assert (tmp_path / "sparsity_frontier.png").stat().st_size > 0


def test_lasso_quick(tmp_path):
    data = lasso.main(["--quick", "--out", str(tmp_path)])
    by_method = {r["method"]: r for r in data["results"]}
    assert by_method["sklearn Lasso (reference)"]["same_support"]
    assert (tmp_path / "lasso.md").exists()


@pytest.mark.parametrize("dataset", ["digits", "synthetic"])
def test_compare_methods_quick(tmp_path, dataset):
    argv = ["--dataset", dataset, "--epochs", "2", "--hidden", "16", "--out", str(tmp_path)]
    results = compare_methods.main([*argv, "--train-limit", "128"])
    assert [r.method for r in results] == list(compare_methods.METHODS)
    for r in results:
        assert 0 <= r.test_acc <= 1 and 0 <= r.zero_frac <= 1 and r.mean_abs_w > 0
    by_method = {r.method: r for r in results}
    assert by_method["none"].zero_frac == 0 and by_method["adam_l1"].zero_frac > 0
    assert (tmp_path / f"compare_methods_{dataset}_sgd.png").stat().st_size > 0
    assert json.loads((tmp_path / f"compare_methods_{dataset}_sgd.json").read_text())["records"]


def _check_target_records(data, tmp_path):
    records = data["records"]
    assert records and {"model", "method", "seed", "target", "achieved", "test_accuracy"} <= set(
        records[0]
    )
    assert all(0 <= r["achieved"] <= 1 and 0 <= r["test_accuracy"] <= 1 for r in records)
    for r in records:  # the fine-tune phase keeps every zero
        assert r["achieved_finetuned"] >= r["achieved"] - 1e-6
    saved = json.loads((tmp_path / "target_sparsity.json").read_text())
    assert len(saved["records"]) == len(records)
    assert (tmp_path / "target_sparsity.png").stat().st_size > 0


def test_target_sparsity_quick(tmp_path):
    argv = ["--tasks", "digits_mlp", "--targets", "0.5", "--epochs", "2", "--seeds", "1"]
    data = target_sparsity.main([*argv, "--out", str(tmp_path)])
    _check_target_records(data, tmp_path)


@pytest.mark.slow
def test_target_sparsity_smoke_as_the_issue_runs_it(tmp_path):
    """`python benchmarks/target_sparsity.py --epochs 2 --seeds 1`: every model and target."""
    data = target_sparsity.main(["--epochs", "2", "--seeds", "1", "--out", str(tmp_path)])
    _check_target_records(data, tmp_path)
    assert {r["model"] for r in data["records"]} == {"digits MLP", "MNIST-1D MLP", "MNIST-1D CNN"}
