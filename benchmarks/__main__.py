"""`python -m benchmarks`: run the suite and print the table (and `--json PATH` to keep it)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from benchmarks import report
from benchmarks.contenders import CONTENDERS
from benchmarks.run import run
from benchmarks.workloads import WORKLOADS


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="chainrule against PyTorch, scikit-learn and hand-written numpy, "
        "each contender in its own process.",
    )
    parser.add_argument(
        "workloads",
        nargs="*",
        help=f"workloads to run (prefixes of {list(WORKLOADS)}; all by default)",
    )
    parser.add_argument("--dtype", default="float32,float64", help="comma-separated dtypes")
    parser.add_argument(
        "--contenders", help=f"comma-separated subset of {list(CONTENDERS)} (all by default)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed repeats per process (default 5)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="contenders take turns this many times, a fresh process each (default 3)",
    )
    parser.add_argument("--threads", type=int, default=2, help="BLAS / torch threads")
    parser.add_argument(
        "--busy",
        action="store_true",
        help="run every contender again while a busy process holds one core, and report "
        "how much each slows",
    )
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    args.dtype = [d.strip() for d in args.dtype.split(",") if d.strip()]
    bad = [d for d in args.dtype if d not in ("float32", "float64")]
    if bad:
        parser.error(f"--dtype: {bad} not supported; expected float32 and/or float64")
    if args.contenders:
        args.contenders = [c.strip() for c in args.contenders.split(",")]
        unknown = [c for c in args.contenders if c not in CONTENDERS]
        if unknown:
            parser.error(f"--contenders: unknown {unknown}; expected some of {list(CONTENDERS)}")
    if min(args.repeats, args.rounds, args.threads) < 1:
        parser.error("--repeats, --rounds and --threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["playground"]:  # a server and its clients, not contenders: its own runner
        from benchmarks import playground

        return playground.main(argv[1:])
    if argv[:1] == ["liveplot"]:  # fit with and without a callback, in this one process
        from benchmarks import liveplot

        return liveplot.main(argv[1:])
    if argv[:1] == ["threads"]:  # one layer's products at 1 and more BLAS threads
        from benchmarks import threads

        return threads.main(argv[1:])
    if argv[:1] == ["distributed"]:  # fit on a Dask LocalCluster against local fit
        from benchmarks import distributed

        return distributed.main(argv[1:])
    args = parse(argv)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    results = run(
        args.workloads,
        args.dtype,
        args.contenders,
        args.repeats,
        args.threads,
        args.tiny,
        args.rounds,
        log,
        args.busy,
    )
    info = report.machine(results, args.threads)
    summary = report.summarise(results)
    print(report.table(summary, info, results["skipped"]))
    if args.json:
        payload = {
            "machine": info,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "results": results,
            "summary": summary,
        }
        args.json.write_text(json.dumps(payload, indent=1))
    return 0 if args.workloads else _distributed(args)


def _distributed(args: argparse.Namespace) -> int:
    """A full run's last part: fit on a Dask cluster against local fit, when the
    `distributed` extra is installed (about two minutes; `python -m benchmarks distributed`
    runs it alone)."""
    if importlib.util.find_spec("distributed") is None:
        print("\ndistributed: skipped; pip install 'chainrule[distributed]' to measure it")
        return 0
    from benchmarks import distributed

    print()
    return distributed.main([*(["--tiny"] if args.tiny else []), "--threads", str(args.threads)])


if __name__ == "__main__":
    raise SystemExit(main())
