"""The benchmark suite runs, at a tiny size, so it cannot rot; no timing is asserted anywhere.

What is asserted is what the numbers rest on: every contender trains every workload from the
same weights in the same batch order (float64 losses equal PyTorch's), the batch order is
the one `fit` uses, the matmul limit counts the right products, MNIST reads correctly, and
the report's goal checks compare the right way round.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need_torch

import chainrule as cr
from benchmarks import mnist, report, run, worker, workloads
from benchmarks import threads as thread_sweep
from benchmarks.workloads import PARITY_STEPS, WORKLOADS

ROOT = Path(__file__).resolve().parents[1]
HAVE_MNIST = mnist.available()
NO_MNIST = f"MNIST IDX files not found in {mnist.default_dir()} (the ../shared checkout)"


def _spec(workload: str, contender: str, dtype: str = "float32") -> dict:
    return {
        "workload": workload,
        "contender": contender,
        "dtype": dtype,
        "repeats": 1,
        "threads": 1,
        "tiny": True,
        "parity": True,
    }


def _cases() -> list:
    cases = []
    for w in WORKLOADS.values():
        marks = [] if HAVE_MNIST or not w.name.startswith("W4") else [pytest.mark.skip(NO_MNIST)]
        cases += [pytest.param(w.name, c, marks=marks) for c in (*w.contenders, "limit")]
    return cases


@pytest.mark.parametrize(("workload", "contender"), _cases())
def test_every_contender_runs_every_workload_at_a_tiny_size(workload, contender):
    if contender == "pytorch":
        need_torch()
    result = worker.main(_spec(workload, contender))
    assert "error" not in result
    assert len(result["us_per_step"]) >= 1 and min(result["us_per_step"]) > 0
    assert result["blas"], "threadpoolctl reported no BLAS"
    if contender in ("chainrule", "chainrule-compiled", "pytorch", "numpy"):
        losses = result["parity_losses"]
        assert len(losses) == PARITY_STEPS and np.all(np.isfinite(losses))
    if contender != "limit" and workload not in ("W2", "W3", "W5"):  # no held-out rows there
        assert 0.0 <= result["accuracy"] <= 1.0
    if contender != "limit":
        assert 0 < result["start_mb"] <= result["peak_mb"]


@pytest.mark.parametrize("workload", ["W1", "W2", "W3", "W5"])
def test_float64_losses_equal_pytorchs_step_by_step(workload):
    need_torch()
    w = WORKLOADS[workload].tiny()
    torch_losses = worker._parity(w, "pytorch", True)
    for contender in ("chainrule", "chainrule-compiled", "numpy"):
        ours = worker._parity(w, contender, True)
        np.testing.assert_allclose(ours, torch_losses, rtol=1e-12, err_msg=contender)
    assert len(set(torch_losses)) > 1, "the parity run should be changing the weights"


def test_batch_plan_is_the_order_fit_visits():
    w = WORKLOADS["W1"]
    data = workloads.load(w, np.float64)
    x, y = data.x[:200], data.y[:200]
    weights = workloads.initial_weights(w, np.float64)

    def model():
        m = cr.nn.mlp(list(w.sizes), w.activation, w.output)
        m.load_state_dict(weights)
        return m

    looped = model()
    loss, opt = cr.nn.CrossEntropyLoss(), cr.optim.SGD(looped.parameters(), lr=w.lr)
    for index in workloads.batch_plan(len(x), w.batch, 2 * 7, seed=5):  # two epochs of 7
        c = loss(looped(cr.tensor(x[index])), y[index])
        opt.zero_grad()
        c.backward()
        opt.step()
    fitted = model()
    cr.fit(fitted, x, y, loss="ce", optimizer=cr.optim.SGD(fitted.parameters(), lr=w.lr),
           epochs=2, batch_size=w.batch, seed=5, progress=False)  # fmt: skip
    for (name, a), (_, b) in zip(looped.named_parameters(), fitted.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_full_batch_plan_and_steps_per_epoch():
    assert workloads.batch_plan(4, None, 3) == [None, None, None]
    plan = workloads.batch_plan(10, 4, 4)
    assert [len(i) for i in plan] == [4, 4, 2, 4]
    assert sorted(np.concatenate(plan[:3])) == list(range(10))
    assert workloads.steps_per_epoch(10, 4) == 3 and workloads.steps_per_epoch(10, None) == 1


def test_matmul_limit_counts_forward_grad_weight_and_grad_input_except_the_first_layer():
    shapes = workloads.matmul_shapes(WORKLOADS["W1"], 1437)
    assert shapes == [
        ((32, 64), (64, 128)),  # z¹ = x W¹ᵀ
        ((128, 32), (32, 64)),  # ∂C/∂W¹ = δ¹ᵀ x
        ((32, 128), (128, 10)),  # z² = a¹ W²ᵀ
        ((10, 32), (32, 128)),  # ∂C/∂W² = δ²ᵀ a¹
        ((32, 10), (10, 128)),  # ∂C/∂a¹ = δ² W²
    ]
    assert workloads.matmul_shapes(WORKLOADS["W3"], 4)[0] == ((4, 2), (2, 2))  # full batch


def test_initial_weights_are_pytorch_default_and_named_as_mlp_names_them():
    w = WORKLOADS["W1"]
    weights = workloads.initial_weights(w, np.float32)
    model = cr.nn.mlp(list(w.sizes), w.activation, w.output, dtype=np.float32)
    assert list(weights) == [name for name, _ in model.named_parameters()]
    assert all(a.dtype == np.float32 for a in weights.values())
    assert np.abs(weights["0.weight"]).max() <= 1 / np.sqrt(64)


def test_w2_data_is_drawn_in_its_dtype_without_a_float64_copy():
    data = workloads.load(WORKLOADS["W2"].tiny(), np.float32)
    assert data.x.dtype == np.float32 and data.x.shape == (512, 784)
    assert data.nbytes == 512 * 784 * 4 + 512 * np.dtype(np.intp).itemsize


@pytest.mark.skipif(not HAVE_MNIST, reason=NO_MNIST)
def test_mnist_reader_gives_the_published_test_set():
    images, labels = mnist.load_test_set()
    assert images.shape == (10_000, 784) and labels.shape == (10_000,)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert images.min() == 0.0 and images.max() == 1.0
    assert images.mean() == pytest.approx(0.1325, abs=5e-5)


def test_mnist_reader_refuses_a_file_that_is_not_idx(tmp_path):
    (tmp_path / mnist.IMAGES).write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 12)
    (tmp_path / mnist.LABELS).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        mnist.load_test_set(tmp_path)
    assert not mnist.available(tmp_path / "missing")


def test_w4_is_skipped_with_a_reason_when_mnist_is_absent(monkeypatch):
    monkeypatch.setattr(mnist, "available", lambda directory=None: False)
    results = run.run(["W4"], ["float32"], None, 1, 1, True, 1, log=lambda *a: None)
    assert results["workloads"] == {}
    assert set(results["skipped"]) == {"W4-quadratic", "W4-ce"}
    assert "MNIST IDX files not found" in results["skipped"]["W4-ce"]


def test_rounds_merge_into_one_measurement_and_an_error_wins():
    first = {"us_per_step": [1.0, 2.0], "peak_mb": 10.0, "parity_losses": [0.5], "blas": ["x"]}
    second = {"us_per_step": [3.0], "peak_mb": 12.0, "blas": ["x"]}
    merged = run.merge([first, second])
    assert merged["us_per_step"] == [1.0, 2.0, 3.0] and merged["peak_mb"] == 12.0
    assert merged["parity_losses"] == [0.5]
    assert run.merge([first, {"error": "boom"}]) == {"error": "boom"}


def test_unknown_workload_names_the_known_ones():
    with pytest.raises(SystemExit, match="unknown workload"):
        run.selected(["W9"])
    assert [w.name for w in run.selected(["W4"])] == ["W4-quadratic", "W4-ce"]


def _fake_results(chainrule_us: float) -> dict:
    def timed(us, **extra):
        return {"us_per_step": [us, us * 1.1, us * 0.9], **extra}

    return {
        "workloads": {
            "W1": {
                "float32": {
                    "chainrule": timed(chainrule_us, parity_losses=[2.0, 1.5]),
                    "pytorch": timed(100.0, parity_losses=[2.0, 1.5 * (1 + 1e-9)]),
                    "sklearn": timed(100.0),
                    "numpy": timed(20.0, parity_losses=[2.0, 1.5]),
                    "limit": timed(10.0),
                }
            }
        },
        "skipped": {},
    }


def test_goals_compare_the_right_way_round():
    fast = {g["goal"]: g for g in report.summarise(_fake_results(20.0))["goals"]}
    slow = {g["goal"]: g for g in report.summarise(_fake_results(40.0))["goals"]}
    key = "W1: chainrule ≤ 0.25× pytorch"
    assert fast[key]["held"] and fast[key]["value"] == pytest.approx(0.2)
    assert not slow[key]["held"] and slow[key]["value"] == pytest.approx(0.4)
    assert not slow["W1: chainrule ≤ 1.5× numpy"]["held"]  # 40 / 20 = 2×
    parity = next(g for g in fast.values() if "float64 losses" in g["goal"])
    assert not parity["held"] and parity["value"] == pytest.approx(1e-9, rel=1e-3)


def test_table_shows_medians_ranges_fractions_and_errors():
    results = _fake_results(20.0)
    results["workloads"]["W1"]["float32"]["sklearn"] = {"error": "ValueError: boom"}
    summary = report.summarise(results)
    text = report.table(summary, report.machine(results, 2), {"W4-ce": "no MNIST"})
    assert "| float32 | chainrule | 20.0 (18.0–22.0) | 50% |" in text
    assert "error: ValueError: boom" in text
    assert "W4-ce: skipped (no MNIST)" in text
    assert "chainrule/pytorch 0.20×" in text and "MISSED" in text


def test_command_line_runs_in_separate_processes_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "W3", "--tiny", "--dtype", "float32",
         "--contenders", "chainrule,numpy", "--repeats", "1", "--rounds", "2", "--quiet",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("machine: ") and "threads" in proc.stdout.splitlines()[0]
    assert "### W3" in proc.stdout
    payload = json.loads(out.read_text())
    rows = payload["summary"]["workloads"]["W3"]["dtypes"]["float32"]["rows"]
    assert set(rows) == {"chainrule", "numpy", "limit"}
    timings = payload["results"]["workloads"]["W3"]["float32"]["chainrule"]["us_per_step"]
    assert len(timings) == 2  # one repeat in each of two rounds
    assert payload["machine"]["threads"] == 2


def test_command_line_rejects_a_bad_dtype():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--dtype", "float16"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "float16" in proc.stderr


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_mnist(folder: Path, train_rows: int, test_rows: int) -> None:
    rng = np.random.default_rng(0)
    for stem_images, stem_labels, rows in (
        (mnist.TRAIN_IMAGES, mnist.TRAIN_LABELS, train_rows),
        (mnist.IMAGES, mnist.LABELS, test_rows),
    ):
        _write_idx(folder / stem_images, 2051, rng.integers(0, 256, (rows, 28, 28)))
        _write_idx(folder / stem_labels, 2049, np.arange(rows) % 10)


def test_w5_is_synthetic_of_the_full_shape_without_the_training_files(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAINRULE_MNIST", str(tmp_path))  # an empty folder
    w = WORKLOADS["W5"]
    assert w.rows == 60000 and w.sizes == (784, 128, 10) and w.batch == 64 and w.epochs == 1
    data = workloads.load(w.tiny(), np.float32)
    assert data.x.shape == (512, 784) and data.x.dtype == np.float32
    assert data.source.startswith("synthetic") and data.x_val is None


def test_w5_reads_the_mnist_training_files_when_they_are_there(monkeypatch, tmp_path):
    _fake_mnist(tmp_path, train_rows=600, test_rows=50)
    monkeypatch.setenv("CHAINRULE_MNIST", str(tmp_path))
    assert mnist.training_available()
    data = workloads.load(WORKLOADS["W5"].tiny(), np.float32, tiny=True)
    assert data.source == "MNIST" and data.x.shape == (512, 784) and data.x.dtype == np.float32
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0 and data.x.max() > 0.9
    assert data.y.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert data.x_val.shape == (50, 784) and data.nbytes > data.x.nbytes + data.y.nbytes


def test_chainrule_processes_choose_their_own_threads_and_others_are_fixed(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    for contender in ("chainrule", "chainrule-compiled", "chainrule-fit"):
        env = run.worker_env(2, contender)
        assert not set(run.THREAD_VARIABLES) & set(env) and "OPENBLAS_CORETYPE" not in env
    env = run.worker_env(2, "pytorch")
    assert all(env[name] == "2" for name in run.THREAD_VARIABLES)


def test_busy_mode_runs_every_contender_again_beside_a_busy_process():
    results = run.run(
        ["W3"], ["float32"], ["chainrule-fit", "numpy"], 1, 1, True, 1, log=lambda *a: None,
        busy=True,
    )  # fmt: skip
    assert set(results["busy"]["W3"]["float32"]) == {"chainrule-fit", "numpy"}
    assert "limit" in results["workloads"]["W3"]["float32"]  # quiet only: not a contender
    summary = report.summarise(results)
    row = summary["busy"]["W3"]["float32"]["chainrule-fit"]
    assert row["slowdown"] == pytest.approx(row["median_us"] / row["quiet_us"])
    text = report.table(summary, report.machine(results, 1), {})
    assert "### Busy machine" in text and "| W3 | float32 | numpy |" in text


def test_busy_core_spins_while_inside_and_is_gone_after():
    from benchmarks.busy import one_busy_core

    with one_busy_core() as proc:
        assert proc.poll() is None
    assert proc.poll() is not None


def _fake_issue15_results(compiled_us: float, busy_fit_us: float) -> dict:
    results = _fake_results(30.0)
    quiet = results["workloads"]["W1"]["float32"]
    quiet["chainrule-compiled"] = {"us_per_step": [compiled_us], "parity_losses": [2.0, 1.5]}
    quiet["chainrule-fit"] = {"us_per_step": [40.0]}
    results["busy"] = {
        "W1": {
            "float32": {
                "chainrule-fit": {"us_per_step": [busy_fit_us], "threads_used": 1},
                "pytorch": {"us_per_step": [300.0]},
            }
        }
    }
    return results


def test_compiled_and_busy_goals_compare_the_right_way_round():
    good = {g["goal"]: g for g in report.summarise(_fake_issue15_results(21.0, 50.0))["goals"]}
    bad = {g["goal"]: g for g in report.summarise(_fake_issue15_results(30.0, 80.0))["goals"]}
    key = "W1: chainrule-compiled ≤ 1.1× numpy"
    assert good[key]["held"] and good[key]["value"] == pytest.approx(21.0 / 20.0)
    assert not bad[key]["held"]
    assert not good["W1: chainrule-compiled ≤ 0.2× pytorch"]["held"]  # 21 / 100 > 0.2
    busy = next(k for k in good if k.startswith("busy: W1 chainrule-fit"))
    assert "pytorch slows 3.00×" in busy
    assert good[busy]["held"] and good[busy]["value"] == pytest.approx(50.0 / 40.0)
    assert not bad[busy]["held"]  # 80 / 40 = 2×


def test_w5_memory_goal_is_growth_over_the_process_start():
    results = {
        "workloads": {
            "W5": {
                "float32": {
                    "chainrule-compiled": {
                        "us_per_step": [300.0],
                        "peak_mb": 700.0,
                        "grown_mb": 340.0,
                        "dataset_mb": 180.0,
                        "steps_per_epoch": 938,
                    },
                    "pytorch": {"us_per_step": [600.0]},
                }
            }
        },
        "skipped": {},
    }
    summary = report.summarise(results)
    memory = next(g for g in summary["goals"] if "peak memory over its start" in g["goal"])
    assert not memory["held"] and memory["value"] == 340.0 and "(330 MB)" in memory["goal"]
    text = report.table(summary, report.machine(results, 2), {})
    assert "700 (+340)" in text and "seconds per epoch (median): chainrule-compiled 0.28" in text


def test_thread_crossover_is_where_more_threads_start_paying_for_good():
    def row(product, one, two):
        return {"product": product, "best_us": {"1": one, "2": two}}

    rows = [row(10, 1.0, 2.0), row(100, 10.0, 8.0), row(1000, 100.0, 120.0), row(10**4, 9, 5)]
    assert thread_sweep.crossover(rows, 2) == 10**4  # 100 pays, but 1000 does not again
    assert thread_sweep.crossover(rows[:2], 2) == 100
    assert thread_sweep.crossover([row(10, 1.0, 1.0)], 2) is None


def test_thread_sweep_runs_and_prints_both_crossovers():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "threads", "--tiny", "--repeats", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "crossover (quiet)" in proc.stdout and "crossover (one core busy)" in proc.stdout
