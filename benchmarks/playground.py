"""The playground's speed: one training frame on the server, and a class of sessions at once.

    python -m benchmarks playground [--frames 200] [--sessions 40] [--requests 50] [--tiny]

1. A frame, as the event stream makes it: 10 batches of a 2-8-8-2 tanh network on circle
   (batch 10), then the 64×64 boundary map and every neuron's small map (`frame`); also the
   training and the maps alone, and the frame with its JSON. Goal: frame median ≤ 15 ms.
2. `--sessions` clients (40, a class) each create a session on a real uvicorn server on
   127.0.0.1 (its own process) and then send `--requests` POST /step?steps=1 one after
   another, all at the same time (asyncio, httpx), each pausing `--pause` seconds between
   an answer and its next step. Goal: p95 step latency ≤ 100 ms.

No time is asserted anywhere; `tests/test_playground_api.py` runs this at `--tiny` size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from chainrule.playground import free_port
from chainrule.playground.config import parse
from chainrule.playground.server import _frame, dumps
from chainrule.playground.session import Session
from chainrule.playground.views import maps

ROOT = Path(__file__).resolve().parents[1]
FRAME_GOAL_MS = 15.0
P95_GOAL_MS = 100.0
CONFIG = {"dataset": "circle", "hidden": [8, 8], "batch_size": 10, "seed": 0}


def _times(work, repeats: int) -> list[float]:
    for _ in range(3):  # warm up
        work()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(times),
        "p95_ms": float(np.percentile(times, 95)),
        "n": len(times),
    }


def frame(repeats: int) -> dict[str, dict[str, float]]:
    """Milliseconds per frame of a 2-8-8-2 network, and its parts."""
    session = Session(parse(dict(CONFIG)))
    return {
        "frame": _summary(_times(lambda: (session.train_batches(10), maps(session, 64)), repeats)),
        "train 10 batches": _summary(_times(lambda: session.train_batches(10), repeats)),
        "maps": _summary(_times(lambda: maps(session, 64), repeats)),
        "frame + JSON": _summary(_times(lambda: dumps(_frame(session, 10, 64)), repeats)),
    }


def _server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [sys.executable, "-m", "chainrule.cli", "playground", "--host", "127.0.0.1"]
    return subprocess.Popen(
        [*command, "--port", str(port), "--no-browser"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _class(url: str, sessions: int, requests: int, pause: float) -> list[float]:
    """Every client's step latencies, in ms, all clients running at once, each waiting
    about `pause` seconds (0.5–1.5 times it, at random) after an answer before its next step;
    0 is a saturating load: every client steps again at once."""
    limits = httpx.Limits(max_connections=sessions + 5)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def student(rng: np.random.Generator) -> list[float]:
            r = await client.post("/api/sessions", json=dict(CONFIG))
            sid = r.raise_for_status().json()["id"]
            await asyncio.sleep(pause * rng.uniform(0, 1))  # students do not press in step
            latencies = []
            for _ in range(requests):
                start = time.perf_counter()
                (await client.post(f"/api/sessions/{sid}/step?steps=1")).raise_for_status()
                latencies.append((time.perf_counter() - start) * 1e3)
                await asyncio.sleep(pause * rng.uniform(0.5, 1.5))
            return latencies

        rngs = [np.random.default_rng(i) for i in range(sessions)]
        results = await asyncio.gather(*(student(rng) for rng in rngs))
    return [t for latencies in results for t in latencies]


def classroom(sessions: int, requests: int, pause: float = 0.0) -> dict[str, float]:
    """p95 latency of POST /step with `sessions` clients stepping at once on a real server."""
    port = free_port()
    server = _server(port)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/api/options", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the playground server did not start") from None
                time.sleep(0.1)
        return _summary(asyncio.run(_class(url, sessions, requests, pause)))
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks playground", description=__doc__)
    parser.add_argument("--frames", type=int, default=200, help="timed frames (default 200)")
    parser.add_argument("--sessions", type=int, default=40, help="clients at once (default 40)")
    parser.add_argument("--requests", type=int, default=50, help="steps per client (default 50)")
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds a client waits after each answer (default 0: every client steps "
        "again at once, which saturates the server; 0.25 is a student pressing step 4×/s)",
    )
    parser.add_argument("--tiny", action="store_true", help="a few of each: checks that it runs")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.tiny:
        args.frames, args.sessions, args.requests = 3, 2, 2
    results = {
        "frame": frame(args.frames),
        "classroom": classroom(args.sessions, args.requests, args.pause),
        "cpus": os.cpu_count(),
    }
    print(f"playground, {os.cpu_count()} CPUs")
    for what, t in results["frame"].items():
        print(f"  {what:<18} median {t['median_ms']:7.2f} ms   p95 {t['p95_ms']:7.2f} ms")
    mark = "ok" if results["frame"]["frame"]["median_ms"] <= FRAME_GOAL_MS else "MISSED"
    print(f"  goal: a frame ≤ {FRAME_GOAL_MS:g} ms: {mark}")
    c = results["classroom"]
    print(
        f"  {args.sessions} sessions stepping at once (pause {args.pause:g} s): step latency "
        f"median {c['median_ms']:.1f} ms, p95 {c['p95_ms']:.1f} ms over {c['n']} steps"
    )
    mark = "ok" if c["p95_ms"] <= P95_GOAL_MS else "MISSED"
    print(f"  goal: p95 ≤ {P95_GOAL_MS:g} ms: {mark}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
