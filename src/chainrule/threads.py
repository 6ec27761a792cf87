"""How many BLAS threads chainrule's own work runs on.

numpy hands every matrix product to its BLAS, which splits a product across threads. A
second thread pays only on large products: on a small one, handing the work out and
gathering it back costs more than the arithmetic it saves. And when another process keeps a
core busy, BLAS threads that wait on each other spin, so a product run on every core can be
many times slower than on one (issue 15: 62 s against 2 s for an MNIST fit).

So `fit` chooses at its start (a threadpoolctl call costs tens of µs, too much per op): one
thread when the largest product of a step, batch × fan_in × fan_out, is below
MIN_PRODUCT_FOR_THREADS, and otherwise as many threads as there are cores that no other
process is keeping busy, up to the BLAS's count when chainrule was imported. A large fit
counts the free cores again every REVIEW_S seconds while it runs, so a process that starts
(or ends) beside it moves its count. The count is restored when fit returns. Outside fit, a
compiled step of the user's own loop, and the eager engine's products (a layer's forward, and
the backward pass after it) of at least MIN_PRODUCT_FOR_THREADS, run on the free cores call
by call (`on_free_cores`): a limit and its restore cost microseconds, and only when a core is
taken, on work of hundreds of them.

A user's explicit setting always wins, and then fit leaves the BLAS alone:
- OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or MKL_NUM_THREADS in the environment;
- a threadpoolctl limit in the user's own code (the BLAS's count differs from its count
  when chainrule was imported; a limit set before the import is the ceiling fit stays under);
- `set_num_threads(n)`.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np  # noqa: F401  (loads numpy's BLAS, so the controller below finds it)
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from chainrule.checks import positive_int

if TYPE_CHECKING:
    from chainrule.nn.module import Module

T = TypeVar("T")

# Below this many multiply-adds in a step's largest product (batch × fan_in × fan_out), a
# second BLAS thread does not pay. Measured by `python -m benchmarks threads` on the 2-core Intel
# Xeon (OpenBLAS 0.3.31, float32, 2026-12-01, machine quiet): 2 threads took 0.57-0.78x the
# time of 1 on every layer from 64x256x256 (4,194,304) to 64x1024x1024, 0.96-1.37x from
# 589,824 to 2,359,296, and the same time up to 262,144. docs/performance.md has the table.
MIN_PRODUCT_FOR_THREADS = 4_194_304

ENVIRONMENT = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Samples of the run queue, 2 ms apart, whose median says how many cores others keep busy.
SAMPLES, SAMPLE_GAP_S = 5, 0.002
# How often a fit on the free cores counts them again: its 8 ms of samples are 0.4% of that.
REVIEW_S = 2.0

# numpy's BLAS, found once: scanning the loaded libraries costs milliseconds.
_CONTROLLER = ThreadpoolController().select(user_api="blas")
_explicit: Any = None  # the threadpoolctl limit set_num_threads holds, if any


def _blas_threads() -> int | None:
    """The BLAS's thread count now (the largest, if numpy loaded more than one BLAS)."""
    counts = [lib["num_threads"] for lib in _CONTROLLER.info()]
    return max(counts) if counts else None


AT_IMPORT = _blas_threads()


def set_num_threads(n: int | None) -> None:
    """Run the BLAS on `n` threads from now on; fit's thread policy then steps aside.

    numpy has one BLAS per process, so numpy calls outside chainrule run on `n` threads too.
    `set_num_threads(None)` hands the choice back: the BLAS returns to its count when
    chainrule was imported, and fit chooses again.
    """
    global _explicit
    if n is not None:
        n = positive_int("set_num_threads", "n", n)
    if _explicit is not None:
        _explicit.restore_original_limits()
        _explicit = None
    if n is not None:
        _explicit = _CONTROLLER.limit(limits=n)


def get_num_threads() -> int:
    """The BLAS's thread count now: set_num_threads's `n`, the user's own limit, fit's
    choice while a fit runs, or the BLAS's own default (1 when no BLAS was found)."""
    return _blas_threads() or 1


def user_has_chosen() -> bool:
    """True when the environment, the user's threadpoolctl limit or set_num_threads fixed
    the thread count; fit then leaves the BLAS alone."""
    if _explicit is not None or any(os.environ.get(name) for name in ENVIRONMENT):
        return True
    return _blas_threads() != AT_IMPORT


def largest_product(model: Module, batch: int) -> int:
    """Multiply-adds of a step's largest matrix product: batch × fan_in × fan_out for the
    largest weight matrix (a layer's forward, grad-weight and grad-input products each do
    that many)."""
    return max((batch * p.data.size for p in model.parameters() if p.data.ndim >= 2), default=0)


def _running_elsewhere() -> int:
    """Threads of other processes running or ready to run, now (Linux: the kernel's count of
    runnable threads minus this process's own; 0 where /proc cannot tell)."""
    try:
        with open("/proc/loadavg") as f:
            runnable = int(f.read().split()[3].partition("/")[0])
        own = 0
        for task in os.scandir("/proc/self/task"):
            with open(os.path.join(task.path, "stat")) as f:
                own += f.read().rpartition(")")[2].split()[0] == "R"
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, runnable - own)


