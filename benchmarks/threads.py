"""`python -m benchmarks threads`: from which layer size a second BLAS thread pays.

For layers (batch, fan_in, fan_out) of growing size, it times the three matrix products one
training step runs per layer, as the engine runs them: the forward `a Wᵀ`, the grad-weight
`δᵀ a` and the grad-input `δ W`, into preallocated outputs. Each layer is timed at one thread
and at `--threads`, taking turns, first on a quiet machine and then while one busy process
(a plain Python loop) holds a core. It prints the table and the crossover: the smallest
product batch × fan_in × fan_out from which more threads are faster at every larger size.
`chainrule.threads.MIN_PRODUCT_FOR_THREADS` is that measured figure.

The measurement runs in a child process with the benchmarks' environment (no
OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE), so it describes this machine's own kernel.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

from benchmarks.busy import one_busy_core
from benchmarks.limit import time_step
from benchmarks.run import ROOT, worker_env

# (batch, fan_in, fan_out): a sweep of square layers at batch 64, then the suite's own layers.
SWEEP = [(64, f, f) for f in (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)]
WORKLOAD_LAYERS = {
    "W1 layer 1": (32, 64, 128),
    "W4 layer 1": (10, 784, 100),
    "W5 layer 1": (64, 784, 128),
    "W2 layer 1": (128, 784, 256),
}
TINY_SWEEP = [(8, 8, 8), (16, 32, 32)]
# More threads must save at least this share of the time to count as paying: a smaller gain
# is not worth the collapse they suffer when another process takes a core.
GAIN = 0.10
REPEAT_S, TINY_REPEAT_S = 0.02, 0.001


def layer_products(batch: int, fan_in: int, fan_out: int, dtype: np.dtype) -> list[tuple]:
    """(left, right, out) of the layer's forward, grad-weight and grad-input products, with
    W row-major of shape (fan_out, fan_in) and Wᵀ a view, as nn.Linear holds it."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, fan_in)).astype(dtype)
    weight = rng.standard_normal((fan_out, fan_in)).astype(dtype)
    delta = rng.standard_normal((batch, fan_out)).astype(dtype)
    return [
        (a, weight.T, np.empty((batch, fan_out), dtype)),
        (delta.T, a, np.empty((fan_out, fan_in), dtype)),
        (delta, weight, np.empty((batch, fan_in), dtype)),
    ]


def measure(spec: dict) -> list[dict]:
    """In this process: µs per layer step at 1 thread and at spec["threads"], per layer."""
    from threadpoolctl import threadpool_limits

    dtype = np.dtype(spec["dtype"])
    counts = sorted({1, spec["threads"]})
    rows = []
    for batch, fan_in, fan_out in map(tuple, spec["layers"]):
        operands = layer_products(batch, fan_in, fan_out, dtype)
        with threadpool_limits(1):
            once = time_step(operands, 3)
        iterations = max(1, int(spec["repeat_s"] / max(once, 1e-7)))
        times: dict[int, list[float]] = {n: [] for n in counts}
        for _ in range(spec["repeats"]):
            for n in counts:  # taking turns, so a burst of load falls on both
                with threadpool_limits(n):
                    times[n].append(time_step(operands, iterations) * 1e6)
        rows.append(
            {
                "layer": [batch, fan_in, fan_out],
                "product": batch * fan_in * fan_out,
                "us": {str(n): statistics.median(t) for n, t in times.items()},
                "best_us": {str(n): min(t) for n, t in times.items()},
            }
        )
    return rows


def crossover(rows: list[dict], threads: int, key: str = "best_us") -> int | None:
    """The smallest product from which `threads` threads save at least GAIN of the time at
    that size and at every larger one (by `key`: the best or the median turn); None if they
    never do."""
    found = None
    for row in sorted(rows, key=lambda r: r["product"], reverse=True):
        if not _pays(row, threads, key):
            break
        found = row["product"]
    return found


