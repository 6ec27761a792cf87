"""The cluster's cost and gain: `fit(..., client=...)` on a Dask LocalCluster against local fit.

    python -m benchmarks distributed [--rows 200000] [--dtype float32] [--epochs 4]
                                     [--threads 2] [--shards 256,...,65536] [--tiny] [--json PATH]

The data is synthetic: `--rows` × 784 uniform pixels in `--dtype` (float32 by default: half the
memory and half the bytes of float64), labelled by a random linear teacher (W2's generator).
The network is 784-128-10 relu, softmax + cross-entropy, full batch (the lecture's gradient
descent: one step is one epoch), SGD lr 0.1. Measured:

1. seconds per epoch: local fit with BLAS on one thread and on `--threads` threads, and fit on
   a LocalCluster (127.0.0.1, one thread per worker) of 1 and of 2 worker processes, with the
   time to scatter the rows (once, before the first epoch);
2. bytes moved per step: what the worker processes' TCP sockets sent and received (the
   kernel's counts, read with `ss`) over the epochs after the first, divided by the steps,
   beside `step_bytes` (the weights out, the gradients back); and what they moved while fit
   scattered the rows, which shows the data travels once;
3. the break-even shard: seconds per step with each of 2 workers holding a shard of S rows
   (`--shards`), against a local step on the same 2·S rows (the faster of 1 and `--threads`
   BLAS threads); below the break-even the cluster costs more than it saves.

Times are medians over the epochs after the first (its first-call costs are left out). No time
is asserted anywhere; `tests/test_cli_distributed.py` runs this at `--tiny` size. OpenBLAS
overrides (run.UNSET) are removed for this benchmark's processes, as for the suite's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import chainrule as cr
from benchmarks import run as suite
from benchmarks import workloads
from chainrule.callbacks import Callback

SIZES = [784, 128, 10]
SHARDS = "256,1024,4096,16384,65536"
LR = 0.1


def blas() -> str:
    """The BLAS this process runs its matrix products on, as threadpoolctl reports it."""
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    return "; ".join(
        f"{p['internal_api']} {p.get('version') or ''} {p.get('architecture') or ''} "
        f"{p['num_threads']} threads".replace("  ", " ")
        for p in pools
    )


def data(rows: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """`rows` × 784 pixels and their 10 class labels, from W2's generator."""
    w = replace(workloads.WORKLOADS["W2"], rows=rows)
    d = workloads.load(w, dtype)
    return d.x, d.y


Sockets = dict[tuple[str, str], int]


def socket_bytes(pids: list[int]) -> Sockets:
    """Bytes sent plus bytes received so far on each TCP socket of the processes `pids`, as the
    kernel counts them (tcp_info, through `ss`): what crossed the network, whatever Dask put
    in its messages. Empty without pids, or where `ss` is missing."""
    if not pids:
        return {}
    try:
        out = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    owners = tuple(f"pid={pid}," for pid in pids)
    found: Sockets = {}
    lines = out.splitlines()
    for line, info in zip(lines, lines[1:], strict=False):
        if not line.startswith("\t") and any(owner in line for owner in owners):
            local, peer = line.split()[3:5]
            counts = re.findall(r"\bbytes_(?:sent|received):(\d+)", info)
            found[(local, peer)] = sum(int(c) for c in counts)
    return found


def moved(before: Sockets, after: Sockets) -> int:
    """Bytes moved between two snapshots (a socket opened in between counts from zero; one
    closed in between is lost, so this can only undercount)."""
    return sum(total - before.get(key, 0) for key, total in after.items())


class Clock(Callback):
    """When training began and each epoch ended, and the workers' socket counters at those
    moments (read from the kernel here, so reading them sends nothing over the cluster)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.marks: list[tuple[float, Sockets]] = []

    def mark(self) -> None:
        self.marks.append((time.perf_counter(), socket_bytes(self.pids)))

    def on_train_begin(self, run: Any) -> None:
        self.mark()

    def on_epoch_end(self, run: Any) -> None:
        self.mark()


def timed_fit(
    x: np.ndarray, y: np.ndarray, epochs: int, client: Any = None, pids: list[int] | None = None
) -> dict[str, float]:
    """One full-batch fit: the median seconds per epoch after the first, the seconds before
    the first epoch (the scatter, with a client), and the workers' bytes per step after the
    first and during the scatter."""
    model = cr.nn.mlp(SIZES, "relu", rng=0, dtype=x.dtype)
    clock = Clock(pids or [])
    clock.mark()
    cr.fit(
        model,
        x,
        y,
        loss=cr.nn.CrossEntropyLoss(),
        optimizer=cr.optim.SGD(model.parameters(), lr=LR),
        epochs=epochs,
        progress=False,
        callbacks=[clock],
        client=client,
    )
    (t0, b0), (t1, b1), (_, b2) = clock.marks[:3]
    times = [t for t, _ in clock.marks[2:]]
    return {
        "epoch_s": statistics.median(np.diff(times)),
        "setup_s": t1 - t0,
        "scatter_bytes": moved(b0, b1),
        "step_bytes": moved(b2, clock.marks[-1][1]) / (len(times) - 1),
    }


def cluster(workers: int) -> Any:
    """A Client of a LocalCluster of `workers` single-threaded processes on 127.0.0.1."""
    from chainrule.distributed import local

    return local(workers, threads=1)


def on_cluster(client: Any, x: np.ndarray, y: np.ndarray, epochs: int) -> dict[str, Any]:
    """timed_fit on `client`'s workers, with the bytes a step should move and their BLAS."""
    from chainrule.distributed import step_bytes

    pids = list(client.run(os.getpid).values())
    result: dict[str, Any] = timed_fit(x, y, epochs, client, pids)
    result["expected_step_bytes"] = step_bytes(cr.nn.mlp(SIZES, "relu", dtype=x.dtype), len(pids))
    result["worker_blas"] = sorted(set(client.run(blas).values()))
    return result


