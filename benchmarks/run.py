"""Start one worker process per (workload, dtype, contender) and collect their results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import mnist
from benchmarks.busy import one_busy_core
from benchmarks.workloads import WORKLOADS, Workload

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Overrides that pin OpenBLAS to another core type or cache size would make the numbers
# describe a different machine; they are removed for the benchmark's own processes only.
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def worker_env(threads: int, contender: str = "") -> dict[str, str]:
    """The environment of a benchmark process. The thread variables fix every other
    contender's BLAS at `threads`; chainrule's processes go without them, because a thread
    variable is a user's explicit choice its thread policy steps aside for (the worker's
    threadpoolctl limit gives it the same ceiling)."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET and k not in THREAD_VARIABLES}
    if not contender.startswith("chainrule"):
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_worker(spec: dict, timeout: float = 900) -> dict:
    """Run `benchmarks.worker` on `spec` in a fresh process; its JSON line, or an error."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", json.dumps(spec)],
            cwd=ROOT,
            env=worker_env(spec["threads"], spec["contender"]),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return {"error": tail[0]}
    return json.loads(lines[-1])


def selected(names: list[str] | None) -> list[Workload]:
    """Workloads whose name starts with one of `names` ("W4" selects both W4 recipes)."""
    if not names:
        return list(WORKLOADS.values())
    chosen = [w for w in WORKLOADS.values() if any(w.name.startswith(n) for n in names)]
    unknown = [n for n in names if not any(w.name.startswith(n) for w in WORKLOADS.values())]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; expected some of {list(WORKLOADS)}")
    return chosen


def merge(rounds: list[dict]) -> dict:
    """One result from several rounds of the same measurement: every repeat's time, the
    highest peak memory (and the most any process grew from its start), and what only the
    first round measured (parity, accuracy)."""
    failed = [r for r in rounds if "error" in r]
    if failed:
        return failed[0]
    merged = dict(rounds[0])
    merged["us_per_step"] = [t for r in rounds for t in r["us_per_step"]]
    if "peak_mb" in merged:
        merged["peak_mb"] = max(r["peak_mb"] for r in rounds)
        if all("start_mb" in r for r in rounds):
            merged["grown_mb"] = max(r["peak_mb"] - r["start_mb"] for r in rounds)
    return merged


def _spec(
    w: Workload, contender: str, dtype: str, repeats: int, threads: int, tiny: bool, parity: bool
) -> dict:
    return {
        "workload": w.name,
        "contender": contender,
        "dtype": dtype,
        "repeats": repeats,
        "threads": threads,
        "tiny": tiny,
        "parity": parity,
    }


def run(
    names: list[str] | None,
    dtypes: list[str],
    contenders: list[str] | None,
    repeats: int,
    threads: int,
    tiny: bool,
    rounds: int = 1,
    log=print,
    busy: bool = False,
) -> dict:
    """Every measurement, as {"workloads": {name: {dtype: {contender: result}}}, "skipped": ...}
    and, with `busy`, "busy": the same contenders again while one busy process holds a core.

    The contenders of a workload take turns for `rounds` rounds (one process each per
    round), so a burst of load from elsewhere on the machine falls on all of them alike.
    Workloads that train for several epochs (W4) run one round. With `busy`, each round
    runs every contender quiet, then every contender again beside the busy process.
    """
    results: dict = {"workloads": {}, "skipped": {}, "busy": {}}
    for w in selected(names):
        if w.name.startswith("W4") and not mnist.available():
            results["skipped"][w.name] = f"MNIST IDX files not found in {mnist.default_dir()}"
            log(f"skipping {w.name}: {results['skipped'][w.name]}")
            continue
        per_dtype = results["workloads"].setdefault(w.name, {})
        names_here = [c for c in w.contenders if contenders is None or c in contenders]
        for i, dtype in enumerate(dtypes):
            measured: dict[str, list[dict]] = {c: [] for c in [*names_here, "limit"]}
            slowed: dict[str, list[dict]] = {c: [] for c in names_here}
            for turn in range(1 if w.epochs > 1 else rounds):
                for contender in measured:
                    log(f"  {w.name} {dtype} {contender} (round {turn + 1}) ...")
                    spec = _spec(w, contender, dtype, repeats, threads, tiny, i == 0 and turn == 0)
                    measured[contender].append(run_worker(spec))
                if busy:
                    with one_busy_core():
                        for contender in slowed:
                            log(f"  {w.name} {dtype} {contender} (round {turn + 1}, busy) ...")
                            spec = _spec(w, contender, dtype, repeats, threads, tiny, False)
                            slowed[contender].append(run_worker(spec))
            per_dtype[dtype] = {c: merge(r) for c, r in measured.items()}
            if busy:
                busy_here = results["busy"].setdefault(w.name, {})
                busy_here[dtype] = {c: merge(r) for c, r in slowed.items()}
    return results
