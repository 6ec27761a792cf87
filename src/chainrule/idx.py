"""The MNIST family (MNIST, Fashion-MNIST) as Datasets, from their original file format, IDX:
`train-*` and `t10k-*` pairs of image and label files, raw or gzipped, in a folder of the
user's (`mnist:DIR`) or in the cache that `chainrule.fetch` downloads into (`mnist`).
`chainrule.data.load` is the way in.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from io import BufferedIOBase
from pathlib import Path

import numpy as np

from chainrule.data import Dataset
from chainrule.errors import DataError
from chainrule.fetch import cache_folder

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)

# The published split: the training part first, then the test part.
PARTS = ("train", "t10k")
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CLASS_NAMES = {"mnist": [str(d) for d in range(10)], "fashion-mnist": FASHION_CLASSES}


# The most bytes one IDX file may declare (1 GiB; MNIST's largest file holds 47 MB): a header
# is read before its body, so a damaged or hostile one is refused before anything is allocated.
MAX_IDX_BYTES = 1 << 30
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(
    path: str | os.PathLike[str], magic: int, max_bytes: int = MAX_IDX_BYTES
) -> np.ndarray:
    """The array in one IDX file (raw or .gz), after checking its magic number and size.

    A gzipped file is decompressed as a stream: the 4 + 4·ndim header bytes first, then
    exactly the bytes its shape declares (at most `max_bytes`), so a small file that inflates
    to gigabytes (a gzip bomb) stops one byte past the declared size."""
    path = Path(path)
    try:
        with path.open("rb") as raw:
            packed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if packed:
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _read_body(path, stream, magic, max_bytes, None)
            return _read_body(path, raw, magic, max_bytes, os.fstat(raw.fileno()).st_size)
    except (gzip.BadGzipFile, zlib.error, EOFError) as err:
        raise DataError(f"{path}: corrupt or truncated gzip data ({err})") from None
    except OSError as err:
        raise DataError(f"cannot read IDX file {path}: {err}") from None


def _read_body(
    path: Path, stream: BufferedIOBase, magic: int, max_bytes: int, file_size: int | None
) -> np.ndarray:
    """The header, then the body, of an IDX stream; `file_size` is the raw file's length
    (None for a decompressed stream, whose length is known only by reading it)."""
    start = stream.read(4)
    if len(start) < 4 or int.from_bytes(start, "big") != magic:
        found = int.from_bytes(start, "big") if len(start) == 4 else None
        raise DataError(
            f"{path} is not an IDX file of the expected kind: magic number "
            f"{found if found is None else hex(found)}, expected {hex(magic)}"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        got = 4 + len(dims)
        raise DataError(f"{path}: truncated IDX header ({got} bytes, expected {header})")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    size = math.prod(shape)
    expected = header + size
    # one item's size too, its zero sides left out: zero images of 2^32 × 2^32 pixels, or of
    # 0 × 2^31 pixels, declare 0 bytes, but no array can have that shape
    item = math.prod(d or 1 for d in shape[1:])
    if max(size, item) > max_bytes:
        what = f"{size:,} bytes" if size > max_bytes else f"{item:,} bytes per item"
        raise DataError(
            f"{path}: IDX header declares shape {shape}, {what}, over the limit of "
            f"{max_bytes:,} (read_idx's max_bytes)"
        )
    kind = "file" if file_size is not None else "decompressed data"
    if file_size is not None and file_size != expected:
        raise DataError(
            f"{path}: IDX header says shape {shape} ({expected} bytes) but the file has "
            f"{file_size} bytes"
        )
    body = np.empty(size, dtype=np.uint8)
    got = _fill(stream, body.data)
    if got < size:
        raise DataError(
            f"{path}: IDX header says shape {shape} ({expected} bytes) but the {kind} has "
            f"{header + got} bytes"
        )
    if stream.read(1):
        raise DataError(
            f"{path}: IDX header says shape {shape} ({expected} bytes) but the {kind} has "
            f"more bytes than that"
        )
    return body.reshape(shape)


def _fill(stream: BufferedIOBase, buffer: memoryview) -> int:
    """Read into `buffer` until it is full or the stream ends; the bytes read."""
    got = 0
    while got < len(buffer):
        n = stream.readinto(buffer[got:])
        if not n:
            break
        got += n
    return got


def find(folder: Path, stem: str) -> Path | None:
    """The file for `stem` (such as "t10k-images-idx3-ubyte") in `folder`, under any of the
    names it is published with: raw or .gz, "-idx" or ".idx"."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_parts(folder: Path, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{part: (images as rows of pixels 0..255, labels)} for each of PARTS whose two files
    are in `folder`, in PARTS' order; `name` (the dataset) begins each error message."""
    parts = {}
    sizes: dict[str, tuple[int, ...]] = {}
    for part in PARTS:
        image_file = find(folder, f"{part}-images-idx3-ubyte")
        label_file = find(folder, f"{part}-labels-idx1-ubyte")
        if image_file is None and label_file is None:
            continue
        if image_file is None or label_file is None:
            missing = "images" if image_file is None else "labels"
            raise DataError(f"{name}: {folder} has {part} files but no {part}-{missing} file")
        x = read_idx(image_file, IDX_IMAGES_MAGIC)
        y = read_idx(label_file, IDX_LABELS_MAGIC)
        if len(x) == 0:
            raise DataError(f"{name}: {image_file.name} holds no images; expected at least one")
        if x[0].size == 0:
            raise DataError(
                f"{name}: {image_file.name} holds images of {x.shape[1]}×{x.shape[2]} pixels; "
                f"expected at least one pixel"
            )
        if len(x) != len(y):
            raise DataError(
                f"{name}: {image_file.name} has {len(x)} images but {label_file.name} has "
                f"{len(y)} labels; expected one label per image"
            )
        if y.size and y.max() > 9:
            raise DataError(f"{name}: {label_file.name} has label {y.max()}; expected 0..9")
        parts[part] = (x.reshape(len(x), -1), y)
        sizes[part] = x.shape[1:]
    if not parts:
        raise DataError(
            f"{name}: no IDX files in {folder}; expected t10k-images-idx3-ubyte(.gz) and "
            f"t10k-labels-idx1-ubyte(.gz) (and/or the train-* pair)"
        )
    if len(set(sizes.values())) > 1:
        shown = " but ".join(f"the {part} images are {r}×{c}" for part, (r, c) in sizes.items())
        raise DataError(f"{name}: {shown}; expected one image size in {folder}")
    return parts


