"""Datasets: generated sets, scikit-learn's, MNIST's IDX files, CSV files and their errors,
the train/test split, and the preprocessing stored with a model."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from chainrule import data, idx
from chainrule.errors import ConfigError, DataError, DataWarning
from chainrule.preprocess import Preprocessing, confusion_matrix, decode, head, resolve_loss

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
GENERATED = [name for name, info in data.DATASETS.items() if info.generated]


def write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- generated and built-in sets ---------------------------------------------------------------


@pytest.mark.parametrize("name", GENERATED)
def test_generated_sets_are_2d_seeded_and_named_x1_x2(name):
    a = data.load(name)
    b = data.load(name)
    assert a.X.shape == (len(a.y), 2)
    assert a.feature_names == ["x1", "x2"]
    assert a.is_classification and len(a.class_names) >= 2
    assert set(np.unique(a.y)) == set(range(len(a.class_names)))
    np.testing.assert_array_equal(a.X, b.X)


def test_logic_gates_are_the_truth_tables():
    for gate, outputs in (("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("xor", [0, 1, 1, 0])):
        ds = data.load(gate)
        np.testing.assert_array_equal(ds.X, [[0, 0], [0, 1], [1, 0], [1, 1]])
        np.testing.assert_array_equal(ds.y, outputs)


def test_n_noise_and_seed_parameters():
    assert len(data.moons(n=50)) == 50
    assert len(data.logic_gate("xor", n=10)) == 12  # whole truth tables
    clean = data.moons(n=100, noise=0.0)
    radius = np.hypot(clean.X[:50, 0], clean.X[:50, 1])
    np.testing.assert_allclose(radius, 1.0)  # the upper moon is the unit half circle
    assert not np.array_equal(data.moons(seed=1).X, data.moons(seed=2).X)
    noisy = data.logic_gate("and", n=8, noise=0.1, seed=0)
    assert not np.array_equal(noisy.X, data.logic_gate("and", n=8).X)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"n": 0}, "moons: n must be an integer >= 2, got 0"),
        ({"n": 2.5}, "moons: n must be an integer >= 2, got 2.5"),
        ({"n": True}, "moons: n must be an integer >= 2, got True"),
        ({"noise": -1.0}, "moons: noise must be a finite number >= 0, got -1.0"),
        ({"noise": float("nan")}, "moons: noise must be a finite number >= 0, got nan"),
        ({"noise": float("inf")}, "moons: noise must be a finite number >= 0, got inf"),
    ],
)
def test_bad_generator_parameters(bad, message):
    with pytest.raises(ConfigError) as caught:
        data.moons(**bad)
    assert str(caught.value) == message


def test_generators_take_numpy_scalars_and_refuse_an_unknown_gate():
    assert len(data.blobs(n=np.int64(6), noise=np.float32(0.5))) == 6
    with pytest.raises(ConfigError) as caught:
        data.logic_gate("nand")
    assert str(caught.value) == "logic_gate: gate must be one of and, or, xor, got 'nand'"
    with pytest.raises(ConfigError, match="and: n must be an integer >= 4, got 3"):
        data.logic_gate("and", n=3)


@pytest.mark.parametrize(
    "name, rows, features, classes",
    [
        ("iris", 150, 4, 3),
        ("wine", 178, 13, 3),
        ("breast-cancer", 569, 30, 2),
        ("digits", 1797, 64, 10),
    ],
)
def test_scikit_learn_sets(name, rows, features, classes):
    ds = data.load(name)
    assert ds.X.shape == (rows, features)
    assert len(ds.class_names) == classes == len(np.unique(ds.y))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError) as err:
        data.load("mons")
    message = str(err.value)
    assert "'mons'" in message
    for name in ("moons", "digits", "mnist:DIR", ".csv"):
        assert name in message


def test_target_is_refused_for_built_in_sets():
    with pytest.raises(ConfigError, match="load: target must be None for the built-in 'iris'.*CSV"):
        data.load("iris", target="label")


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_string_labels_become_classes(tmp_path):
    path = write(tmp_path, "a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n\n7,8,bird\n")
    ds = data.read_csv(path)
    assert ds.feature_names == ["a", "b"]
    assert ds.class_names == ["bird", "cat", "dog"]
    np.testing.assert_array_equal(ds.y, [1, 2, 1, 0])
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4], [5, 6], [7, 8]])


def test_csv_target_by_name_or_index_and_numeric_labels(tmp_path):
    path = write(tmp_path, "label,x1,x2\n1,0.5,2\n0,1.5,3\n1.0,2,1\n")
    by_name = data.read_csv(path, target="label")
    by_index = data.read_csv(path, target="0")
    assert by_name.class_names == by_index.class_names == ["0", "1"]
    np.testing.assert_array_equal(by_name.y, [1, 0, 1])
    assert by_name.feature_names == ["x1", "x2"]
    assert data.read_csv(path, target="-1").target_name == "x2"


def test_csv_numeric_target_is_regression(tmp_path):
    path = write(tmp_path, "x,y\n" + "".join(f"{i},{i * 0.37 + 0.1}\n" for i in range(30)))
    ds = data.read_csv(path)
    assert not ds.is_classification
    assert ds.y.dtype == np.float64
    assert ds.y[2] == pytest.approx(0.84)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "empty"),
        ("a,b\n", "no data rows"),
        ("a,b,c\n1,2,0\n3,4\n", r"line 3 has 2 fields but the header has 3"),
        ("a,b,c\n1,2,0\n3,oops,1\n", r"line 3, column 'b': 'oops' is not a number"),
        ("a,b,c\n1,2,0\n3,nan,1\n", r"line 3, column 'b': nan is not a finite number"),
        ("a,b,c\n1,inf,0\n3,4,1\n", r"line 2, column 'b': inf is not a finite number"),
        ("a,b,c\n1,2,yes\n3,4,yes\n", r"only one class \('yes'\); expected at least 2"),
        ("a\n1\n2\n", "one column"),
        ("a,b,c\n1,2,x\n3,4,\n", r"line 3: the target 'c' is empty"),
    ],
)
def test_csv_errors_name_what_was_wrong(tmp_path, text, pattern):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=pattern):
        data.read_csv(path)


def test_csv_missing_target_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"'label' is not in the file; columns are a, b, c"):
        data.read_csv(path, target="label")
    with pytest.raises(DataError, match="0..2"):
        data.read_csv(path, target="7")


def test_missing_csv_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.load(str(tmp_path / "absent.csv"))


# --- MNIST IDX ------------------------------------------------------------------------------------


def idx_bytes(magic: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)
    return header + payload


def fake_mnist(folder: Path, n: int = 5, gz: bool = True) -> None:
    rng = np.random.default_rng(0)
    images = idx_bytes(
        idx.IDX_IMAGES_MAGIC, (n, 28, 28), rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes()
    )
    labels = idx_bytes(idx.IDX_LABELS_MAGIC, (n,), bytes(range(n)))
    suffix = ".gz" if gz else ""
    pack = gzip.compress if gz else (lambda b: b)
    (folder / f"t10k-images-idx3-ubyte{suffix}").write_bytes(pack(images))
    (folder / f"t10k-labels-idx1-ubyte{suffix}").write_bytes(pack(labels))


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_on_written_files(tmp_path, gz):
    fake_mnist(tmp_path, gz=gz)
    ds = data.load(f"mnist:{tmp_path}")
    assert ds.X.shape == (5, 784)
    assert ds.X.min() >= 0.0 and ds.X.max() <= 1.0
    np.testing.assert_array_equal(ds.y, range(5))
    assert ds.feature_names[0] == "pixel0" and ds.class_names == [str(d) for d in range(10)]


def test_idx_wrong_magic_and_wrong_size(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(idx_bytes(idx.IDX_LABELS_MAGIC, (3,), b"\x00\x01\x02"))
    with pytest.raises(DataError, match="magic number 0x801, expected 0x803"):
        idx.read_idx(path, idx.IDX_IMAGES_MAGIC)
    path.write_bytes(idx_bytes(idx.IDX_IMAGES_MAGIC, (2, 28, 28), bytes(100)))
    with pytest.raises(DataError, match=r"shape \(2, 28, 28\) \(1584 bytes\) but the file has 116"):
        idx.read_idx(path, idx.IDX_IMAGES_MAGIC)
    path.write_bytes(b"\x00\x00\x08\x03\x00")
    with pytest.raises(DataError, match="truncated IDX header"):
        idx.read_idx(path, idx.IDX_IMAGES_MAGIC)


def test_mnist_images_and_labels_must_agree(tmp_path):
    fake_mnist(tmp_path, n=5)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(idx.IDX_LABELS_MAGIC, (4,), bytes(4)))
    )
    with pytest.raises(DataError, match="5 images but t10k-labels-idx1-ubyte.gz has 4 labels"):
        data.load(f"mnist:{tmp_path}")


def test_mnist_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no folder"):
        data.load(f"mnist:{tmp_path / 'nowhere'}")
    with pytest.raises(DataError, match="no IDX files"):
        data.load(f"mnist:{tmp_path}")


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST IDX files not found at {MNIST}")
def test_real_mnist_test_set():
    ds = data.load(f"mnist:{MNIST}")
    assert ds.X.shape == (10_000, 784)
    # facts from the files' README: first labels, class counts, mean pixel / 255
    np.testing.assert_array_equal(ds.y[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    np.testing.assert_array_equal(
        np.bincount(ds.y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    assert ds.X.mean() == pytest.approx(0.1325, abs=5e-5)


# --- split and preprocessing -----------------------------------------------------------------


def test_split_is_seeded_and_disjoint():
    ds = data.load("iris")
    train, test = data.split(ds, 0.2, seed=3)
    assert (len(train), len(test)) == (120, 30)
    rows = {tuple(r) for r in train.X} | {tuple(r) for r in test.X}
    assert len(rows) == len({tuple(r) for r in ds.X})
    again, _ = data.split(ds, 0.2, seed=3)
    np.testing.assert_array_equal(train.X, again.X)
    assert data.split(ds, 0.0)[1] is None
    for bad in (1.0, -0.1, float("nan"), "0.2", True):
        with pytest.raises(ConfigError) as caught:
            data.split(ds, bad)
        assert str(caught.value) == f"split: test split must be a fraction in [0, 1), got {bad!r}"
    with pytest.raises(ConfigError, match="leave training rows of 150, got 0.999"):
        data.split(ds, 0.999)


def test_standardisation_is_fitted_on_training_rows_and_round_trips():
    ds = data.load("wine")
    train, test = data.split(ds, 0.25, seed=0)
    prep = Preprocessing.fit(train)
    z = prep.features(train.X)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0)
    assert not np.allclose(prep.features(test.X).mean(axis=0), 0.0, atol=1e-3)
    again = Preprocessing.from_dict(prep.to_dict())
    np.testing.assert_array_equal(again.features(test.X), prep.features(test.X))
    assert again.class_names == ds.class_names


def test_constant_feature_keeps_std_one(tmp_path):
    path = write(tmp_path, "a,b,c\n1,5,x\n2,5,y\n3,5,x\n")
    with pytest.warns(DataWarning, match="feature column"):  # issue 16: a constant warns
        prep = Preprocessing.fit(data.read_csv(path))
    assert prep.std[1] == 1.0
    np.testing.assert_array_equal(prep.features(np.array([[2.0, 5.0]]))[0], [0.0, 0.0])


def test_preprocessing_checks_features_and_maps_class_names(tmp_path):
    prep = Preprocessing.fit(data.read_csv(write(tmp_path, "a,b,c\n1,2,x\n3,4,y\n5,6,z\n")))
    other = data.read_csv(write(tmp_path, "a,q,c\n1,2,x\n3,4,y\n", "o.csv"))
    with pytest.raises(DataError, match="expects features a, b but the data has a, q"):
        prep.check(other)
    with pytest.raises(DataError, match="trained on 2 features"):
        prep.features(np.zeros((2, 3)))
    subset = data.read_csv(write(tmp_path, "a,b,c\n1,2,z\n3,4,y\n", "s.csv"))
    np.testing.assert_array_equal(prep.labels(subset), [2, 1])  # renumbered by name
    new = data.read_csv(write(tmp_path, "a,b,c\n1,2,w\n3,4,y\n", "n.csv"))
    with pytest.raises(DataError, match="class 'w' was not in the training data"):
        prep.labels(new)


def test_loss_auto_heads_and_decoding():
    assert resolve_loss("auto", True) == "ce"
    assert resolve_loss("auto", False) == "squared"
    with pytest.raises(ConfigError, match="does not fit a numeric target"):
        resolve_loss("ce", False)
    assert head("ce", 3) == (3, None)
    assert head("bce", 2) == (1, "sigmoid")
    assert head("squared", 4) == (4, "sigmoid")
    assert head("squared", None) == (1, None)
    prep = Preprocessing(["x"], np.zeros(1), np.ones(1), None, "y", 10.0, 2.0)
    np.testing.assert_allclose(decode(np.array([[0.5], [-1.0]]), "squared", None, prep), [11, 8])
    np.testing.assert_array_equal(decode(np.array([[0.7], [0.2]]), "bce", 2, prep), [1, 0])


def test_confusion_matrix_counts():
    counts = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])
