"""What the commands' options accept: defaults, the names each registry offers, and the
checks that turn a bad value into a ConfigError (exit 2) through chainrule.checks, so every
refused option reads "--option must be ..., got ...".

Numbers are read strictly: plain ASCII digits (`16`, not ` 16`, `1_6` or `١٦`), for the
options read here (--hidden, --batch-size) and, through `parser=`, for typer's own integer and
float options. A file the command writes (--save, --plot, --output, --out) is checked before
any work by `writable` (chainrule.files: a writable folder, a regular file, not an input).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from chainrule import files, nn, optim
from chainrule.checks import one_of, refuse
from chainrule.errors import ConfigError

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


# Whole numbers: optional minus, ASCII digits, at most 18 of them (below 2**63, so numpy and
# every C long take them). Decimals: the same digits with a point and an exponent, or the
# words inf and nan (which the range checks then refuse by name).
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DECIMAL = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?(inf|nan)", re.I)


def whole(text: str) -> int:
    """`text` as a whole number if it is plain ASCII digits (with an optional minus), else
    ValueError: int() would also take ' 16', '1_6' and '١٦'."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"{text!r} is not a whole number in plain digits")
    return int(text)


def strict_int(text: str | int) -> int:
    """typer's parser for an integer option: plain ASCII digits only."""
    if isinstance(text, int):  # a default
        return text
    if not _INTEGER.fullmatch(text):
        raise typer.BadParameter(
            f"{text!r} is not a whole number in plain digits (0-9, at most 18), like 50"
        )
    return int(text)


def strict_float(text: str | float) -> float:
    """typer's parser for a number option: ASCII digits with an optional point and exponent."""
    if isinstance(text, int | float):  # a default
        return float(text)
    if not _DECIMAL.fullmatch(text):
        raise typer.BadParameter(f"{text!r} is not a number in plain digits, like 0.01 or 1e-3")
    return float(text)


def choice(option: str, value: str, choices: list[str] | tuple[str, ...]) -> str:
    """`value` if it is one of `choices` (a registry's names)."""
    return one_of("", option, value, choices)


def parse_hidden(text: str) -> list[int]:
    """'16,8' -> [16, 8]: the hidden layer sizes, each a positive integer; 'none' or '0' ->
    [] (no hidden layer)."""
    if text.lower() in NO_HIDDEN:
        return []
    parts = text.split(",")
    sizes = [int(part) if _INTEGER.fullmatch(part) else 0 for part in parts]
    if not sizes or any(size <= 0 for size in sizes):
        raise refuse(
            "", "--hidden", "positive integers separated by commas, like 16 or 16,8 (or none)", text
        )
    return sizes


def parse_batch(text: str) -> int | None:
    """'full' -> None (the lecture's full batch); otherwise a positive integer."""
    if text == "full":
        return None
    size = int(text) if _INTEGER.fullmatch(text) else 0
    if size <= 0:
        raise refuse("", "--batch-size", "a positive integer or 'full'", text)
    return size


def png(option: str, path: str) -> str:
    """`path` if it names a PNG file: pictures are written as PNG only."""
    if Path(path).suffix.lower() != ".png":
        raise refuse("", option, "a file name ending in .png", path)
    return path


def writable(
    option: str, path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = ()
) -> Path:
    """`path` if the command may write it, found before any work: its folder exists and is
    writable, it is not a folder or a special file (a symbolic link counts as its target),
    and it is none of the command's `inputs`. A ModelFileError (exit 1) names the option."""
    files.target(path, option)
    files.refuse_inputs(path, option, inputs)
    return Path(path)


def data_file(source: str | None) -> str | None:
    """A --data source as a file the command reads (a CSV, a model's recorded data file), or
    None for a built-in name."""
    return source if source and os.path.isfile(source) else None


def parameter_count(sizes: list[int]) -> int:
    """Weights and biases of an MLP with layer sizes `sizes`: Σ_l n_l (n_{l−1} + 1)."""
    return sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes, sizes[1:], strict=False))


def within_budget(hidden: list[int], most: int, ends: tuple[int, int] | None = None) -> None:
    """Refuse a network of more than `most` parameters before a byte of it is allocated:
    `hidden` between `ends` (inputs, outputs), or, before the data is read, between one input
    and one output, the least these hidden layers can make."""
    sizes = [ends[0] if ends else 1, *hidden, ends[1] if ends else 1]
    count = parameter_count(sizes)
    if count > most:
        size = (
            f"{count:,} parameters (layers {'-'.join(map(str, sizes))})"
            if ends
            else (f"at least {count:,} parameters")
        )
        raise ConfigError(
            f"--hidden {','.join(map(str, hidden))} makes a network of {size}, over the limit "
            f"of {most:,}; --max-parameters raises it"
        )


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
