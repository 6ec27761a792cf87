"""CSV files with a header row, read strictly: the first line names every column once, each
feature field is a plain decimal number (ASCII digits, optional sign, point and exponent), and
every failure names its line and column. `chainrule.data.read_csv` makes a Dataset of them;
the command line's predict and evaluate read their rows with `read_table` and `numeric_rows`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from chainrule.errors import ArgumentTypeError, DataError, DataWarning

# A numeric target column with at most this many distinct whole numbers is read as class
# labels (0/1, digits 0-9, ...); anything else numeric is a regression target.
MAX_NUMERIC_CLASSES = 20

# A number as a CSV writes it: ASCII digits, an optional sign, point and exponent, and spaces
# or tabs around it. Python's float() also takes "1_000" and other scripts' digits ("١٦"),
# which no CSV writer produces and which usually mean a column is not what it seems; NaN and
# infinity match so that they get their own message.
_NUMBER = re.compile(
    r"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)[ \t]*",
    re.IGNORECASE | re.ASCII,
)


def strict_float(text: str) -> float | None:
    """The number `text` spells in a CSV's plain decimal notation, else None."""
    return float(text) if _NUMBER.fullmatch(text) else None


def _number(text: str, line: int, column: str, path: Path) -> float:
    value = strict_float(text)
    where = f"{path}: line {line}, column {column!r}"
    if value is None:
        raise DataError(
            f"{where}: {text!r} is not a number; expected numeric features written with ASCII "
            f"digits, a point and an optional exponent (no underscores or other scripts' digits)"
        )
    if math.isinf(value) and "inf" not in text.lower():
        raise DataError(
            f"{where}: {text.strip()} overflows a float64 (the largest is "
            f"{np.finfo(np.float64).max:.4g}); rescale the column"
        )
    if not math.isfinite(value):
        raise DataError(
            f"{where}: {text.strip()} is not a finite number; remove or impute NaN and "
            f"infinity first"
        )
    return value


def read_table(
    path: str | os.PathLike[str], text: str | None = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (line number, fields) of each non-blank row of a CSV file, after
    checking the file exists, has a header and data rows, and every row has the header's width.
    Given `text` (an upload), that text is the CSV, nothing is read and `path` only names it."""
    path = Path(path)
    if text is not None and not isinstance(text, str):
        raise ArgumentTypeError(
            f"read_table: text must be the CSV as a str, got {type(text).__name__}"
        )
    try:
        if text is None:
            if path.is_dir():
                raise DataError(
                    f"{path} is a folder; expected a CSV file (or mnist:{path} for IDX files)"
                )
            if not path.is_file():
                raise DataError(f"no such file: {path}")
            with path.open(newline="", encoding="utf-8-sig") as f:
                text = f.read()
        reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
        # a line with nothing on it is skipped; ",," is a row of empty fields, not a blank line
        lines = [(i, row) for i, row in enumerate(reader, start=1) if _filled(row)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path} is not a readable CSV text file: {err}") from None
    if not lines:
        raise DataError(f"{path} is empty; expected a header row and data rows")
    header = [h.strip() for h in lines[0][1]]
    _check_header(path, header)
    rows = lines[1:]
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {line} has {len(row)} fields but the header has "
                f"{len(header)}; expected every row to have {len(header)}"
            )
    return header, rows


def _filled(row: list[str]) -> bool:
    return len(row) > 1 or (len(row) == 1 and bool(row[0].strip()))


def _check_header(path: Path, header: list[str]) -> None:
    """Refuse a header with a nameless column or a name used twice: a column is found by its
    name (the target, a model's features), so either would read the wrong column."""
    empty = [i + 1 for i, name in enumerate(header) if not name]
    if empty:
        raise DataError(
            f"{path}: the header's column {empty[0]} has no name ({len(empty)} nameless in "
            f"all); expected the first line to name every column"
        )
    counts = Counter(header)
    twice = [name for name, n in counts.items() if n > 1]
    if twice:
        places = {name: [i + 1 for i, h in enumerate(header) if h == name] for name in twice[:3]}
        shown = "; ".join(
            f"{name!r} at columns {', '.join(map(str, where))}" for name, where in places.items()
        )
        raise DataError(
            f"{path}: duplicate column names in the header: {shown}"
            f"{' and more' if len(twice) > 3 else ''}; expected each name once"
        )


def target_index(header: list[str], target: str | None) -> int:
    """The position of the target column: by name, else by (possibly negative) index;
    the last column when `target` is None."""
    if target is None:
        return len(header) - 1
    if target in header:
        return header.index(target)
    try:
        index = int(target)
    except ValueError:
        index = None
    if index is not None and -len(header) <= index < len(header):
        return index % len(header)
    raise DataError(
        f"target column {target!r} is not in the file; columns are {', '.join(header)} "
        f"(give a name or an index 0..{len(header) - 1})"
    )


def numeric_rows(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]], columns: list[int]
) -> np.ndarray:
    """The fields at `columns` of every row as floats; a bad field names its line and column."""
    return np.array(
        [[_number(fields[c], line, header[c], path) for c in columns] for line, fields in rows],
        dtype=np.float64,
    ).reshape(len(rows), len(columns))


def label_text(value: str) -> str:
    """A class label as stored: whole numbers in their plain form ("1.0" -> "1"), text stripped."""
    text = value.strip()
    number = strict_float(text)
    if number is None:
        return text
    return str(int(number)) if math.isfinite(number) and number == int(number) else text


def is_class_column(values: list[str]) -> bool:
    found = [strict_float(v) for v in values]
    numbers = [x for x in found if x is not None]
    if len(numbers) < len(found):
        return True
    whole = all(math.isfinite(x) and x == int(x) for x in numbers)
    return whole and len(set(numbers)) <= MAX_NUMERIC_CLASSES


def class_order(names: set[str]) -> list[str]:
    numbers = {name: strict_float(name) for name in names}
    if any(x is None for x in numbers.values()):
        return sorted(names)
    return sorted(names, key=lambda name: numbers[name] or 0.0)


def suggest_target(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]], features: list[int]
) -> None:
    """Refuse, suggesting --target, a feature column of text only: a label column that is not
    the last (the target's default place) would otherwise read as a bad number."""
    for c in features:
        if not any(_is_number(fields[c]) for _, fields in rows):
            line, fields = rows[0]
            raise DataError(
                f"{path}: column {header[c]!r} is text ({fields[c].strip()!r} on line {line}), "
                f"not a number; if it is the label, give --target {header[c]} (target= from "
                f"Python): the target is the last column unless told"
            )


def _is_number(text: str) -> bool:
    return strict_float(text) is not None


def warn_constant(path: Path, X: np.ndarray, names: list[str]) -> None:
    """One DataWarning naming the feature columns whose values are all equal: standardised
    they are 0 in every row, so the network has nothing to learn from them."""
    if len(X) < 2:
        return
    same = np.all(X[0] == X, axis=0)
    constant = [name for name, flat in zip(names, same, strict=True) if flat]
    if constant:
        more = f", ... ({len(constant)} in all)" if len(constant) > 6 else ""
        shown = ", ".join(constant[:6]) + more
        warnings.warn(
            f"{path}: feature column(s) {shown} hold one value in every row; they carry "
            f"nothing for the network to learn from",
            DataWarning,
            stacklevel=3,
        )
