"""The rows in shards on the workers, and how each shard is made again when a worker that held
it dies: from the numpy rows kept in this process, or from a dask array's graph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask
import numpy as np
from distributed import Client, Future

from chainrule.checks import refuse
from chainrule.distributed.cluster import patient_wait
from chainrule.errors import ConfigError, DataError
from chainrule.nn.losses import Loss
from chainrule.train import prepare


class Shards:
    """The rows in shards on the workers: shard s holds rows starts[s] .. starts[s+1] − 1 as a
    future of (x, y) on worker where[s], and `make(s)` makes it again from its source.

    A step's task for shard s runs on where[s] (`place(s)`), so that no shard is ever copied to
    another worker: only weights and gradients travel, and a worker that dies takes its shards
    with it, to be made again, rather than leaving a stray copy.
    """

    def __init__(self, client: Client, starts: list[int], make: Callable[[int], Future]) -> None:
        self.client = client
        self.starts = np.asarray(starts)
        self.make = make
        self.futures = [make(s) for s in range(len(starts) - 1)]
        self.where: list[str | None] = [None] * len(self.futures)
        self._locate(range(len(self.futures)))

    def _locate(self, shards: Sequence[int]) -> None:
        """Wait for the shards to be made and note the worker that holds each."""
        futures = [self.futures[s] for s in shards]
        patient_wait(self.client, futures)
        holders = self.client.who_has(futures)
        for s, future in zip(shards, futures, strict=True):
            self.where[s] = next(iter(holders.get(future.key, ())), None)

    def place(self, s: int) -> dict[str, Any]:
        """submit's options that run a task for shard s where the shard is. Loosely: when that
        worker is gone and Dask has made the shard again elsewhere (a dask array's chunk), the
        task follows it there instead of waiting for a worker that will not come back."""
        where = self.where[s]
        return {"workers": [where], "allow_other_workers": True} if where else {}

    @property
    def n(self) -> int:
        return int(self.starts[-1])

    def mend(self) -> None:
        """After a worker died: make again every shard it took with it that Dask cannot make
        itself (a scattered one), and note where each shard is now."""
        for s, future in enumerate(self.futures):
            if future.status in ("cancelled", "lost", "error"):
                self.futures[s] = self.make(s)
        self._locate(range(len(self.futures)))

    def split(self, rows: np.ndarray | None) -> list[tuple[int, np.ndarray | None]]:
        """The shards that hold rows of the batch, each with those rows as indices into it, in
        the batch's order (None: every shard, all its rows)."""
        if rows is None:
            return [(s, None) for s in range(len(self.futures))]
        rows = np.asarray(rows)
        if rows.min() < 0 or rows.max() >= self.n:
            raise refuse("fit", "sampler(n)", f"row indices in 0..{self.n - 1}", rows)
        shard = np.searchsorted(self.starts, rows, side="right") - 1
        return [(int(s), rows[shard == s] - self.starts[s]) for s in np.unique(shard)]


def numpy_shards(client: Client, x: np.ndarray, y: np.ndarray) -> Shards:
    """One shard of contiguous rows per worker, scattered to it once; x and y stay here, the
    source a lost shard is made again from."""
    workers = list(client.nthreads())
    k = max(1, min(len(workers), len(x)))
    starts = [len(x) * s // k for s in range(k + 1)]
    placed: set[int] = set()

    def make(s: int) -> Future:
        # the first time, shard s goes to worker s; again (its worker died), where Dask likes
        where = None if s in placed else [workers[s]]
        placed.add(s)
        rows = slice(starts[s], starts[s + 1])
        return client.scatter([(x[rows], y[rows])], workers=where, hash=False)[0]

    return Shards(client, starts, make)


def _rows(value: Any, name: str) -> Any:
    """A dask array with whole rows in each chunk (one chunk across every other axis)."""
    chunks = value.chunks[0]
    if any(np.isnan(c) for c in chunks):
        raise ConfigError(
            f"fit: {name} is a dask array of unknown chunk sizes; call "
            f"{name}.compute_chunk_sizes() first"
        )
    return value.rechunk({axis: -1 for axis in range(1, value.ndim)})


def array_shards(client: Client, X: Any, Y: Any, loss: Loss, dtype: np.dtype) -> Shards:
    """One shard per chunk of rows, made on the workers from the chunks (checked and cast
    there, as `prepare` does here); the arrays' graph is the source a lost shard is made
    again from, and no row comes to this process."""
    import dask.array as da

    X = _rows(X if dask.is_dask_collection(X) else da.from_array(np.asarray(X)), "X")
    Y = Y if dask.is_dask_collection(Y) else da.from_array(np.asarray(Y))
    if X.shape[0] != Y.shape[0]:
        raise DataError(
            f"fit: X has {X.shape[0]} rows but Y has {Y.shape[0]}; expected one target per row"
        )
    Y = _rows(Y, "Y").rechunk({0: X.chunks[0]})
    kept = [i for i, size in enumerate(X.chunks[0]) if size]
    xs, ys = X.to_delayed().ravel(), Y.to_delayed().ravel()
    starts = [0, *np.cumsum([X.chunks[0][i] for i in kept]).tolist()]

    def make(s: int) -> Future:
        i = kept[s]
        return client.compute(dask.delayed(prepare)(xs[i], ys[i], loss, dtype))

    return Shards(client, starts, make)
