"""LivePlot: one notebook output updated in place while fit trains, and nothing on a terminal.

A notebook is simulated by replacing `liveplot.notebook_display` (the one place that asks
IPython for `display`) with a recorder; the tests at the end go through IPython's own display
machinery when IPython is installed. No time is asserted: `interval=0` or a huge interval
make the redraws depend on epochs alone.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import liveplot
from chainrule.callbacks import Callback, Run
from chainrule.liveplot import PANEL_PIXELS, Frame, LivePlot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Handle:
    """What IPython's DisplayHandle offers: update(obj) replaces the output in place."""

    def __init__(self, display_id: str) -> None:
        self.display_id = display_id
        self.updates: list[Frame] = []

    def update(self, obj: Frame) -> None:
        self.updates.append(obj)


class Notebook:
    """Stands for IPython.display.display in a kernel: records each new output it opens."""

    def __init__(self) -> None:
        self.opened: list[tuple[Frame, Handle]] = []

    def __call__(self, obj: Frame, display_id: bool | str = False) -> Handle | None:
        assert display_id is True, "LivePlot must ask for a display id to update in place"
        handle = Handle(f"id-{len(self.opened)}")
        self.opened.append((obj, handle))
        return handle


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> Notebook:
    book = Notebook()
    monkeypatch.setattr(liveplot, "notebook_display", lambda: book)
    return book


def _moons(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    X, y = cr.data.load("moons", n=n, noise=0.2)
    return X, y


def _fit(X, y, plot: LivePlot, epochs: int = 20, **kwargs) -> cr.train.History:
    model = cr.nn.mlp([X.shape[1], 8, int(y.max()) + 1], "tanh", rng=0)
    return cr.fit(model, X, y, epochs=epochs, batch_size=32, seed=0, progress=False,
                  callbacks=[plot], **kwargs)  # fmt: skip


def _image(frame: Frame):
    from PIL import Image

    assert frame.png is not None and frame.png.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(frame.png))
    image.load()  # decodes every row: a truncated or corrupt PNG raises here
    return image


def test_it_is_a_callback_under_cr_callbacks():
    assert cr.callbacks.LivePlot is LivePlot
    assert isinstance(LivePlot(), Callback)


def test_importing_the_callbacks_loads_neither_matplotlib_nor_ipython():
    loaded = "sorted({'matplotlib', 'IPython'} & set(sys.modules))"
    code = f"import sys, chainrule.callbacks; print({loaded})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_output_is_updated_in_place_several_times(notebook):
    plot = LivePlot(every=5, interval=0)
    _fit(*_moons(), plot, epochs=20)
    assert len(notebook.opened) == 1, "one output, opened once"
    first, handle = notebook.opened[0]
    assert first.png is None and "LivePlot" in repr(first)
    # epochs 5, 10, 15, 20, and the last picture at the end of training
    assert len(handle.updates) == 5 == plot.frames
    assert [repr(f).split(",")[0] for f in handle.updates] == [
        "LivePlot: epoch 5/20",
        "LivePlot: epoch 10/20",
        "LivePlot: epoch 15/20",
        "LivePlot: epoch 20/20",
        "LivePlot: epoch 20/20",
    ]
    for frame in handle.updates:
        image = _image(frame)
        assert image.size[0] == 2 * PANEL_PIXELS  # loss and boundary
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(np.int64)
        assert len(np.unique(pixels @ [1 << 16, 1 << 8, 1])) > 10, "a picture, not a blank"


def test_a_long_interval_leaves_only_the_picture_at_the_end(notebook):
    history = _fit(*_moons(), LivePlot(every=1, interval=1e9), epochs=12, until=None)
    (_, handle) = notebook.opened[0]
    assert len(handle.updates) == 1
    assert repr(handle.updates[0]).startswith("LivePlot: epoch 12/12")
    assert repr(handle.updates[0]).endswith(f"(stopped by {history.stop_reason})")
    _image(handle.updates[0])


def test_the_last_picture_is_drawn_when_training_stops_early(notebook):
    X, y = _moons()
    history = _fit(X, y, LivePlot(interval=1e9), epochs=500, until=0.6)
    assert history.stop_reason == "until" and history.epochs < 500
    (_, handle) = notebook.opened[0]
    assert repr(handle.updates[-1]).startswith(f"LivePlot: epoch {history.epochs}/500")
    assert "(stopped by until)" in repr(handle.updates[-1])


def test_the_last_picture_is_drawn_when_a_callback_raises(notebook):
    class Boom(Callback):
        def on_epoch_end(self, run: Run) -> None:
            if run.epoch == 3:
                raise RuntimeError("boom")

    X, y = _moons()
    model = cr.nn.mlp([2, 8, 2], "tanh", rng=0)
    plot = LivePlot(interval=1e9)
    with pytest.raises(RuntimeError, match="boom"):
        cr.fit(model, X, y, epochs=10, progress=False, callbacks=[plot, Boom()])
    (_, handle) = notebook.opened[0]
    assert repr(handle.updates[-1]).startswith("LivePlot: epoch 3/10")
    _image(handle.updates[-1])


