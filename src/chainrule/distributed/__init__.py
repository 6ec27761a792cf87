"""Data-parallel training on a Dask cluster: the lecture's sum over examples, split over machines.

The gradient over the examples is an average of per-example gradients,
∂C/∂w = 1/n Σ_i ∂C_i/∂w, and a sum splits exactly. So the rows live in shards on the workers,
and on each step of `fit(..., client=client)`:

1. the weights (numpy arrays) go out to the workers;
2. every worker takes its shard's rows of the batch, sets the weights into its copy of the
   network, and with chainrule's own forward and backward() computes the shard's sum
   Σ_i ∂C_i/∂w (the loss with reduction="sum"), with the shard's loss and how many terms C_i
   it holds;
3. this process adds the shards' sums in shard order (so a run is repeatable), divides by n,
   the terms of the whole batch, writes `.grad` on the model's parameters and steps the
   optimizer.

Only weights go out and gradients come back: the rows are scattered once (numpy X and Y, one
shard of contiguous rows per worker) or never leave the workers at all (dask arrays: each
chunk of rows is a shard, made from its chunk where it lives). The batches are the ones a
local fit draws with the same seed, each the same set of rows in the same sum, so training
reaches the same weights (to rounding). A worker that dies takes only its part of a step
with it: its shards are made again from their source (the numpy rows kept here, or a dask
array's graph) and the step is computed again, from the same weights.

Trust: Dask pickles what it sends (the network's structure, weights, gradients, the rows)
between this process, the scheduler and the workers, and unpickling runs code. That is safe
between processes that are all yours; never give `fit` a client of a cluster that someone else
can send to. Model files stay pickle-free: `cr.save` after a distributed fit writes the same
file as after a local one.
"""

from __future__ import annotations

import logging

from distributed import Client

from chainrule.checks import positive
from chainrule.distributed.cluster import QuietLogs
from chainrule.distributed.step import DaskStep, WorkerLostWarning, step_bytes
from chainrule.distributed.worker import ShardSum, shard_sum, terms
from chainrule.errors import ClusterError

__all__ = [
    "ClusterError",
    "DaskStep",
    "ShardSum",
    "connect",
    "local",
    "shard_sum",
    "step_bytes",
    "terms",
    "WorkerLostWarning",
]


def connect(address: str, timeout: float = 10.0) -> Client:
    """A Client of the Dask scheduler at `address` ("tcp://host:8786"); ClusterError when it
    cannot be reached within `timeout` seconds."""
    timeout = positive("connect", "timeout", timeout)
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as err:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({err}); "
            f"start one with `dask scheduler` (and workers with `dask worker {address}`) or "
            f"check the address"
        ) from None


def local(workers: int, threads: int = 1) -> Client:
    """A Client of a new cluster on this machine: `workers` processes of `threads` threads,
    listening on 127.0.0.1 only, with no dashboard, and quiet: Dask logs only CRITICAL lines,
    here and on the workers (QuietLogs). `client.close()` ends the cluster too."""
    client = Client(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )
    client.register_plugin(QuietLogs(), name="chainrule-quiet-logs")
    return client
