"""Turn the workers' results into medians, ratios, goal checks, and a printed table."""

from __future__ import annotations

import os
import platform
import statistics

import numpy as np

from benchmarks.workloads import WORKLOADS

# (workload, ours, other, bound): our float32 time over the other's, at most `bound`; for
# other == "limit", the fraction of the matmul limit, at least `bound`. Issue 5's goals for the
# eager engine come first, then issue 15's for the compiled step.
GOALS = (
    ("W1", "chainrule", "pytorch", 0.25),
    ("W1", "chainrule", "sklearn", 0.4),
    ("W1", "chainrule", "numpy", 1.5),
    ("W2", "chainrule", "pytorch", 0.85),
    ("W2", "chainrule", "limit", 0.70),
    ("W3", "chainrule", "pytorch", 0.2),
    ("W1", "chainrule-compiled", "numpy", 1.1),
    ("W1", "chainrule-compiled", "pytorch", 0.20),
    ("W3", "chainrule-compiled", "pytorch", 0.12),
    ("W2", "chainrule-compiled", "limit", 0.72),
    ("W2", "chainrule-compiled", "numpy", 1.0),
    ("W5", "chainrule-compiled", "pytorch", 0.7),
)
# (workload, contender): its peak memory, over what its process held before the data, stays
# within the data's size + MEMORY_HEADROOM_MB (issue 15).
GROWTH_GOALS = (("W5", "chainrule"), ("W5", "chainrule-compiled"))
# (workload, contender, bound): with one core busy it takes at most `bound` × its quiet time.
# It is `fit`, the path that chooses its BLAS threads (docs/performance.md says why).
BUSY_GOALS = (("W1", "chainrule-fit", 1.5), ("W5", "chainrule-fit", 1.5))
PARITY_TOLERANCE = 1e-12  # relative: float64 losses agree to rounding
MEMORY_HEADROOM_MB = 150.0
GOAL_DTYPE = "float32"
PARITY_CONTENDERS = ("chainrule", "chainrule-compiled", "chainrule-fit", "numpy")


def median(result: dict) -> float | None:
    times = result.get("us_per_step")
    return statistics.median(times) if times else None


def parity_error(results: dict, contender: str) -> float | None:
    """Largest relative difference between the contender's and PyTorch's float64 losses."""
    for per_contender in results.values():
        mine = per_contender.get(contender, {}).get("parity_losses")
        theirs = per_contender.get("pytorch", {}).get("parity_losses")
        if mine and theirs:
            a, b = np.array(mine), np.array(theirs)
            return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
    return None


def _ratios(rows: dict, ours: str) -> dict[str, float]:
    mine = rows.get(ours, {}).get("median_us")
    return {
        other: mine / rows[other]["median_us"]
        for other in ("pytorch", "sklearn", "numpy")
        if mine and rows.get(other, {}).get("median_us")
    }


def _row(result: dict, limit: float | None, contender: str) -> dict:
    m = median(result)
    return {
        "median_us": m,
        "min_us": min(result["us_per_step"]) if m else None,
        "max_us": max(result["us_per_step"]) if m else None,
        "of_limit": limit / m if m and limit and contender != "limit" else None,
        "peak_mb": result.get("peak_mb"),
        "grown_mb": result.get("grown_mb"),
        "dataset_mb": result.get("dataset_mb"),
        "accuracy": result.get("accuracy"),
        "steps_per_epoch": result.get("steps_per_epoch"),
        "threads_used": result.get("threads_used"),
        "data": result.get("data"),
        "error": result.get("error"),
    }


def summarise(results: dict) -> dict:
    """Medians, fractions of the limit, ratios, busy slowdowns and goals, ready for JSON and
    the table."""
    summary: dict = {"workloads": {}, "busy": {}, "goals": []}
    for name, per_dtype in results["workloads"].items():
        entry = summary["workloads"][name] = {"parity": {}, "dtypes": {}}
        for contender in PARITY_CONTENDERS:
            entry["parity"][contender] = parity_error(per_dtype, contender)
        for dtype, per_contender in per_dtype.items():
            limit = median(per_contender.get("limit", {}))
            rows = {c: _row(r, limit, c) for c, r in per_contender.items()}
            entry["dtypes"][dtype] = {
                "rows": rows,
                "ratios": _ratios(rows, "chainrule"),
                "compiled_ratios": _ratios(rows, "chainrule-compiled"),
            }
    for name, per_dtype in results.get("busy", {}).items():
        for dtype, per_contender in per_dtype.items():
            quiet = summary["workloads"][name]["dtypes"][dtype]["rows"]
            here = summary["busy"].setdefault(name, {})[dtype] = {}
            for contender, result in per_contender.items():
                row = _row(result, None, contender)
                before = quiet.get(contender, {}).get("median_us")
                row["quiet_us"] = before
                row["slowdown"] = row["median_us"] / before if row["median_us"] and before else None
                here[contender] = row
    summary["goals"] = _goals(summary)
    return summary


