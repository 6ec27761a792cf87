"""atheris harness: CSV files, as `--data file.csv` reads them.

Each input is a CSV file: written to a scratch file and read with chainrule.data.load (the
last column as the target), then with target="0" (by index) and, like `chainrule predict`
does, as a header and rows whose columns become numbers. Allowed: a dataset, or a
DataError or ConfigError (any ChainruleError).

    python fuzz/fuzz_csv.py fuzz/corpus/csv -dict=fuzz/csv.dict \
        -max_total_time=3600 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
"""

from __future__ import annotations

import os
import sys

import atheris
from common import SCRATCH, Findings

with atheris.instrument_imports(include=["chainrule"]):
    from chainrule import data

FINDINGS = Findings("csv")
CSV = SCRATCH / f"chainrule-fuzz-{os.getpid()}.csv"


def table_as_numbers() -> None:
    header, rows = data.read_table(CSV)
    data.numeric_rows(CSV, header, rows, list(range(len(header))))


def test_one_input(raw: bytes) -> None:
    CSV.write_bytes(raw)
    FINDINGS.attempt(raw, lambda: data.load(CSV))
    FINDINGS.attempt(raw, lambda: data.load(CSV, target="0"))
    FINDINGS.attempt(raw, table_as_numbers)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
