"""Every bad input to the public API raises a chainrule exception that is also the built-in
exception Python or numpy would raise for it (issue 16): `except cr.ChainruleError` and
`except ValueError` (or TypeError, IndexError, OSError) both catch it, and the message names
what was wrong. One row per bad input: the call, the chainrule class, the built-in family and
a piece of the message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import errors


def model() -> cr.nn.Sequential:
    return cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.Sigmoid(), cr.nn.Linear(3, 2))


def t() -> cr.Tensor:
    return cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)


X, Y = np.zeros((4, 2)), np.array([0, 1, 0, 1])


def fit(**changes: object) -> object:
    m = changes.pop("model", model())
    args = {"epochs": 1, "progress": False, **changes}
    return cr.fit(m, args.pop("X", X), args.pop("Y", Y), **args)


def ce(prediction: object, target: object) -> object:
    return cr.nn.CrossEntropyLoss()(prediction, target)


Row = tuple[str, Callable[[], object], type[Exception], type[Exception], str]

ROWS: list[Row] = [
    # tensor construction
    ("tensor of strings", lambda: cr.tensor(["a", "b"]), errors.DTypeError, ValueError,
     "holds real numbers"),
    ("tensor of strings (TypeError habit)", lambda: cr.tensor(["a", "b"]), errors.DTypeError,
     TypeError, "dtype <U1"),
    ("tensor of None", lambda: cr.tensor(None), errors.DTypeError, TypeError, "NoneType"),
    ("complex tensor", lambda: cr.tensor([1 + 2j]), errors.DTypeError, ValueError, "complex"),
    ("object array", lambda: cr.tensor(np.array([1, "a"], dtype=object)), errors.DTypeError,
     ValueError, "dtype object"),
    ("dict", lambda: cr.tensor({"a": 1}), errors.DTypeError, TypeError, "dict"),
    ("bytes", lambda: cr.tensor(b"ab"), errors.DTypeError, TypeError, "bytes"),
    ("ragged rows", lambda: cr.tensor([[1, 2], [3]]), errors.ShapeError, ValueError,
     "rows of different lengths"),
    ("unknown dtype", lambda: cr.tensor([1.0], dtype="foo"), errors.ArgumentTypeError, TypeError,
     "dtype must be a numpy dtype"),
    ("complex hidden by a dtype", lambda: cr.tensor([1 + 2j], dtype=float), errors.DTypeError,
     ValueError, "complex128"),
    ("text hidden by a dtype", lambda: cr.tensor(["1.5"], dtype=float), errors.DTypeError,
     ValueError, "<U3"),
    ("complex rows into a layer", lambda: cr.nn.Linear(2, 2)(np.zeros((1, 2), complex)),
     errors.DTypeError, TypeError, "complex128"),
    ("int tensor with grad", lambda: cr.tensor([1], dtype=int, requires_grad=True),
     errors.GradError, RuntimeError, "floating-point"),
    # operators and conversions
    ("add a string", lambda: t() + "a", errors.DTypeError, ValueError, "real numbers"),
    ("add None", lambda: t() + None, errors.DTypeError, TypeError, "NoneType"),
    ("matmul None", lambda: t() @ None, errors.DTypeError, TypeError, "NoneType"),
    ("linear with a scalar weight", lambda: cr.ops.linear(t(), cr.tensor(2.0)), errors.ShapeError,
     ValueError, "weight must be a matrix (out_features, in_features) or a vector"),
    ("linear with a vector weight of the wrong size",
     lambda: cr.ops.linear(t(), cr.tensor([1.0, 2.0, 3.0])), errors.ShapeError, ValueError,
     "expects 3 features in the last axis"),
    ("shapes that do not broadcast", lambda: t() + cr.tensor([1.0, 2.0, 3.0]), errors.ShapeError,
     ValueError, "do not broadcast"),
    ("matmul shapes", lambda: t() @ cr.tensor([1.0, 2.0, 3.0]), errors.ShapeError, ValueError,
     "do not multiply"),
    ("clip to text", lambda: t().clip("a", 1), errors.DTypeError, TypeError, "<U1"),
    ("item of many", lambda: t().item(), errors.ShapeError, ValueError, "one element"),
    ("truth of many", lambda: bool(t()), errors.ShapeError, ValueError, "ambiguous"),
    ("len of 0-d", lambda: len(cr.tensor(1.0)), errors.ArgumentTypeError, TypeError, "0-d"),
    ("iterate 0-d", lambda: list(cr.tensor(1.0)), errors.ArgumentTypeError, TypeError, "0-d"),
    # reductions and softmax over a bad axis: numpy's AxisError is a ValueError and IndexError
    ("sum axis 5", lambda: t().sum(axis=5), errors.AxisError, IndexError, "axis 5 is out of range"),
    ("sum axis 5 (ValueError)", lambda: t().sum(axis=5), errors.AxisError, ValueError, "sum"),
    ("mean axis -3", lambda: t().mean(axis=-3), errors.AxisError, IndexError, "valid axes: -2"),
    ("max axis 2", lambda: t().max(axis=2), errors.AxisError, IndexError, "max"),
    ("softmax axis 5", lambda: t().softmax(axis=5), errors.AxisError, IndexError, "softmax"),
    ("log_softmax axis 5", lambda: t().log_softmax(axis=5), errors.AxisError, ValueError,
     "log_softmax"),
    ("Softmax layer axis 99", lambda: cr.nn.Softmax(axis=99)(t()), errors.AxisError, IndexError,
     "axis 99"),
    ("axis of text", lambda: t().sum(axis="a"), errors.ConfigError, ValueError,
     "axis must be an integer"),
    ("axis named twice", lambda: t().transpose(0, 0), errors.ShapeError, ValueError, "twice"),
    # reshape and indexing
    ("reshape to 3", lambda: t().reshape(3), errors.ShapeError, ValueError, "cannot reshape"),
    ("reshape to text", lambda: t().reshape("a"), errors.ArgumentTypeError, TypeError,
     "integers"),
    ("reshape to floats", lambda: t().reshape(2.0, 2.0), errors.ArgumentTypeError, TypeError,
     "integers"),
    ("index out of range", lambda: t()[5], errors.IndexingError, IndexError, "out of bounds"),
    ("index of text", lambda: t()["a"], errors.IndexingError, IndexError, "valid indices"),
    ("float index tensor", lambda: t()[cr.tensor([1.0])], errors.IndexingError, IndexError,
     "integers or booleans"),
    ("slice step 0", lambda: t()[::0], errors.ConfigError, ValueError, "step cannot be zero"),
    ("layer out of range", lambda: model()[10], errors.IndexingError, IndexError,
     "layer 10 is out of range for 3 layers"),
    ("layer by text", lambda: model()["a"], errors.ArgumentTypeError, TypeError,
     "integer or a slice"),
    # backward
    ("backward of a non-scalar", lambda: (t() * 2).backward(), errors.GradError, RuntimeError,
     "needs a scalar"),
    ("backward grad shape", lambda: (t() * 2).backward(np.ones(3)), errors.ShapeError, ValueError,
     "grad has shape (3,)"),
    ("backward grad of text", lambda: (t() * 2).backward("a"), errors.DTypeError, ValueError,
     "real numbers"),
    # losses with bad targets
    ("ce labels not whole", lambda: ce(cr.tensor(np.zeros((2, 3))), np.array([0.5, 1.7])),
     errors.DataError, ValueError, "whole numbers"),
    ("ce label too large", lambda: ce(cr.tensor(np.zeros((2, 3))), np.array([0, 3])),
     errors.DataError, ValueError, "label 3 is out of range for 3 classes"),
    ("ce labels of text", lambda: ce(cr.tensor(np.zeros((2, 3))), np.array(["a", "b"])),
     errors.DataError, ValueError, "integers"),
    ("ce labels count", lambda: ce(cr.tensor(np.zeros((2, 3))), np.array([0, 1, 2])),
     errors.ShapeError, ValueError, "one label per row"),
    ("ce on a scalar", lambda: ce(cr.tensor(0.0), np.array(1)), errors.ShapeError, ValueError,
     "class axis"),
    ("mse transposed target", lambda: cr.nn.MSELoss()(cr.tensor(np.zeros((2, 3))),
     np.zeros((3, 2))), errors.ShapeError, ValueError, "target has shape (3, 2)"),
    ("mse target of text", lambda: cr.nn.MSELoss()(cr.tensor(np.zeros((2, 1))), "a"),
     errors.DTypeError, ValueError, "real numbers"),
    ("bce target None", lambda: cr.nn.BCELoss()(cr.tensor(np.full((2, 1), 0.5)), None),
     errors.DTypeError, TypeError, "NoneType"),
    ("loss reduction", lambda: cr.nn.CrossEntropyLoss(reduction="x"), errors.ConfigError,
     ValueError, "reduction must be one of"),
    # fit with bad X, Y and arguments
    ("fit on empty X", lambda: fit(X=np.zeros((0, 2)), Y=np.zeros(0, int)), errors.DataError,
     ValueError, "no rows"),
    ("fit on X of text", lambda: fit(X=[["a", "b"]], Y=[0]), errors.DTypeError, ValueError,
     "real numbers"),
    ("fit on X None", lambda: fit(X=None), errors.DTypeError, TypeError, "NoneType"),
    ("fit rows disagree", lambda: fit(Y=Y[:3]), errors.DataError, ValueError, "4 rows but Y has 3"),
    ("fit on NaN", lambda: fit(X=np.full((4, 2), np.nan)), errors.DataError, ValueError,
     "NaN or infinity"),
    ("fit on ragged X", lambda: fit(X=[[1, 2], [3]], Y=[0, 1]), errors.ShapeError, ValueError,
     "different lengths"),
    ("fit X too wide", lambda: fit(X=np.zeros((4, 3))), errors.ShapeError, ValueError,
     "expects 2 features"),
    ("fit labels not whole", lambda: fit(Y=np.array([0.5, 1.7, 0.0, 1.0]), loss="ce"),
     errors.DataError, ValueError, "whole numbers"),
    ("fit epochs 0", lambda: fit(epochs=0), errors.ConfigError, ValueError, "epochs must be"),
    ("fit batch_size of text", lambda: fit(batch_size="a"), errors.ConfigError, ValueError,
     "batch_size must be"),
    ("fit until of text", lambda: fit(until="a"), errors.ConfigError, ValueError,
     "until must be a loss >= 0"),
    ("fit unknown loss", lambda: fit(loss="nope"), errors.ConfigError, ValueError, "unknown loss"),
    ("fit model of text", lambda: fit(model="m"), errors.ArgumentTypeError, TypeError,
     "model must be a chainrule.nn.Module"),
    ("fit optimizer of text", lambda: fit(optimizer="sgd"), errors.ArgumentTypeError, TypeError,
     "optimizer must be"),
    ("fit seed of text", lambda: fit(seed="a", batch_size=2), errors.ConfigError, ValueError,
     "seed must be an integer >= 0"),
    ("fit sampler not callable", lambda: fit(sampler=5, batch_size=2), errors.ArgumentTypeError,
     TypeError, "sampler must be a function"),
    ("fit validation not a pair", lambda: fit(validation=(X,)), errors.ConfigError, ValueError,
     "validation must be a pair"),
    ("fit callbacks not a list", lambda: fit(callbacks=5), errors.ConfigError, ValueError,
     "callbacks must be a list"),
    # optimizers and layers with bad arguments
    ("SGD lr < 0", lambda: cr.optim.SGD(model().parameters(), -1), errors.ConfigError, ValueError,
     "lr must be a finite number > 0"),
    ("SGD lr None", lambda: cr.optim.SGD(model().parameters(), None), errors.ConfigError,
     ValueError, "lr must be"),
    ("SGD momentum 2", lambda: cr.optim.SGD(model().parameters(), 0.1, momentum=2),
     errors.ConfigError, ValueError, "momentum must be a fraction"),
    ("SGD lr beyond float64", lambda: cr.optim.SGD(model().parameters(), 10**400),
     errors.ConfigError, ValueError, "characters)"),
    ("SGD momentum beyond float64", lambda: cr.optim.SGD(model().parameters(), 0.1,
     momentum=10**400), errors.ConfigError, ValueError, "momentum must be a fraction"),
    ("SGD on no params", lambda: cr.optim.SGD([], 0.1), errors.ConfigError, ValueError,
     "non-empty"),
    ("SGD on integers", lambda: cr.optim.SGD([1, 2], 0.1), errors.ArgumentTypeError, TypeError,
     "expected Tensors"),
    ("SGD on None", lambda: cr.optim.SGD(None, 0.1), errors.ArgumentTypeError, TypeError,
     "iterable of Tensors"),
    ("Adam betas", lambda: cr.optim.Adam(model().parameters(), betas=(2, 0.9)),
     errors.ConfigError, ValueError, "betas[0]"),
    ("Linear of -1", lambda: cr.nn.Linear(-1, 2), errors.ConfigError, ValueError,
     "in_features must be a positive integer"),
    ("Linear of an unknown dtype", lambda: cr.nn.Linear(2, 3, dtype="zzz"),
     errors.ArgumentTypeError, TypeError, "Linear: dtype must be a numpy dtype"),
    ("Linear of int dtype", lambda: cr.nn.Linear(2, 3, dtype=int), errors.ConfigError, ValueError,
     "a floating dtype"),
    ("model to an unknown dtype", lambda: model().to("zzz"), errors.ArgumentTypeError, TypeError,
     "Module.to: dtype"),
    ("Sequential of ints", lambda: cr.nn.Sequential(1, 2), errors.ConfigError, ValueError,
     "expected a Module"),
    ("load_state_dict None", lambda: model().load_state_dict(None), errors.ArgumentTypeError,
     TypeError, "state must map names"),
    ("load_state_dict names", lambda: model().load_state_dict({"x": np.zeros(1)}),
     errors.ConfigError, ValueError, "missing keys"),
    ("gradcheck on text", lambda: cr.gradcheck(lambda x: x.sum(), ["a"]), errors.DTypeError,
     ValueError, "real numbers"),
    ("gradcheck of a number", lambda: cr.gradcheck(5, [np.ones(2)]), errors.ArgumentTypeError,
     TypeError, "f must be a function"),
    # data.load with bad names and options
    ("unknown dataset", lambda: cr.data.load("nope"), errors.ConfigError, ValueError,
     "unknown dataset 'nope'"),
    ("missing csv", lambda: cr.data.load("/nonexistent/x.csv"), errors.DataError, ValueError,
     "no such file"),
    ("missing mnist folder", lambda: cr.data.load("mnist:/nonexistent"), errors.DataError,
     ValueError, "no folder"),
    ("n < 2", lambda: cr.data.load("moons", n=-1), errors.ConfigError, ValueError,
     "n must be an integer >= 2"),
    ("n of 1e30", lambda: cr.data.load("moons", n=10**30), errors.ConfigError, ValueError,
     "at most 10,000,000 rows"),
    ("seed of text", lambda: cr.data.load("moons", seed="a"), errors.ConfigError, ValueError,
     "seed must be an integer >= 0"),
    ("seed < 0", lambda: cr.data.load("blobs", seed=-1), errors.ConfigError, ValueError,
     "blobs: seed"),
    ("fetch mirror not a URL", lambda: cr.data.fetch("mnist", mirror=5), errors.ConfigError,
     ValueError, "mirror must be a base URL"),
    ("unknown option", lambda: cr.data.load("moons", foo=1), errors.ConfigError, ValueError,
     "option must be one of"),
    ("target of a built-in", lambda: cr.data.load("moons", target="x"), errors.ConfigError,
     ValueError, "CSV files only"),
    ("csv text not a str", lambda: cr.data.read_csv("x.csv", text=5), errors.ArgumentTypeError,
     TypeError, "text must be the CSV as a str"),
    ("split of a name", lambda: cr.data.split("moons", 0.2), errors.ArgumentTypeError, TypeError,
     "dataset must be a Dataset"),
    ("split share 1.5", lambda: cr.data.split(cr.data.load("and"), 1.5), errors.ConfigError,
     ValueError, "fraction"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "kind", "builtin", "message"), ROWS,
                         ids=[row[0] for row in ROWS])  # fmt: skip
def test_bad_input_raises_a_chainrule_error_of_the_builtin_family(
    name, call, kind, builtin, message
):
    with pytest.raises(kind, match=None) as caught:
        call()
    assert type(caught.value) is kind, f"{name}: {type(caught.value).__name__}: {caught.value}"
    assert isinstance(caught.value, errors.ChainruleError)
    assert isinstance(caught.value, builtin)
    assert message in str(caught.value), str(caught.value)


# --- model files: save and load with bad paths ------------------------------------------------


def test_save_into_a_directory_is_a_model_file_error(tmp_path):
    with pytest.raises(errors.ModelFileError) as caught:
        cr.save(model(), tmp_path)
    assert isinstance(caught.value, OSError)
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("bad", [lambda p: p / "missing" / "m.model", lambda p: p])
def test_load_and_save_with_bad_paths(tmp_path, bad):
    path: Path = bad(tmp_path)
    with pytest.raises(errors.ModelFileError) as caught:
        cr.load(path)
    assert isinstance(caught.value, OSError)
    if path != tmp_path:
        with pytest.raises(errors.ModelFileError, match="does not exist"):
            cr.save(model(), path)


def test_load_of_a_file_that_is_not_a_model(tmp_path):
    junk = tmp_path / "junk.model"
    junk.write_text("junk")
    with pytest.raises(errors.ModelFileError, match="not a chainrule model file"):
        cr.load(junk)


@pytest.mark.parametrize("path", [None, 5])
def test_save_and_load_with_a_path_that_is_not_a_path(tmp_path, path):
    with pytest.raises(errors.ChainruleError) as caught:
        cr.load(path)
    assert isinstance(caught.value, TypeError | OSError)
    with pytest.raises(errors.ChainruleError) as caught:
        cr.save(model(), path)
    assert isinstance(caught.value, TypeError | OSError)


# --- the classes themselves ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "builtins"),
    [
        (errors.ShapeError, (ValueError,)),
        (errors.AxisError, (ValueError, IndexError)),
        (errors.IndexingError, (IndexError,)),
        (errors.GradError, (RuntimeError,)),
        (errors.ConfigError, (ValueError,)),
        (errors.ArgumentTypeError, (TypeError, ValueError)),
        (errors.DivergedError, (ArithmeticError,)),
        (errors.ModelFileError, (OSError,)),
        (errors.DataError, (ValueError,)),
        (errors.DTypeError, (TypeError, ValueError)),
    ],
)
def test_each_exception_is_a_chainrule_error_and_its_builtin(kind, builtins):
    assert issubclass(kind, errors.ChainruleError)
    for builtin in builtins:
        assert issubclass(kind, builtin)


def test_numpy_axis_error_is_the_model_for_axis_error():
    assert issubclass(np.exceptions.AxisError, ValueError)
    assert issubclass(np.exceptions.AxisError, IndexError)


def test_integers_beyond_int64_are_still_real_numbers():
    assert cr.tensor([10**20, 1]).data.tolist() == [1e20, 1.0]


def test_iteration_still_stops_on_an_indexing_error():
    a, b = cr.tensor([1.0, 2.0])  # Python's protocol ends on IndexError
    assert (float(a.data), float(b.data)) == (1.0, 2.0)
    assert len(list(model())) == 3
