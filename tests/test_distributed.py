"""fit(..., client=...): the lecture's sum over examples, ∂C/∂w = 1/n Σ_i ∂C_i/∂w, split over
the workers of a Dask cluster, gives the gradients, weights, History and callbacks of a local
fit; survives a killed worker; and an unreachable cluster is one clear error."""

from __future__ import annotations

import os
import signal
import time
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from conftest import relative_error  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.distributed import DaskStep, WorkerLostWarning, connect, step_bytes  # noqa: E402
from chainrule.errors import ClusterError, ConfigError, DataError  # noqa: E402
from chainrule.train import Callback, History, Run  # noqa: E402

# a second cluster's scheduler finds the default HTTP port taken and takes another (127.0.0.1)
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")

N = 103  # rows: not a multiple of the shards or of the batch sizes below


def _cluster() -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        processes=True,
    )


@pytest.fixture(scope="module")
def client():
    start = time.perf_counter()
    with _cluster() as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2, timeout=60)  # on a busy machine one may still be starting
        print(f"LocalCluster of 2 processes up in {time.perf_counter() - start:.2f} s")
        yield c


def _data(kind: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 4))
    if kind == "labels":
        return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    if kind == "binary":
        return X, (X[:, :1] > 0).astype(float)
    return X, np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)


def _net(outputs: int = 3, output: str | None = None) -> cr.nn.Sequential:
    return cr.nn.mlp([4, 6, outputs], "tanh", output, rng=1)


def _pair(fit_kwargs: dict, data=None, optimizer=None, net=_net, callbacks=None):
    """The same network trained locally and on the client; their models and histories.
    `callbacks` is a list for each run: [local's, the client's]."""
    X, Y = data if data is not None else _data()
    runs = []
    for i, extra in enumerate(({}, {"client": fit_kwargs.pop("client")})):
        model = net()
        opt = (optimizer or (lambda ps: cr.optim.SGD(ps, lr=0.1)))(model.parameters())
        hooks = [] if callbacks is None or callbacks[i] is None else [callbacks[i]]
        history = cr.fit(
            model, X, Y, optimizer=opt, progress=False, callbacks=hooks, **fit_kwargs, **extra
        )
        runs.append((model, history))
    return runs


def _max_relative(a: cr.nn.Module, b: cr.nn.Module, of: str = "data") -> float:
    return max(
        relative_error(getattr(p, of), getattr(q, of))
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


LOSSES = {
    "cross-entropy": (lambda: cr.nn.CrossEntropyLoss(), "labels", 3, None),
    "ce smoothing+ignore": (
        lambda: cr.nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=2),
        "labels",
        3,
        None,
    ),
    "squared error": (lambda: cr.nn.SquaredError(), "real", 2, None),
    "mse": (lambda: cr.nn.MSELoss(), "real", 2, None),
    "mse sum": (lambda: cr.nn.MSELoss(reduction="sum"), "real", 2, None),
    "bce": (lambda: cr.nn.BCELoss(), "binary", 1, "sigmoid"),
    "bce with logits": (lambda: cr.nn.BCEWithLogitsLoss(), "binary", 1, None),
}


@pytest.mark.parametrize("name", LOSSES)
def test_full_batch_gradient_is_the_local_one(client, name):
    """One full-batch step: the shards' sums, added and divided by n, are ∂C/∂w to 1e-12."""
    make_loss, kind, outputs, output = LOSSES[name]
    local, remote = _pair(
        {"loss": make_loss(), "epochs": 1, "client": client},
        data=_data(kind),
        net=lambda: _net(outputs, output),
    )
    assert _max_relative(local[0], remote[0], "grad") <= 1e-12
    assert _max_relative(local[0], remote[0]) <= 1e-12
    assert remote[1].loss == pytest.approx(local[1].loss, rel=1e-12)


OPTIMIZERS = {
    "sgd momentum": lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: cr.optim.Adam(ps, lr=0.01),
}
BATCHES = {
    "full batch": {"epochs": 20},
    "mini-batch": {"epochs": 4, "batch_size": 25, "seed": 7},  # 5 batches, the last of 3 rows
}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("batches", BATCHES)
def test_twenty_steps_reach_the_local_weights(client, optimizer, batches):
    local, remote = _pair({**BATCHES[batches], "client": client}, optimizer=OPTIMIZERS[optimizer])
    assert _max_relative(local[0], remote[0]) <= 1e-10
    np.testing.assert_allclose(remote[1].loss, local[1].loss, rtol=1e-10)
    assert remote[1].accuracy == local[1].accuracy


def _on_workers_only(block: np.ndarray) -> np.ndarray:
    """A chunk that can only be made on a worker: proof the rows never come to the driver."""
    distributed.get_worker()  # ValueError outside a worker
    return block


