"""L1 training as a multi-controller program: one process per host, one mesh over all of them.

Run from the repository root. On one machine the script starts its worker processes
itself, each with simulated CPU devices, joined on a free loopback port:

    python examples/multiprocess_mlp.py --num-processes 2 --devices-per-process 2
    python examples/multiprocess_mlp.py --num-processes 2 --devices-per-process 2 --method sgd_l1
    python examples/multiprocess_mlp.py --checkpoint-dir /tmp/mp_ckpt --epochs 2
    python examples/multiprocess_mlp.py --checkpoint-dir /tmp/mp_ckpt --epochs 4  # resumes at 3

On real hosts, start the same script once per host, each with its process id and the
address of process 0's host (any free port); each process uses its host's accelerators:

    python examples/multiprocess_mlp.py --process-id 0 --num-processes 2 --coordinator host0:8476
    python examples/multiprocess_mlp.py --process-id 1 --num-processes 2 --coordinator host0:8476

Every process runs the same program (``jax.distributed.initialize``, then the same jitted
step on global arrays) on a mesh with axes ("data", "model"), by default one row of the
mesh per process: "data" across processes, "model" across each process's devices.

* The batch is split over "data": every process computes the epoch's batch order (it
  depends only on the seed and the epoch) and reads only its own rows of each batch;
  ``jax.make_array_from_process_local_data`` assembles the global batch from them.
* The params are created sharded (a jitted init with ``out_shardings``; no process holds
  a whole copy), hidden width split over "model" (``common.partition_spec``); the
  optimizer state (Adam's moments, the cumulative penalty's per-weight record) is
  created sharded like its weight (``common.init_opt_state``).
* ``optax_l1.sparsity`` and ``optax_l1.l1_norm`` run on the global params: each device
  counts its own blocks, and one all-reduce over the mesh gives every process the total.
* ``--checkpoint-dir``: Orbax saves params and optimizer state after every epoch, each
  process writing its own shards; a run restarted with the same directory, in new
  processes, resumes from the latest epoch and ends bitwise like an uninterrupted run.

Started on one machine, the launcher first trains the same model in one process with
all the devices (same mesh shape), then the workers; process 0 gathers the final params
(the only gather, for this check) and prints ``MATCH`` when they agree with the
one-process run (allclose with rtol 1e-5, atol 1e-6, and the same exact zeros), or
``MISMATCH`` and the largest difference. A worker that fails or outlives ``--timeout``
is reported with its last output; every worker is killed, and the launcher exits non-zero
(the tests make a worker fail with ``MULTIPROCESS_MLP_FAULT``, see ``inject_fault``).
Notes on real hosts and on what was measured here: ``docs/scaling_out.md``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from common import (
    accuracy,
    add_mesh_options,
    batch_indices,
    check_mesh_fits,
    compare_params,
    example_parser,
    init_mlp,
    init_opt_state,
    load_digits,
    make_optimizer,
    make_train_step,
    param_shardings,
    positive,
    simulate_cpu_devices,
)
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import optax_l1

METHOD, L1, EPOCHS, BATCH_SIZE, HIDDEN, SEED = "adam_l1", 1e-3, 5, 32, 128, 0
PROCESSES, DEVICES_PER_PROCESS = 2, 2  # what the launcher starts on this machine
TIMEOUT_S = 600  # the launcher's limit for the whole run, reference included
FAULT_ENV = "MULTIPROCESS_MLP_FAULT"  # "PROCESS:STEP:exit" or ":hang", for the tests
LAST_LINES = 20  # of each worker's output, shown when it fails


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = example_parser(__doc__, METHOD, L1, EPOCHS)
    add_mesh_options(parser, HIDDEN, BATCH_SIZE)
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="save/resume here")
    parser.add_argument("--num-processes", type=positive, default=PROCESSES)
    parser.add_argument(
        "--devices-per-process",
        type=positive,
        default=None,
        help="simulated CPU devices per process (default: the launcher simulates "
        f"{DEVICES_PER_PROCESS}; a worker started by hand uses its host's devices)",
    )
    parser.add_argument(
        "--process-id", type=int, default=None, help="run as this worker (default: launch)"
    )
    parser.add_argument("--coordinator", default=None, help="HOST:PORT of process 0")
    parser.add_argument(
        "--mesh",
        type=positive,
        nargs=2,
        metavar=("DATA", "MODEL"),
        default=None,
        help="mesh shape (default: processes x devices per process)",
    )
    parser.add_argument("--timeout", type=positive, default=TIMEOUT_S, help="launcher, seconds")
    parser.add_argument("--no-reference", action="store_true", help="skip the 1-process check")
    # Set by the launcher for its workers.
    parser.add_argument("--reference", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--save-params", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--launcher-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.process_id is not None and not 0 <= args.process_id < args.num_processes:
        parser.error(f"--process-id must be in [0, {args.num_processes})")
    if args.process_id is not None and args.num_processes > 1 and not args.coordinator:
        parser.error("a worker of several processes needs --coordinator HOST:PORT")
    if args.process_id is None:  # the launcher: check the mesh before starting anything
        data, model = args.mesh or (
            args.num_processes,
            args.devices_per_process or DEVICES_PER_PROCESS,
        )
        check_mesh_fits(parser, args, {"data": data, "model": model})
    args.parser = parser
    return args


# --------------------------------------------------------------------------- a worker


def start_runtime(args: argparse.Namespace) -> None:
    """Simulated CPU devices if asked, then JAX's distributed runtime (before any JAX op)."""
    if args.devices_per_process is not None:
        if not simulate_cpu_devices(args.devices_per_process):
            raise RuntimeError("JAX started before --devices-per-process could take effect")
        # XLA's CPU client runs the devices' computations on a pool of max(cores, local
        # devices) threads, and a device waiting in a collective across processes holds
        # its thread: on this 2-core machine 2 devices per process deadlocked within a
        # few steps. A larger pool (read when the CPU client starts) avoids it.
        threads = max(os.cpu_count() or 1, 4 * args.devices_per_process)
        os.environ.setdefault("PJRT_NPROC", str(threads))
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU: gloo over TCP
    if args.num_processes > 1:
        host = args.coordinator.rsplit(":", 1)[0]
        loopback = host in ("127.0.0.1", "localhost", "[::1]")
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
            # on one machine, listen on loopback only (the default is every interface)
            coordinator_bind_address=args.coordinator if loopback else None,
            initialization_timeout=args.timeout,
        )


