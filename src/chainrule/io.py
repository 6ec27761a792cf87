"""Model files: the weights as safetensors, the architecture and any metadata as JSON in its
header. Loading never runs code from the file (no pickle); saving is atomic (a temporary file
in the same folder, then a rename), so a failed save leaves an existing file as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ModelFileError
from chainrule.nn import layers
from chainrule.nn.dropout import Dropout
from chainrule.nn.module import Module

FORMAT = "chainrule"
FORMAT_VERSION = "1"
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


def build(spec: dict[str, Any], dtype: Any = np.float64) -> Module:
    """A new model from `architecture()`'s data (weights left at their initial values)."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ModelFileError(f"architecture entry is not a layer description: {spec!r}")
    kind = spec["type"]
    settings = {k: v for k, v in spec.items() if k != "type"}
    if kind == "Sequential":
        return layers.Sequential(*(build(s, dtype) for s in settings.get("layers", [])))
    if kind not in LAYER_TYPES:
        raise ModelFileError(f"unknown layer type {kind!r}; known: {sorted(LAYER_TYPES)}")
    if kind == "Linear":
        settings["dtype"] = dtype
    try:
        return LAYER_TYPES[kind](**settings)
    except TypeError as err:
        raise ModelFileError(f"bad settings for {kind}: {settings} ({err})") from None


def _version() -> str:
    from chainrule import __version__

    return __version__


def _mode_for(path: Path) -> int:
    """The permissions the file would have had if written in place: those of the file it
    replaces, else the umask's (mkstemp's private 0600 is for the temporary only)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ModelFileError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(
    model: Module, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None
) -> None:
    """Write `model` (weights, architecture, optional JSON-able `metadata`) to `path`."""
    from safetensors.numpy import save as safetensors_bytes

    try:
        extra = json.dumps(metadata or {})
    except TypeError as err:
        raise ModelFileError(f"metadata must be JSON-serialisable: {err}") from None
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": _version(),
        "architecture": json.dumps(architecture(model)),
        "metadata": extra,
    }
    data = safetensors_bytes(model.state_dict(), metadata=header)
    atomic_write(path, data)


def _check_version(path: Path, header: dict[str, str]) -> None:
    """Refuse a file whose layout this chainrule does not know, before reading it as if it did."""
    found = header.get("format_version")
    if found == FORMAT_VERSION:
        return
    writer = header.get("chainrule_version")
    by = f" (written by chainrule {writer})" if writer else ""
    if found is None:
        raise ModelFileError(
            f"{path} has no model format version{by}; expected format version {FORMAT_VERSION}"
        )
    raise ModelFileError(
        f"{path} has model format version {found!r}{by}, but this chainrule reads format "
        f"version {FORMAT_VERSION!r}; load it with the chainrule that wrote it, or a newer one"
    )


def load_with_metadata(path: str | os.PathLike[str]) -> tuple[Module, dict[str, Any]]:
    """The model in `path` and the metadata saved with it."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    except Exception as err:  # safetensors raises its own error types for every malformed file
        raise ModelFileError(
            f"{path} is not a chainrule model file (not a readable safetensors file: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a safetensors file but not a chainrule model file")
    _check_version(path, header)
    try:
        spec = json.loads(header["architecture"])
        metadata = json.loads(header.get("metadata", "{}"))
    except (KeyError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: damaged architecture record ({err})") from None
    dtype = next(iter(state.values())).dtype if state else np.float64
    model = build(spec, dtype)
    try:
        model.load_state_dict(state)
    except ValueError as err:
        raise ModelFileError(f"{path}: weights do not fit the architecture ({err})") from None
    return model, metadata


def load(path: str | os.PathLike[str]) -> Module:
    """The model saved in `path`, rebuilt without any user code."""
    return load_with_metadata(path)[0]
