"""optax_l1.l1_norm and optax_l1.sparsity on params split across 2 processes (loopback).

Each of the 2 processes (2 simulated CPU devices each) builds only its own blocks of the
params, then calls the metrics; every process must get the global value (that of the
whole params in NumPy), from a computation with one all-reduce and no gather.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

import metrics_worker
import numpy as np
import pytest

WORKER = Path(__file__).with_name("metrics_worker.py")
TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def reports(child_env):
    coordinator = f"127.0.0.1:{_free_port()}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), "2", coordinator],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env,
            start_new_session=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=TIMEOUT_S)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-4000:]
    return [json.loads(out.splitlines()[-1]) for out in outputs]


def _expected():
    params = metrics_worker.host_params()
    leaves = [np.asarray(x, np.float64) for layer in params.values() for x in layer.values()]
    kernels = [params["dense"]["kernel"], params["head"]["kernel"], params["embed"]["embedding"]]
    kernels = [np.asarray(x, np.float64) for x in kernels]

    def zeros(xs):
        return sum(int((x == 0).sum()) for x in xs) / sum(x.size for x in xs)

    return {
        "l1_norm": sum(float(np.abs(x).sum()) for x in leaves),
        "l1_norm_kernels": sum(float(np.abs(x).sum()) for x in kernels),
        "sparsity": zeros(leaves),
        "sparsity_kernels": zeros(kernels),
        "sparsity_under_jit": zeros(leaves),
    }


def test_every_process_gets_the_same_global_value(reports):
    assert [r["process"] for r in reports] == [0, 1]
    assert all(r["not_fully_addressable"] == 5 for r in reports)  # every leaf spans both
    first, second = reports
    for name, expected in _expected().items():
        assert first[name] == second[name], name  # bitwise the same number everywhere
        assert first[name] == pytest.approx(expected, rel=1e-6), name
    assert 0 < first["sparsity"] < 1


def test_the_metric_is_one_all_reduce_and_no_gather(reports):
    for r in reports:
        assert r["all_reduces"] == 1 and r["gathers"] == 0, r
