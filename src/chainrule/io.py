"""Model files: the weights as safetensors, the architecture and any metadata as JSON in its
header, and (format 2) the optimizer's state as tensors beside the weights. Loading never runs
code from the file (no pickle) and checks the file against `chainrule.modelfile`'s schema
before building anything; saving is atomic (a temporary file in the same folder, then a
rename), so a failed save leaves an existing file as it was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import modelfile
from chainrule.checks import path_like
from chainrule.errors import ConfigError, ModelFileError, ShapeError
from chainrule.files import atomic_write
from chainrule.modelfile import FORMAT, FORMAT_VERSION
from chainrule.nn import layers
from chainrule.nn.dropout import Dropout
from chainrule.nn.module import Module
from chainrule.optim import Optimizer

# A model file names each layer by its class; the activations come from the registry, so a
# newly registered activation is saved and loaded with no edit here.
_LAYERS: list[type[Module]] = [layers.Linear, Dropout, *layers.ACTIVATIONS.values()]
LAYER_TYPES: dict[str, type[Module]] = {cls.__name__: cls for cls in _LAYERS}


def architecture(model: Module) -> dict[str, Any]:
    """The model as JSON-able data: a Sequential's layers, each with its type and settings."""
    if isinstance(model, layers.Sequential):
        return {"type": "Sequential", "layers": [architecture(m) for m in model]}
    name = type(model).__name__
    if LAYER_TYPES.get(name) is not type(model):
        raise ModelFileError(
            f"cannot save a {name}: model files hold Sequential networks of "
            f"{', '.join(LAYER_TYPES)}; save model.state_dict() yourself for custom modules"
        )
    config = model.config() if hasattr(model, "config") else {}
    return {"type": name, **config}


def build(spec: Any, dtype: Any = np.float64, where: str = "architecture") -> Module:
    """A new model from `architecture()`'s data (weights left at their initial values), once
    `spec` passes the schema (modelfile.check_architecture)."""
    modelfile.check_architecture(spec, where, LAYER_TYPES, modelfile.MAX_LAYERS)
    return _built(spec, np.dtype(dtype), where)


def _built(spec: dict[str, Any], dtype: np.dtype, where: str) -> Module:
    kind = spec["type"]
    settings = {k: v for k, v in spec.items() if k != "type"}
    if kind == "Sequential":
        return layers.Sequential(
            *(_built(s, dtype, f"{where}.layers[{i}]") for i, s in enumerate(settings["layers"]))
        )
    if kind == "Linear":
        settings["dtype"] = dtype
    try:
        return LAYER_TYPES[kind](**settings)
    except ConfigError as err:  # a range that spans settings, as Hardtanh's min_val <= max_val
        raise ModelFileError(f"{where}: {err}") from None


def _version() -> str:
    from chainrule import __version__

    return __version__


def save(
    model: Module,
    path: str | os.PathLike[str],
    metadata: dict[str, Any] | None = None,
    *,
    optimizer: Optimizer | None = None,
) -> None:
    """Write `model` (weights, architecture, optional JSON-able `metadata`) to `path`; with
    `optimizer`, also its state (momentum velocity, Adam's moments and step count, the
    hyperparameters), so that `load_optimizer` continues the run exactly."""
    from safetensors.numpy import save as safetensors_bytes

    path_like("save", "path", path)
    try:
        extra = json.dumps(metadata or {})
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"metadata must be JSON-serialisable: {err}") from None
    tensors = model.state_dict()
    header = {
        "format": FORMAT,
        "format_version": "1",  # the oldest format that holds the file: older chainrules read it
        "chainrule_version": _version(),
        "architecture": json.dumps(architecture(model)),
        "metadata": extra,
    }
    if optimizer is not None:
        record, buffers = _optimizer_record(model, optimizer)
        header["optimizer"] = json.dumps(record)
        header["format_version"] = FORMAT_VERSION
        tensors.update(buffers)
    atomic_write(path, safetensors_bytes(tensors, metadata=header))


