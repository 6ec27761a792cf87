"""One contender on one workload in one dtype, in its own process.

`python -m benchmarks.worker '<json spec>'` prints one JSON line: microseconds per step for
each repeat, the float64 losses of the parity run, held-out accuracy, peak memory, and the
BLAS in use. The parent (`benchmarks.run`) starts one of these per measurement.
"""

from __future__ import annotations

import gc
import importlib
import json
import resource
import sys
import time
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from benchmarks import limit, workloads
from benchmarks.contenders import CONTENDERS
from benchmarks.workloads import PARITY_ROWS, PARITY_STEPS, Workload


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _blas(contender: str, threads: int) -> list[str]:
    lines = [
        f"{pool['internal_api']} {pool.get('version') or ''} {pool.get('architecture') or ''} "
        f"{pool['num_threads']} threads".replace("  ", " ")
        for pool in threadpool_info()
    ]
    if contender == "pytorch":
        import torch

        torch.set_num_threads(threads)
        backend = "MKL" if torch.backends.mkl.is_available() else "its own BLAS"
        lines.append(f"torch {torch.__version__} ({backend}) {torch.get_num_threads()} threads")
    return lines


def _parity(w: Workload, name: str, tiny: bool) -> list[float] | None:
    """The first PARITY_STEPS float64 losses from the shared initial weights, on the first
    PARITY_ROWS rows, in the shared batch order."""
    small = replace(w, rows=min(w.rows, PARITY_ROWS)) if w.rows else w
    data = workloads.load(small, np.float64, tiny)
    x, y = data.x[:PARITY_ROWS], data.y[:PARITY_ROWS]
    weights = workloads.initial_weights(w, np.float64)
    contender = CONTENDERS[name](w, x, y, weights, np.float64)
    return contender.losses(workloads.batch_plan(len(x), w.batch, PARITY_STEPS))


def _time_contender(w: Workload, spec: dict) -> dict:
    dtype = np.dtype(spec["dtype"])
    data = workloads.load(w, dtype, spec["tiny"])
    n = len(data.x)
    weights = workloads.initial_weights(w, dtype)
    contender = CONTENDERS[spec["contender"]](w, data.x, data.y, weights, dtype)
    if w.epochs:
        per_repeat, repeats = workloads.steps_per_epoch(n, w.batch), w.epochs
    else:
        per_repeat, repeats = w.steps, spec["repeats"]
    warmup = min(per_repeat, 10)
    plan = workloads.batch_plan(n, w.batch, warmup + per_repeat * repeats)
    contender.run(plan[:warmup])
    times = []
    for r in range(repeats):
        chunk = plan[warmup + r * per_repeat : warmup + (r + 1) * per_repeat]
        gc.collect()
        start = time.perf_counter()
        steps = contender.run(chunk)
        times.append((time.perf_counter() - start) / steps * 1e6)
    result = {"us_per_step": times, "dataset_mb": data.nbytes / 2**20, "peak_mb": _peak_mb()}
    if w.epochs:
        result["steps_per_epoch"] = per_repeat
    if data.source:
        result["data"] = data.source
    if getattr(contender, "threads_used", None) is not None:
        result["threads_used"] = contender.threads_used
    if data.x_val is not None:
        result["accuracy"] = float(np.mean(contender.predict(data.x_val) == data.labels_val))
    return result


def _time_limit(w: Workload, spec: dict) -> dict:
    dtype = np.dtype(spec["dtype"])
    n = w.rows or len(workloads.load(w, dtype, spec["tiny"]).x)
    operands = limit.products(w, n, dtype)
    # Enough steps per repeat to time well: the workload's own, or at least an epoch's worth.
    steps = max(w.steps, workloads.steps_per_epoch(n, w.batch)) if not w.epochs else 200
    limit.time_step(operands, min(steps, 10))
    times = [limit.time_step(operands, steps) * 1e6 for _ in range(spec["repeats"])]
    return {"us_per_step": times}


def main(spec: dict) -> dict:
    w = _workload(spec)
    threads = spec["threads"]
    # chainrule is imported inside this limit, so its thread policy takes `threads` as the
    # BLAS's own count: the ceiling it chooses under, as the other contenders' fixed count.
    with threadpool_limits(limits=threads):
        result = {"blas": _blas(spec["contender"], threads)}
        libraries = [getattr(CONTENDERS.get(spec["contender"]), "library", None)]
        libraries.append(workloads.DATA_LIBRARIES.get(w.name))
        for library in filter(None, libraries):
            importlib.import_module(library)
        # what the process holds before the workload's data: peak_mb - start_mb is what
        # the data and the training cost
        result["start_mb"] = _peak_mb()
        if spec["contender"] == "limit":
            result.update(_time_limit(w, spec))
        else:
            if spec.get("parity"):
                result["parity_losses"] = _parity(w, spec["contender"], spec["tiny"])
            result.update(_time_contender(w, spec))
    return result


def _workload(spec: dict) -> Workload:
    w = workloads.WORKLOADS[spec["workload"]]
    return w.tiny() if spec["tiny"] else w


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    try:
        out = main(spec)
    except Exception as err:  # reported in the table, so one broken contender spoils nothing else
        out = {"error": f"{type(err).__name__}: {err}"}
    print(json.dumps(out))