def mnist(folder: str | os.PathLike[str], name: str = "mnist") -> Dataset:
    """MNIST (or Fashion-MNIST, `name`) from the IDX files in `folder`: the train-* and t10k-*
    pairs found, in that order. With both, the published split is kept (`n_train`, 60,000);
    with the t10k pair only, `note` says so. Pixels are scaled to 0..1; features
    pixel0..pixel783."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{name}: no folder {folder}; expected {name}:DIR with the IDX files")
    parts = read_parts(folder, name)
    X = np.concatenate([x for x, _ in parts.values()]).astype(np.float64) / 255.0
    y = np.concatenate([labels for _, labels in parts.values()]).astype(np.intp)
    n_train = len(parts["train"][0]) if len(parts) == 2 else None
    note = ""
    if list(parts) == ["t10k"]:
        note = (
            f"{name}: {folder} holds only the test set's files (t10k-*), {len(X):,} rows; "
            f"'chainrule datasets fetch {name}' brings the 60,000 training images too"
        )
    features = [f"pixel{i}" for i in range(X.shape[1])]
    return Dataset(name, X, y, features, CLASS_NAMES[name], "label", n_train, note)


def cached(name: str) -> Dataset:
    """Data set `name` from its cache folder, where `chainrule datasets fetch` puts it."""
    folder = cache_folder(name)
    if not any(find(folder, f"{part}-labels-idx1-ubyte") for part in PARTS):
        raise DataError(
            f"{name} is not in the cache folder {folder}; run 'chainrule datasets fetch {name}' "
            f"(or cr.data.fetch({name!r})), or give {name}:DIR for IDX files of your own"
        )
    return mnist(folder, name)
