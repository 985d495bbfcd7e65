"""What each optax_l1 transform adds to its host optimizer's update step, and to a train step.

Run: python benchmarks/step_overhead.py [--layers 8 --width 2048] [--repeats 11]

Part 1 times a jitted optimizer update alone (grads and state in, new params and state
out; no model) on a tree of `layers` kernels of width x width with biases (33.6M float32
parameters by default), for SGD, SGD with momentum, Adam and Adagrad, each alone, chained
with each optax_l1 transform (masked with `skip_biases`), and with
`optax.add_decayed_weights` (L2, the same-shaped elementwise peer); and the optimizers
with L1 built in next to the host they cost like: `adam_l1` next to Adam, `ftrl` and
`proximal_adagrad` next to Adagrad. It also reports XLA's count of bytes accessed by
each compiled step and the effective bandwidth, next to a plain fused `p + c * g`, and
what each transform moves beyond reading and writing its own state (zero is the floor:
an elementwise transform can ride on the host's pass over memory; `ftrl`, whose three
outputs all depend on the old accumulator, cannot on XLA:CPU, which computes each output
in a loop of its own: see tests/test_benchmarks.py).

Part 2 times a full train step of an MLP: the usual "L1 term in the loss" approach
(lambda * sum|w| added to the loss, differentiated by jax.grad) against our transforms
in the same step.

Variants are interleaved, repeated, and summarized by medians. A ratio against the host
(or against L1 in the loss) is the median over rounds of the ratio within a round, so
that drifts in the machine's load between rounds cancel.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    interleaved_medians,
    interleaved_samples,
    machine,
    markdown_table,
    paired_overhead,
    write_results,
)

import optax_l1

MASK = optax_l1.skip_biases
LR, LAM = 1e-3, 1e-4

HOSTS = {
    "sgd": lambda: optax.sgd(LR),
    "momentum": lambda: optax.sgd(LR, momentum=0.9),
    "adam": lambda: optax.adam(LR),
    "adagrad": lambda: optax.adagrad(LR),
}

# name -> (position relative to the host, factory)
ADDONS = {
    "add_l1_gradient": ("before", lambda: optax_l1.add_l1_gradient(LAM, mask=MASK)),
    "l1_sign_decay": ("after", lambda: optax_l1.l1_sign_decay(LAM, learning_rate=LR, mask=MASK)),
    "l1_soft_threshold": (
        "after",
        lambda: optax_l1.l1_soft_threshold(LAM, learning_rate=LR, mask=MASK),
    ),
    "l1_cumulative_penalty": (
        "after",
        lambda: optax_l1.l1_cumulative_penalty(LAM, learning_rate=LR, mask=MASK),
    ),
    "group_soft_threshold": (
        "after",
        lambda: optax_l1.group_soft_threshold(LAM, axis=0, learning_rate=LR, mask=MASK),
    ),
    "add_decayed_weights (L2 peer)": (
        "before",
        lambda: optax.add_decayed_weights(LAM, mask=MASK),
    ),
}


def make_tree(key, layers: int, width: int):
    keys = jax.random.split(key, layers)
    return {
        f"layer_{i}": {
            "kernel": jax.random.normal(k, (width, width)) * width**-0.5,
            "bias": jnp.zeros(width),
        }
        for i, k in enumerate(keys)
    }


def variants_for(host: str) -> dict[str, optax.GradientTransformation]:
    out = {host: HOSTS[host]()}
    for name, (position, factory) in ADDONS.items():
        parts = [factory(), HOSTS[host]()] if position == "before" else [HOSTS[host](), factory()]
        out[f"{host} + {name}"] = optax.chain(*parts)
    if host == "adam":
        out["adam_l1 (proximal Adam)"] = optax_l1.adam_l1(LR, LAM, mask=MASK)
    if host == "adagrad":  # Adagrad's accumulator, and FTRL's z on top
        out["ftrl"] = optax_l1.ftrl(LR, l1=LAM, mask=MASK)
        out["proximal_adagrad"] = optax_l1.proximal_adagrad(LR, LAM, mask=MASK)
    return out


def bytes_accessed(compiled) -> float:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("bytes accessed", float("nan")))


def update_step_runner(tx, params, grads):
    """A jitted update (donating params and state) and a closure that runs it once."""

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    jitted = jax.jit(step, donate_argnums=(0, 1))
    carry = [jax.tree.map(jnp.copy, params), tx.init(params)]
    compiled = jitted.lower(carry[0], carry[1], grads).compile()
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(carry[1]))

    def run():
        carry[0], carry[1] = compiled(carry[0], carry[1], grads)
        jax.block_until_ready(carry[0])

    return run, bytes_accessed(compiled), state_bytes


def fused_elementwise_runner(params, grads):
    """The physical floor: one fused p + c * g over the same tree."""
    jitted = jax.jit(lambda p, g: jax.tree.map(lambda a, b: a + 1e-3 * b, p, g), donate_argnums=0)
    carry = [jax.tree.map(jnp.copy, params)]
    compiled = jitted.lower(carry[0], grads).compile()

    def run():
        carry[0] = compiled(carry[0], grads)
        jax.block_until_ready(carry[0])

    return run, bytes_accessed(compiled)


def update_step_table(params, repeats: int, inner: int) -> tuple[list[list[object]], list[dict]]:
    grads = jax.tree.map(lambda p: 1e-2 * jnp.ones_like(p), params)
    n_params = sum(x.size for x in jax.tree.leaves(params))
    floor_run, floor_bytes = fused_elementwise_runner(params, grads)
    floor_time = interleaved_medians({"p + c*g": floor_run}, repeats, inner)["p + c*g"]
    rows = [
        [
            "fused p + c*g (floor)",
            "",
            floor_time * 1e3,
            "",
            floor_bytes / 1e6,
            "",
            "",
            floor_bytes / floor_time / 1e9,
        ]
    ]
    records = [{"variant": "p + c*g", "seconds": floor_time, "bytes": floor_bytes}]
    for host in HOSTS:
        runners = {
            name: update_step_runner(tx, params, grads) for name, tx in variants_for(host).items()
        }
        samples = interleaved_samples({k: v[0] for k, v in runners.items()}, repeats, inner)
        _, base_bytes, base_state = runners[host]
        for name, times in samples.items():
            seconds = statistics.median(times)
            _, nbytes, state_bytes = runners[name]
            overhead = paired_overhead(samples, name, host)
            # What the transform moves beyond the host, less reading and writing its state.
            beyond_state = nbytes - base_bytes - 2 * (state_bytes - base_state)
            rows.append(
                [
                    name,
                    host,
                    seconds * 1e3,
                    f"{overhead:+.1%}" if name != host else "",
                    nbytes / 1e6,
                    f"{(nbytes - base_bytes) / 1e6:+.0f}" if name != host else "",
                    f"{beyond_state / 1e6:+.0f}" if name != host else "",
                    nbytes / seconds / 1e9,
                ]
            )
            records.append(
                {
                    "variant": name,
                    "host": host,
                    "seconds": seconds,
                    "samples": times,
                    "bytes": nbytes,
                    "state_bytes": state_bytes,
                    "bytes_beyond_own_state": beyond_state,
                    "overhead": overhead,
                    "params": n_params,
                }
            )
        del runners
    return rows, records


def mlp_loss(params, x, y):
    h = x
    names = sorted(params)
    for name in names[:-1]:
        h = jax.nn.relu(h @ params[name]["kernel"] + params[name]["bias"])
    logits = h @ params[names[-1]]["kernel"] + params[names[-1]]["bias"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def train_step_runner(tx, params, batch, l1_in_loss: bool):
    def loss(p, x, y):
        value = mlp_loss(p, x, y)
        if l1_in_loss:
            value = value + LAM * optax_l1.l1_norm(p, MASK)
        return value

    def step(p, state, x, y):
        grads = jax.grad(loss)(p, x, y)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state

    jitted = jax.jit(step, donate_argnums=(0, 1))
    carry = [jax.tree.map(jnp.copy, params), tx.init(params)]

    def run():
        carry[0], carry[1] = jitted(carry[0], carry[1], *batch)
        jax.block_until_ready(carry[0])

    return run


def train_step_table(params, batch_size: int, repeats: int, inner: int):
    width = params["layer_0"]["kernel"].shape[0]
    kx, ky = jax.random.split(jax.random.key(1))
    batch = (
        jax.random.normal(kx, (batch_size, width)),
        jax.random.randint(ky, (batch_size,), 0, 10),
    )
    rows, records = [], []
    for host in ("sgd", "adam"):
        variants = {
            f"{host} + L1 in the loss (jax.grad of lambda*sum(abs(w)))": (HOSTS[host](), True),
            f"{host} + add_l1_gradient": (
                optax.chain(ADDONS["add_l1_gradient"][1](), HOSTS[host]()),
                False,
            ),
            f"{host} + l1_sign_decay": (
                optax.chain(HOSTS[host](), ADDONS["l1_sign_decay"][1]()),
                False,
            ),
            f"{host} + l1_soft_threshold": (
                optax.chain(HOSTS[host](), ADDONS["l1_soft_threshold"][1]()),
                False,
            ),
            f"{host} + l1_cumulative_penalty": (
                optax.chain(HOSTS[host](), ADDONS["l1_cumulative_penalty"][1]()),
                False,
            ),
        }
        if host == "adam":
            variants["adam_l1 (proximal Adam)"] = (optax_l1.adam_l1(LR, LAM, mask=MASK), False)
        runners = {
            name: train_step_runner(tx, params, batch, in_loss)
            for name, (tx, in_loss) in variants.items()
        }
        samples = interleaved_samples(runners, repeats, inner)
        reference = next(iter(samples))
        for name, times in samples.items():
            seconds = statistics.median(times)
            overhead = paired_overhead(samples, name, reference)
            rows.append([name, seconds * 1e3, f"{overhead:+.1%}"])
            records.append(
                {"variant": name, "seconds": seconds, "samples": times, "vs_l1_in_loss": overhead}
            )
    return rows, records


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--mlp-layers", type=int, default=4, help="MLP depth for part 2")
    parser.add_argument("--mlp-width", type=int, default=1024, help="MLP width for part 2")
    parser.add_argument("--batch-size", type=int, default=128, help="MLP batch for part 2")
    parser.add_argument("--repeats", type=int, default=11, help="interleaved rounds (>= 7)")
    parser.add_argument("--inner", type=int, default=3, help="calls per timing")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    params = make_tree(jax.random.key(0), args.layers, args.width)
    n = sum(x.size for x in jax.tree.leaves(params))
    print(f"machine: {machine()}")
    print(
        f"update step: {args.layers} x ({args.width} x {args.width} kernel + bias) = "
        f"{n / 1e6:.1f}M float32 parameters; medians of {args.repeats} interleaved rounds"
    )
    rows, records = update_step_table(params, args.repeats, args.inner)
    headers = [
        "variant",
        "host",
        "ms / step",
        "vs host",
        "MB accessed (XLA)",
        "extra MB",
        "extra MB beyond own state",
        "GB/s",
    ]
    part1 = markdown_table(headers, rows)
    print(part1)
    del params

    mlp = make_tree(jax.random.key(2), args.mlp_layers, args.mlp_width)
    print(
        f"\ntrain step: MLP {args.mlp_layers} x {args.mlp_width}, batch {args.batch_size}; "
        "ratio against the L1-in-the-loss approach with the same host"
    )
    train_rows, train_records = train_step_table(mlp, args.batch_size, args.repeats, args.inner)
    part2 = markdown_table(["variant", "ms / step", "vs L1 in loss"], train_rows)
    print(part2)

    markdown = (
        f"Machine: {machine()}\n\n"
        f"Update step alone, {n / 1e6:.1f}M float32 parameters "
        f"({args.layers} x {args.width}x{args.width} kernels + biases):\n\n{part1}\n\n"
        f"Full train step, MLP {args.mlp_layers} x {args.mlp_width}, batch {args.batch_size}:"
        f"\n\n{part2}\n"
    )
    data = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "update_step": records,
        "train_step": train_records,
    }
    path = write_results("step_overhead", markdown, data, args.out)
    print(f"\nwrote {path} and {path.with_suffix('.json')}")
    return data


if __name__ == "__main__":
    main()
