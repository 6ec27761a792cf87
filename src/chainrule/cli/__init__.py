"""The `chainrule` command: train, evaluate, predict, explain, plot and inspect networks from
the shell, on built-in data or your own CSV.

Errors are one line on stderr and a non-zero exit: 2 for a bad option, 1 for bad data or
files, 130 for Ctrl-C outside training. `--debug` (anywhere on the line) shows the traceback.
"""

from __future__ import annotations

import csv
import io
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from chainrule import data as datasets
from chainrule import nn, optim
from chainrule.cli.lecture import exercise_command, walkthrough_command
from chainrule.errors import ChainruleError, ConfigError, DataError, ModelFileError
from chainrule.io import atomic_write, load_with_metadata, save
from chainrule.nn.module import Module
from chainrule.preprocess import (
    Preprocessing,
    confusion_matrix,
    decode,
    head,
    resolve_loss,
    targets,
)
from chainrule.tensor import Tensor, no_grad
from chainrule.train import History, ProgressBar, fit, prepare, stop_on_ctrl_c

# Defaults that train every built-in set well in seconds (digits: about 97% test accuracy).
DEFAULT_DATA = "digits"
DEFAULT_HIDDEN = "32"
DEFAULT_ACTIVATION = "tanh"
DEFAULT_OPTIMIZER = "adam"
DEFAULT_LR = 0.01
DEFAULT_EPOCHS = 50
DEFAULT_BATCH = "32"
DEFAULT_SEED = 0
DEFAULT_DTYPE = "float64"
DEFAULT_TEST_SPLIT = 0.2
MOMENTUM = 0.9  # what "--optimizer momentum" means: SGD with momentum 0.9
# Fewer rows than this (the 4-row logic gates) are all trained on and evaluated on.
MIN_ROWS_TO_SPLIT = 20

# softmax normalises across a whole layer, so it belongs after layer L only (inside "ce").
HIDDEN_ACTIVATIONS = [name for name in nn.ACTIVATIONS if name != "softmax"]
OPTIMIZER_NAMES = [*optim.OPTIMIZERS, "momentum"]
LOSS_NAMES = ["auto", *nn.LOSSES]
DTYPES = ("float32", "float64")
PLOT_KINDS = ("loss", "boundary", "network", "confusion")

