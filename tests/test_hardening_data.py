"""Issue 16's data and training-loop hardening: every bad CSV, IDX file, label or loss gets
one clear chainrule error (or warning) naming what was wrong, never a silent wrong result."""

from __future__ import annotations

import gzip
import math
import re
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import data, idx
from chainrule.cli import main
from chainrule.csvfile import strict_float
from chainrule.errors import DataError, DataWarning, DivergedError
from chainrule.preprocess import Preprocessing
from chainrule.train import DIVERGENCE_FLOOR, DIVERGENCE_GROWTH


def write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- CSV: header ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "names"),
    [("a,a,label", "'a' at columns 1, 2"), ("x1,label,label", "'label' at columns 2, 3")],
)
def test_duplicate_column_names_are_refused(tmp_path, header, names):
    path = write(tmp_path, f"{header}\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=f"duplicate column names in the header: {names}"):
        data.load(path)
    with pytest.raises(DataError, match="duplicate column names"):
        data.read_table(path)


@pytest.mark.parametrize("header", [",,", "a,,label", " ,b,label"])
def test_an_empty_header_name_is_refused_not_skipped(tmp_path, header):
    # ",," used to read as a blank line, so the first data row became the header
    path = write(tmp_path, f"{header}\n1,2,0\n3,4,1\n5,6,0\n")
    with pytest.raises(DataError, match="has no name"):
        data.load(path)


def test_a_row_of_empty_fields_is_a_bad_row_not_a_blank_line(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,0\n,,\n3,4,1\n")
    with pytest.raises(DataError, match="line 3, column 'a': '' is not a number"):
        data.load(path)


def test_blank_lines_are_still_skipped(tmp_path):
    ds = data.load(write(tmp_path, "a,b,label\n\n1,2,0\n   \n3,4,1\n"))
    assert ds.X.tolist() == [[1.0, 2.0], [3.0, 4.0]]


# --- CSV: numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["1_000", "١٦", "16\u00a0", "1 6", "0x10", "1e", "--1", "Ⅻ"])
def test_numbers_are_parsed_strictly(tmp_path, bad):
    path = write(tmp_path, f'a,b,label\n1,2,0\n3,"{bad}",1\n')
    with pytest.raises(DataError, match=re.escape(f"line 3, column 'b': {bad!r} is not a number")):
        data.load(path)


@pytest.mark.parametrize(
    ("text", "value"),
    [(" 16", 16.0), ("16\t", 16.0), ("+3", 3.0), ("-.5", -0.5), ("5.", 5.0), ("1E-3", 1e-3)],
)
def test_plain_decimal_notation_is_accepted(tmp_path, text, value):
    ds = data.load(write(tmp_path, f'a,b,label\n1,2,0\n3,"{text}",1\n'))
    assert ds.X[1, 1] == value


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_as_python_and_numpy_write_it_reads_back(x):
    for text in (repr(x), f"{x:e}", f"{x:.17g}", str(np.float64(x)), f" {x!r}\t"):
        assert strict_float(text) == float(text.strip())


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(min_size=1, max_size=8))
def test_strict_numbers_are_ascii_and_have_no_underscores(text):
    value = strict_float(text)
    if value is not None:
        assert text.isascii() and "_" not in text
        assert value == float(text) or math.isnan(value)


def test_a_folder_given_as_a_csv_is_named(tmp_path):
    with pytest.raises(DataError, match="is a folder; expected a CSV file"):
        data.read_csv(tmp_path)


def test_an_overflowing_feature_is_named(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,0\n3,1e400,1\n")
    with pytest.raises(DataError, match="line 3, column 'b': 1e400 overflows a float64"):
        data.load(path)
    path = write(tmp_path, "a,b,label\n1,2,0\n3,nan,1\n")
    with pytest.raises(DataError, match="nan is not a finite number"):
        data.load(path)


def test_features_whose_squares_overflow_give_one_error(tmp_path):
    ds = data.load(write(tmp_path, "a,b,label\n1,1e200,0\n3,-1e200,1\n5,1e200,0\n"))
    with pytest.raises(DataError, match=r"features b are too large to standardise"):
        Preprocessing.fit(ds)


def test_an_underscored_number_is_not_a_numeric_class_label(tmp_path):
    ds = data.load(write(tmp_path, "a,label\n1,1_0\n2,10\n"))
    assert ds.class_names == ["10", "1_0"]  # two text labels, not one class 10


def test_all_equal_features_give_one_warning_naming_them(tmp_path):
    path = write(tmp_path, "a,b,c,label\n1,7,0,0\n2,7,0,1\n3,7,0,0\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data.load(path)
    found = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(found) == 1
    assert "feature column(s) b, c hold one value in every row" in str(found[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load(write(tmp_path, "a,b,label\n1,7,0\n2,8,1\n"))  # no warning when they vary


def test_predict_at_100000_columns(tmp_path, capsys):
    # predict used to look each feature up with list.index: quadratic, 95 s at this width
    n = 100_000
    rng = np.random.default_rng(0)
    header = ",".join([*(f"x{i}" for i in range(n)), "label"])
    rows = [",".join([*(f"{v:.2f}" for v in rng.normal(size=n)), str(r % 2)]) for r in range(4)]
    path = write(tmp_path, "\n".join([header, *rows]) + "\n", "wide.csv")
    model = tmp_path / "wide.model"
    assert main(["train", "--data", str(path), "--save", str(model), "--hidden", "2",
                 "--epochs", "1"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["predict", str(model), str(path)]) == 0
    predictions = capsys.readouterr().out.split()
    assert len(predictions) == 4 and set(predictions) <= {"0", "1"}


# --- IDX --------------------------------------------------------------------------------------


def idx_header(magic: int, shape: tuple[int, ...]) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)


def test_a_gzip_bomb_stops_at_the_declared_size(tmp_path):
    # 200 MB of zeros after a header that declares one 28x28 image: about 200 KB gzipped
    pack = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = [pack.compress(idx_header(idx.IDX_IMAGES_MAGIC, (1, 28, 28)))]
    blob += [pack.compress(bytes(1 << 20)) for _ in range(200)]
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"".join([*blob, pack.flush()]))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"\(800 bytes\) but the decompressed data has more"):
            idx.read_idx(path, idx.IDX_IMAGES_MAGIC)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"{peak:,} bytes allocated for an 800-byte file"


def test_a_header_declaring_too_much_is_refused_before_reading(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header(idx.IDX_IMAGES_MAGIC, (60000, 5000, 5000))))
    with pytest.raises(DataError, match="over the limit of 1,073,741,824"):
        idx.read_idx(path, idx.IDX_IMAGES_MAGIC)


def test_zero_images_of_impossible_size_are_refused_by_the_header(tmp_path):
    # 0 bytes in all, but no array has shape (0, 2^32 - 1, 2^32 - 1)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(idx_header(idx.IDX_IMAGES_MAGIC, (0, 2**32 - 1, 2**32 - 1)))
    with pytest.raises(DataError, match="bytes per item, over the limit"):
        idx.read_idx(path, idx.IDX_IMAGES_MAGIC)


def test_short_decompressed_data_is_named(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_header(idx.IDX_IMAGES_MAGIC, (2, 28, 28)) + bytes(100)))
    with pytest.raises(DataError, match=r"\(1584 bytes\) but the decompressed data has 116"):
        idx.read_idx(path, idx.IDX_IMAGES_MAGIC)


def test_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(
        idx_header(idx.IDX_LABELS_MAGIC, (1000,))
        + (np.arange(1000) % 10).astype(np.uint8).tobytes()
    )
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(good[:12] + bytes(b ^ 0xFF for b in good[12:40]) + good[40:])
    with pytest.raises(DataError, match="corrupt or truncated gzip data"):
        idx.read_idx(path, idx.IDX_LABELS_MAGIC)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip data"):
        idx.read_idx(path, idx.IDX_LABELS_MAGIC)


def write_part(folder: Path, part: str, images: np.ndarray, labels: np.ndarray) -> None:
    (folder / f"{part}-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_header(idx.IDX_IMAGES_MAGIC, images.shape) + images.tobytes())
    )
    (folder / f"{part}-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_header(idx.IDX_LABELS_MAGIC, labels.shape) + labels.tobytes())
    )


def test_zero_images_is_its_own_error(tmp_path):
    write_part(tmp_path, "t10k", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz holds no images"):
        data.load(f"mnist:{tmp_path}")


def test_images_without_pixels_are_refused(tmp_path):
    write_part(tmp_path, "t10k", np.zeros((3, 0, 0), np.uint8), np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="images of 0×0 pixels"):
        data.load(f"mnist:{tmp_path}")


def test_mismatched_counts_and_image_sizes(tmp_path):
    write_part(tmp_path, "t10k", np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="3 images but t10k-labels-idx1-ubyte.gz has 2 labels"):
        data.load(f"mnist:{tmp_path}")
    write_part(tmp_path, "t10k", np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8))
    write_part(tmp_path, "train", np.zeros((3, 20, 20), np.uint8), np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="the train images are 20×20 but the t10k images are 28×28"):
        data.load(f"mnist:{tmp_path}")


# --- labels and tensors -----------------------------------------------------------------------


def test_cross_entropy_labels_that_are_not_integers_are_refused_by_fit():
    # fit used to cast Y to integers, so [0.5, 1.7] trained as [0, 1]
    model = cr.nn.Sequential(cr.nn.Linear(2, 2))
    X = np.zeros((2, 2))
    with pytest.raises(DataError, match=r"class labels must be whole numbers \(0..K−1\), got 0.5"):
        cr.fit(model, X, np.array([0.5, 1.7]), loss="ce", epochs=1, progress=False)
    with pytest.raises(DataError, match="got 1.7 at index 1"):
        cr.nn.CrossEntropyLoss()(cr.tensor(np.zeros((2, 2))), cr.tensor([1.0, 1.7]))
    history = cr.fit(model, X, np.array([0.0, 1.0]), loss="ce", epochs=1, progress=False)
    assert history.epochs == 1  # whole floats are still labels


@pytest.mark.parametrize("bad", [None, [1 + 2j], np.array([1, "a"], dtype=object), ["a", "b"]])
def test_tensors_hold_real_numbers_only(bad):
    with pytest.raises(cr.errors.DTypeError, match="a tensor holds real numbers"):
        cr.tensor(bad)


def test_a_loss_target_of_another_shape_of_the_same_size_is_refused():
    # (3, 2) against a (2, 3) prediction used to be reshaped, pairing the wrong values
    with pytest.raises(cr.ShapeError, match="target has shape"):
        cr.nn.MSELoss()(cr.tensor(np.zeros((2, 3))), np.zeros((3, 2)))
    ok = cr.nn.MSELoss()(cr.tensor(np.zeros((4, 1))), np.ones(4))  # (n,) fits (n, 1)
    assert float(ok.data) == 1.0


# --- the training loop ------------------------------------------------------------------------


class Blowup(cr.nn.Module):
    """A squared-error loss whose value is multiplied by `scale[epoch]`: finite, but growing."""

    def __init__(self, scale: list[float]) -> None:
        super().__init__()
        self.scale = scale
        self.calls = 0

    def forward(self, a, y):
        self.calls += 1
        return cr.nn.SquaredError()(a, y) * self.scale[min(self.calls, len(self.scale)) - 1]


def test_a_finite_loss_that_blows_up_stops_with_the_divergence_hint():
    model = cr.nn.Sequential(cr.nn.Linear(1, 1))
    X, Y = np.ones((4, 1)), np.full((4, 1), 3.0)
    loss = Blowup([1.0, 1.0, 1e20, 1.0])
    with pytest.raises(DivergedError, match=r"epoch 3: the loss grew to .*e\+2\d, over 10000 "
                       r"times its best .*; try a smaller learning rate") as err:  # fmt: skip
        cr.fit(model, X, Y, loss=loss, optimizer=cr.optim.SGD(model.parameters(), 1e-3),
               epochs=4, progress=False)  # fmt: skip
    assert err.value.history.stop_reason == "diverged"
    assert len(err.value.history.loss) == 3


def test_growth_under_the_factor_or_the_floor_is_not_divergence():
    model = cr.nn.Sequential(cr.nn.Linear(1, 1))
    for p in model.parameters():
        p.data[...] = 0.0  # predicts 0
    X, Y = np.ones((4, 1)), np.full((4, 1), 3.0)
    sgd = cr.optim.SGD(model.parameters(), 1e-9)
    # 1000 times the best: a bad epoch, not a blow-up
    history = cr.fit(model, X, Y, loss=Blowup([1.0, 1e3, 1.0]), optimizer=sgd, epochs=3,
                     progress=False)  # fmt: skip
    assert history.stop_reason == "epochs"
    # a loss of 1e-6 that grows 1e5 times to 0.1, under the floor of 1.0
    tiny = Blowup([1.0, 1e5])
    history = cr.fit(model, X, np.full((4, 1), 1e-3), loss=tiny, optimizer=sgd, epochs=2,
                     progress=False)  # fmt: skip
    assert history.stop_reason == "epochs" and history.loss[1] > DIVERGENCE_GROWTH * 1e-6
    assert history.loss[1] < DIVERGENCE_FLOOR


def test_noisy_minibatch_training_never_trips_the_check():
    X, y = data.load("moons", n=200, noise=0.3)
    model = cr.nn.Sequential(cr.nn.Linear(2, 16), cr.nn.ReLU(), cr.nn.Linear(16, 2))
    history = cr.fit(model, X, y, optimizer=cr.optim.SGD(model.parameters(), 0.5, momentum=0.9),
                     epochs=60, batch_size=8, seed=0, progress=False)  # fmt: skip
    assert history.stop_reason == "epochs"


def test_fit_on_empty_x_is_a_data_error():
    model = cr.nn.Sequential(cr.nn.Linear(2, 2))
    with pytest.raises(DataError, match="has no rows: no examples to train on"):
        cr.fit(model, np.zeros((0, 2)), np.zeros(0, dtype=int), epochs=1, progress=False)
    with pytest.raises(DataError, match="has no rows"):
        cr.fit(model, np.zeros((0, 2)), np.zeros(0, dtype=int), batch_size=4, epochs=1,
               progress=False)  # fmt: skip


@pytest.mark.parametrize("shape", [(4294902002, 0, 2186151680), (3, 0, 2**31)])
def test_an_idx_header_with_a_zero_side_and_a_huge_one_is_a_data_error(tmp_path, shape):
    """Zero bytes declared, but no array can have that shape (found by the fuzzer)."""
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(
        idx.IDX_IMAGES_MAGIC.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)
    )
    with pytest.raises(DataError, match="per item, over the limit"):
        idx.read_idx(path, idx.IDX_IMAGES_MAGIC)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    shape=st.sampled_from([(1,), (7,), (5, 3), (9, 2, 2), (1, 4)]),
    where=st.integers(0, 1_000),
    bad=st.sampled_from([None, math.nan, math.inf, -math.inf]),
    block=st.integers(1, 8),
)
def test_fits_finiteness_check_in_blocks_agrees_with_numpy(shape, where, bad, block):
    """fit's check for NaN and infinity, a block of rows at a time, finds one bad value
    wherever it sits: first row, last row, across a block's edge."""
    from chainrule import examples

    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    if bad is not None:
        x.reshape(-1)[where % x.size] = bad
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(examples, "BLOCK", block)
        assert examples.all_finite(x) == bool(np.all(np.isfinite(x)))


def test_fits_finiteness_check_makes_no_mask_the_size_of_the_data():
    from chainrule import examples

    x = np.zeros((20_000, 100), dtype=np.float32)  # 8 MB
    tracemalloc.start()
    try:
        assert examples.all_finite(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < examples.BLOCK * 2  # one block's mask (256 KB), not the data's 2 MB of it
