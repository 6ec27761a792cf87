"""`chainrule info` (a saved model's architecture and training record) and
`chainrule datasets` (the built-in datasets; `datasets fetch NAME` downloads a real one)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from chainrule import data as datasets
from chainrule import fetch, nn
from chainrule.checks import one_of, refuse
from chainrule.cli import show
from chainrule.cli.options import ModelFile
from chainrule.cli.trained import load_network
from chainrule.errors import DataError
from chainrule.train import History


def info_command(model: ModelFile) -> None:
    """Architecture and training record of a saved model."""
    from rich.table import Table

    network, metadata = load_network(model)
    layers = Table(title=f"{model}: architecture")
    for column in ("layer", "type", "shape"):
        layers.add_column(column)
    layers.add_column("parameters", justify="right")
    total = 0
    for i, layer in enumerate(network):
        count = sum(p.data.size for p in layer.parameters())
        total += count
        shape = (
            f"{layer.in_features} -> {layer.out_features}" if isinstance(layer, nn.Linear) else ""
        )
        layers.add_row(str(i), type(layer).__name__, shape, str(count) if count else "")
    layers.add_row("", "total", "", str(total))
    show.console().print(layers)
    print(f"dtype: {network.dtype}")
    if "preprocessing" not in metadata:
        print("no training record (saved from Python without metadata)")
        return
    for key, value in [*_record(metadata), ("resume", _resume(model))]:
        print(f"{key + ':':<15}{value}")


def _resume(path: Path) -> str:
    """Whether --resume continues exactly: the optimizer's state the file holds, if any."""
    from chainrule import modelfile

    saved = modelfile.read_header(path).strings.get("optimizer")
    if saved is None:
        return "the optimizer restarts (its state was not saved)"
    record = json.loads(saved)  # checked by load_network: a record of one of the optimizers
    held = "velocity" if record["type"] == "SGD" else f"moments after step {record['step']}"
    return f"exact ({record['type']}'s {held} saved)"


def _record(metadata: dict[str, Any]) -> list[tuple[str, Any]]:
    """The training record's lines: what was trained, how, and how well."""
    history = History.from_dict(metadata.get("history", {}))
    opt = metadata.get("optimizer", {})
    prep = metadata["preprocessing"]
    return [
        (
            "data",
            f"{metadata.get('data')} ({len(prep['feature_names'])} features, target "
            f"{prep.get('target_name')!r})",
        ),
        ("classes", ", ".join(prep["class_names"]) if prep["class_names"] else "(regression)"),
        ("loss", metadata.get("loss")),
        ("optimizer", ", ".join(f"{k} {v}" for k, v in opt.items())),
        ("batch size", metadata.get("batch_size") or "full"),
        ("seed", metadata.get("seed")),
        ("epochs", f"{history.epochs} (stopped by {history.stop_reason or '-'})"),
        ("final loss", f"{history.loss[-1]:.4g}" if history.loss else "-"),
        ("test", _test_record(metadata.get("test", {}))),
        ("training time", f"{history.wall_time:.2f} s"),
        ("chainrule", metadata.get("chainrule_version")),
    ]


def _test_record(test: dict[str, Any]) -> str:
    if not test:
        return "-"
    text = f"{test['rows']} rows, loss {test['loss']:.4g}"
    return text + (f", accuracy {show.percent(test['accuracy'])}" if "accuracy" in test else "")


DATASET_ACTIONS = ("list", "fetch")
# The real sets `datasets fetch` downloads: rows (train + test) and what they are.
FETCHED = {
    "mnist": ("70000", "28x28 digits: datasets fetch"),
    "fashion-mnist": ("70000", "28x28 clothes: datasets fetch"),
}


def datasets_command(
    action: Annotated[
        str, typer.Argument(help="list (the datasets) or fetch (download one)")
    ] = "list",
    name: Annotated[
        str | None, typer.Argument(help=f"with fetch: {' or '.join(fetch.SOURCES)}")
    ] = None,
    mirror: Annotated[
        str | None, typer.Option(help="fetch: a base URL to try before the known mirrors")
    ] = None,
) -> None:
    """The datasets --data takes; 'chainrule datasets fetch mnist' downloads MNIST (or
    fashion-mnist) into the cache ($CHAINRULE_DATA, else the user cache folder)."""
    one_of("", "ACTION", action, DATASET_ACTIONS)
    if action == "fetch":
        if name is None:
            raise refuse("", "NAME", f"given with fetch ({' or '.join(fetch.SOURCES)})", None)
        _fetch(one_of("", "NAME", name, fetch.SOURCES), mirror)
        return
    from rich.table import Table

    table = Table(title="built-in datasets (--data NAME)")
    for column in ("name", "rows", "features", "classes", "what"):
        table.add_column(
            column, justify="right" if column in ("rows", "features", "classes") else "left"
        )
    for key, info in datasets.DATASETS.items():
        try:
            ds = info.make()
            sizes = (str(len(ds)), str(ds.X.shape[1]), str(len(ds.class_names or [])))
        except DataError:
            sizes = ("?", "?", "?")
        table.add_row(key, *sizes, info.description)
    for key, (rows, what) in FETCHED.items():
        table.add_row(key, rows, "784", "10", what)
    table.add_row("mnist:DIR", "", "784", "10", "MNIST's IDX files in DIR")
    table.add_row("FILE.csv", "", "", "", "your data: a header row")
    show.console().print(table)


def _fetch(name: str, mirror: str | None) -> None:
    """Download `name`'s files with a progress bar (on a terminal) and say where they are."""
    folder = fetch.cache_folder(name)
    if not sys.stdout.isatty():
        fetch.fetch(name, mirror, folder)
    else:
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        columns = ("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=show.console(), transient=True) as bar:
            tasks: dict[str, Any] = {}

            def report(file: str, done: int, total: int | None) -> None:
                if file not in tasks:
                    tasks[file] = bar.add_task(file, total=total)
                bar.update(tasks[file], completed=done)

            fetch.fetch(name, mirror, folder, report)
    count = len(fetch.SOURCES[name].files)
    print(f"{name}: {count} files in {folder}, SHA-256 checked; train with --data {name}")
