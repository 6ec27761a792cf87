"""atheris harness: MNIST folders of IDX files, raw and gzipped.

Each input is a pair of IDX files and how to store them (idx_input.py: gzip or not, train-*
or t10k-*, .gz names or not). The pair is written to a scratch folder and read with
chainrule.data.load("mnist:DIR"), then each file alone with chainrule.idx.read_idx. Allowed:
a dataset (an array), or a DataError (any ChainruleError).

    python fuzz/fuzz_idx.py fuzz/corpus/idx -max_total_time=3600 -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1
"""

from __future__ import annotations

import os
import sys

import atheris
from common import SCRATCH, Findings
from idx_input import write_folder

with atheris.instrument_imports(include=["chainrule"]):
    from chainrule import data, idx

FINDINGS = Findings("idx")
FOLDER = SCRATCH / f"chainrule-fuzz-{os.getpid()}-mnist"
FOLDER.mkdir(exist_ok=True)


def test_one_input(raw: bytes) -> None:
    write_folder(raw, FOLDER)
    FINDINGS.attempt(raw, lambda: data.load(f"mnist:{FOLDER}"))
    for path in FOLDER.iterdir():
        magic = idx.IDX_IMAGES_MAGIC if "images" in path.name else idx.IDX_LABELS_MAGIC
        FINDINGS.attempt(raw, lambda path=path, magic=magic: idx.read_idx(path, magic))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