def make_mesh(shape: Sequence[int] | None) -> Mesh:
    """("data", "model") over every process's devices, each process's devices adjacent.

    Devices are ordered by process, so with the default shape (processes x devices per
    process) each process holds one row of the mesh: "data" crosses processes (only the
    gradient's sum travels between hosts), "model" stays within one.
    """
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    shape = shape or (jax.process_count(), jax.local_device_count())
    return Mesh(
        np.array(devices).reshape(shape),
        ("data", "model"),
        axis_types=(AxisType.Auto,) * 2,  # XLA's partitioner propagates the shardings
    )


def say(text: str) -> None:
    """Prints from process 0 only (every process runs the same code)."""
    if jax.process_index() == 0:
        print(text, flush=True)


def global_batch(sharding: NamedSharding, source: np.ndarray, rows: np.ndarray) -> jax.Array:
    """``source[rows]`` as a global array split by ``sharding``, read from local rows only.

    Every process knows ``rows`` (the batch's indices); it reads just the part of them
    that its own devices hold, and JAX assembles the global array from every process's
    part without moving data.
    """
    blocks = sharding.addressable_devices_indices_map((len(rows),)).values()
    start = min(block[0].start or 0 for block in blocks)
    stop = max(len(rows) if block[0].stop is None else block[0].stop for block in blocks)
    local = source[rows[start:stop]]
    return jax.make_array_from_process_local_data(sharding, local, (len(rows), *source.shape[1:]))


def inject_fault(step: int) -> None:
    """For the tests: ``MULTIPROCESS_MLP_FAULT=1:3:exit`` (or ``1:3:hang``) stops worker 1."""
    if not (spec := os.environ.get(FAULT_ENV)):
        return
    process, at, how = spec.split(":")
    if int(process) == jax.process_index() and int(at) == step:
        print(f"injected fault: process {process} {how}s at step {step}", flush=True)
        if how == "exit":
            os._exit(3)
        threading.Event().wait()  # hang


def exit_with_launcher(launcher_pid: int) -> None:
    """Ends this worker if its launcher goes away (even killed with SIGKILL)."""

    def watch():
        while os.getppid() == launcher_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def save_tree(path: Path, tree: Any) -> None:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    np.savez(path, **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})


def load_tree(path: Path, like: Any) -> Any:
    with np.load(path) as saved:
        return jax.tree_util.tree_map_with_path(lambda k, _: saved[jax.tree_util.keystr(k)], like)


