"""docs/notebooks/lecture.ipynb runs on a real Jupyter kernel and shows what it promises.

nbclient starts a kernel (in a fresh folder, with this process's PYTHONPATH, so the kernel
imports the chainrule under test), runs every cell and applies each display update as a front
end does. A cell that raises fails the test; so does a missing view: the LivePlot picture, the
chain rule in LaTeX, the health reports' tables.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

import chainrule as cr

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "lecture.ipynb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CELL_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def kernel_packages():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("IPython")  # the kernel's own shell
    pytest.importorskip("matplotlib")  # LivePlot draws nothing without it
    return nbformat, nbclient


@pytest.fixture(scope="module")
def executed(kernel_packages, tmp_path_factory: pytest.TempPathFactory):
    nbformat, nbclient = kernel_packages
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # the last cell tells which chainrule the kernel imported; it is not part of the notebook
    notebook.cells.append(nbformat.v4.new_code_cell("import chainrule\nprint(chainrule.__file__)"))
    folder = tmp_path_factory.mktemp("kernel")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MPLBACKEND", "Agg")
        client = nbclient.NotebookClient(
            notebook,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(folder)}},
        )
        client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    return notebook, folder


def outputs_of(notebook, source: str) -> list:
    """The outputs of the one code cell that is `source` or contains it."""
    code = [c for c in notebook.cells if c.cell_type == "code"]
    (cell,) = [c for c in code if c.source == source] or [c for c in code if source in c.source]
    return cell.outputs


def shown(outputs: list, mime: str) -> str:
    """The `mime` view of the cell's value, the last thing it shows."""
    (result,) = [o for o in outputs if o.output_type == "execute_result"]
    assert mime in result.data, f"no {mime} view, only {sorted(result.data)}"
    return result.data[mime]


def test_the_committed_notebook_is_clean(kernel_packages):
    nbformat, _ = kernel_packages
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert len(code) >= 8
    assert all(c.outputs == [] and c.execution_count is None for c in code), "outputs committed"


def test_every_cell_ran_in_the_kernel_on_the_chainrule_under_test(executed):
    notebook, folder = executed
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = "".join(o.text for o in code[-1].outputs if o.output_type == "stream")
    assert Path(printed.strip()) == Path(cr.__file__)
    assert list(folder.iterdir()) == [], "the notebook leaves no files behind"


def test_the_worked_example_is_the_lectures(executed):
    notebook, _ = executed
    outputs = outputs_of(notebook, "cr.walkthrough()")
    assert shown(outputs, "text/plain") == "<Walkthrough ∂C_i/∂w^{(L)} = -0.0177408, agrees: True>"
    assert "$" in shown(outputs, "text/markdown")


@pytest.mark.parametrize(
    ("call", "symbol"),
    [
        ("layer=2, j=0, k=1", r"\frac{\partial C}{\partial w_{01}^{(2)}}"),
        ("layer=1, j=1, k=0", r"\frac{\partial C}{\partial w_{10}^{(1)}}"),
        ("layer=1, j=2)", r"\frac{\partial C}{\partial b_2^{(1)}}"),
    ],
)
def test_explain_shows_the_chain_in_latex_for_each_layer(executed, call, symbol):
    notebook, _ = executed
    outputs = outputs_of(notebook, call)
    markdown = shown(outputs, "text/markdown")
    assert symbol in markdown
    assert r"\frac{\partial a_" in markdown, "the activation's factor"
    assert "agree: **yes**" in markdown
    assert r"\frac{\partial" in shown(outputs, "text/latex")


def test_liveplot_leaves_one_picture_updated_in_place(executed):
    notebook, _ = executed
    outputs = outputs_of(notebook, "cr.callbacks.LivePlot(")
    pictures = [o for o in outputs if o.output_type == "display_data"]
    assert len(pictures) == 1, "one output, updated in place"
    # the output LivePlot opens holds no image; only an update puts one there
    assert pictures[0].data["text/plain"].startswith("LivePlot: epoch 60/60")
    assert "test loss" in pictures[0].data["text/plain"]
    assert base64.b64decode(pictures[0].data["image/png"]).startswith(PNG_MAGIC)


def test_the_history_shows_its_table_and_loss_curve(executed):
    notebook, _ = executed
    page = shown(outputs_of(notebook, "history"), "text/html")
    assert "<table>" in page and '<img src="data:image/png;base64,' in page


def test_the_health_reports_show_their_verdicts_as_tables(executed):
    notebook, _ = executed
    trained = shown(outputs_of(notebook, "cr.gradient_health(model,"), "text/html")
    deep = shown(outputs_of(notebook, "cr.gradient_health(deep,"), "text/html")
    assert "<table" in trained and "<table" in deep
    assert "healthy" in trained
    assert "vanishing" in deep


def test_the_exercise_sheet_its_key_and_its_check(executed):
    notebook, _ = executed
    sheet = shown(outputs_of(notebook, "cr.exercise("), "text/markdown")
    assert sheet.startswith("# Backpropagation exercise (network 2-2-1, sigmoid, seed 7)")
    key = shown(outputs_of(notebook, "Markdown(sheet.answers)"), "text/markdown")
    assert r"\partial C/\partial w_{10}^{(1)}" in key
    check = outputs_of(notebook, "cr.explain(sheet.model()")
    assert "agree: **yes**" in shown(check, "text/markdown")
    assert shown(check, "text/plain").startswith("<Explanation ∂C/∂w_{10}^{(1)} = 0.00381794")


def test_each_object_shows_its_short_view_in_the_kernel(executed):
    notebook, _ = executed
    tensor = shown(outputs_of(notebook, "c.backward()\nw"), "text/html")
    assert "(1, 2)" in tensor and "float64" in tensor and "grad" in tensor
    graph = shown(outputs_of(notebook, "cr.plot.graph(c)"), "image/svg+xml")
    assert graph.lstrip().startswith("<svg") and "sigmoid" in graph
    module = shown(outputs_of(notebook, "model"), "text/html")
    assert "Linear" in module and "Tanh" in module
    dataset = shown(outputs_of(notebook, "train"), "text/html")
    assert "data:image/png;base64," in dataset  # moons is 2-D: its scatter
    ranked = shown(outputs_of(notebook, "cr.sensitivity(model"), "text/html")
    assert "<table" in ranked and "weight" in ranked
