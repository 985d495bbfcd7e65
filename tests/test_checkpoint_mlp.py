"""examples/checkpoint_mlp.py: a resumed run is bitwise the straight one; a cut save is ignored."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import checkpoint_mlp
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--train-limit", "256"]
METHODS = ("sgd_l1", "adam_l1")  # the cumulative penalty's state; Adam's moments


def _run_in_new_process(*argv: str) -> str:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "checkpoint_mlp.py"), *TINY, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _saved(directory: Path, epoch: int):
    with ocp.CheckpointManager(directory.resolve()) as manager:
        return manager.restore(epoch, args=ocp.args.StandardRestore())


@pytest.fixture(scope="module", params=METHODS)
def runs(request, tmp_path_factory):
    straight, resumed = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("resumed")
    common = [*TINY, "--method", request.param, "--checkpoint-dir"]
    checkpoint_mlp.main([*common, str(straight), "--epochs", "4"])
    checkpoint_mlp.main([*common, str(resumed), "--epochs", "2"])
    out = _run_in_new_process(
        "--method", request.param, "--epochs", "4", "--checkpoint-dir", str(resumed)
    )
    assert "resumed from the checkpoint of epoch 2" in out
    return request.param, straight, resumed


def test_resumed_training_is_bitwise_identical_to_straight_training(runs):
    _, straight, resumed = runs
    a, b = _saved(straight, 4), _saved(resumed, 4)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    leaves = list(zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
    assert len(leaves) > 4
    for x, y in leaves:
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
    counts = [np.asarray(x) for x, _ in leaves if np.asarray(x).dtype == np.int32]
    assert counts and all(int(c) > 0 for c in counts), "step counts are saved and restored"


def test_an_interrupted_save_is_never_loaded(runs, tmp_path):
    method, _, resumed = runs
    directory = tmp_path / "ckpt"
    shutil.copytree(resumed, directory)
    # what a save killed half-way leaves behind: a temporary directory, truncated files
    partial = directory / "5.orbax-checkpoint-tmp-1234567890"
    shutil.copytree(directory / "4", partial)
    for file in partial.rglob("*"):
        if file.is_file():
            file.write_bytes(file.read_bytes()[: len(file.read_bytes()) // 2])
    out = _run_in_new_process(
        "--method", method, "--epochs", "5", "--checkpoint-dir", str(directory)
    )
    assert "resumed from the checkpoint of epoch 4" in out
    with ocp.CheckpointManager(directory.resolve()) as manager:
        assert manager.latest_step() == 5
