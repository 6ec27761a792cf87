"""One busy core: a plain Python loop in its own process, as another user's job would be."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

# A plain Python loop. It also stops by itself (within milliseconds) if the benchmark that
# started it is killed, so that no orphan keeps spinning.
LOOP = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(100_000):
        pass
"""
SETTLE_S = 0.3  # long enough for the scheduler to give the loop a core of its own


@contextmanager
def one_busy_core() -> Iterator[subprocess.Popen]:
    """While inside, one process spins on one core; it is killed on the way out."""
    proc = subprocess.Popen([sys.executable, "-c", LOOP])
    try:
        time.sleep(SETTLE_S)
        yield proc
    finally:
        proc.kill()
        proc.wait()
