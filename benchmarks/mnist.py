"""A small reader for the MNIST IDX files (gzip-compressed or not), for workload W4."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

IMAGES = "t10k-images-idx3-ubyte"
LABELS = "t10k-labels-idx1-ubyte"
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


def available(directory: Path | None = None) -> bool:
    directory = directory or default_dir()
    return all(
        (directory / stem).exists() or (directory / (stem + ".gz")).exists()
        for stem in (IMAGES, LABELS)
    )


def load_test_set(directory: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images as rows of 784 pixels in [0, 1] (float64), and their labels."""
    directory = directory or default_dir()
    images = _read_idx(_open(directory, IMAGES), IMAGE_MAGIC, 3, IMAGES)
    labels = _read_idx(_open(directory, LABELS), LABEL_MAGIC, 1, LABELS)
    if len(images) != len(labels):
        raise ValueError(f"MNIST: {len(images)} images but {len(labels)} labels")
    return images.reshape(len(images), -1) / 255.0, labels.astype(np.intp)
