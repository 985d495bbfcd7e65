"""Checkpoint and resume of the flagship example: nothing lost, nothing half-loaded."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--train-limit", "64", "--hidden", "8", "--batch-size", "16", "--no-plot"]
METHODS = ("l1_cumulative_penalty", "adam_l1")

sys.path.insert(0, str(ROOT / "examples"))
import flax_mlp  # noqa: E402


def _run_example(*argv: str) -> str:
    """Runs examples/flax_mlp.py in a fresh process (as a user would resume a job)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "flax_mlp.py"), *TINY, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def _saved(directory: Path, method: str, epoch: int):
    manager = ocp.CheckpointManager(directory.resolve() / method)
    return manager.restore(epoch, args=ocp.args.StandardRestore())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run of 4 epochs straight; one of 2 epochs, then resumed to 4 in a new process."""
    straight = tmp_path_factory.mktemp("straight")
    resumed = tmp_path_factory.mktemp("resumed")
    for method in METHODS:
        common = [*TINY, "--method", method, "--checkpoint-dir"]
        flax_mlp.main([*common, str(straight), "--epochs", "4"])
        flax_mlp.main([*common, str(resumed), "--epochs", "2"])
        out = _run_example("--method", method, "--epochs", "4", "--checkpoint-dir", str(resumed))
        assert f"{method}: resumed from the checkpoint of epoch 2" in out
    return straight, resumed


@pytest.mark.parametrize("method", METHODS)
def test_resumed_training_is_bitwise_identical_to_straight_training(runs, method):
    straight, resumed = (_saved(d, method, 4) for d in runs)
    a, b = jax.tree.leaves(straight), jax.tree.leaves(resumed)
    assert jax.tree.structure(straight) == jax.tree.structure(resumed)
    assert len(a) > 4
    for x, y in zip(a, b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
    counts = [np.asarray(x) for x in a if np.asarray(x).dtype == np.int32 and np.ndim(x) == 0]
    assert counts and all(int(c) > 0 for c in counts), "step counts are saved and restored"


def test_cumulative_penalty_totals_are_in_the_checkpoint(runs):
    state = _saved(runs[1], "l1_cumulative_penalty", 4)
    flat = jax.tree_util.tree_flatten_with_path(state)[0]
    totals = [np.asarray(v) for p, v in flat if "['total']" in jax.tree_util.keystr(p)]
    assert totals and all(float(t) > 0 for t in totals)


def test_an_interrupted_save_is_never_loaded(runs, tmp_path):
    directory = tmp_path / "ckpt"
    shutil.copytree(runs[1], directory)
    method_dir = directory / "l1_cumulative_penalty"
    # what a save killed half-way leaves behind: a temporary directory, truncated files
    partial = method_dir / "5.orbax-checkpoint-tmp-1234567890"
    shutil.copytree(method_dir / "4", partial)
    for file in partial.rglob("*"):
        if file.is_file():
            file.write_bytes(file.read_bytes()[: len(file.read_bytes()) // 2])
    out = _run_example(
        "--method", "l1_cumulative_penalty", "--epochs", "5", "--checkpoint-dir", str(directory)
    )
    assert "resumed from the checkpoint of epoch 4" in out
    assert ocp.CheckpointManager(method_dir).latest_step() == 5