def _optimizer_record(
    model: Module, optimizer: Optimizer
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The optimizer's state_dict() with its parameters named as the model names them, and
    its buffers as tensors "optimizer.<parameter>.<buffer>"."""
    names = {id(p): name for name, p in model.named_parameters()}
    if any(id(p) not in names for p in optimizer.params):
        raise ModelFileError(
            f"cannot save the {type(optimizer).__name__}'s state with this model: it steps "
            f"parameters that are not the model's"
        )
    state = optimizer.state_dict()
    params = [names[id(p)] for p in optimizer.params]
    buffers: dict[str, dict[str, str]] = {}
    tensors: dict[str, np.ndarray] = {}
    for i, entry in state["state"].items():
        buffers[params[i]] = {}
        for buffer, array in entry.items():
            key = f"optimizer.{params[i]}.{buffer}"
            buffers[params[i]][buffer], tensors[key] = key, array
    record = {**{k: v for k, v in state.items() if k != "state"}, "params": params}
    return {**record, "state": buffers}, tensors


@dataclass
class _Contents:
    """A model file's checked header: architecture, its tensors and dtype, the metadata and
    the optimizer's record (None in a file saved without one)."""

    header: modelfile.Header
    spec: dict[str, Any]
    tensors: dict[str, tuple[int, ...]]
    dtype: np.dtype
    metadata: dict[str, Any]
    optimizer: dict[str, Any] | None


def _contents(path: Path, max_parameters: int | None, max_layers: int | None) -> _Contents:
    """Everything `path` declares, checked against the schema and the file's size, before
    any tensor is read or any layer built."""
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    header = modelfile.read_header(path)
    strings = header.strings
    if "architecture" not in strings:
        raise ModelFileError(f"{path}: architecture: missing")
    limit = modelfile.MAX_LAYERS if max_layers is None else max_layers
    if strings["architecture"].count("{") > limit:  # each layer is one object: before parsing
        raise ModelFileError(
            f"{path}: architecture: more than {limit} layers (max_layers; raise it to load a "
            f"larger network)"
        )
    spec = modelfile.parse_json(strings["architecture"], f"{path}: architecture")
    found = modelfile.check_architecture(spec, f"{path}: architecture", LAYER_TYPES, limit)
    most = modelfile.MAX_PARAMETERS if max_parameters is None else max_parameters
    count = modelfile.parameter_count(found.tensors)
    if count > most:
        raise ModelFileError(
            f"{path}: architecture: {count} parameters, over the limit of {most} "
            f"(max_parameters; raise it to load a larger network)"
        )
    dtype = modelfile.check_tensors(path, header, found.tensors)
    metadata = modelfile.parse_json(strings.get("metadata", "{}"), f"{path}: metadata")
    modelfile.record({}, closed=False)(metadata, f"{path}: metadata")
    record = None
    if "optimizer" in strings:
        where = f"{path}: optimizer"
        record = modelfile.parse_json(strings["optimizer"], where)
        modelfile.check_optimizer(record, where, header, found.tensors, dtype)
    expected = set(found.tensors) | {
        tensor for entry in (record or {}).get("state", {}).values() for tensor in entry.values()
    }
    for name in header.tensors:
        if name not in expected:
            raise ModelFileError(f"{path}: tensor {name!r} is neither a weight nor optimizer state")
    return _Contents(header, spec, found.tensors, dtype, metadata, record)


def _tensors(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The tensors `names` of `path` (their sizes already checked), each finite."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            arrays = {name: f.get_tensor(name) for name in names}
    except Exception as err:  # safetensors raises its own error types for every malformed file
        raise ModelFileError(
            f"{path} is not a chainrule model file (not a readable safetensors file: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None
    for name, array in arrays.items():
        modelfile.check_finite(path, name, array)
    return arrays


def load_with_metadata(
    path: str | os.PathLike[str],
    *,
    max_parameters: int | None = None,
    max_layers: int | None = None,
) -> tuple[Module, dict[str, Any]]:
    """The model in `path` and the metadata saved with it. A file declaring more than
    `max_parameters` parameters or `max_layers` layers (None: modelfile.MAX_PARAMETERS and
    MAX_LAYERS) is refused before anything is allocated."""
    path = Path(path_like("load", "path", path))
    contents = _contents(path, max_parameters, max_layers)
    model = _built(contents.spec, contents.dtype, f"{path}: architecture")
    model.load_state_dict(_tensors(path, list(contents.tensors)))
    return model, contents.metadata


def load(
    path: str | os.PathLike[str],
    *,
    max_parameters: int | None = None,
    max_layers: int | None = None,
) -> Module:
    """The model saved in `path`, rebuilt without any user code."""
    return load_with_metadata(path, max_parameters=max_parameters, max_layers=max_layers)[0]


def load_optimizer(
    path: str | os.PathLike[str],
    model: Module,
    *,
    max_parameters: int | None = None,
    max_layers: int | None = None,
) -> Optimizer | None:
    """The optimizer saved with `save(..., optimizer=...)` in `path`, rebuilt over `model`'s
    parameters (by name) with its hyperparameters and state, ready to step on exactly as the
    saved one would have; None for a file saved without one (or by format 1)."""
    from chainrule import optim

    path = Path(path_like("load_optimizer", "path", path))
    contents = _contents(path, max_parameters, max_layers)
    record = contents.optimizer
    if record is None:
        return None
    named = dict(model.named_parameters())
    missing = [name for name in record["params"] if name not in named]
    if missing:
        raise ModelFileError(f"{path}: optimizer: the model has no parameter {missing[0]!r}")
    kinds = {cls.__name__: cls for cls in (optim.SGD, optim.Adam, optim.AdamW)}
    wanted = [t for entry in record["state"].values() for t in entry.values()]
    arrays = _tensors(path, wanted)
    index = {name: i for i, name in enumerate(record["params"])}
    state = {
        index[param]: {buffer: arrays[tensor] for buffer, tensor in entry.items()}
        for param, entry in record["state"].items()
    }
    try:  # `model` may be another network than the file's: its shapes are checked here
        params = [named[name] for name in record["params"]]
        optimizer = kinds[record["type"]](params, **record["hyperparameters"])
        optimizer.load_state_dict({**record, "state": state})
    except (ConfigError, ShapeError) as err:
        raise ModelFileError(f"{path}: optimizer: {err}") from None
    return optimizer
