"""examples/multiprocess_mlp.py as users run it: 2 processes x 2 CPU devices on loopback.

Each test starts the example's launcher in a subprocess under a hard timeout (the
launcher has its own ``--timeout`` for its workers). Tiny settings: 256 training images,
a hidden width of 16, 2 or 4 epochs of 8 steps.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "multiprocess_mlp.py"
TINY = ["--num-processes", "2", "--devices-per-process", "2", "--train-limit", "256"]
TINY += ["--hidden", "16", "--batch-size", "32", "--l1", "0.02"]
HARD_LIMIT_S = 300  # on each launcher, beyond its own --timeout


def _command(*argv) -> list[str]:
    return [sys.executable, str(SCRIPT), *TINY, *map(str, argv)]


def _launch(env, *argv) -> subprocess.CompletedProcess:
    return subprocess.run(
        _command(*argv), capture_output=True, text=True, env=env, cwd=ROOT, timeout=HARD_LIMIT_S
    )


def _succeeded(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _summary(out: str) -> str:
    return re.search(r"^\w+: test accuracy .*$", out, re.M).group()


def _saved(directory: Path, epoch: int):
    """A checkpoint that several processes wrote, read whole into this one process."""
    path = directory.resolve() / str(epoch) / "default"
    with ocp.StandardCheckpointer() as checkpointer:
        tree = checkpointer.metadata(path).item_metadata.tree
        device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        target = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree
        )
        return checkpointer.restore(path, target)


def _worker_pids(out: str) -> list[int]:
    started = re.search(r"^started worker 0 .*$", out, re.M).group()
    return [int(pid) for pid in re.findall(r"worker \d \(pid (\d+)\)", started)]


def _left_behind(launcher_pid: int, pids=()) -> list[str]:
    """Processes still alive: by PID, and any whose command line names this launcher."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(f"pid {pid}")
        except ProcessLookupError:
            pass
    found = subprocess.run(
        ["pgrep", "-f", "-a", "--", f"--launcher-pid {launcher_pid}( |$)"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert found.returncode in (0, 1), found.stderr  # 1: none found
    return alive + found.stdout.splitlines()


@pytest.fixture(scope="module", params=["adam_l1", pytest.param("sgd_l1", marks=pytest.mark.slow)])
def runs(request, child_env, tmp_path_factory):
    """4 epochs straight (checked against 1 process x 4 devices); 2, then 2 more resumed."""
    method = ["--method", request.param]
    straight, resumed = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("resumed")
    timed = {}
    start = time.monotonic()
    full = _succeeded(_launch(child_env, *method, "--epochs", "4", "--checkpoint-dir", straight))
    timed["straight, with the reference"] = time.monotonic() - start
    for epochs in ("2", "4"):
        start = time.monotonic()
        argv = [*method, "--epochs", epochs, "--no-reference", "--checkpoint-dir", resumed]
        out = _succeeded(_launch(child_env, *argv))
        timed[f"to epoch {epochs}"] = time.monotonic() - start
    print(f"{request.param}: " + ", ".join(f"{k} {v:.1f} s" for k, v in timed.items()))
    return {"full": full, "resumed_out": out, "straight": straight, "resumed": resumed}


def test_2_processes_x_2_devices_match_1_process_x_4_devices(runs):
    out = runs["full"]
    assert "mesh data=2 x model=2 over 2 processes x 2 cpu devices" in out
    assert re.search(r"same training in 1 process x 4 devices: .* -> MATCH$", out, re.M), out
    figures = re.search(r"accuracy ([\d.]+)%, ([\d.]+)% of kernels", out).groups()
    accuracy, zeros = map(float, figures)
    assert 10.0 < accuracy <= 100.0 and 0.0 < zeros < 100.0, out  # some zeros: exact ones


def test_resume_in_new_processes_is_bitwise_identical_to_straight_training(runs):
    assert "resumed from the checkpoint of epoch 2" in runs["resumed_out"]
    assert _summary(runs["resumed_out"]) == _summary(runs["full"])
    a, b = _saved(runs["straight"], 4), _saved(runs["resumed"], 4)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    leaves = list(zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
    per_weight = [x for x, _ in leaves if x.ndim == 2]
    assert len(per_weight) >= 4  # kernels, and their moments or cumulative-penalty records
    for x, y in leaves:
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
    counts = [np.asarray(x) for x, _ in leaves if np.asarray(x).dtype == np.int32]
    assert counts and all(int(c) == 32 for c in counts)  # 4 epochs x 8 steps, restored


@pytest.mark.parametrize(
    "fault, expected",
    [
        ("exit", r"worker 1 \(pid \d+\) exited with code 3"),
        pytest.param(
            "hang",
            r"timed out \(--timeout\); killed:\n.*worker 1 \(pid \d+\) was still running",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_failed_worker_fails_the_launcher_cleanly(fault, expected, child_env, tmp_path):
    env = dict(child_env, MULTIPROCESS_MLP_FAULT=f"1:3:{fault}")
    argv = ["--epochs", "2", "--no-reference", "--timeout", "25"]
    launcher = subprocess.Popen(
        _command(*argv, "--checkpoint-dir", tmp_path / "ckpt"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    out, err = launcher.communicate(timeout=HARD_LIMIT_S)
    assert launcher.returncode == 1, out + err
    assert re.search(expected, err, re.S), err
    assert f"injected fault: process 1 {fault}s at step 3" in err  # the worker's last output
    assert "MATCH" not in out
    assert not _left_behind(launcher.pid, _worker_pids(out))


def test_workers_end_when_the_launcher_is_killed(child_env):
    launcher = subprocess.Popen(
        _command("--epochs", "50", "--no-reference"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=child_env,
        cwd=ROOT,
    )
    try:
        line = launcher.stdout.readline()  # "started worker 0 (pid ...), ...": they exist now
        while line and not line.startswith("started worker 0"):
            line = launcher.stdout.readline()
        pids = _worker_pids(line)
        assert len(_left_behind(launcher.pid, pids)) == 4  # 2 PIDs alive, 2 pgrep matches
    finally:
        launcher.send_signal(signal.SIGKILL)  # no chance to clean up
        launcher.wait(10)
    deadline = time.monotonic() + 15
    while _left_behind(launcher.pid, pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _left_behind(launcher.pid, pids)


def test_a_mesh_that_does_not_fit_is_a_usage_error(child_env):
    result = _launch(child_env, "--hidden", "15")
    assert result.returncode == 2
    assert "--hidden (15) over 'model' (2)" in result.stderr
