"""`chainrule train --workers N | --scheduler ADDRESS`: the same run on a Dask cluster.

`--workers 2`, and `--scheduler` of a running cluster, train to the weights the same command
trains to without them (to 1e-10, float64) and write a model file of the same format, keys and
metadata fields. The bad options and an unreachable or empty cluster are one line and a
non-zero exit, and none of them hangs. Also here: docs/distributed.md's examples run, and the
scaling benchmark (benchmarks/distributed.py) runs at its --tiny size so it cannot rot.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from sklearn.model_selection import ParameterGrid

from chainrule.cli import cluster, main

distributed = pytest.importorskip("dask.distributed")

# A few epochs of mini-batches and full batches on the digits: small, and every step counts.
RUN = ("train", "--data", "digits", "--hidden", "16", "--seed", "3", "--quiet")
TIMES = ("wall_time",)  # the only metadata that may differ: how long the run took


def _train(tmp_path: Path, name: str, *extra: str) -> Path:
    """Run `chainrule train` as a user does, in its own process; the model file it saved."""
    path = tmp_path / f"{name}.model"
    done = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", *RUN, "--save", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "a run on a cluster says nothing more than one without it"
    return path


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The file's tensors and its safetensors header, as written (no chainrule in between)."""
    with safe_open(str(path), framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())  # noqa: SIM118


def _same_file(local: Path, on_cluster: Path) -> None:
    tensors, header = _read(local)
    theirs, their_header = _read(on_cluster)
    assert list(theirs) == list(tensors)
    for key, value in tensors.items():
        assert theirs[key].dtype == value.dtype and theirs[key].shape == value.shape, key
        np.testing.assert_allclose(theirs[key], value, rtol=0, atol=1e-10, err_msg=key)
    assert set(their_header) == set(header)
    for key in ("format", "format_version", "chainrule_version", "architecture"):
        assert their_header[key] == header[key], key
    metadata, their_metadata = json.loads(header["metadata"]), json.loads(their_header["metadata"])
    assert set(their_metadata) == set(metadata)
    for key in set(metadata) - {"history", "test"}:
        assert their_metadata[key] == metadata[key], key
    history, their_history = metadata["history"], their_metadata["history"]
    assert set(their_history) == set(history)
    assert their_history["stop_reason"] == history["stop_reason"]
    for key in set(history) - {"stop_reason", *TIMES}:
        np.testing.assert_allclose(their_history[key], history[key], rtol=1e-10, err_msg=key)
    for key in metadata["test"]:
        np.testing.assert_allclose(their_metadata["test"][key], metadata["test"][key], rtol=1e-10)


def test_workers_or_a_scheduler_train_to_the_weights_of_the_same_command_without_them(
    tmp_path, capsys
):
    # mini-batches: the same seed draws the same batches on the cluster as here
    run = ("--batch-size", "64", "--epochs", "2")
    local = _train(tmp_path, "local", *run)
    _same_file(local, _train(tmp_path, "workers", *run, "--workers", "2"))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as running:
        path = tmp_path / "scheduler.model"
        assert (
            main([*RUN, *run, "--save", str(path), "--scheduler", running.scheduler_address]) == 0
        )
    assert f"saved model to {path}" in capsys.readouterr().out
    _same_file(local, path)
    losses = json.loads(_read(local)[1]["metadata"])["history"]["loss"]
    assert losses[-1] < losses[0], "the run should have trained"


def test_the_workers_of_a_private_cluster_keep_dask_s_shutdown_noise_off_the_terminal():
    # At close a worker's heartbeat can race the scheduler's shutdown and log an ERROR
    # traceback (CI saw it on stderr of `train --workers 2`); only CRITICAL lines may pass.
    import logging

    from chainrule.distributed import local

    with local(1) as client:
        levels = client.run(lambda: logging.getLogger("distributed.worker").getEffectiveLevel())
    assert list(levels.values()) == [logging.CRITICAL]