def _pays(row: dict, threads: int, key: str) -> bool:
    return row[key][str(threads)] <= (1 - GAIN) * row[key]["1"]


def _child(spec: dict) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.threads", "--child", json.dumps(spec)],
        cwd=ROOT,
        env=worker_env(spec["threads"]),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmarks.threads: the measuring process failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _label(layer: list[int]) -> str:
    names = [k for k, v in WORKLOAD_LAYERS.items() if list(v) == layer]
    return f"{layer[0]}×{layer[1]}·{layer[1]}×{layer[2]}" + (f" ({names[0]})" if names else "")


def table(quiet: list[dict], busy: list[dict], threads: int) -> str:
    """Quiet: the best turn (the least disturbed by other jobs: what the machine can do).
    One core busy: the median turn (what a contended core gives, most of the time)."""
    t = str(threads)
    lines = [
        f"| layer (batch×fan_in · fan_in×fan_out) | product | quiet, best: 1 thread µs "
        f"| {t} threads µs | {t}÷1 | one core busy, median: 1 thread µs | {t} threads µs "
        f"| {t}÷1 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for q, b in zip(quiet, busy, strict=True):
        best, mid = q["best_us"], b["us"]
        lines.append(
            f"| {_label(q['layer'])} | {q['product']:,} | {best['1']:.1f} | {best[t]:.1f} "
            f"| {best[t] / best['1']:.2f} | {mid['1']:.1f} | {mid[t]:.1f} "
            f"| {mid[t] / mid['1']:.2f} |"
        )
    for name, rows, key in (("quiet", quiet, "best_us"), ("one core busy", busy, "us")):
        found = crossover(rows, threads, key)
        verdict = f"from {found:,} multiply-adds per product" if found else "never, at these sizes"
        paid = [f"{r['product']:,}" for r in rows if _pays(r, threads, key)]
        lines.append(
            f"\ncrossover ({name}): {t} threads save ≥ {GAIN:.0%} {verdict}; they did at "
            f"{', '.join(paid) or 'no size'}"
        )
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks threads",
        description="Time one layer's matrix products at 1 thread and more, quiet and with "
        "one busy core, and print from which size more threads pay.",
    )
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--threads", type=int, default=2, help="the count compared with 1")
    parser.add_argument("--repeats", type=int, default=7, help="turns per layer (default 7)")
    parser.add_argument(
        "--turn-ms",
        type=float,
        default=REPEAT_S * 1e3,
        help="ms of products per turn (default 20); short turns and many of them find the "
        "quiet moments on a loaded machine",
    )
    parser.add_argument("--tiny", action="store_true", help="two tiny layers: checks it runs")
    parser.add_argument("--json", help="also write every number to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 2 or args.repeats < 1:
        parser.error("--threads must be at least 2 and --repeats at least 1")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return 0
    layers = TINY_SWEEP if args.tiny else [*SWEEP, *WORKLOAD_LAYERS.values()]
    layers = sorted(layers, key=lambda s: s[0] * s[1] * s[2])
    spec = {
        "dtype": args.dtype,
        "threads": args.threads,
        "repeats": args.repeats,
        "layers": layers,
        "repeat_s": TINY_REPEAT_S if args.tiny else args.turn_ms / 1e3,
    }
    load = os.getloadavg()[0]
    quiet = _child(spec)
    with one_busy_core():
        busy = _child(spec)
    print(
        f"{os.cpu_count()} cores; {args.dtype}; {args.repeats} turns of {spec['repeat_s'] * 1e3:g} "
        f"ms per layer and thread count; "
        f"µs per layer step (forward, grad-weight and grad-input products); load average "
        f"{load:.2f} before, {os.getloadavg()[0]:.2f} after (the busy loop adds 1)\n"
    )
    print(table(quiet, busy, args.threads))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"quiet": quiet, "busy": busy, "load_before": load}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