def test_a_diverged_run_still_gets_its_picture(notebook):
    X, y = _moons()
    model = cr.nn.mlp([2, 8, 1], "tanh", rng=0)
    optimizer = cr.optim.SGD(model.parameters(), lr=1e3)
    with pytest.raises(cr.DivergedError):
        cr.fit(model, X, y.reshape(-1, 1) * 1.0, loss="squared", optimizer=optimizer,
               epochs=50, progress=False, callbacks=[LivePlot(interval=1e9)])  # fmt: skip
    (_, handle) = notebook.opened[0]
    assert "(stopped by diverged)" in repr(handle.updates[-1])
    _image(handle.updates[-1])


def test_the_boundary_is_drawn_for_2d_inputs_only(notebook):
    flat = LivePlot(interval=0, every=10)
    rng = np.random.default_rng(0)
    X4 = rng.normal(size=(90, 4))
    _fit(X4, (X4[:, 0] > 0).astype(int), flat, epochs=10)
    assert flat.picture is not None and flat.picture.boundary is None
    assert _image(notebook.opened[0][1].updates[-1]).size[0] == PANEL_PIXELS

    flat_2d = LivePlot(interval=0, every=10)
    X, y = _moons()
    _fit(X, y, flat_2d, epochs=10)
    boundary = flat_2d.picture.boundary
    assert boundary is not None
    # the grid covers the data's box, with a margin on every side
    assert np.all(boundary.grid.min(axis=0) < X.min(axis=0))
    assert np.all(boundary.grid.max(axis=0) > X.max(axis=0))
    assert _image(notebook.opened[1][1].updates[-1]).size[0] == 2 * PANEL_PIXELS


def test_the_boundary_shows_the_classes_the_model_predicts(notebook):
    X, y = _moons()
    plot = LivePlot(interval=1e9, resolution=30)
    model = cr.nn.mlp([2, 16, 2], "tanh", rng=0)
    cr.fit(model, X, y, epochs=60, batch_size=16, seed=0, progress=False, callbacks=[plot])
    boundary = plot.picture.boundary
    with cr.no_grad():
        expected = model(cr.tensor(boundary.grid)).data.argmax(axis=1)
    assert boundary.classes.shape == (30 * 30,)
    np.testing.assert_array_equal(boundary.classes, expected)
    assert 0 < expected.mean() < 1, "a trained moons network predicts both classes"


def test_the_points_on_the_boundary_are_the_training_rows(notebook):
    X, y = _moons(80)
    plot = LivePlot(interval=1e9)
    _fit(X, y, plot, epochs=3)
    drawn, classes = plot.picture.boundary.points
    assert sorted(zip(map(tuple, drawn), classes, strict=True)) == sorted(
        zip(map(tuple, X), y, strict=True)
    )


def test_the_held_out_loss_is_drawn_when_fit_has_validation(notebook):
    X, y = _moons()
    plot = LivePlot(interval=1e9, held_out="test")
    history = _fit(X[:90], y[:90], plot, epochs=8, validation=(X[90:], y[90:]))
    assert plot.picture.loss.curves == [("training", history.loss), ("test", history.val_loss)]
    assert plot.picture.loss.scale == "log"  # cross-entropy is positive
    assert "test loss" in repr(notebook.opened[0][1].updates[-1])


def test_gradient_norms_per_layer_are_the_last_batchs(notebook):
    X, y = _moons()
    plot = LivePlot(interval=1e9, gradients=True)
    model = cr.nn.mlp([2, 8, 8, 2], "tanh", rng=0)
    cr.fit(model, X, y, epochs=6, batch_size=32, seed=0, progress=False, callbacks=[plot])
    assert len(plot.norms) == 6 and all(len(row) == 3 for row in plot.norms)
    # the gradients of the last batch stay on the weights after fit
    expected = [np.linalg.norm(model[i].weight.grad) for i in (0, 2, 4)]
    np.testing.assert_allclose(plot.norms[-1], expected, rtol=1e-12)
    drawn = plot.picture.grad.curves
    assert [label for label, _ in drawn] == ["layer 1", "layer 2", "layer 3"]
    np.testing.assert_array_equal(np.array([values for _, values in drawn]).T, plot.norms)
    image = _image(notebook.opened[0][1].updates[-1])
    assert image.size[0] == 3 * PANEL_PIXELS


def test_each_fit_opens_its_own_output(notebook):
    X, y = _moons()
    plot = LivePlot(interval=1e9)
    model = cr.nn.mlp([2, 8, 2], "tanh", rng=0)
    for _ in range(2):
        cr.fit(model, X, y, epochs=4, progress=False, callbacks=[plot])
    assert len(notebook.opened) == 2
    assert [len(handle.updates) for _, handle in notebook.opened] == [1, 1]
    assert plot.frames == 1


