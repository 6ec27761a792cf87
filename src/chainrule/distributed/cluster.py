"""The cluster as fit sees it: a running client with workers, or one clear ClusterError."""

from __future__ import annotations

import logging
from typing import Any

import dask
from dask.utils import parse_timedelta
from distributed import Client, Future, WorkerPlugin, wait

from chainrule.checks import refuse
from chainrule.errors import ClusterError

# How often a step that is waited for checks that the cluster is still there, in seconds.
POLL = 1.0


class QuietLogs(WorkerPlugin):
    """Set on every worker of a private cluster (and on one started again after a crash):
    Dask's loggers there pass only CRITICAL lines. At close a worker's heartbeat can race the
    scheduler's shutdown and log an ERROR traceback about a closed stream, noise on the user's
    terminal; a failure that matters reaches fit as a ClusterError or a WorkerLostWarning."""

    def setup(self, worker: Any) -> None:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)


def patience() -> float:
    """How long to wait for a worker when the cluster has none: Dask's connect timeout."""
    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect")))


def running(client: Any) -> Client:
    """`client` if it is a running, synchronous Client of a cluster with workers; else
    ConfigError (not a Client) or ClusterError (closed, or no workers within the patience)."""
    if not isinstance(client, Client) or client.asynchronous:
        raise refuse("fit", "client", "a dask.distributed Client (not asynchronous)", client)
    if client.status != "running":
        raise ClusterError(
            f"fit: no Dask scheduler: the client is {client.status} (its futures are gone); "
            f"connect again (chainrule.distributed.connect(address)) and train again"
        )
    try:
        client.wait_for_workers(1, timeout=patience())
    except (TimeoutError, OSError) as err:
        raise ClusterError(
            f"fit: the Dask cluster at {client.scheduler.address} has no workers after "
            f"{patience():g} s ({err}); start some with `dask worker {client.scheduler.address}`"
        ) from None
    return client


def patient_wait(client: Client, futures: list[Future]) -> None:
    """Wait for `futures`, checking every POLL seconds that the cluster is still there: a lost
    scheduler, or no worker within the patience, is a ClusterError, not a hang."""
    while True:
        try:
            wait(futures, timeout=POLL)
            return
        except TimeoutError:
            running(client)


def workers(client: Client) -> int:
    """How many workers the cluster has now."""
    return len(client.nthreads())
