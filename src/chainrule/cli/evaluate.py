"""`chainrule evaluate` and `chainrule predict`: a saved model on raw rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from chainrule import data as datasets
from chainrule import nn
from chainrule.cli import show
from chainrule.cli.options import ModelFile, Target, writable
from chainrule.cli.trained import Trained
from chainrule.errors import DataError
from chainrule.files import atomic_write
from chainrule.preprocess import confusion_matrix, decode
from chainrule.tensor import Tensor
from chainrule.train import predicting


def evaluate_command(
    model: ModelFile,
    data: Annotated[str, typer.Option(help=f"dataset: {datasets.known_names()}")],
    target: Target = None,
) -> None:
    """Loss, accuracy and confusion matrix of a saved model on a dataset."""
    from rich.table import Table

    trained = Trained.load(model)
    ds, y = trained.dataset(data, target)
    X, y_model = trained.prepared(ds.X, y)
    with predicting(trained.model):
        out = trained.model(Tensor(X)).data
        loss = float(trained.loss_fn(Tensor(out), y_model).data)
    predicted = decode(out, trained.loss, trained.n_classes, trained.prep)
    print(f"{model} on {data}: {len(ds)} rows")
    print(f"loss ({trained.loss}): {loss:.4g}")
    names = trained.prep.class_names
    if names is None:
        rmse = float(np.sqrt(np.mean((predicted - y) ** 2)))
        print(f"root mean squared error ({trained.prep.target_name}): {rmse:.4g}")
        return
    print(f"accuracy: {show.percent(float(np.mean(predicted == y)))}")
    counts = confusion_matrix(y, predicted, len(names))
    print("confusion matrix (rows: true class, columns: predicted class):")
    table = Table()
    table.add_column("true \\ predicted")
    for name in names:
        table.add_column(name, justify="right")
    for name, row in zip(names, counts, strict=True):
        table.add_row(name, *(str(c) for c in row))
    show.console().print(table)


def predict_command(
    model: ModelFile,
    file: Annotated[
        Path,
        typer.Argument(help="CSV of raw rows with the model's feature columns", show_default=False),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            help="write the rows with a 'prediction' column here (else print predictions)"
        ),
    ] = None,
    proba: Annotated[
        bool,
        typer.Option("--proba", help="also each class's probability, P(class), one column each"),
    ] = False,
) -> None:
    """One prediction per row of a CSV file (raw values: the model standardises them)."""
    if output is not None:
        writable("--output", output, [model, file])
    trained = Trained.load(model)
    names = trained.prep.class_names
    if proba and names is None:
        raise DataError(f"--proba needs a classifier; {model} predicts numbers")
    header, rows = datasets.read_table(file)
    columns = _feature_columns(file, header, trained.prep.feature_names, not trained.recorded)
    X = datasets.numeric_rows(file, header, rows, columns)
    out = trained.output(X)
    predicted = decode(out, trained.loss, trained.n_classes, trained.prep)
    labels = [names[p] for p in predicted] if names is not None else [f"{v:.6g}" for v in predicted]
    table = [[label] for label in labels]
    extra = ["prediction"]
    if proba:
        assert names is not None
        extra += [f"P({name})" for name in names]
        for row, p in zip(table, probabilities(out, trained), strict=True):
            row.extend(f"{v:.4f}" for v in p)
    if output is None:
        print("\n".join(([",".join(extra)] if proba else []) + [",".join(r) for r in table]))
        return
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*header, *extra])
    for (_, fields), row in zip(rows, table, strict=True):
        writer.writerow([*fields, *row])
    atomic_write(output, text.getvalue().encode(), "--output")
    print(f"wrote {len(table)} predictions to {output}")


def probabilities(output: np.ndarray, trained: Trained) -> np.ndarray:
    """P(class) per row from the network's outputs a^{(L)}: softmax(z) for ce's logits,
    (1 − a, a) for one sigmoid output, else the outputs scaled to sum to 1 (a softmax layer's
    are already; several sigmoids trained on one-hot rows are scores, not probabilities)."""
    if trained.loss == "ce" and not isinstance(trained.model[len(trained.model) - 1], nn.Softmax):
        z = output - output.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    if output.shape[1] == 1:
        return np.column_stack([1 - output[:, 0], output[:, 0]])
    return output / output.sum(axis=1, keepdims=True)


def _feature_columns(
    path: Path, header: list[str], features: list[str], by_position: bool = False
) -> list[int]:
    """Where the model's features are in `header`: by name (extra columns, such as the
    target, are ignored); for a network saved from Python, which knows no names, the
    columns in order when their number fits."""
    # one dict, not header.index per feature: linear in the columns (read_table refuses a
    # name used twice, so each name has one place)
    position = {name: i for i, name in enumerate(header)}
    if all(name in position for name in features):
        return [position[name] for name in features]
    if by_position and len(header) == len(features):
        return list(range(len(header)))
    expected = ", ".join(features) if len(features) <= 8 else f"{len(features)} features"
    if len(header) != len(features):
        raise DataError(
            f"{path} has {len(header)} columns ({', '.join(header[:8])}"
            f"{', ...' if len(header) > 8 else ''}) but the model expects {len(features)}: "
            f"{expected}"
        )
    raise DataError(
        f"{path}: columns {', '.join(header)} are not the model's features; expected a header "
        f"naming {expected}"
    )
