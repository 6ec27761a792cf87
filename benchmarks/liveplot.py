"""LivePlot's cost: how much slower `fit` runs with `callbacks=[LivePlot()]` in a notebook.

    python -m benchmarks liveplot [--repeats 5] [--tiny] [--json PATH]

Each run is timed without LivePlot and with it at its default refresh rate, the two taking
turns, `--repeats` times; the figures are medians. The time spent inside LivePlot's hooks is
also added up as fit calls them: it is LivePlot's cost measured where it is paid, steadier on
a shared machine than the difference of two totals. LivePlot is made to draw as in a
notebook: its display is a recorder that keeps every PNG (a kernel would also send the PNG to
the front end; that is not timed). The runs:

- moons: 400 rows (a random 300 to train, 100 held out), 2-16-16-2 tanh, batch 32, SGD lr
  0.1 momentum 0.9, 300 epochs: loss curves and the decision boundary;
- moons + gradients: the same with `LivePlot(gradients=True)`, a third panel;
- moons, 2000 epochs: the same as the first, long enough for a picture every 2 s;
- digits: 1438 rows to train, 359 held out (at random), 64-32-10 tanh, batch 32, the same SGD,
  40 epochs: the loss curves only (64 inputs have no boundary to draw).

Also the time of one picture alone: the process's first, a fit's first, and the later ones.
Goal: LivePlot's hooks take at most 10% of fit's time. No time is asserted anywhere;
`tests/test_liveplot.py` runs this at `--tiny` size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import liveplot
from chainrule.liveplot import Frame, LivePlot

GOAL_PERCENT = 10.0


class _Handle:
    def __init__(self) -> None:
        self.frames: list[bytes | None] = []

    def update(self, frame: Frame) -> None:
        self.frames.append(frame.png)


@contextmanager
def as_in_a_notebook() -> Iterator[_Handle]:
    """LivePlot draws as under a kernel, into the handle yielded, for the block."""
    handle = _Handle()
    before = liveplot.notebook_display
    liveplot.notebook_display = lambda: lambda frame, display_id=False: handle
    try:
        yield handle
    finally:
        liveplot.notebook_display = before


@dataclass
class Case:
    """One training run: its data, network, epochs, and the LivePlot it is measured with."""

    name: str
    dataset: str
    sizes: list[int]
    epochs: int
    live: dict[str, Any] = field(default_factory=dict)

    def data(self, tiny: bool) -> tuple[np.ndarray, ...]:
        if self.dataset == "moons":
            moons = cr.data.load("moons", n=80 if tiny else 400, noise=0.2)
            train, test = cr.data.split(moons, 0.25, seed=0)
        else:
            train, test = cr.data.split(cr.data.load(self.dataset), 0.2, seed=0)
        assert test is not None
        return train.X, train.y, test.X, test.y

    def fit(self, data: tuple[np.ndarray, ...], epochs: int, plot: LivePlot | None) -> float:
        """Seconds one fit takes, from the same weights and batch order every time."""
        X, y, X_test, y_test = data
        model = cr.nn.mlp(self.sizes, "tanh", rng=0)
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        start = time.perf_counter()
        cr.fit(
            model,
            X,
            y,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=32,
            seed=0,
            validation=(X_test, y_test),
            progress=False,
            callbacks=[] if plot is None else [plot],
        )
        return time.perf_counter() - start


CASES = [
    Case("moons 2-16-16-2, 300 epochs", "moons", [2, 16, 16, 2], 300),
    Case("moons + gradients", "moons", [2, 16, 16, 2], 300, {"gradients": True}),
    Case("moons, 2000 epochs", "moons", [2, 16, 16, 2], 2000),
    Case("digits 64-32-10, 40 epochs", "digits", [64, 32, 10], 40),
]


def _time_hooks(plot: LivePlot) -> list[float]:
    """Time spent inside the plot's hooks, added up as fit calls them: LivePlot's own cost,
    measured where it is paid and so less shaken by other jobs than a difference of totals."""
    spent = [0.0]

    def timing(hook: Any) -> Any:
        def timed(run: Any) -> None:
            start = time.perf_counter()
            hook(run)
            spent[0] += time.perf_counter() - start

        return timed

    for name in ("on_train_begin", "on_batch_end", "on_epoch_end", "on_train_end"):
        setattr(plot, name, timing(getattr(plot, name)))
    return spent


def overhead(case: Case, repeats: int, tiny: bool) -> dict[str, Any]:
    """Median seconds of fit without and with LivePlot (taking turns), the time inside
    LivePlot's hooks, and the pictures drawn."""
    data = case.data(tiny)
    epochs = 3 if tiny else case.epochs
    plain, live, hooks, frames = [], [], [], []
    case.fit(data, epochs, None)  # warm up: numpy's and the fit's first-call costs
    for _ in range(repeats):
        plain.append(case.fit(data, epochs, None))
        plot = LivePlot(**case.live)
        spent = _time_hooks(plot)
        live.append(case.fit(data, epochs, plot))
        hooks.append(spent[0])
        frames.append(plot.frames)
    without, with_plot = statistics.median(plain), statistics.median(live)
    return {
        "without_s": without,
        "with_s": with_plot,
        "overhead_percent": 100 * (with_plot / without - 1),
        "hooks_s": statistics.median(hooks),
        "hooks_percent": 100 * statistics.median(hooks) / without,
        "frames": statistics.median(frames),
        "epochs": epochs,
    }