def _workers_only(array):
    return array.map_blocks(_on_workers_only, dtype=array.dtype, meta=np.array((), array.dtype))


def test_dask_arrays_stay_on_the_workers_and_reach_the_local_weights(client):
    X, y = _data()
    dx = _workers_only(da.from_array(X, chunks=(30, 2)))  # 4 chunks of rows, 2 of columns
    dy = _workers_only(da.from_array(y, chunks=40))  # other chunks of rows than X's
    dx, dy = client.persist([dx, dy])
    local, remote = _pair(
        {"epochs": 3, "batch_size": 40, "seed": 3, "client": client},
        data=(X, y),
        optimizer=OPTIMIZERS["adam"],
    )
    model = _net()
    adam = cr.optim.Adam(model.parameters(), lr=0.01)
    settings = {"epochs": 3, "batch_size": 40, "seed": 3, "progress": False}
    history = cr.fit(model, dx, dy, optimizer=adam, client=client, **settings)
    assert _max_relative(local[0], model) <= 1e-10
    np.testing.assert_allclose(history.loss, local[1].loss, rtol=1e-10)
    assert history.accuracy == local[1].accuracy


class Recorder(Callback):
    """Every hook's call with the epoch and batch it saw, and the losses apart."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.losses: list[float] = []

    def on_train_begin(self, run):
        self.events.append(("begin", run.epoch, run.batch))

    def on_batch_end(self, run):
        self.events.append(("batch", run.epoch, run.batch))
        self.losses.append(run.batch_loss)

    def on_epoch_end(self, run):
        self.events.append(("epoch", run.epoch, run.batch))
        self.losses.append(run.history.loss[-1])

    def on_train_end(self, run):
        self.events.append(("end", run.epoch, run.history.stop_reason))


def test_history_until_validation_and_callbacks_are_the_local_ones(client):
    X, y = _data()
    held_out = (X[:20] + 0.1, y[:20])
    settings = {"epochs": 50, "batch_size": 40, "seed": 1, "validation": held_out}
    probe = _net()
    sgd = cr.optim.SGD(probe.parameters(), lr=0.1)
    losses = cr.fit(probe, X, y, optimizer=sgd, progress=False, **{**settings, "epochs": 7}).loss
    until = (losses[5] + losses[6]) / 2  # between two epochs' losses: stops after epoch 7
    seen = [Recorder(), Recorder()]
    (local, lh), (remote, rh) = _pair(
        {**settings, "until": until, "client": client}, callbacks=seen
    )
    assert lh.stop_reason == rh.stop_reason == "until" and lh.epochs == rh.epochs == 7
    for field in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(getattr(rh, field), getattr(lh, field), rtol=1e-10)
    assert seen[1].events == seen[0].events
    assert len(seen[1].events) == 1 + 7 * (3 + 1) + 1  # begin, 3 batches and an epoch each, end
    np.testing.assert_allclose(seen[1].losses, seen[0].losses, rtol=1e-10)
    assert _max_relative(local, remote) <= 1e-10


def test_a_model_file_after_a_distributed_fit_is_a_local_one(client, tmp_path):
    (local, _), (remote, _) = _pair({"epochs": 3, "client": client})
    cr.save(local, tmp_path / "local.crm")
    cr.save(remote, tmp_path / "remote.crm")
    from safetensors import safe_open

    files = [safe_open(tmp_path / f"{k}.crm", "numpy") for k in ("local", "remote")]
    assert files[0].keys() == files[1].keys()
    dtypes = [[f.get_tensor(k).dtype for k in f.keys()] for f in files]  # noqa: SIM118
    assert dtypes[0] == dtypes[1]
    assert files[0].metadata().keys() == files[1].metadata().keys()
    assert files[0].metadata()["architecture"] == files[1].metadata()["architecture"]
    again = cr.load(tmp_path / "remote.crm")
    assert _max_relative(again, remote) == 0.0


class KillAWorker(Callback):
    """SIGKILL one worker process of the cluster after the first batch of epoch 2."""

    def __init__(self, client) -> None:
        self.client, self.killed = client, None

    def on_batch_end(self, run):
        if run.epoch == 2 and run.batch == 0 and self.killed is None:
            self.killed = sorted(self.client.run(os.getpid).values())[0]
            os.kill(self.killed, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["numpy", "dask array"])
def test_a_killed_worker_costs_nothing_but_time(client, kind):
    """A worker dies in the middle of fit: the shards it held are made again (numpy rows
    scattered again from this process, a dask array's chunks computed again from its graph),
    the step is computed again, and training ends at a local run's weights. The cluster's
    nanny starts a new worker, which the other tests find in its place."""
    X, y = _data()
    settings = {"epochs": 3, "batch_size": 40, "seed": 5, "progress": False}
    local = _net()
    lh = cr.fit(local, X, y, optimizer=OPTIMIZERS["sgd momentum"](local.parameters()), **settings)
    data = (
        [X, y]
        if kind == "numpy"
        else client.persist([da.from_array(X, (30, 4)), da.from_array(y, 40)])
    )
    remote, kill = _net(), KillAWorker(client)
    sgd = OPTIMIZERS["sgd momentum"](remote.parameters())
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always", WorkerLostWarning)
            rh = cr.fit(remote, *data, optimizer=sgd, callbacks=[kill], client=client, **settings)
    finally:
        client.wait_for_workers(2, timeout=60)
    lost = [str(w.message) for w in seen if w.category is WorkerLostWarning]
    if kind == "numpy":  # the rows the dead worker held are scattered again by fit, and said so
        assert lost and "a worker was lost in epoch 2, batch 1" in lost[0]
    # a dask array's lost chunks Dask itself may compute again from their graph, unseen by fit
    assert kill.killed is not None and kill.killed not in client.run(os.getpid).values()
    assert rh.stop_reason == "epochs" and rh.epochs == 3
    assert _max_relative(local, remote) <= 1e-10
    np.testing.assert_allclose(rh.loss, lh.loss, rtol=1e-10)


def test_an_unreachable_scheduler_is_one_clear_error_within_seconds():
    start = time.perf_counter()
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://127\.0\."):
        connect("tcp://127.0.0.1:1", timeout=1)
    assert time.perf_counter() - start < 10  # not a hang (generous: a busy machine)


class CloseTheCluster(Callback):
    def __init__(self, cluster) -> None:
        self.cluster = cluster

    def on_batch_end(self, run):
        if run.batch == 1:
            self.cluster.close()


def test_a_scheduler_lost_in_the_middle_of_fit_is_one_clear_error():
    """A cluster of threads in this process, closed after the second batch: the next step
    raises ClusterError at once instead of waiting for a scheduler that is gone."""
    X, y = _data()
    with (
        distributed.LocalCluster(
            n_workers=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as own,
    ):
        closing = CloseTheCluster(cluster)
        with pytest.raises(
            ClusterError, match="no Dask scheduler: the client is (closed|connecting)"
        ):
            cr.fit(_net(), X, y, batch_size=25, progress=False, callbacks=[closing], client=own)


def test_a_closed_client_is_one_clear_error(client):
    closed = distributed.Client(client.scheduler.address, timeout=10)
    closed.close()
    X, y = _data()
    with pytest.raises(ClusterError, match="no Dask scheduler: the client is closed"):
        cr.fit(_net(), X, y, progress=False, client=closed)


def test_what_cannot_split_exactly_is_refused(client):
    X, y = _data()
    with pytest.raises(ConfigError, match=r"fit: loss \(with a client\) must be one of"):
        cr.fit(_net(), X, y, loss=lambda a, t: (a * a).mean(), progress=False, client=client)
    dropout = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.Dropout(0.5))
    with pytest.raises(ConfigError, match="Dropout"):
        cr.fit(dropout, X, y, progress=False, client=client)
    with pytest.raises(ConfigError, match="client must be a dask.distributed Client"):
        cr.fit(_net(), X, y, progress=False, client="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="pass client="):
        cr.fit(_net(), da.from_array(X), y, progress=False)


def test_bad_rows_in_a_dask_array_are_named_as_locally(client):
    X, y = _data()
    X[50, 1] = np.nan
    with pytest.raises(DataError, match="fit: X contains NaN or infinity"):
        cr.fit(_net(), da.from_array(X, chunks=(40, 4)), y, progress=False, client=client)


def test_a_step_moves_weights_and_gradients_but_never_a_shard(client):
    """Each shard stays on the one worker it was scattered to, step after step: the tasks run
    where the rows are, so only the weights go out and the gradients come back."""
    model = _net()
    X, y = _data()
    sgd = cr.optim.SGD(model.parameters(), 0.1)
    step = DaskStep(client, Run(model, sgd, cr.nn.CrossEntropyLoss(), History(), 1), X, y)
    assert len(step.shards.futures) == 2 and step.n == N
    for rows in (None, np.arange(0, N, 2), np.arange(N - 1, -1, -3)):
        assert step(rows)[0] == (N if rows is None else len(rows))
    holders = client.who_has(step.shards.futures)
    assert [holders[f.key] for f in step.shards.futures] == [(w,) for w in step.shards.where]
    assert len(set(step.shards.where)) == 2
    size = sum(p.data.nbytes for p in model.parameters())
    assert step_bytes(model, workers=2) == 4 * size
    assert step_bytes(model, workers=2, shards=4) == 8 * size  # small weights ride in each task