def train(args, data, mesh: Mesh, manager) -> tuple[Any, Any]:
    """Params and optimizer state, sharded on ``mesh``; resumes from ``manager`` if any."""
    sizes = [data.x_train.shape[1], args.hidden, data.num_classes]
    key = jax.random.key(SEED)
    shardings = param_shardings(jax.eval_shape(lambda k: init_mlp(k, sizes), key), mesh)
    params = jax.jit(lambda k: init_mlp(k, sizes), out_shardings=shardings)(key)  # no copy
    tx = make_optimizer(args.method, args.l1)
    opt_state = init_opt_state(tx, params, mesh)  # per-weight state split like its weight
    first = 1
    if manager is not None and (latest := manager.latest_step()) is not None:
        target = {"params": params, "opt_state": opt_state}
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)  # with shardings
        restored = manager.restore(latest, args=ocp.args.StandardRestore(abstract))
        params, opt_state, first = restored["params"], restored["opt_state"], latest + 1
        say(f"resumed from the checkpoint of epoch {latest}")

    batch_sharding = NamedSharding(mesh, P("data"))
    train_step = make_train_step(tx)
    step = 0
    for epoch in range(first, args.epochs + 1):
        rng = np.random.default_rng([SEED, epoch])
        for idx in batch_indices(rng, len(data.x_train), args.batch_size):
            step += 1
            inject_fault(step)
            x = global_batch(batch_sharding, data.x_train, idx)
            y = global_batch(batch_sharding, data.y_train, idx)
            params, opt_state, loss = train_step(params, opt_state, x, y)
        saved = ""
        if manager is not None:
            manager.save(
                epoch, args=ocp.args.StandardSave({"params": params, "opt_state": opt_state})
            )
            manager.wait_until_finished()  # before the next step donates these arrays
            saved = ", saved"
        say(f"epoch {epoch}: last batch loss {float(loss):.4f}{saved}")
    return params, opt_state


def worker_main(args: argparse.Namespace) -> None:
    if args.launcher_pid is not None:
        exit_with_launcher(args.launcher_pid)
    start_runtime(args)
    mesh = make_mesh(args.mesh)
    check_mesh_fits(args.parser, args, dict(mesh.shape))
    say(
        f"mesh data={mesh.shape['data']} x model={mesh.shape['model']} over"
        f" {jax.process_count()} processes x {jax.local_device_count()}"
        f" {jax.devices()[0].platform} devices"
    )
    data = load_digits(args.train_limit)
    checkpoints = contextlib.nullcontext()  # enters as None: no checkpointing
    if args.checkpoint_dir is not None:
        options = ocp.CheckpointManagerOptions(max_to_keep=2)
        checkpoints = ocp.CheckpointManager(args.checkpoint_dir.resolve(), options=options)
    with checkpoints as manager:
        params, _ = train(args, data, mesh, manager)

    everywhere, test_rows = NamedSharding(mesh, P()), np.arange(len(data.x_test))
    x_test, y_test = (global_batch(everywhere, a, test_rows) for a in (data.x_test, data.y_test))
    test_accuracy = float(jax.jit(accuracy)(params, x_test, y_test))
    zeros = float(optax_l1.sparsity(params, optax_l1.skip_biases))  # a global count
    norm = float(optax_l1.l1_norm(params, optax_l1.skip_biases))
    say(
        f"{args.method}: test accuracy {test_accuracy:.2%}, {zeros:.2%} of kernels zero,"
        f" kernels' L1 norm {norm:.4f}"
    )

    if args.reference is not None or args.save_params is not None:
        gathered = multihost_utils.process_allgather(params, tiled=True)  # on every process
        if args.save_params is not None and jax.process_index() == 0:
            save_tree(args.save_params, gathered)
        if args.reference is not None:
            matches, max_diff = compare_params(gathered, load_tree(args.reference, gathered))
            say(
                f"same training in 1 process x {jax.device_count()} devices:"
                f" max |difference| {max_diff:.2e} -> " + ("MATCH" if matches else "MISMATCH")
            )


# --------------------------------------------------------------------------- the launcher