def frame_time(repeats: int, tiny: bool) -> dict[str, float]:
    """Milliseconds of one picture of a moons run (loss and boundary): the process's very
    first (cold: every label is rendered for the first time), a fit's first (labels cached by
    an earlier fit, as in a notebook session), and a later one."""
    case = CASES[0]
    data = case.data(tiny)
    first, later = [], []
    for _ in range(repeats):
        plot = LivePlot(every=1, interval=0)
        draws: list[float] = []
        draw = plot._draw

        def timed(run: Any, final: bool, draw: Any = draw, draws: list[float] = draws) -> None:
            start = time.perf_counter()
            draw(run, final)
            draws.append(time.perf_counter() - start)

        plot._draw = timed  # type: ignore[method-assign]
        case.fit(data, 5, plot)
        first.append(draws[0] * 1e3)
        later += [t * 1e3 for t in draws[1:]]
    return {
        "cold_ms": first[0],
        "first_ms": statistics.median(first),
        "later_ms": statistics.median(later),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks liveplot", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed pairs per run (default 5)")
    parser.add_argument("--tiny", action="store_true", help="a few epochs: checks that it runs")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.tiny:
        args.repeats = 1
    start = time.perf_counter()
    import chainrule.plot  # noqa: F401  (matplotlib's import, paid once per process)

    imported = time.perf_counter() - start
    with as_in_a_notebook() as handle:
        results: dict[str, Any] = {
            "import_s": imported,
            "frame": frame_time(args.repeats, args.tiny),
            "runs": {case.name: overhead(case, args.repeats, args.tiny) for case in CASES},
            "cpus": os.cpu_count(),
        }
    assert handle.frames and all(f and f.startswith(b"\x89PNG") for f in handle.frames)
    print(f"LivePlot at its defaults (every=1, interval=2 s), {os.cpu_count()} CPUs")
    f = results["frame"]
    print(
        f"  one picture (loss + boundary): {f['later_ms']:.0f} ms, a fit's first "
        f"{f['first_ms']:.0f} ms, the process's first {f['cold_ms']:.0f} ms; "
        f"importing matplotlib {results['import_s']:.2f} s, once"
    )
    for name, r in results["runs"].items():
        mark = "ok" if r["hooks_percent"] <= GOAL_PERCENT else "MISSED"
        print(
            f"  {name:<28} fit {r['without_s']:5.2f} s, with LivePlot {r['with_s']:5.2f} s "
            f"({r['overhead_percent']:+5.1f}%); in LivePlot {1e3 * r['hooks_s']:4.0f} ms "
            f"({r['hooks_percent']:4.1f}%, {r['frames']:g} pictures)  {mark}"
        )
    print(f"  goal: LivePlot's hooks take at most {GOAL_PERCENT:g}% of fit's time")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
