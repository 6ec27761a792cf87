"""How fuzz_idx.py reads one input as an MNIST folder: a pair of IDX files and how to store them.

Layout: byte 0 holds flags (bit 0: gzip the images file, bit 1: gzip the labels file, bit 2:
name the pair t10k-* rather than train-*, bit 3: give the files the .gz suffix); bytes 1-4 the
length of the images file (big-endian, cut to what is there); then the images file, then the
labels file. The files may also be gzip streams themselves (the gz seeds are), so the fuzzer
mutates compressed bytes as well as the IDX bytes that the harness compresses.
"""

from __future__ import annotations

import gzip
from pathlib import Path

GZIP_IMAGES, GZIP_LABELS, TEST_PART, GZ_SUFFIX = 1, 2, 4, 8


def pack(images: bytes, labels: bytes, flags: int) -> bytes:
    return bytes([flags]) + len(images).to_bytes(4, "big") + images + labels


def unpack(data: bytes) -> tuple[bytes, bytes, int]:
    """(images file, labels file, flags) from one input; short inputs give empty files."""
    flags = data[0] if data else 0
    split = int.from_bytes(data[1:5], "big")
    body = data[5:]
    split = min(split, len(body))
    return body[:split], body[split:], flags


def write_folder(data: bytes, folder: Path) -> None:
    """The pair in `data` as IDX files in `folder` (which holds nothing else afterwards)."""
    for old in folder.iterdir():
        old.unlink()
    images, labels, flags = unpack(data)
    part = "t10k" if flags & TEST_PART else "train"
    suffix = ".gz" if flags & GZ_SUFFIX else ""
    if flags & GZIP_IMAGES:
        images = gzip.compress(images, compresslevel=1, mtime=0)
    if flags & GZIP_LABELS:
        labels = gzip.compress(labels, compresslevel=1, mtime=0)
    (folder / f"{part}-images-idx3-ubyte{suffix}").write_bytes(images)
    (folder / f"{part}-labels-idx1-ubyte{suffix}").write_bytes(labels)