def _speed_goals(summary: dict) -> list[dict]:
    goals = []
    for name, ours, other, bound in GOALS:
        here = summary["workloads"].get(name, {}).get("dtypes", {}).get(GOAL_DTYPE)
        if here is None or ours not in here["rows"]:
            continue
        if other == "limit":
            value = here["rows"][ours].get("of_limit")
            text = f"{name}: {ours} reaches ≥ {bound:.0%} of the matmul limit"
            held = value is not None and value >= bound
        else:
            value = _ratios(here["rows"], ours).get(other)
            text = f"{name}: {ours} ≤ {bound}× {other}"
            held = value is not None and value <= bound
        goals.append({"goal": text, "value": value, "held": held})
    return goals


def _memory_goals(summary: dict) -> list[dict]:
    goals = []
    w2 = summary["workloads"].get("W2", {}).get("dtypes", {}).get(GOAL_DTYPE)
    if w2 and w2["rows"].get("chainrule", {}).get("peak_mb"):
        row = w2["rows"]["chainrule"]
        bound = row["dataset_mb"] + MEMORY_HEADROOM_MB
        goals.append(
            {
                "goal": f"W2: chainrule's peak memory < dataset + {MEMORY_HEADROOM_MB:.0f} MB "
                f"({bound:.0f} MB)",
                "value": row["peak_mb"],
                "held": row["peak_mb"] < bound,
            }
        )
    for name, contender in GROWTH_GOALS:
        here = summary["workloads"].get(name, {}).get("dtypes", {}).get(GOAL_DTYPE)
        row = here["rows"].get(contender, {}) if here else {}
        if row.get("grown_mb") is None:
            continue
        bound = row["dataset_mb"] + MEMORY_HEADROOM_MB
        goals.append(
            {
                "goal": f"{name}: {contender}'s peak memory over its start ≤ data + "
                f"{MEMORY_HEADROOM_MB:.0f} MB ({bound:.0f} MB)",
                "value": row["grown_mb"],
                "held": row["grown_mb"] <= bound,
            }
        )
    return goals


def _busy_goals(summary: dict) -> list[dict]:
    goals = []
    for name, contender, bound in BUSY_GOALS:
        here = summary["busy"].get(name, {}).get(GOAL_DTYPE)
        if here is None or contender not in here:
            continue
        value = here[contender]["slowdown"]
        torch = here.get("pytorch", {}).get("slowdown")
        beside = f" (pytorch slows {torch:.2f}×)" if torch else ""
        goals.append(
            {
                "goal": f"busy: {name} {contender} slows ≤ {bound}× with one core busy{beside}",
                "value": value,
                "held": value is not None and value <= bound,
            }
        )
    return goals


def _goals(summary: dict) -> list[dict]:
    goals = _speed_goals(summary)
    for name, entry in summary["workloads"].items():
        error = entry["parity"].get("chainrule")
        if error is not None:
            goals.append(
                {
                    "goal": f"{name}: float64 losses equal PyTorch's "
                    f"(relative ≤ {PARITY_TOLERANCE})",
                    "value": error,
                    "held": error <= PARITY_TOLERANCE,
                }
            )
    return goals + _memory_goals(summary) + _busy_goals(summary)