def free_port() -> int:
    """A TCP port free on loopback now (another program could take it before process 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_noise(line: str) -> bool:
    """Gloo announces every connection on stdout (several threads at once: torn lines)."""
    return "[Gloo]" in line or "connected peer ranks" in line


class Worker:
    """This script as a child process in its own process group; a thread reads its output."""

    def __init__(self, name: str, argv: list[str], echo: bool):
        self.name, self.echo = name, echo
        self.last = collections.deque(maxlen=LAST_LINES)
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True,  # its own process group, out of reach of the terminal
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if not is_noise(line):
                self.last.append(line.rstrip("\n"))
                if self.echo:
                    print(line, end="", flush=True)

    def kill(self):
        """SIGKILL to its process group, then waits for it (no zombie left).

        Not SIGTERM first: JAX's preemption notifier catches SIGTERM and the process
        carries on; a checkpoint cut short is never loaded (Orbax renames it when done).
        """
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.reader.join(timeout=5)

    def report(self, what: str) -> str:
        tail = "\n".join(f"    {line}" for line in self.last) or "    (no output)"
        return f"{self.name} (pid {self.proc.pid}) {what}; its last output:\n{tail}"


def exit_status(code: int) -> str:
    if code < 0:  # killed by a signal (a crash: SIGSEGV, SIGABRT; or SIGKILL from outside)
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def run_all(commands: dict[str, list[str]], echo: str | None, deadline: float) -> None:
    """Runs one worker per command until all succeed; else kills them all and raises.

    ``echo``: the worker whose output is shown as it comes (the others' is kept for a
    failure report).
    """
    workers: list[Worker] = []
    try:
        for name, argv in commands.items():
            workers.append(Worker(name, argv, echo=name == echo))
        print("started " + ", ".join(f"{w.name} (pid {w.proc.pid})" for w in workers), flush=True)
        while True:
            failed = [w for w in workers if w.proc.poll() not in (None, 0)]
            if failed:
                raise RuntimeError(
                    "\n".join(w.report(exit_status(w.proc.returncode)) for w in failed)
                )
            if all(w.proc.poll() == 0 for w in workers):
                return
            if time.monotonic() > deadline:
                running = [w.report("was still running") for w in workers if w.proc.poll() is None]
                raise RuntimeError("timed out (--timeout); killed:\n" + "\n".join(running))
            time.sleep(0.1)
    finally:
        for w in workers:
            w.echo = False  # what a dying worker prints is in its report
        for w in workers:
            w.kill()


def worker_argv(args: argparse.Namespace) -> list[str]:
    """The training options, passed on to every worker."""
    argv = ["--method", args.method, "--l1", repr(args.l1), "--epochs", str(args.epochs)]
    argv += ["--hidden", str(args.hidden), "--batch-size", str(args.batch_size)]
    argv += ["--timeout", str(args.timeout), "--launcher-pid", str(os.getpid())]
    if args.train_limit is not None:
        argv += ["--train-limit", str(args.train_limit)]
    return argv


def launcher_main(args: argparse.Namespace) -> int:
    """The 1-process reference (unless ``--no-reference``), then the workers; 0 if all went well."""
    processes, devices = args.num_processes, args.devices_per_process or DEVICES_PER_PROCESS
    mesh = ["--mesh", *map(str, args.mesh or (processes, devices))]
    deadline = time.monotonic() + args.timeout
    for sig in (signal.SIGTERM, signal.SIGHUP):  # exit through the finally that kills workers
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="multiprocess_mlp_") as tmp:
        reference = Path(tmp) / "reference.npz"
        try:
            if not args.no_reference:
                start = time.monotonic()
                argv = [*worker_argv(args), *mesh, "--save-params", str(reference)]
                argv += ["--process-id", "0", "--num-processes", "1"]
                argv += ["--devices-per-process", str(processes * devices)]
                run_all({"reference": argv}, echo=None, deadline=deadline)
                print(
                    f"trained in 1 process x {processes * devices} devices for the check"
                    f" ({time.monotonic() - start:.1f} s)",
                    flush=True,
                )
            coordinator = f"127.0.0.1:{free_port()}"
            argv = [*worker_argv(args), *mesh, "--num-processes", str(processes)]
            argv += ["--coordinator", coordinator, "--devices-per-process", str(devices)]
            if args.checkpoint_dir is not None:
                argv += ["--checkpoint-dir", str(args.checkpoint_dir.resolve())]
            if not args.no_reference:
                argv += ["--reference", str(reference)]
            print(f"coordinator {coordinator}", flush=True)
            start = time.monotonic()
            commands = {f"worker {i}": [*argv, "--process-id", str(i)] for i in range(processes)}
            run_all(commands, echo="worker 0", deadline=deadline)
        except RuntimeError as error:
            print(f"FAILED: {error}", file=sys.stderr, flush=True)
            return 1
    print(f"{processes} workers finished ({time.monotonic() - start:.1f} s)", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.process_id is None:
        return launcher_main(args)
    worker_main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