def test_on_a_terminal_it_does_nothing_and_says_nothing():
    assert liveplot.notebook_display() is None  # pytest is not a notebook kernel
    plot = LivePlot(interval=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = _fit(*_moons(), plot, epochs=5)
    assert history.epochs == 5
    assert plot.handle is None and plot.picture is None and plot.frames == 0


def test_without_ipython_there_is_no_notebook(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)  # import IPython now raises ImportError
    assert liveplot.notebook_display() is None


def test_in_a_notebook_without_matplotlib_it_warns_once_and_draws_nothing(notebook, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    plot = LivePlot(interval=0)
    with pytest.warns(UserWarning, match="LivePlot draws nothing: matplotlib") as caught:
        _fit(*_moons(), plot, epochs=5)
    assert len(caught) == 1
    assert caught[0].filename == __file__, "the warning points at the caller of fit"
    assert notebook.opened == [] and plot.frames == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"every": 0}, "LivePlot: every must be a positive integer, got 0"),
        ({"interval": -1.0}, "LivePlot: interval must be a finite number >= 0, got -1.0"),
        ({"resolution": 1}, "LivePlot: resolution must be an integer >= 2, got 1"),
    ],
)
def test_bad_settings_are_named(arguments, message):
    with pytest.raises(cr.ConfigError, match=message.replace("(", r"\(")):
        LivePlot(**arguments)


# Through IPython's own display machinery: a shell whose output is captured stands for the
# kernel's, so display ids and update flags are IPython's, not a stand-in's.


@pytest.fixture
def ipython_shell(monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        yield shell
    finally:
        InteractiveShell.clear_instance()


def test_a_terminal_ipython_is_not_a_notebook(ipython_shell):
    assert getattr(ipython_shell, "kernel", None) is None
    assert liveplot.notebook_display() is None


def test_under_a_kernel_ipythons_display_updates_one_output(ipython_shell, monkeypatch):
    from IPython.display import display
    from IPython.utils.capture import capture_output

    monkeypatch.setattr(ipython_shell, "kernel", object(), raising=False)
    assert liveplot.notebook_display() is display
    with capture_output(display=True) as captured:
        _fit(*_moons(), LivePlot(every=4, interval=0), epochs=8)
    outputs = captured.outputs
    ids = {o.transient["display_id"] for o in outputs}
    assert len(ids) == 1, "every picture goes to the same display id"
    assert [o.update for o in outputs] == [False, True, True, True]  # open, epochs 4, 8, end
    assert "image/png" not in outputs[0].data
    for o in outputs[1:]:
        assert o.data["image/png"].startswith(PNG_MAGIC)
        assert o.data["text/plain"].startswith("LivePlot: epoch")


def test_the_engine_docs_liveplot_example_draws_in_a_notebook(notebook):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "engine.md").read_text()
    section = doc[doc.index("### Live training in a notebook") :]
    section = section[: section.index("\n## ")]
    (block,) = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    namespace: dict = {}
    exec(compile(block, "docs/engine.md", "exec"), namespace)  # noqa: S102
    (_, handle) = notebook.opened[0]
    history = namespace["history"]
    assert repr(handle.updates[-1]).startswith(f"LivePlot: epoch {history.epochs}/300")
    assert _image(handle.updates[-1]).size[0] == 3 * PANEL_PIXELS  # loss, boundary, gradients


def test_the_overhead_benchmark_runs_at_a_tiny_size(capsys, tmp_path):
    from benchmarks import liveplot as bench

    before = liveplot.notebook_display
    assert bench.main(["--tiny", "--json", str(tmp_path / "live.json")]) == 0
    assert liveplot.notebook_display is before, "the benchmark puts the real display back"
    out = capsys.readouterr().out
    assert all(case.name in out for case in bench.CASES) and "goal: LivePlot" in out
    results = json.loads((tmp_path / "live.json").read_text())
    for run in results["runs"].values():
        assert run["frames"] >= 1 and run["with_s"] > 0 and run["without_s"] > 0


def test_in_a_real_kernel_the_picture_is_one_output_updated_in_place():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("IPython")  # the kernel's own shell
    code = (
        "import chainrule as cr\n"
        "X, y = cr.data.load('moons', n=100, noise=0.2)\n"
        "plot = cr.callbacks.LivePlot(every=10, interval=0)\n"
        "model = cr.nn.mlp([2, 8, 2], 'tanh', rng=0)\n"
        "cr.fit(model, X, y, epochs=30, batch_size=20, seed=0, progress=False, callbacks=[plot])\n"
        "print('frames', plot.frames)"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    # nbclient applies each update_display_data to the output it names, as a front end does
    pictures = [o for o in outputs if o.output_type == "display_data"]
    assert len(pictures) == 1, "one output, updated in place"
    assert pictures[0].data["text/plain"].startswith("LivePlot: epoch 30/30")
    assert "(stopped by epochs)" in pictures[0].data["text/plain"]
    png = base64.b64decode(pictures[0].data["image/png"])
    assert png.startswith(PNG_MAGIC)
    streams = "".join(o.text for o in outputs if o.output_type == "stream")
    assert "frames 4" in streams  # epochs 10, 20, 30 and the end, all into that one output
