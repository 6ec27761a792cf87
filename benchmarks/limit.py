"""The matmul limit: the time of the matrix products one training step executes, timed alone
(into preallocated outputs, at the same thread count), as the floor no contender can beat."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.workloads import Workload, matmul_shapes


def products(
    w: Workload, n: int, dtype: np.dtype
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(left, right, out) operands for each product of one step, filled with random numbers."""
    rng = np.random.default_rng(0)
    operands = []
    for left, right in matmul_shapes(w, n):
        a = rng.standard_normal(left).astype(dtype)
        b = rng.standard_normal(right).astype(dtype)
        operands.append((a, b, np.empty((left[0], right[1]), dtype)))
    return operands


def time_step(operands: list, steps: int) -> float:
    """Seconds per step for `steps` repetitions of every product."""
    matmul = np.matmul
    start = time.perf_counter()
    for _ in range(steps):
        for a, b, out in operands:
            matmul(a, b, out=out)
    return (time.perf_counter() - start) / steps
