"""What the commands' options accept: defaults, the names each registry offers, and the
checks that turn a bad value into a ConfigError (exit 2) through chainrule.checks, so every
refused option reads "--option must be ..., got ...".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chainrule import nn, optim
from chainrule.checks import one_of, refuse
from chainrule.errors import ModelFileError

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
MOMENTUM = 0.9  # what "--optimizer momentum" means: SGD with momentum 0.9 (or --momentum's)
DEFAULT_INIT = "default"
TASKS = ("classification", "regression")
NO_HIDDEN = ("none", "0")  # --hidden none: inputs straight to the output layer

# softmax normalises across a whole layer, so it belongs after layer L only (inside "ce").
HIDDEN_ACTIVATIONS = [name for name in nn.ACTIVATIONS if name != "softmax"]
OPTIMIZER_NAMES = ["sgd", "adam", "momentum"]
INIT_NAMES = list(nn.init.INITS)
LOSS_NAMES = ["auto", *nn.LOSSES]
DTYPES = ("float32", "float64")

# The arguments and options several commands share.
ModelFile = Annotated[
    Path,
    typer.Argument(help="a model file written by 'chainrule train --save'", show_default=False),
]
Target = Annotated[str | None, typer.Option(help="CSV target column, by name or index")]


def choice(option: str, value: str, choices: list[str] | tuple[str, ...]) -> str:
    """`value` if it is one of `choices` (a registry's names)."""
    return one_of("", option, value, choices)


def parse_hidden(text: str) -> list[int]:
    """'16,8' -> [16, 8]: the hidden layer sizes, each a positive integer; 'none' or '0' ->
    [] (no hidden layer)."""
    if text.strip().lower() in NO_HIDDEN:
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(size <= 0 for size in sizes):
        raise refuse(
            "", "--hidden", "positive integers separated by commas, like 16 or 16,8 (or none)", text
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
        raise refuse("", "--batch-size", "a positive integer or 'full'", text)
    return size


def png(option: str, path: Path) -> Path:
    """`path` if it names a PNG file: pictures are written as PNG only."""
    if path.suffix.lower() != ".png":
        raise refuse("", option, "a file name ending in .png", str(path))
    return path


def writable(option: str, path: Path) -> Path:
    """`path` if its folder exists: found before training, not after it."""
    folder = path.parent
    if not folder.is_dir():
        raise ModelFileError(f"{option} {path}: cannot write there, folder {folder} does not exist")
    return path


def make_optimizer(
    name: str,
    params: list,
    lr: float,
    momentum: float | None = None,
    weight_decay: float = 0.0,
) -> optim.Optimizer:
    """SGD or Adam by name; "momentum" is SGD with `momentum` (0.9 unless given). `momentum`
    is SGD's only; `weight_decay` λ adds λW to every gradient."""
    choice("--optimizer", name, OPTIMIZER_NAMES)
    if name == "adam":
        return optim.Adam(params, lr, weight_decay=weight_decay)
    if name == "momentum":
        momentum = MOMENTUM if momentum is None else momentum
    return optim.SGD(params, lr, momentum=momentum or 0.0, weight_decay=weight_decay)