def machine(results: dict, threads: int) -> dict:
    """CPU, cores, Python, and the BLAS each library reported (threadpoolctl)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    blas: dict[str, list[str]] = {}
    for per_dtype in results["workloads"].values():
        for per_contender in per_dtype.values():
            for contender, result in per_contender.items():
                blas.setdefault(contender, result.get("blas", []))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
    }


def _us(row: dict) -> str:
    if row.get("error"):
        return f"error: {row['error']}"
    if row["median_us"] is None:
        return "—"
    return f"{row['median_us']:.1f} ({row['min_us']:.1f}–{row['max_us']:.1f})"


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _peak(row: dict) -> str:
    grown = row.get("grown_mb")
    return _fmt(row["peak_mb"], ".0f") + ("" if grown is None else f" (+{grown:.0f})")


def _workload_lines(name: str, entry: dict) -> list[str]:
    lines = [f"### {name}: {WORKLOADS[name].title}", ""]
    lines.append(
        "| dtype | contender | µs/step median (min–max) | of matmul limit | peak MB (+ over "
        "start) | held-out accuracy | float64 loss vs PyTorch |"
    )
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for dtype, here in entry["dtypes"].items():
        for contender, row in here["rows"].items():
            parity = entry["parity"].get(contender)
            lines.append(
                f"| {dtype} | {contender} | {_us(row)} | {_fmt(row['of_limit'], '.0%')} "
                f"| {_peak(row)} | {_fmt(row['accuracy'], '.4f')} | {_fmt(parity, '.1e')} |"
            )
    for dtype, here in entry["dtypes"].items():
        for ours, key in (("chainrule", "ratios"), ("chainrule-compiled", "compiled_ratios")):
            if ours in here["rows"]:
                ratios = ", ".join(f"/{k} {v:.2f}×" for k, v in here[key].items())
                lines.append(f"\n{dtype} ratios, {ours}{ratios or ': —'}")
        epochs = [
            f"{c} {row['median_us'] * row['steps_per_epoch'] / 1e6:.2f}"
            for c, row in here["rows"].items()
            if row.get("steps_per_epoch") and row["median_us"]
        ]
        if epochs:
            lines.append(f"\n{dtype} seconds per epoch (median): {', '.join(epochs)}")
    sources = {row["data"] for h in entry["dtypes"].values() for row in h["rows"].values()}
    lines += [f"\ndata: {source}" for source in sorted(filter(None, sources))]
    lines.append("")
    return lines


def _busy_lines(busy: dict) -> list[str]:
    """Per workload: each contender's quiet and busy medians, and busy ÷ quiet."""
    lines = [
        "### Busy machine: every contender again while one busy process holds a core",
        "",
        "| workload | dtype | contender | quiet µs/step | one core busy µs/step | busy ÷ quiet "
        "| BLAS threads chosen |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, per_dtype in busy.items():
        for dtype, rows in per_dtype.items():
            for contender, row in rows.items():
                lines.append(
                    f"| {name} | {dtype} | {contender} | {_fmt(row['quiet_us'], '.1f')} "
                    f"| {_us(row)} | {_fmt(row['slowdown'], '.2f')} "
                    f"| {_fmt(row['threads_used'], 'd')} |"
                )
    return [*lines, ""]


def table(summary: dict, info: dict, skipped: dict) -> str:
    """The report as Markdown: machine line, one table per workload, ratios, the busy
    machine's slowdowns, goals."""
    blas = info["blas"]
    numpy_blas = next(
        iter(blas.get("numpy") or blas.get("chainrule") or blas.get("limit") or []), "?"
    )
    torch_blas = [b for b in info["blas"].get("pytorch", []) if b.startswith("torch")]
    lines = [
        f"machine: {info['cpu']}, {info['cores']} cores, {info['threads']} threads; "
        f"Python {info['python']}, numpy {info['numpy']} with {numpy_blas}"
        + (f"; {torch_blas[0]}" if torch_blas else ""),
        "",
    ]
    for name, entry in summary["workloads"].items():
        lines += _workload_lines(name, entry)
    for name, reason in skipped.items():
        lines += [f"### {name}: skipped ({reason})", ""]
    if summary.get("busy"):
        lines += _busy_lines(summary["busy"])
    if summary["goals"]:
        lines += ["### Goals (float32, ratios from this run)", ""]
        for goal in summary["goals"]:
            mark = "holds" if goal["held"] else "MISSED"
            if goal["value"] is None:
                mark = "not measured"  # a contender it compares with was not run
            lines.append(f"- {mark}: {goal['goal']} — measured {_fmt(goal['value'], '.3g')}")
    return "\n".join(lines)
