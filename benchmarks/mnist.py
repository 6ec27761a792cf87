"""A small reader for the MNIST IDX files (gzip-compressed or not): the test set for W4, and
the training set for W5 when its files are there."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

IMAGES = "t10k-images-idx3-ubyte"
LABELS = "t10k-labels-idx1-ubyte"
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def default_dir() -> Path:
    """$CHAINRULE_MNIST if set, else `../shared/data/mnist` beside the repository, where the
    developers' machines and CI keep the MNIST test set."""
    if folder := os.environ.get("CHAINRULE_MNIST"):
        return Path(folder)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def _open(directory: Path, stem: str) -> bytes:
    for name, opener in ((stem + ".gz", gzip.open), (stem, open)):
        path = directory / name
        if path.exists():
            with opener(path, "rb") as f:
                return f.read()
    raise FileNotFoundError(f"MNIST file {stem}(.gz) not found in {directory}")


def _read_idx(raw: bytes, magic: int, dims: int, name: str) -> np.ndarray:
    header = np.frombuffer(raw, dtype=">i4", count=1 + dims)
    if header[0] != magic:
        raise ValueError(f"{name}: magic number {header[0]}, expected {magic} (not an IDX file?)")
    shape = tuple(int(n) for n in header[1:])
    payload = np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + dims))
    if payload.size != int(np.prod(shape)):
        raise ValueError(f"{name}: {payload.size} bytes of data, expected {int(np.prod(shape))}")
    return payload.reshape(shape)


def available(directory: Path | None = None, stems: tuple[str, str] = (IMAGES, LABELS)) -> bool:
    """Whether the images and labels files `stems` (the test set by default) are there."""
    directory = directory or default_dir()
    return all(
        (directory / stem).exists() or (directory / (stem + ".gz")).exists() for stem in stems
    )


def training_available(directory: Path | None = None) -> bool:
    return available(directory, (TRAIN_IMAGES, TRAIN_LABELS))


def _pair(directory: Path, images_stem: str, labels_stem: str) -> tuple[np.ndarray, np.ndarray]:
    images = _read_idx(_open(directory, images_stem), IMAGE_MAGIC, 3, images_stem)
    labels = _read_idx(_open(directory, labels_stem), LABEL_MAGIC, 1, labels_stem)
    if len(images) != len(labels):
        raise ValueError(f"MNIST: {len(images)} images but {len(labels)} labels")
    return images.reshape(len(images), -1), labels.astype(np.intp)


def load_test_set(directory: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images as rows of 784 pixels in [0, 1] (float64), and their labels."""
    images, labels = _pair(directory or default_dir(), IMAGES, LABELS)
    return images / 255.0, labels


def load_training_set(
    dtype: np.dtype, rows: int, directory: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The first `rows` of the 60,000 training images as pixels in [0, 1] in `dtype`, and
    their labels. Converted straight into `dtype` and scaled in place, so no float64 copy of
    the set is ever held beside it."""
    images, labels = _pair(directory or default_dir(), TRAIN_IMAGES, TRAIN_LABELS)
    x = images[:rows].astype(dtype)
    x /= 255
    return x, labels[:rows]