def free_cores() -> int:
    """Cores this process may run on that no other process is keeping busy (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    samples = []
    for i in range(SAMPLES):
        if i:
            time.sleep(SAMPLE_GAP_S)
        samples.append(_running_elsewhere())
    return max(1, (cores or 1) - round(statistics.median(samples)))


_counted = [1, -math.inf]  # the last count of free cores, and when it was taken


def recent_free_cores() -> int:
    """free_cores(), counted again only once the last count is REVIEW_S seconds old: a count
    costs about 8 ms, and fit can be called many times a second (`partial_fit` of the
    estimators calls it once per batch, and so does a search on each of its candidates)."""
    now = time.monotonic()
    if now - _counted[1] >= REVIEW_S:
        _counted[:] = [free_cores(), now]
    return int(_counted[0])


def _share_of_free_cores() -> int:
    """The thread count for large work: the free cores, up to the BLAS's count at import."""
    return min(AT_IMPORT or 1, recent_free_cores())


def choose(model: Module, batch: int) -> int | None:
    """The BLAS thread count for a fit of `model` on batches of `batch` rows; None when the
    user has chosen (or there is no BLAS to limit) and the BLAS is left as it is."""
    if AT_IMPORT is None or user_has_chosen():
        return None
    if AT_IMPORT == 1 or largest_product(model, batch) < MIN_PRODUCT_FOR_THREADS:
        return 1
    return _share_of_free_cores()


class _Review:
    """The count a fit runs on: set at its start, and for a fit on the free cores counted
    again every REVIEW_S seconds; `restore()` brings back the count from before."""

    def __init__(self, chosen: int, reviewed: bool) -> None:
        self.chosen = chosen
        self.reviewed = reviewed  # a fit on the free cores; a small one stays on one thread
        self.limit: Any = None  # the first limit set, whose restore brings back the original
        self.apply(chosen)

    def apply(self, n: int) -> None:
        if n != _blas_threads():
            limit = _CONTROLLER.limit(limits=n)
            self.limit = self.limit or limit

    def __call__(self) -> None:
        """Called at every batch: a new count of the free cores, when one is due, moves it."""
        if self.reviewed:
            n = _share_of_free_cores()
            if n != self.chosen:
                self.chosen = n
                self.apply(n)

    def restore(self) -> None:
        if self.limit is not None:
            self.limit.restore_original_limits()


_deciding = [0]  # > 0 while fit, or a call run on the free cores, has chosen for the work inside
_since_backward = [0]  # the largest eager product (if large) since the last backward()


def on_free_cores(product: int, call: Callable[..., T], *args: Any) -> T:
    """`call(*args)`, work whose largest matrix product is `product` multiply-adds, outside
    a fit: a compiled step of the user's own loop, or an eager op. fit chooses once per fit,
    but a loop of the user's has no start and end to choose at, so work of at least
    MIN_PRODUCT_FOR_THREADS runs on the free cores (counted again every REVIEW_S seconds) and
    the BLAS's count is restored after it. On a quiet machine that costs 0.3 µs a call; with
    a core taken, a threadpoolctl limit and its restore, 4–24 µs, on work of hundreds of µs.
    Smaller work is left alone, its products too small for the BLAS to split
    (docs/performance.md, the thread sweep), and so is work inside work that has chosen."""
    if product < MIN_PRODUCT_FOR_THREADS or AT_IMPORT in (None, 1) or _deciding[0]:
        return call(*args)
    chosen = _share_of_free_cores()
    if chosen == AT_IMPORT or user_has_chosen():  # asked last: it takes 4 µs, the rest 0.2
        return call(*args)
    _deciding[0] += 1
    try:
        with _CONTROLLER.limit(limits=chosen):
            return call(*args)
    finally:
        _deciding[0] -= 1


def eager_product(product: int, call: Callable[..., T], *args: Any) -> T:
    """An eager op's matrix product, `call(*args)`, on the free cores when it is large; the
    backward pass that follows runs on them too (`for_backward`)."""
    if product < MIN_PRODUCT_FOR_THREADS:  # most products: first, the fewest steps
        return call(*args)
    _since_backward[0] = max(_since_backward[0], product)
    return on_free_cores(product, call, *args)


def for_backward(call: Callable[..., T], *args: Any) -> T:
    """A backward pass, `call(*args)`: its products are the transposes of the forward
    pass's, so it runs as the largest eager product since the last backward pass did."""
    largest = _since_backward[0]
    if not largest:  # no product large enough to note
        return call(*args)
    _since_backward[0] = 0
    return on_free_cores(largest, call, *args)


def _untouched() -> None:
    """The review when the user has chosen: the BLAS is left alone."""


@contextmanager
def for_fit(model: Module, batch: int) -> Iterator[Callable[[], None]]:
    """The thread policy around one fit: the BLAS runs on `choose(model, batch)` threads
    inside, and on what it ran on before once the fit is over. It yields the review that fit
    calls at every batch, which counts a large fit's free cores again when it is due."""
    chosen = choose(model, batch)
    _deciding[0] += 1  # the eager ops inside leave the BLAS to fit
    try:
        if chosen is None:
            yield _untouched
            return
        large = AT_IMPORT != 1 and largest_product(model, batch) >= MIN_PRODUCT_FOR_THREADS
        review = _Review(chosen, large)
        try:
            yield review
        finally:
            review.restore()
    finally:
        _deciding[0] -= 1