app = typer.Typer(
    name="chainrule",
    help="Backpropagation done right: train, evaluate, explain and draw neural networks.\n\n"
    "Errors are one line on stderr (exit 2: a bad option; exit 1: bad data or a bad file); "
    "add --debug anywhere on the line to see the traceback.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from chainrule import __version__

        print(f"chainrule {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Backpropagation done right: train, evaluate, explain and draw neural networks."""


# --- checking options (exit 2) -----------------------------------------------------------------


def _choice(option: str, value: str, choices: list[str] | tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{option} {value!r} is not known; expected one of {', '.join(choices)}")
    return value


def parse_hidden(text: str) -> list[int]:
    """'16,8' -> [16, 8]: the hidden layer sizes, each a positive integer."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(size <= 0 for size in sizes):
        raise ConfigError(
            f"--hidden {text!r}: expected positive integers separated by commas, like 16 or 16,8"
        )
    return sizes


def parse_batch(text: str) -> int | None:
    """'full' -> None (the lecture's full batch); otherwise a positive integer."""
    if text == "full":
        return None
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size <= 0:
        raise ConfigError(f"--batch-size {text!r}: expected a positive integer or 'full'")
    return size


def _positive(option: str, value: float | int) -> None:
    if not value > 0:
        raise ConfigError(f"{option} must be > 0, got {value}")


def make_optimizer(name: str, params: list, lr: float) -> optim.Optimizer:
    """An optimizer from OPTIMIZERS by name; "momentum" is SGD with momentum 0.9."""
    _choice("--optimizer", name, OPTIMIZER_NAMES)
    if name == "momentum":
        return optim.SGD(params, lr, momentum=MOMENTUM)
    return optim.OPTIMIZERS[name](params, lr)


# --- a trained model and what it needs to read raw rows -----------------------------------------


@dataclass
class Trained:
    """A model file's contents: the network, its preprocessing, loss name and metadata."""

    model: Module
    prep: Preprocessing
    loss: str
    metadata: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> Trained:
        model, metadata = load_with_metadata(path)
        if "preprocessing" not in metadata or "loss" not in metadata:
            raise ModelFileError(
                f"{path} holds a network but no training record (saved with cr.save, not "
                f"'chainrule train'); the command line needs a model from 'chainrule train'"
            )
        return cls(
            model, Preprocessing.from_dict(metadata["preprocessing"]), metadata["loss"], metadata
        )

    @property
    def n_classes(self) -> int | None:
        return len(self.prep.class_names) if self.prep.class_names is not None else None

    @property
    def loss_fn(self) -> Module:
        return nn.LOSSES[self.loss]()

    def prepared(self, X_raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw rows and their labels (or numbers) as the network and its loss take them:
        standardised features and targets(), in the model's dtype (labels stay integers for ce)."""
        y_model = targets(y, self.loss, self.n_classes, self.prep)
        return prepare(self.prep.features(X_raw), y_model, self.loss_fn, self.model.dtype)

    def output(self, X_raw: np.ndarray) -> np.ndarray:
        """a^{(L)} for raw rows (standardised first), without recording a graph."""
        with no_grad():
            return self.model(Tensor(self.prep.features(X_raw), dtype=self.model.dtype)).data

    def predict(self, X_raw: np.ndarray) -> np.ndarray:
        return decode(self.output(X_raw), self.loss, self.n_classes, self.prep)

    def dataset(self, source: str, target: str | None) -> tuple[datasets.Dataset, np.ndarray]:
        """The dataset `source` checked against the model, with its targets in model form."""
        if target is None:
            target = _csv_target(source, self.prep.target_name)
        ds = datasets.load(source, target)
        self.prep.check(ds)
        y = self.prep.labels(ds) if self.prep.is_classification else ds.y
        return ds, y


def _csv_target(source: str, name: str) -> str | None:
    """The model's target column name, when `source` is a CSV file that has it."""
    path = Path(source)
    if source in datasets.DATASETS or not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    return name if name in [h.strip() for h in header] else None


# --- train ---------------------------------------------------------------------------------------


def _extend(history: History, part: History) -> None:
    history.loss += part.loss
    history.accuracy += part.accuracy
    history.val_loss += part.val_loss
    history.val_accuracy += part.val_accuracy
    history.stop_reason = part.stop_reason
    history.wall_time += part.wall_time


def _metadata(
    settings: dict[str, Any], prep: Preprocessing, history: History, test: dict[str, Any]
) -> dict[str, Any]:
    from chainrule import __version__

    return {
        **settings,
        "preprocessing": prep.to_dict(),
        "history": history.to_dict(),
        "test": test,
        "chainrule_version": __version__,
    }


def _score(
    trained: Trained, ds: datasets.Dataset | None, X: np.ndarray | None, y: np.ndarray | None
) -> dict[str, Any]:
    """Loss (in the trained form) and accuracy of the model on prepared rows X, y."""
    if X is None or ds is None:
        return {}
    with no_grad():
        out = trained.model(Tensor(X))
        loss = float(trained.loss_fn(out, y).data)
    result: dict[str, Any] = {"rows": len(X), "loss": loss}
    if trained.prep.is_classification:
        predicted = decode(out.data, trained.loss, trained.n_classes, trained.prep)
        result["accuracy"] = float(np.mean(predicted == ds.y))
    return result


HELP_TRAIN = f"""Train a network and report its test accuracy.

With no options this trains the default: scikit-learn's 8x8 digits with one hidden layer of
{DEFAULT_HIDDEN} {DEFAULT_ACTIVATION} neurons, {DEFAULT_OPTIMIZER} (lr {DEFAULT_LR}),
{DEFAULT_EPOCHS} epochs, mini-batches of {DEFAULT_BATCH}, seed {DEFAULT_SEED}, 20% held out
for the test: about 97% test accuracy in a few seconds.

Ctrl-C stops after the current batch, keeps what was trained (saved with --save) and prints
the summary. --resume FILE continues a saved run up to --epochs in total.
"""


@app.command("train", help=HELP_TRAIN)
def train_command(
    data: Annotated[
        str | None,
        typer.Option(help=f"dataset: {datasets.known_names()} [default: {DEFAULT_DATA}]"),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="CSV target column, by name or index [default: the last]")
    ] = None,
    hidden: Annotated[
        str | None,
        typer.Option(help=f"hidden layer sizes, comma-separated [default: {DEFAULT_HIDDEN}]"),
    ] = None,
    activation: Annotated[
        str | None,
        typer.Option(
            help=f"hidden activation: {'|'.join(HIDDEN_ACTIVATIONS)} "
            f"[default: {DEFAULT_ACTIVATION}]"
        ),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            help=f"{'|'.join(LOSS_NAMES)}; auto is ce for class labels, squared for numbers "
            "[default: auto]"
        ),
    ] = None,
    optimizer: Annotated[
        str,
        typer.Option(help=f"{'|'.join(OPTIMIZER_NAMES)} (momentum = SGD with momentum {MOMENTUM})"),
    ] = DEFAULT_OPTIMIZER,
    lr: Annotated[float, typer.Option(help="learning rate η, > 0")] = DEFAULT_LR,
    epochs: Annotated[
        int, typer.Option(help="epochs in total (an upper bound with --until)")
    ] = DEFAULT_EPOCHS,
    batch_size: Annotated[
        str, typer.Option(help="examples per update, or 'full' for the lecture's full batch")
    ] = DEFAULT_BATCH,
    until: Annotated[
        float | None, typer.Option(help="stop when the epoch's loss is <= this")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help=f"seed for weights, split and shuffling [default: {DEFAULT_SEED}]"),
    ] = None,
    dtype: Annotated[
        str | None, typer.Option(help=f"float32|float64 [default: {DEFAULT_DTYPE}]")
    ] = None,
    test_split: Annotated[
        float | None,
        typer.Option(help=f"fraction held out for the test [default: {DEFAULT_TEST_SPLIT}]"),
    ] = None,
    save_path: Annotated[Path | None, typer.Option("--save", help="write the model here")] = None,
    plot_path: Annotated[
        Path | None, typer.Option("--plot", help="draw loss curves to this PNG")
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="also save the model every N epochs (needs --save)")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue the run saved in this model file")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    _positive("--lr", lr)
    _positive("--epochs", epochs)
    batch = parse_batch(batch_size)
    _choice("--optimizer", optimizer, OPTIMIZER_NAMES)
    if until is not None and not until >= 0:
        raise ConfigError(f"--until must be a loss >= 0, got {until}")
    if checkpoint_every is not None:
        _positive("--checkpoint-every", checkpoint_every)
        if save_path is None and resume is None:
            raise ConfigError("--checkpoint-every needs --save FILE to write the checkpoints to")
    fixed = {
        "--data": data,
        "--target": target,
        "--hidden": hidden,
        "--activation": activation,
        "--loss": loss,
        "--seed": seed,
        "--dtype": dtype,
        "--test-split": test_split,
    }
    if resume is not None:
        given = [option for option, value in fixed.items() if value is not None]
        if given:
            raise ConfigError(
                f"{given[0]} cannot be combined with --resume: the run's data, network and "
                f"seed come from {resume}"
            )
        trained = Trained.load(resume)
        settings = dict(trained.metadata)
        history = History.from_dict(settings.get("history", {}))
        save_path = save_path or resume
    else:
        settings = {
            "data": _lasting(data or DEFAULT_DATA),
            "target": target,
            "hidden": parse_hidden(hidden or DEFAULT_HIDDEN),
            "activation": _choice(
                "--activation", activation or DEFAULT_ACTIVATION, HIDDEN_ACTIVATIONS
            ),
            "loss": _choice("--loss", loss or "auto", LOSS_NAMES),
            "seed": DEFAULT_SEED if seed is None else seed,
            "dtype": _choice("--dtype", dtype or DEFAULT_DTYPE, DTYPES),
            "test_split": DEFAULT_TEST_SPLIT if test_split is None else test_split,
        }
        trained = None
        history = History()
    settings.update(
        optimizer={
            "name": optimizer,
            "lr": lr,
            **({"momentum": MOMENTUM} if optimizer == "momentum" else {}),
        },
        epochs=epochs,
        batch_size=batch,
        until=until,
    )
    _train(settings, history, trained, save_path, plot_path, checkpoint_every, quiet)


def _lasting(source: str) -> str:
    """A data source as the model file keeps it: files and folders as absolute paths, so
    --resume finds them from any working directory."""
    if source in datasets.DATASETS:
        return source
    if source.startswith("mnist:"):
        return "mnist:" + str(Path(source.removeprefix("mnist:")).resolve())
    return str(Path(source).resolve()) if Path(source).exists() else source


def _train(
    settings: dict[str, Any],
    history: History,
    trained: Trained | None,
    save_path: Path | None,
    plot_path: Path | None,
    checkpoint_every: int | None,
    quiet: bool,
) -> None:
    seed = settings["seed"]
    full = datasets.load(settings["data"], settings["target"])
    fraction = settings["test_split"] if len(full) >= MIN_ROWS_TO_SPLIT else 0.0
    train_ds, test_ds = datasets.split(full, fraction, seed)
    if trained is not None:  # resumed: the network, its preprocessing and loss come from the file
        loss_name = trained.loss
    else:
        loss_name = resolve_loss(settings["loss"], full.is_classification)
        n_classes = len(full.class_names) if full.is_classification else None
        outputs, out_activation = head(loss_name, n_classes)
        sizes = [full.X.shape[1], *settings["hidden"], outputs]
        dtype = np.dtype(settings["dtype"])
        model = nn.mlp(sizes, settings["activation"], out_activation, dtype=dtype, rng=seed)
        trained = Trained(model, Preprocessing.fit(train_ds), loss_name, settings)
    settings["loss"] = loss_name
    prep, model = trained.prep, trained.model
    X, y = trained.prepared(train_ds.X, train_ds.y)
    X_test, y_test = (None, None) if test_ds is None else trained.prepared(test_ds.X, test_ds.y)
    opt = make_optimizer(
        settings["optimizer"]["name"], model.parameters(), settings["optimizer"]["lr"]
    )
    loss_fn = trained.loss_fn
    sizes = [model[0].in_features] + [
        layer.out_features for layer in model if isinstance(layer, nn.Linear)
    ]
    if not quiet:
        held = (
            f", {len(test_ds)} held out"
            if test_ds is not None
            else " (all rows; too few to hold out a test split)"
        )
        optimizer = settings["optimizer"]
        print(
            f"training on {full.name}: {len(train_ds)} rows{held}; network "
            f"{'-'.join(map(str, sizes))} ({settings['activation']}), loss {loss_name}, "
            f"{optimizer['name']} lr {optimizer['lr']}",
            flush=True,
        )

    def write(path: Path, test: dict[str, Any]) -> None:
        save(model, path, metadata=_metadata(settings, prep, history, test))

    # One fit() call per epoch: the optimizer (and its momentum) carries over, and between
    # calls come the progress bar, checkpoints and the Ctrl-C check.
    epoch_seeds = np.random.default_rng(seed + history.epochs)
    stop = [False]
    show = not quiet and sys.stdout.isatty()
    bar = ProgressBar(settings["epochs"], history.epochs, transient=True) if show else None
    try:
        with stop_on_ctrl_c(stop):  # Ctrl-C between two fit() calls: stop and keep
            while history.epochs < settings["epochs"] and not stop[0]:
                part = fit(
                    model,
                    X,
                    y,
                    loss=loss_fn,
                    optimizer=opt,
                    epochs=1,
                    batch_size=settings["batch_size"],
                    until=settings["until"],
                    seed=int(epoch_seeds.integers(2**31)),
                    validation=None if X_test is None else (X_test, y_test),
                    progress=False,
                )
                _extend(history, part)
                if bar is not None:
                    bar.update(history.epochs, history)
                if checkpoint_every and history.epochs % checkpoint_every == 0:
                    write(save_path, _score(trained, test_ds, X_test, y_test))
                if part.stop_reason in ("until", "interrupted"):
                    break
            else:
                history.stop_reason = "interrupted" if stop[0] else "epochs"
    finally:
        if bar is not None:
            bar.close()
    test = _score(trained, test_ds, X_test, y_test)  # once, for the file and the summary
    if save_path is not None:
        write(save_path, test)
    _summary(trained, history, _score(trained, train_ds, X, y), test)
    if plot_path is not None:
        _save_figure(_plot().loss_curves(history, title=full.name), plot_path)
        print(f"loss curves drawn to {plot_path}")
    if save_path is not None:
        print(f"saved model to {save_path}")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _summary(
    trained: Trained, history: History, train: dict[str, Any], test: dict[str, Any]
) -> None:
    """The table printed after training, from _score's train and test records."""
    from rich.table import Table

    table = Table(title="training summary", show_header=True)
    table.add_column("")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    table.add_row("rows", str(train["rows"]), str(test.get("rows", "-")))
    table.add_row("loss", f"{train['loss']:.4g}", f"{test['loss']:.4g}" if test else "-")
    if trained.prep.is_classification:
        table.add_row("accuracy", _percent(train.get("accuracy")), _percent(test.get("accuracy")))
    table.add_row("epochs", str(history.epochs), "")
    table.add_row("stopped by", history.stop_reason, "")
    table.add_row("time", f"{history.wall_time:.2f} s", "")
    _console().print(table)
    if trained.prep.is_classification:
        where = "test" if test else "training"
        accuracy = (test or train)["accuracy"]
        print(f"{where} accuracy: {_percent(accuracy)}")


# --- evaluate, predict ---------------------------------------------------------------------------


def _model_argument(help_text: str = "a model file written by 'chainrule train --save'"):
    return typer.Argument(help=help_text, show_default=False)


@app.command("evaluate")
def evaluate_command(
    model: Annotated[Path, _model_argument()],
    data: Annotated[str, typer.Option(help=f"dataset: {datasets.known_names()}")],
    target: Annotated[str | None, typer.Option(help="CSV target column, by name or index")] = None,
) -> None:
    """Loss, accuracy and confusion matrix of a saved model on a dataset."""
    from rich.table import Table

    trained = Trained.load(model)
    ds, y = trained.dataset(data, target)
    X, y_model = trained.prepared(ds.X, y)
    with no_grad():
        out = trained.model(Tensor(X)).data
        loss = float(trained.loss_fn(Tensor(out), y_model).data)
    predicted = decode(out, trained.loss, trained.n_classes, trained.prep)
    print(f"{model} on {data}: {len(ds)} rows")
    print(f"loss ({trained.loss}): {loss:.4g}")
    if not trained.prep.is_classification:
        rmse = float(np.sqrt(np.mean((predicted - y) ** 2)))
        print(f"root mean squared error ({trained.prep.target_name}): {rmse:.4g}")
        return
    print(f"accuracy: {_percent(float(np.mean(predicted == y)))}")
    names = trained.prep.class_names
    counts = confusion_matrix(y, predicted, len(names))
    print("confusion matrix (rows: true class, columns: predicted class):")
    table = Table()
    table.add_column("true \\ predicted")
    for name in names:
        table.add_column(name, justify="right")
    for name, row in zip(names, counts, strict=True):
        table.add_row(name, *(str(c) for c in row))
    _console().print(table)


@app.command("predict")
def predict_command(
    model: Annotated[Path, _model_argument()],
    file: Annotated[
        Path,
        typer.Argument(help="CSV of raw rows with the model's feature columns", show_default=False),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            help="write the rows with a 'prediction' column here (else print predictions)"
        ),
    ] = None,
) -> None:
    """One prediction per row of a CSV file (raw values: the model standardises them)."""
    trained = Trained.load(model)
    header, rows = datasets.read_table(file)
    columns = _feature_columns(file, header, trained.prep.feature_names)
    X = datasets.numeric_rows(file, header, rows, columns)
    predicted = trained.predict(X)
    names = trained.prep.class_names
    values = [names[p] for p in predicted] if names is not None else [f"{v:.6g}" for v in predicted]
    if output is None:
        print("\n".join(values))
        return
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*header, "prediction"])
    for (_, fields), value in zip(rows, values, strict=True):
        writer.writerow([*fields, value])
    atomic_write(output, text.getvalue().encode())
    print(f"wrote {len(values)} predictions to {output}")


