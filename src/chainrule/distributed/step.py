"""fit's step on a Dask cluster: the weights out, each shard's Σ_i ∂C_i/∂w back, their sum
over n here, then the optimizer's step; a part lost with a worker is computed again."""

from __future__ import annotations

import copy
import time
import warnings
from concurrent.futures import CancelledError
from typing import Any

import dask
import numpy as np
from distributed import Future
from distributed.scheduler import KilledWorker

from chainrule.checks import refuse
from chainrule.distributed import cluster
from chainrule.distributed.shards import array_shards, numpy_shards
from chainrule.distributed.worker import ShardSum, shard_sum
from chainrule.errors import ChainruleError, ClusterError, ConfigError
from chainrule.nn.dropout import Dropout
from chainrule.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Loss,
    MSELoss,
    NLLLoss,
    SquaredError,
)
from chainrule.nn.module import Module
from chainrule.tensor import ArrayLike
from chainrule.train import Run, prepare

# The losses whose mean is a sum of terms over rows divided by a count of them, so that shard
# sums add up to the batch's exactly (see `terms`).
SPLITTABLE = (SquaredError, MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss)

# A part of a step is tried this many times (a dead worker's part again on another worker).
ATTEMPTS = 5
# Weights up to this size travel inside each task, even when a worker has several tasks: a
# scatter broadcast to every worker was seen to wait forever for a worker killed a moment
# before, where a task's own copy is simply sent again. Larger weights are scattered once, to
# one worker, and fetched from there (Dask warns of task graphs past about a megabyte).
EMBED_BYTES = 1 << 20
# What a lost worker or lost data looks like from here: its task cancelled, a worker killed
# too often, a closed connection or a timeout (OSError covers the last two).
LOST = (CancelledError, KilledWorker, OSError)


class WorkerLostWarning(RuntimeWarning):
    """A worker was lost during a distributed fit, and its part of a step computed again."""


def _summed(loss: Any) -> Loss:
    """The loss with reduction "sum": what a shard adds up. ConfigError for a loss whose mean
    cannot be split into shard sums exactly."""
    if type(loss) not in SPLITTABLE or loss.reduction == "none":
        names = ", ".join(cls.__name__ for cls in SPLITTABLE)
        raise refuse(
            "fit", "loss (with a client)", f"one of {names}, reduction 'mean' or 'sum'", loss
        )
    return type(loss)(**{**loss.config(), "reduction": "sum"})


def _skeleton(model: Module) -> Module:
    """The network's structure to send once: a copy whose parameters hold empty arrays, as
    every step sends the weights themselves."""
    if any(isinstance(m, Dropout) and m.p > 0 for m in model.modules()):
        raise ConfigError(
            "fit: a model with Dropout cannot train on a client yet (each worker would draw "
            "its own masks); set its p to 0 or train without client="
        )
    skeleton = copy.deepcopy(model)
    for p in skeleton.parameters():
        p.data, p.grad = np.empty(0, p.data.dtype), None
    return skeleton


