"""Run each atheris harness for a given time, one after another, and the hypothesis fuzz
tests at a larger scale; print the executions per target and their sum, and every finding.

    python fuzz/run_all.py --seconds 240            # each of model, csv, idx; then cli
    python fuzz/run_all.py --seconds 60 --targets csv idx --hypothesis-scale 0

Each harness runs under `nice -n 19`, one at a time, with libFuzzer's bounds (-timeout,
-rss_limit_mb); it grows a copy of its seed corpus in CHAINRULE_FUZZ_WORK (default
/tmp/chainrule-fuzz), so fuzz/corpus/ stays the small committed seeds. The log of each run is
kept there too. The exit status is 1 when any run found something or crossed a bound.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from common import WORK

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
DICTS = {"model": "model.dict", "csv": "csv.dict"}
HARNESS = {"model": "fuzz_model.py", "csv": "fuzz_csv.py", "idx": "fuzz_idx.py",
           "cli": "fuzz_cli_options.py"}  # fmt: skip
TIMEOUT = {"cli": 20}  # seconds per input: a training run is allowed more than a file read
BOUND_BROKEN = re.compile(
    r"ERROR: libFuzzer: (out-of-memory|timeout|deadly signal|fuzz target exited)"
)
# this tree's chainrule unless PYTHONPATH says which (a snapshot, an installed one: PYTHONPATH=)
ENV = dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT / "src")))
# hypothesis tests and the target whose inputs they count
HYPOTHESIS = {
    "model": ("test_model_loader", "test_forged_layer", "test_many_layers"),
    "csv": ("csv",),
    "idx": ("test_idx",),
    "cli": ("test_cli",),
}


def run_harness(target: str, seconds: int, rss_mb: int, segment: int) -> tuple[int, list[str]]:
    """(executions, problems) of a harness run for `seconds` in all: fresh processes of at
    most `segment` seconds each, on one growing corpus (atheris's instrumentation holds on to
    a little memory per execution, see README.md, which a fresh process gives back)."""
    corpus = WORK / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in (FUZZ / "corpus" / target).iterdir():
        shutil.copy(seed, corpus / seed.name)
    artifacts = WORK / "artifacts" / target
    artifacts.mkdir(parents=True, exist_ok=True)
    total, problems, left, part = 0, [], seconds, 0
    while left > 0:
        part += 1
        run = min(segment, left)
        left -= run
        command = [
            "nice", "-n", "19", sys.executable, str(FUZZ / HARNESS[target]), str(corpus),
            f"-max_total_time={run}", f"-rss_limit_mb={rss_mb}",
            f"-timeout={TIMEOUT.get(target, 10)}", "-print_final_stats=1",
            f"-artifact_prefix={artifacts}/",
        ]  # fmt: skip
        if target in DICTS:
            command.append(f"-dict={FUZZ / DICTS[target]}")
        log = WORK / f"{target}-{part}.log"
        with log.open("w") as f:
            subprocess.run(
                command, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=ENV, check=False
            )
        text = log.read_text(errors="replace")
        counts = re.findall(r"stat::number_of_executed_units: (\d+)", text)
        if not counts:  # a run that a bound ended early prints no final stats, only progress
            counts = re.findall(r"^#(\d+)\s", text, re.MULTILINE)[-1:] or ["0"]
        total += int(counts[-1])
        problems += [line for line in text.splitlines() if line.startswith("FINDING")]
        problems += [m.group(0) + f" (see {log})" for m in BOUND_BROKEN.finditer(text)]
    return total, sorted(set(problems))


def run_hypothesis(scale: float) -> tuple[dict[str, int], list[str]]:
    """Examples per target from tests/test_fuzz.py at `scale` times its CI size."""
    env = dict(ENV, CHAINRULE_FUZZ_SCALE=str(scale))
    command = [
        "nice", "-n", "19", sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
        "tests/test_fuzz.py", "--hypothesis-show-statistics",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    (WORK / "hypothesis.log").write_text(result.stdout + result.stderr)
    counts = dict.fromkeys(HYPOTHESIS, 0)
    test = ""
    for line in result.stdout.splitlines():
        if line.startswith("tests/test_fuzz.py::"):
            test = line
        found = re.search(r"(\d+) passing(?: examples)?, (\d+) failing", line)
        if found:
            for target, names in HYPOTHESIS.items():
                if any(name in test for name in names):
                    counts[target] += int(found.group(1)) + int(found.group(2))
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    return counts, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=240, help="per harness")
    parser.add_argument("--targets", nargs="+", default=["model", "csv", "idx", "cli"])
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--segment", type=int, default=120, help="seconds per fresh process")
    parser.add_argument("--hypothesis-scale", type=float, default=1.0, help="0: skip")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    total: dict[str, int] = {}
    problems: list[str] = []
    for target in args.targets:
        count, found = run_harness(target, args.seconds, args.rss_limit_mb, args.segment)
        print(f"atheris {target}: {count:,} executions in {args.seconds} s", flush=True)
        total[target] = count
        problems += found
    if args.hypothesis_scale > 0:
        counts, failed = run_hypothesis(args.hypothesis_scale)
        for target, count in counts.items():
            print(f"hypothesis {target}: {count:,} examples", flush=True)
            total[target] = total.get(target, 0) + count
        problems += failed
    files = sum(v for k, v in total.items() if k != "cli")
    print(
        f"total: {files:,} model files, CSVs and IDX folders; {total.get('cli', 0):,} command lines"
    )
    for problem in problems:
        print(problem)
    print(f"{len(problems)} findings" if problems else "no findings: every outcome allowed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
