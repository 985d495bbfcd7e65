"""One process of test_metrics_across_processes.py (a script, not a test module).

    python metrics_worker.py PROCESS_ID NUM_PROCESSES COORDINATOR

Joins NUM_PROCESSES processes of 2 simulated CPU devices each on a ("data", "model") mesh
(one row of it per process), builds params split across all of them, each process
creating only its own blocks, and prints one JSON line: what ``optax_l1.l1_norm`` and
``optax_l1.sparsity`` give this process, and how many all-reduces their computation has.
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np

DEVICES_PER_PROCESS = 2
SPECS = {  # PartitionSpec entries, one per dimension; every layout at once
    "dense": {"kernel": (("data", "model"), None), "bias": ("data",)},  # across processes
    "head": {"kernel": (None, "model"), "bias": ()},  # within each process; replicated
    "embed": {"embedding": ("model", "data")},  # both axes
}
SHAPES = {
    "dense": {"kernel": (16, 6), "bias": (6,)},
    "head": {"kernel": (6, 4), "bias": (4,)},
    "embed": {"embedding": (8, 10)},
}


def host_params() -> dict:
    """The params' values (the same in every process and in the test), a third zeros."""
    rng = np.random.default_rng(0)

    def leaf(shape):
        x = rng.normal(size=shape).astype(np.float32)
        return np.where(np.abs(x) < 0.45, np.float32(0), x)

    return {
        layer: {name: leaf(s) for name, s in leaves.items()} for layer, leaves in SHAPES.items()
    }


def main(process_id: int, num_processes: int, coordinator: str) -> None:
    import os

    # more threads than the 2 of XLA's CPU pool here: a device waiting in a collective
    # across processes holds one (see examples/multiprocess_mlp.py's start_runtime)
    os.environ.setdefault("PJRT_NPROC", str(4 * DEVICES_PER_PROCESS))
    # the flag, not jax_num_cpu_devices: `make test-min` runs jax 0.4.35, which lacks it
    os.environ["XLA_FLAGS"] = " ".join(
        [
            os.environ.get("XLA_FLAGS", ""),
            f"--xla_force_host_platform_device_count={DEVICES_PER_PROCESS}",
        ]
    ).strip()
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        coordinator_bind_address=coordinator,  # loopback only
        initialization_timeout=60,
    )
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import optax_l1
    from optax_l1 import _metrics

    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    mesh = Mesh(np.array(devices).reshape(num_processes, -1), ("data", "model"))

    def global_leaf(value, spec):
        sharding = NamedSharding(mesh, P(*spec))
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

    params = jax.tree.map(global_leaf, host_params(), SPECS, is_leaf=lambda x: isinstance(x, tuple))
    leaves = _metrics.selected_leaves(params, None)
    hlo = _metrics._total_in_one_psum.lower(leaves, "zeros", *_metrics._one_mesh(leaves))
    hlo = hlo.compile().as_text()
    report = {
        "process": jax.process_index(),
        "not_fully_addressable": sum(not leaf.is_fully_addressable for leaf in leaves),
        "l1_norm": float(optax_l1.l1_norm(params)),
        "l1_norm_kernels": float(optax_l1.l1_norm(params, optax_l1.skip_biases)),
        "sparsity": float(optax_l1.sparsity(params)),
        "sparsity_kernels": float(optax_l1.sparsity(params, optax_l1.skip_biases)),
        "sparsity_under_jit": float(jax.jit(optax_l1.sparsity)(params)),
        "all_reduces": len(re.findall(r"all-reduce(?:-start)?\(", hlo)),
        "gathers": len(re.findall(r"all-gather|all-to-all|collective-permute", hlo)),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
