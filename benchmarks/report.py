"""Turn the workers' results into medians, ratios, goal checks, and a printed table."""

from __future__ import annotations

import os
import platform
import statistics

import numpy as np

from benchmarks.workloads import WORKLOADS

# (workload, what, bound): chainrule's float32 time over the other's, at most `bound`; for
# "limit", the fraction of the matmul limit, at least `bound`.
GOALS = (
    ("W1", "pytorch", 0.25),
    ("W1", "sklearn", 0.4),
    ("W1", "numpy", 1.5),
    ("W2", "pytorch", 0.85),
    ("W2", "limit", 0.70),
    ("W3", "pytorch", 0.2),
)
PARITY_TOLERANCE = 1e-12  # relative: float64 losses agree to rounding
MEMORY_HEADROOM_MB = 150.0
GOAL_DTYPE = "float32"


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


def summarise(results: dict) -> dict:
    """Medians, fractions of the limit, ratios and goals, ready for JSON and the table."""
    summary: dict = {"workloads": {}, "goals": []}
    for name, per_dtype in results["workloads"].items():
        entry = summary["workloads"][name] = {"parity": {}, "dtypes": {}}
        for contender in ("chainrule", "chainrule-fit", "numpy"):
            entry["parity"][contender] = parity_error(per_dtype, contender)
        for dtype, per_contender in per_dtype.items():
            limit = median(per_contender.get("limit", {}))
            rows = {}
            for contender, result in per_contender.items():
                m = median(result)
                rows[contender] = {
                    "median_us": m,
                    "min_us": min(result["us_per_step"]) if m else None,
                    "max_us": max(result["us_per_step"]) if m else None,
                    "of_limit": limit / m if m and limit and contender != "limit" else None,
                    "peak_mb": result.get("peak_mb"),
                    "dataset_mb": result.get("dataset_mb"),
                    "accuracy": result.get("accuracy"),
                    "error": result.get("error"),
                }
            ours = rows.get("chainrule", {}).get("median_us")
            ratios = {
                other: ours / rows[other]["median_us"]
                for other in ("pytorch", "sklearn", "numpy")
                if ours and rows.get(other, {}).get("median_us")
            }
            entry["dtypes"][dtype] = {"rows": rows, "ratios": ratios}
    summary["goals"] = _goals(summary)
    return summary


def _goals(summary: dict) -> list[dict]:
    goals = []
    for name, other, bound in GOALS:
        here = summary["workloads"].get(name, {}).get("dtypes", {}).get(GOAL_DTYPE)
        if here is None:
            continue
        if other == "limit":
            value = here["rows"].get("chainrule", {}).get("of_limit")
            text = f"{name}: chainrule reaches ≥ {bound:.0%} of the matmul limit"
            held = value is not None and value >= bound
        else:
            value = here["ratios"].get(other)
            text = f"{name}: chainrule ≤ {bound}× {other}"
            held = value is not None and value <= bound
        goals.append({"goal": text, "value": value, "held": held})
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
    return goals


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


def table(summary: dict, info: dict, skipped: dict) -> str:
    """The report as Markdown: machine line, one table per workload, ratios, goals."""
    numpy_blas = next(iter(info["blas"].get("chainrule") or info["blas"].get("limit") or []), "?")
    torch_blas = [b for b in info["blas"].get("pytorch", []) if b.startswith("torch")]
    lines = [
        f"machine: {info['cpu']}, {info['cores']} cores, {info['threads']} threads; "
        f"Python {info['python']}, numpy {info['numpy']} with {numpy_blas}"
        + (f"; {torch_blas[0]}" if torch_blas else ""),
        "",
    ]
    for name, entry in summary["workloads"].items():
        lines += [f"### {name}: {WORKLOADS[name].title}", ""]
        lines.append(
            "| dtype | contender | µs/step median (min–max) | of matmul limit | peak MB "
            "| held-out accuracy | float64 loss vs PyTorch |"
        )
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for dtype, here in entry["dtypes"].items():
            for contender, row in here["rows"].items():
                parity = entry["parity"].get(contender)
                lines.append(
                    f"| {dtype} | {contender} | {_us(row)} | {_fmt(row['of_limit'], '.0%')} "
                    f"| {_fmt(row['peak_mb'], '.0f')} | {_fmt(row['accuracy'], '.4f')} "
                    f"| {_fmt(parity, '.1e')} |"
                )
        for dtype, here in entry["dtypes"].items():
            ratios = ", ".join(f"/{k} {v:.2f}×" for k, v in here["ratios"].items())
            lines.append(f"\n{dtype} ratios, chainrule{ratios or ': —'}")
        lines.append("")
    for name, reason in skipped.items():
        lines += [f"### {name}: skipped ({reason})", ""]
    if summary["goals"]:
        lines += ["### Goals (float32, ratios from this run)", ""]
        for goal in summary["goals"]:
            mark = "holds" if goal["held"] else "MISSED"
            if goal["value"] is None:
                mark = "not measured"  # a contender it compares with was not run
            lines.append(f"- {mark}: {goal['goal']} — measured {_fmt(goal['value'], '.3g')}")
    return "\n".join(lines)