def _fails(capsys, code: int, *args: str) -> str:
    """Run a command that must fail with `code`; its one line on stderr."""
    got = main([*RUN, *args])
    out, err = capsys.readouterr()
    assert got == code, f"exit {got}, expected {code}; stderr: {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), err
    assert "Traceback" not in err + out
    return lines[0]


def test_bad_cluster_options_are_refused_before_any_data_is_read(capsys):
    assert "--workers must be a positive integer, got 0" in _fails(capsys, 2, "--workers", "0")
    both = _fails(capsys, 2, "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786")
    assert "--workers must be left out with --scheduler" in both
    assert "--scheduler must be a scheduler address" in _fails(capsys, 2, "--scheduler", " ")
    scheme = _fails(capsys, 2, "--scheduler", "foo://127.0.0.1:8786")
    assert "--scheduler must be a scheduler address" in scheme and "'foo'" in scheme


def test_without_dask_the_cluster_options_say_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    line = _fails(capsys, 2, "--workers", "2")
    assert "pip install 'chainrule[distributed]'" in line
    assert "pip install 'chainrule[distributed]'" in _fails(capsys, 2, "--scheduler", "tcp://h:1")


def test_a_scheduler_that_does_not_answer_is_one_line_not_a_hang(capsys, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as lc:
        empty = lc.scheduler_address
    # The cluster is closed: nothing listens at its address any more.
    line = _fails(capsys, 1, "--scheduler", empty)
    assert f"cannot reach the Dask scheduler at {empty} within 1 s" in line


def test_a_scheduler_without_workers_is_one_line_not_a_hang(capsys):
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as lc,
    ):
        line = _fails(capsys, 1, "--scheduler", lc.scheduler_address)
    assert f"the Dask cluster at {lc.scheduler_address} has no workers after 1 s" in line


def test_train_help_lists_the_cluster_options(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--scheduler" in out and "--workers" in out and "tcp://host:8786" in out


def test_the_scaling_benchmark_runs_at_a_tiny_size(capsys, tmp_path):
    from benchmarks import distributed as bench

    assert bench.main(["--tiny", "--json", str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    assert "BLAS here: " in out and "break-even" in out
    results = json.loads((tmp_path / "d.json").read_text())
    assert set(results["per_epoch"]) == {
        "local, 1 thread",
        "local, 2 threads",
        "1 worker",
        "2 workers",
    }
    for workers in ("1 worker", "2 workers"):
        r = results["per_epoch"][workers]
        assert r["epoch_s"] > 0 and r["worker_blas"]
        if r["scatter_bytes"]:  # measured (iproute2's ss is there)
            # the rows travel once, at the scatter; a step moves weights and gradients only
            assert r["scatter_bytes"] >= results["data_bytes"]
            assert r["expected_step_bytes"] <= r["step_bytes"] < 1.5 * r["expected_step_bytes"]
    assert [r["shard"] for r in results["break_even"]] == [64, 256]


def test_the_distributed_docs_examples_run_as_scripts_and_train_to_the_local_weights(tmp_path):
    """Each example as a user runs it, `python file.py`: Dask's workers import the file again,
    so a script without its `__main__` guard fails, which running it in process would hide."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "distributed.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", doc, flags=re.S | re.M)
    assert len(blocks) == 2, "the fit example, then the search"
    printed = []
    for i, block in enumerate(blocks):
        script = tmp_path / f"example{i}.py"
        script.write_text(block)
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr[-2000:]
        printed.append(done.stdout.strip().splitlines()[-1])
    fit_line = re.fullmatch(r"5 epochs, loss [0-9.]+; largest weight gap (\S+)", printed[0])
    assert fit_line and float(fit_line[1]) <= 1e-10, printed[0]
    best, score = re.fullmatch(r"(\{.*\}) ([0-9.]+)", printed[1]).groups()
    grid = ast.literal_eval(re.search(r"^GRID = (\{.*\})$", blocks[1], flags=re.M)[1])
    assert ast.literal_eval(best) in list(ParameterGrid(grid)) and 0.5 < float(score) <= 1.0
