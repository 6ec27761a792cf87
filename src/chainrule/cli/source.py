"""The data of a `chainrule train` run: --data with --target, --task, and a generated set's
--n, --noise and --seed, as the model file keeps them and as the run reads them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import data as datasets
from chainrule.checks import at_least, positive_int, refuse
from chainrule.cli.options import DEFAULT_SEED
from chainrule.errors import DataError

# A generated set holds n rows of 2 features: 10 million of them are 160 MB in float64.
MAX_GENERATED_ROWS = 10_000_000


def lasting(source: str) -> str:
    """A data source as the model file keeps it: files and folders as absolute paths, so
    --resume finds them from any working directory."""
    if source in datasets.DATASETS:
        return source
    if not source.strip():
        raise refuse("", "--data", "a dataset name or a file", source)
    name, _, folder = source.partition(":")
    if folder and name in datasets.SOURCES:
        return f"{name}:{Path(folder).resolve()}"
    return str(Path(source).resolve()) if Path(source).exists() else source


def data_options(
    source: str, n: int | None, noise: float | None, seed: int | None
) -> dict[str, Any]:
    """--n, --noise and --seed for a generated set (--seed also seeds the weights, for any)."""
    entry = datasets.DATASETS.get(source)
    if (n is not None or noise is not None) and not (entry and entry.generated):
        generated = ", ".join(k for k, v in datasets.DATASETS.items() if v.generated)
        option = "--n" if n is not None else "--noise"
        raise refuse("", option, f"given with a generated set ({generated})", source)
    if not (entry and entry.generated):
        return {}
    options: dict[str, Any] = {"seed": DEFAULT_SEED if seed is None else seed}
    if n is not None:
        options["n"] = positive_int("", "--n", n)
        if n > MAX_GENERATED_ROWS:
            raise refuse("", "--n", f"at most {MAX_GENERATED_ROWS:,} rows", n)
    if noise is not None:
        options["noise"] = at_least("", "--noise", noise, 0.0)
    return options


def as_task(dataset: datasets.Dataset, task: str | None) -> datasets.Dataset:
    """`dataset` with its target read as `task` asks: class labels become numbers (their
    names, which must be numbers) for regression; numbers become classes for classification."""
    if task is None or (task == "classification") == dataset.is_classification:
        return dataset
    if task == "regression":
        assert dataset.class_names is not None
        try:
            values = np.array([float(name) for name in dataset.class_names])
        except ValueError:
            raise DataError(
                f"{dataset.name}: --task regression needs a numeric target, but "
                f"{dataset.target_name!r} holds text ({dataset.class_names[0]!r})"
            ) from None
        return replace(dataset, y=values[dataset.y], class_names=None)
    names = [datasets.label_text(str(v)) for v in dataset.y]
    classes = sorted(set(names), key=float)
    index = {name: i for i, name in enumerate(classes)}
    y = np.array([index[name] for name in names], dtype=np.intp)
    return replace(dataset, y=y, class_names=classes)


def load(settings: dict[str, Any]) -> datasets.Dataset:
    """A run's data: its source, with a generated set's options, its target read as its task."""
    options = settings.get("data_options", {})
    full = datasets.load(settings["data"], settings["target"], **options)
    return as_task(full, settings.get("task"))
