"""Runs tests/multiprocess in a process of its own: JAX processes joined on loopback.

Those tests start the multi-process example and the metrics' workers (2 processes x 2
simulated CPU devices each, ``jax.distributed`` on 127.0.0.1) in subprocesses, each under
a timeout; they run apart from this process like tests/multidevice. The fast ones run
in ``make test``; those marked slow there run in ``make test-slow``, through the slow
test below.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 900


def _run_suite(marker: str) -> None:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", marker]
    command.append(str(HERE / "multiprocess"))
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, cwd=HERE.parent, timeout=TIMEOUT_S
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]


def test_multiprocess_suite_passes():
    _run_suite("not slow")


@pytest.mark.slow
def test_multiprocess_slow_suite_passes():
    _run_suite("slow")