def break_even(client: Any, args: argparse.Namespace, x: np.ndarray, y: np.ndarray) -> list:
    """Seconds per step for the 2 workers of `client` holding S rows each, and for a local
    step on the same 2·S rows: the faster of BLAS on 1 thread and on --threads (on a busy
    machine one thread can win), since the cluster pays only if it beats the best local run."""
    rows = []
    for shard in args.shards:
        n = min(2 * shard, len(x))
        local = {}
        for threads in sorted({1, args.threads}):
            with threadpool_limits(threads):
                local[threads] = timed_fit(x[:n], y[:n], args.epochs)["epoch_s"]
        remote = timed_fit(x[:n], y[:n], args.epochs, client)["epoch_s"]
        best = min(local, key=lambda t: local[t])
        rows.append(
            {"shard": n // 2, "local_s": local[best], "local_threads": best, "workers_s": remote}
        )
    return rows


def measure(args: argparse.Namespace, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Seconds per epoch on the first --rows rows: local (1 and --threads BLAS threads), on 1
    worker and on 2 (with the bytes they moved); then the break-even on the 2 workers."""
    rows = args.rows
    per_epoch: dict[str, Any] = {}
    for threads in sorted({1, args.threads}):
        with threadpool_limits(threads):
            per_epoch[f"local, {threads} thread{'s' * (threads > 1)}"] = timed_fit(
                x[:rows], y[:rows], args.epochs
            )
    with cluster(1) as client:
        per_epoch["1 worker"] = on_cluster(client, x[:rows], y[:rows], args.epochs)
    with cluster(2) as client:
        per_epoch["2 workers"] = on_cluster(client, x[:rows], y[:rows], args.epochs)
        return {"per_epoch": per_epoch, "break_even": break_even(client, args, x, y)}


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    mb = 1e6
    print(
        f"distributed fit: {args.rows}×784 {args.dtype}, 784-128-10 relu, softmax-CE, full "
        f"batch, SGD lr {LR}; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
    print(f"  BLAS here: {results['blas']}")
    print(f"  BLAS on the workers: {results['per_epoch']['2 workers']['worker_blas']}")
    print(f"  {'':<18} {'s/epoch':>9} {'scatter s':>10} {'MB/step':>9} {'expected':>9}")
    for name, r in results["per_epoch"].items():
        moved = f"{r['step_bytes'] / mb:9.2f}" if "expected_step_bytes" in r else f"{'-':>9}"
        expected = r.get("expected_step_bytes")
        print(
            f"  {name:<18} {r['epoch_s']:9.3f} "
            + (f"{r['setup_s']:10.2f} {moved} {expected / mb:9.2f}" if expected else "")
        )
    data_mb = results["data_bytes"] / mb
    for name in ("1 worker", "2 workers"):
        r = results["per_epoch"][name]
        if not r["scatter_bytes"]:
            print(f"  {name}: bytes not measured (`ss`, of iproute2, not found)")
            continue
        # a step that moved rows would move far more than its weights and gradients
        only_gradients = r["step_bytes"] < 1.5 * r["expected_step_bytes"]
        print(
            f"  {name}: {r['scatter_bytes'] / mb:.1f} MB moved while the rows ({data_mb:.1f} MB) "
            f"were scattered, then {r['step_bytes'] / mb:.2f} MB a step: "
            + (
                "weights and gradients only"
                if only_gradients
                else "MORE than weights and gradients"
            )
        )
    print("  break-even: seconds per step, 2 workers of S rows each vs local on 2·S rows")
    print(f"  {'S rows':>8} {'local':>9} {'threads':>8} {'2 workers':>10} {'speed-up':>9}")
    for r in results["break_even"]:
        print(
            f"  {r['shard']:>8} {r['local_s']:9.4f} {r['local_threads']:>8} "
            f"{r['workers_s']:10.4f} {r['local_s'] / r['workers_s']:8.2f}×"
        )
    paying = [r["shard"] for r in results["break_even"] if r["workers_s"] < r["local_s"]]
    print(
        f"  the cluster pays from S = {paying[0]} rows per worker"
        if paying
        else "  the cluster did not pay at any shard size measured"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks distributed", description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000, help="rows of synthetic data")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit (first untimed)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads of the local fit")
    parser.add_argument("--shards", default=SHARDS, help="shard sizes for the break-even")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if any(name in os.environ for name in suite.UNSET):
        # OpenBLAS read these when numpy loaded: run again in a process without them
        env = {k: v for k, v in os.environ.items() if k not in suite.UNSET}
        given = sys.argv[1:] if argv is None else argv
        command = [sys.executable, "-m", "benchmarks", "distributed", *given]
        return subprocess.run(command, env=env, cwd=suite.ROOT).returncode
    if args.tiny:
        args.rows, args.epochs, args.shards = 2000, 3, "64,256"
    args.shards = [int(s) for s in args.shards.split(",")]
    if min(args.rows, args.threads, *args.shards) < 1 or args.epochs < 3:
        parser.error("--rows, --threads and --shards must be at least 1, --epochs at least 3")
    x, y = data(max(args.rows, 2 * max(args.shards)), np.dtype(args.dtype))
    results: dict[str, Any] = {
        "blas": blas(),
        "data_bytes": x[: args.rows].nbytes + y[: args.rows].nbytes,
        **measure(args, x, y),
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "cpus": os.cpu_count(),
    }
    report(args, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