def _feature_columns(path: Path, header: list[str], features: list[str]) -> list[int]:
    """Where the model's features are in `header`: by name (extra columns, such as the
    target, are ignored)."""
    if all(name in header for name in features):
        return [header.index(name) for name in features]
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


# --- explain -------------------------------------------------------------------------------------


@app.command("explain")
def explain_command(
    model: Annotated[Path, _model_argument()],
    data: Annotated[str, typer.Option(help=f"dataset: {datasets.known_names()}")],
    example: Annotated[int, typer.Option(help="which row of the data (from 0)")],
    layer: Annotated[int, typer.Option(help="Linear layer l, counted from 1 (the last is L)")],
    j: Annotated[int, typer.Option("--j", help="neuron j of layer l")],
    k: Annotated[
        int | None,
        typer.Option("--k", help="neuron k of layer l-1 (w_jk); leave out for the bias b_j"),
    ] = None,
    target: Annotated[str | None, typer.Option(help="CSV target column")] = None,
) -> None:
    """The chain rule for one weight's gradient ∂C/∂w_jk^(l) on one example, with numbers."""
    from chainrule.lecture.explain import explain

    trained = Trained.load(model)
    ds, y = trained.dataset(data, target)
    if not 0 <= example < len(ds):
        raise ConfigError(
            f"--example {example} is out of range: {data} has {len(ds)} rows (0..{len(ds) - 1})"
        )
    x, y_model = trained.prepared(ds.X[example : example + 1], y[example : example + 1])
    print(explain(trained.model, x[0], y_model[0], trained.loss, layer=layer, j=j, k=k))


