"""What a notebook shows for each object a student prints: short, with the facts that matter,
escaped, and with the picture inline where there is one. Jupyter calls these methods itself, so
calling them directly tests exactly what a notebook receives (no IPython needed)."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import notebook
from chainrule.data import Dataset
from chainrule.lecture.notation import num, tex
from chainrule.train import History

PNG = '<img src="data:image/png;base64,'


def _png_bytes(page: str) -> bytes:
    """The first inline picture of an HTML view, decoded."""
    found = re.search(r'data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert found, "no inline PNG"
    return base64.b64decode(found[1])


def _text(page: str) -> str:
    """The HTML view's visible text, tags removed, for checking the facts it states."""
    return re.sub(r"<[^>]+>", " ", page)


# ---- the shared helpers ----------------------------------------------------------------------


def test_table_escapes_every_cell_but_html_it_was_given():
    page = notebook.table([["<script>", notebook.code("a<b")]], ["x & y"], caption="<i>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<code>a&lt;b</code>" in page
    assert "<th>x &amp; y</th>" in page and "&lt;i&gt;" in page


def test_symbol_writes_the_lecture_subscripts_and_superscripts_as_html():
    assert notebook.symbol("w_{01}^{(2)}") == "w<sub>01</sub><sup>(2)</sup>"
    assert notebook.symbol("b_1^{(L−1)} < 2") == "b<sub>1</sub><sup>(L−1)</sup> &lt; 2"


def test_importing_chainrule_or_showing_a_tensor_loads_neither_this_room_nor_matplotlib():
    code = (
        "import sys, chainrule as cr\n"
        "assert 'chainrule.notebook' not in sys.modules\n"
        "cr.tensor([1.0, 2.0], requires_grad=True)._repr_html_()\n"
        "cr.nn.Linear(2, 1)._repr_html_()\n"
        "assert 'chainrule.notebook' in sys.modules\n"
        "assert 'matplotlib' not in sys.modules, 'a table needs no matplotlib'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- Tensor and Module ---------------------------------------------------------------------------


def test_tensor_shows_shape_dtype_op_grad_and_a_few_values():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = (x * x).sum()
    assert "not kept" in _text(y._repr_html_()) and "<code>sum</code>" in y._repr_html_()
    before = _text(x._repr_html_())
    assert "(2, 3)" in before and "float64" in before and "leaf" in before
    assert "none yet" in before
    y.backward()
    after = _text(x._repr_html_())
    assert "[[ 0.,  2.,  4.]," in after  # the grad 2x
    assert "not tracked" in _text(cr.tensor([1, 2])._repr_html_())


def test_a_large_tensor_shows_its_corners_not_every_value():
    big = cr.tensor(np.arange(10_000.0).reshape(100, 100))
    page = big._repr_html_()
    assert len(page) < 1000 and "..." in page and "9.999e+03]]" in page


def test_module_lists_its_layers_with_parameter_counts():
    model = cr.nn.Sequential(cr.nn.Linear(2, 16), cr.nn.Tanh(), cr.nn.Linear(16, 2))
    page = model._repr_html_()
    text = _text(page)
    assert "Sequential: 82 parameters, float64" in text
    assert "weight (16, 2), bias (16,)" in text and " 48 " in text and " 34 " in text
    assert "Tanh()" in text
    deep = cr.nn.Sequential(*[cr.nn.Linear(1, 1) for _ in range(13)])
    assert "… 3 more" in _text(deep._repr_html_())
    assert "eval mode" in _text(model.eval()._repr_html_())


def test_module_view_escapes_a_layers_own_description():
    class Odd(cr.nn.Module):
        def extra_repr(self) -> str:
            return "<b>bold</b>"

    assert "&lt;b&gt;bold&lt;/b&gt;" in cr.nn.Sequential(Odd())._repr_html_()


# ---- History -------------------------------------------------------------------------------------


def _history(epochs: int = 100) -> History:
    loss = list(np.linspace(0.7, 0.05, epochs))
    val = list(np.linspace(0.8, 0.1, epochs))
    val[40] = 0.01  # the best validation loss, at epoch 41
    return History(loss=loss, val_loss=val, stop_reason="epochs", wall_time=2.5)


def test_history_repr_is_one_short_line_and_the_lists_are_unchanged():
    h = _history()
    text = repr(h)
    assert len(text) < 200 and "\n" not in text
    assert text == (
        "History(100 epochs, loss 0.7 → 0.05, best validation loss 0.01 (epoch 41), "
        "stopped by epochs, 2.5 s)"
    )
    assert len(h.loss) == 100 and h.loss[0] == 0.7  # History.loss is still every epoch's loss
    assert repr(History()) == "History(0 epochs)"


def test_history_html_has_the_summary_and_the_loss_curve_as_png():
    page = _history()._repr_html_()
    text = _text(page)
    for fact in ("100", "0.7 → 0.05", "0.01 (epoch 41)", "epochs", "2.5 s"):
        assert fact in text
    assert PNG in page
    assert _png_bytes(page).startswith(b"\x89PNG\r\n\x1a\n")


def test_history_html_without_matplotlib_is_the_table_alone(monkeypatch):
    monkeypatch.setattr(notebook, "has_matplotlib", lambda: False)
    page = _history()._repr_html_()
    assert PNG not in page and "0.01 (epoch 41)" in page
    assert PNG not in History()._repr_html_()  # no epochs, nothing to draw


def test_a_real_fit_shows_accuracy_and_its_best_validation_accuracy():
    X, y = cr.data.load("xor", n=40, noise=0.05)
    model = cr.nn.mlp([2, 4, 2], "tanh", rng=0)
    h = cr.fit(model, X, y, epochs=5, progress=False, validation=(X, y), seed=0)
    text = _text(h._repr_html_())
    assert "accuracy" in text and "best validation accuracy" in text
    assert f"{num(h.loss[-1], 4)} (final)" in text


# ---- the lecture's views -------------------------------------------------------------------------


@pytest.fixture
def network():
    model = cr.nn.Sequential(
        cr.nn.Linear(2, 3), cr.nn.Sigmoid(), cr.nn.Linear(3, 2), cr.nn.Sigmoid()
    )
    X = np.array([[0.5, -0.2]])
    Y = np.array([[1.0, 0.0]])
    return model, X, Y


def test_explanation_markdown_has_the_chain_in_latex_and_its_numbers(network):
    model, X, Y = network
    e = cr.explain(model, X, Y, cr.nn.SquaredError(), layer=2, j=0, k=1)
    md = e._repr_markdown_()
    assert f"${tex(e._chain())}$" in md
    assert r"\frac{\partial z_0^{(2)}}{\partial w_{01}^{(2)}}" in md and r"\sigma'" in md
    assert num(e.value) in md and num(e.autodiff) in md
    text = repr(e)
    assert "\n" not in text and len(text) < 200 and num(e.value) in text and "agree" in text


def test_sensitivity_shows_the_top_ten_ranked_and_how_many_more(network):
    model, X, Y = network
    s = cr.sensitivity(model, X, Y, cr.nn.SquaredError())
    page = s._repr_html_()
    assert page.count("<tr>") == 1 + 10 + 1  # header, ten weights, "… 7 more"
    assert "… 7 more" in page
    first = s[0]
    assert f"<td>1</td><td>{notebook.symbol(first.name)}</td>" in page
    assert num(first.gradient) in page
    assert "moves the loss" in page
    text = repr(s)
    assert "object at" not in text and "17 weights and biases" in text and "\n" not in text


def test_walkthrough_and_exercise_have_a_short_repr_and_their_markdown():
    w = cr.walkthrough()
    assert repr(w) == f"<Walkthrough ∂C_i/∂w^{{(L)}} = {num(w.dcost_dw)}, agrees: True>"
    assert r"\sigma" in w._repr_markdown_() and "autodiff" in w._repr_markdown_()
    ex = cr.exercise((2, 3, 2), seed=0)
    assert repr(ex).startswith("<Exercise 2-3-2, seed 0: ∂C/∂")
    assert len(repr(ex)) < 100 and "\n" not in repr(ex)
    assert ex._repr_markdown_() == ex.questions


# ---- Dataset -------------------------------------------------------------------------------------


def test_two_dimensional_dataset_shows_its_facts_and_a_scatter():
    page = cr.data.load("moons")._repr_html_()
    text = _text(page)
    assert "400 × 2" in text and "x1, x2" in text and "2: 0 (200), 1 (200)" in text
    assert PNG in page and _png_bytes(page).startswith(b"\x89PNG")
    assert len(page) < 100_000  # the scatter is small, not the 400 rows as numbers


def test_wider_dataset_names_its_features_and_classes_without_a_picture():
    page = cr.data.load("iris")._repr_html_()
    assert "150 × 4" in page and "setosa (50)" in page and "petal_width_(cm)" in page
    assert PNG not in page
    digits = _text(cr.data.load("digits")._repr_html_())
    assert "… 54 more" in digits  # 64 pixel names: the first ten, and a count


def test_dataset_view_escapes_names_and_shows_a_numeric_targets_range():
    X = np.array([[0.0, 1.0], [2.0, 3.0]])
    d = Dataset("<raw>", X, np.array([1.5, -2.0]), ["a<b", "c&d"], None, "price")
    page = d._repr_html_()
    assert "&lt;raw&gt;" in page and "a&lt;b" in page and "c&amp;d" in page
    assert "<raw>" not in page
    assert "-2 to 1.5" in page and PNG in page  # a regression set's scatter is coloured by y


def test_notebook_doc_runs_and_shows_what_it_says():
    """docs/notebook.md's ```python blocks are doctests: the views it quotes are the real ones."""
    from test_docs import DOCS, run_doc

    assert run_doc(DOCS / "notebook.md").attempted >= 30, "docs/notebook.md lost its examples"
