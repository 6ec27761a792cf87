"""`chainrule train --scheduler ADDRESS` and `--workers N`: the Dask cluster a run trains on.

--scheduler connects to a cluster that is already running; --workers N starts a LocalCluster
of N worker processes on 127.0.0.1 (one thread each, no dashboard) for this run and closes it
at the end. Either way `cr.fit` gets the Client and only gradients travel between the
processes after the first scatter of the data.

Nothing here waits for ever: a scheduler that does not answer is given up after
CONNECT_TIMEOUT_S seconds with one line (chainrule.distributed's ClusterError, exit 1), and so
is one with no worker (by fit). A bad pair of options, or dask missing, is a ConfigError
(exit 2), found before any data is read. The Client and LocalCluster come from
chainrule.distributed (`connect`, `local`); this module only maps the options onto them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from chainrule.checks import positive_int, refuse
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

# Seconds to reach a scheduler. A scheduler with no worker is given up by fit itself, after
# Dask's connect timeout (distributed.comm.timeouts.connect, 30 s unless configured).
CONNECT_TIMEOUT_S = 10.0

HELP_SCHEDULER = (
    "train on the running Dask cluster whose scheduler is at this address, like "
    "tcp://host:8786 (needs chainrule[distributed]; connect only to a cluster you trust)"
)
HELP_WORKERS = (
    "train on N local worker processes: a Dask LocalCluster on 127.0.0.1, started for this "
    "run and closed at its end (needs chainrule[distributed])"
)


def check(scheduler: str | None, workers: int | None) -> None:
    """Refuse --workers with --scheduler, --workers < 1, a blank address, or dask missing."""
    if scheduler is not None and workers is not None:
        expected = "left out with --scheduler (the running cluster brings its own workers)"
        raise refuse("", "--workers", expected, workers)
    if workers is not None:
        positive_int("", "--workers", workers)
    if scheduler is not None and (not scheduler.strip() or any(c.isspace() for c in scheduler)):
        raise refuse("", "--scheduler", "a scheduler address such as tcp://host:8786", scheduler)
    if scheduler is not None or workers is not None:
        _need_dask()


def _need_dask() -> None:
    """The ConfigError that says how to install dask.distributed, when it is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            f"--scheduler and --workers need {err.name or 'dask'}, which is not installed; "
            f"pip install 'chainrule[distributed]'"
        ) from None


@contextmanager
def connected(scheduler: str | None, workers: int | None) -> Iterator[Client | None]:
    """A Client of the cluster the options name for the block, then closed (and a cluster
    started by --workers with it); None, and no dask at all, when neither option is given."""
    if scheduler is None and workers is None:
        yield None
        return
    check(scheduler, workers)
    from chainrule import distributed

    if workers is not None:
        with warnings.catch_warnings():
            # the scheduler's HTTP port: 8787 taken by another cluster here, it takes a free
            # one and warns; nothing the user can act on (there is no dashboard)
            warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
            client = distributed.local(workers, threads=1)
    else:
        assert scheduler is not None
        try:
            client = distributed.connect(scheduler, timeout=CONNECT_TIMEOUT_S)
        except ValueError as err:  # dask's parse of the address: an unknown scheme, no port
            raise refuse("", "--scheduler", f"a scheduler address ({err})", scheduler) from None
    with client:
        yield client