# --- plot, info, datasets ------------------------------------------------------------------------


def _plot():
    from chainrule import plot

    return plot


def _save_figure(figure, path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise ConfigError(f"pictures are PNG files; expected a name ending in .png, got {path}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write(path, buffer.getvalue())


@app.command("plot")
def plot_command(
    model: Annotated[Path, _model_argument()],
    kind: Annotated[str, typer.Option(help=f"{'|'.join(PLOT_KINDS)}")],
    out: Annotated[Path, typer.Option(help="the PNG file to write")],
    data: Annotated[
        str | None,
        typer.Option(
            help="dataset (needed for boundary and confusion, and network with --gradients)"
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(help="CSV target column")] = None,
    gradients: Annotated[
        bool,
        typer.Option("--gradients", help="network: draw ∂C/∂w on --data instead of the weights"),
    ] = False,
) -> None:
    """Draw a saved model: loss curves, 2-D decision boundary, the network, confusion matrix."""
    _choice("--kind", kind, PLOT_KINDS)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out must name a .png file, got {out}")
    trained = Trained.load(model)
    plot = _plot()
    needs_data = kind in ("boundary", "confusion") or (kind == "network" and gradients)
    if needs_data and data is None:
        raise ConfigError(f"--kind {kind}{' --gradients' if gradients else ''} needs --data")
    if kind == "loss":
        history = History.from_dict(trained.metadata.get("history", {}))
        if not history.loss:
            raise DataError(f"{model} has no training history to draw")
        figure = plot.loss_curves(
            history, title=Path(str(trained.metadata.get("data", model))).name
        )
    elif kind == "network":
        grads = None
        if gradients:
            ds, y = trained.dataset(data, target)
            grads = _gradients(trained, ds, y)
        figure = plot.network(
            trained.model,
            gradients=grads,
            feature_names=trained.prep.feature_names,
            output_names=_output_names(trained),
        )
    else:
        ds, y = trained.dataset(data, target)
        if not trained.prep.is_classification:
            raise DataError(f"--kind {kind} needs a classifier; {model} predicts numbers")
        if kind == "boundary":
            figure = plot.decision_boundary(
                trained.predict,
                ds.X,
                y,
                class_names=trained.prep.class_names,
                feature_names=trained.prep.feature_names,
                title=f"{model.name} on {data}",
            )
        else:
            figure = plot.confusion(
                confusion_matrix(y, trained.predict(ds.X), trained.n_classes),
                trained.prep.class_names,
                title=f"{model.name} on {data}",
            )
    _save_figure(figure, out)
    print(f"drew {kind} to {out}")


def _output_names(trained: Trained) -> list[str] | None:
    names = trained.prep.class_names
    outputs = trained.model[-1 if isinstance(trained.model[-1], nn.Linear) else -2].out_features
    if names is not None and outputs == len(names):
        return list(names)
    return None


def _gradients(trained: Trained, ds: datasets.Dataset, y: np.ndarray) -> dict[str, np.ndarray]:
    """∂C/∂w for every parameter, C the model's loss over all of `ds`."""
    X, y_model = trained.prepared(ds.X, y)
    trained.model.zero_grad()
    trained.loss_fn(trained.model(Tensor(X)), y_model).backward()
    return {name: p.grad for name, p in trained.model.named_parameters()}


@app.command("info")
def info_command(model: Annotated[Path, _model_argument()]) -> None:
    """Architecture and training record of a saved model."""
    from rich.table import Table

    network, metadata = load_with_metadata(model)
    layers = Table(title=f"{model}: architecture")
    layers.add_column("layer")
    layers.add_column("type")
    layers.add_column("shape")
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
    console = _console()
    console.print(layers)
    print(f"dtype: {network.dtype}")
    if "preprocessing" not in metadata:
        print("no training record (saved from Python without metadata)")
        return
    history = History.from_dict(metadata.get("history", {}))
    opt = metadata.get("optimizer", {})
    prep = metadata["preprocessing"]
    lines = [
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
    for key, value in lines:
        print(f"{key + ':':<15}{value}")


def _test_record(test: dict[str, Any]) -> str:
    if not test:
        return "-"
    text = f"{test['rows']} rows, loss {test['loss']:.4g}"
    return text + (f", accuracy {_percent(test['accuracy'])}" if "accuracy" in test else "")


@app.command("datasets")
def datasets_command() -> None:
    """The built-in datasets, with their sizes."""
    from rich.table import Table

    table = Table(title="built-in datasets (--data NAME)")
    for column in ("name", "rows", "features", "classes", "what"):
        table.add_column(
            column, justify="right" if column in ("rows", "features", "classes") else "left"
        )
    for name, info in datasets.DATASETS.items():
        try:
            ds = info.make()
            sizes = (str(len(ds)), str(ds.X.shape[1]), str(len(ds.class_names or [])))
        except DataError:
            sizes = ("?", "?", "?")
        table.add_row(name, *sizes, info.description)
    table.add_row("mnist:DIR", "", "784", "10", "MNIST's IDX files in DIR")
    table.add_row("FILE.csv", "", "", "", "your data: a header row")
    _console().print(table)


# --- the lecture's commands (chainrule.cli.lecture) --------------------------------------------

app.command("walkthrough")(walkthrough_command)
app.command("exercise")(exercise_command)


# --- entry point ---------------------------------------------------------------------------------

EXIT_BAD_OPTION = 2
EXIT_BAD_INPUT = 1
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    print(f"chainrule: error: {first}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the `chainrule` command line on `argv` (sys.argv[1:] by default); the exit code."""
    from typer._click import exceptions as click_errors

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"] or ["--help"]
    try:
        result = app(args=args, prog_name="chainrule", standalone_mode=False)
    except click_errors.UsageError as err:
        where = f" (see 'chainrule {err.ctx.info_name} --help')" if err.ctx else ""
        hint = "" if err.ctx is None or err.ctx.info_name == "chainrule" else where
        return _fail(err.format_message() + hint, EXIT_BAD_OPTION, debug)
    except typer.Abort:
        return _fail("aborted", EXIT_INTERRUPTED, debug)
    except ConfigError as err:
        return _fail(str(err), EXIT_BAD_OPTION, debug)
    except (ChainruleError, OSError) as err:
        return _fail(str(err), EXIT_BAD_INPUT, debug)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED, debug)
    except Exception as err:  # a bug: still one line, with the way to see more
        return _fail(
            f"internal error: {type(err).__name__}: {err} (run again with --debug for "
            f"the traceback)",
            EXIT_BAD_INPUT,
            debug,
        )
    return result if isinstance(result, int) else 0