class DaskStep:
    """fit's step (train.Step) on the workers of `client`: the rows of (X, Y) in shards there,
    the sums of ∂C_i/∂w added up here. fit builds it when given `client=`."""

    def __init__(self, client: Any, run: Run, X: ArrayLike, Y: ArrayLike) -> None:
        self.client = cluster.running(client)
        self.run = run
        self.mean = getattr(run.loss, "reduction", None) == "mean"
        loss = _summed(run.loss)
        self.net_source = (_skeleton(run.model), loss)
        if dask.is_dask_collection(X) or dask.is_dask_collection(Y):
            self.shards = array_shards(client, X, Y, loss, run.model.dtype)
        else:
            self.shards = numpy_shards(client, *prepare(X, Y, run.loss, run.model.dtype))
        self.net = self._send_net()
        self.n = self.shards.n
        self.workers = cluster.workers(client)

    def _send_net(self) -> Future:
        return self.client.scatter([self.net_source], broadcast=True, hash=False)[0]

    def __call__(self, rows: np.ndarray | None) -> tuple[int, float | None]:
        run = self.run
        params = run.model.parameters()
        sums = self._sums(self.shards.split(rows), [p.data for p in params])
        count = sum(part.terms for part in sums)
        divisor = count if self.mean else 1
        for i, p in enumerate(params):
            grads = [g for part in sums if (g := part.grads[i]) is not None]
            p.grad = None if not grads else _mean(grads, divisor)
        run.optimizer.step()
        run.batch_loss = sum(part.loss for part in sums) / divisor if divisor else np.nan
        run.x = run.y = run.output = None  # the rows are on the workers
        return (self.n if rows is None else len(rows)), _accuracy(sums)

    def _sums(self, parts: list[tuple[int, np.ndarray | None]], weights: list) -> list[ShardSum]:
        """Each part's ShardSum, in the order of `parts`; a part lost with a worker is computed
        again (its shard made again first), up to ATTEMPTS times, from the same weights."""
        for attempt in range(ATTEMPTS):
            try:
                self._mend(again=attempt > 0)
                w = self._send(weights)
                futures = [
                    self.client.submit(
                        shard_sum,
                        self.net,
                        w,
                        self.shards.futures[s],
                        r,
                        pure=False,
                        **self.shards.place(s),
                    )
                    for s, r in parts
                ]
                cluster.patient_wait(self.client, futures)
                sums = self.client.gather(futures)
            except ChainruleError:
                raise
            except LOST as err:
                lost = err
                time.sleep(0.2 * 2**attempt)  # time for the scheduler to see the worker gone
                continue
            if attempt:
                warnings.warn(
                    f"fit: a worker was lost in epoch {self.run.epoch}, batch {self.run.batch} "
                    f"({lost!r}); its shards were made again and the step computed again",
                    WorkerLostWarning,
                    stacklevel=2,
                )
            return sums
        raise ClusterError(
            f"fit: a step failed {ATTEMPTS} times as workers were lost ({lost!r}); is the "
            f"cluster losing workers? {cluster.workers(self.client)} are left"
        )

    def _send(self, weights: list[np.ndarray]) -> Any:
        """The weights, for the step's tasks: inside each task when they are small, else
        scattered once and fetched by the tasks."""
        if sum(w.nbytes for w in weights) <= EMBED_BYTES:
            return weights
        return self.client.scatter([weights], hash=False)[0]

    def _mend(self, again: bool) -> None:
        """Before a step is tried: the scheduler still there; trying again, also a worker, and
        what a dead worker took made again."""
        if not again:
            if self.client.status != "running":
                cluster.running(self.client)
            return
        cluster.running(self.client)
        if self.net.status != "finished":
            self.net = self._send_net()
        self.shards.mend()


def _mean(grads: list[np.ndarray], divisor: int) -> np.ndarray:
    """(Σ over the shards' sums) / divisor, added in shard order; zeros for no terms (as a
    mean over none gives C NaN and no gradient)."""
    total = grads[0]
    for g in grads[1:]:
        total = total + g
    return total / divisor if divisor else np.zeros_like(total)


def _accuracy(sums: list[ShardSum]) -> float | None:
    """The batch's fraction classified right, from the shards' counts (None for regression)."""
    counts = [part.correct for part in sums if part.correct is not None]
    if not counts:
        return None
    return sum(right for right, _ in counts) / sum(size for _, size in counts)


def step_bytes(model: Module, workers: int, shards: int | None = None) -> int:
    """Bytes one step of a distributed fit moves: the weights out with each shard's task (once
    to each of `workers` when they are over EMBED_BYTES), and one gradient back from each shard
    (`shards`, by default one per worker, as for numpy X)."""
    size = sum(p.data.nbytes for p in model.parameters())
    tasks = workers if shards is None else shards
    return size * ((tasks if size <= EMBED_BYTES else workers) + tasks)
