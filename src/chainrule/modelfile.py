"""The model file's schema, checked on load before anything the file declares is allocated.

A model file is a safetensors file: 8 bytes giving the header's length N, N bytes of JSON
header (each tensor's dtype, shape and byte range, and string metadata), then the tensors'
bytes. chainrule reads the header itself and checks, in this order:

- the header: at most MAX_HEADER_BYTES, JSON nested at most MAX_DEPTH deep;
- `format` and `format_version` (a newer file is refused as made by a newer chainrule);
- the architecture: every layer's type and setting declared below (type, range), at most
  MAX_LAYERS layers and MAX_PARAMETERS parameters (a caller may raise both);
- the tensors: exactly the architecture's, float32 or float64, each byte range inside the
  file and as long as its shape needs, so a small file cannot declare a big network;
- `metadata` (a JSON object) and the optimizer's record, if any.

Every refusal is a ModelFileError naming the file and the field:
"m.model: architecture.layers[2].axis: expected an integer from -2 to 1, got 99".
"""

from __future__ import annotations

import json
import math
import reprlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ModelFileError

FORMAT = "chainrule"
FORMAT_VERSION = "2"  # 1: weights, architecture, metadata; 2 adds the optimizer's state
OLDEST_VERSION = 1
MAX_PARAMETERS = 100_000_000  # module-level defaults: a caller may raise them per load,
MAX_LAYERS = 10_000  # cr.load(path, max_parameters=..., max_layers=...), or here
MAX_HEADER_BYTES = 16 * 2**20
MAX_DEPTH = 64
MAX_WIDTH = 2**31  # in_features, out_features, any tensor dimension
DTYPES: dict[str, np.dtype] = {"F32": np.dtype(np.float32), "F64": np.dtype(np.float64)}

# A field's check: spec(value, where) returns nothing or raises ModelFileError naming `where`.
Spec = Callable[[Any, str], None]


def refuse(where: str, expected: str, value: Any) -> ModelFileError:
    """The one message shape: "<file>: <field>: expected ..., got ..."."""
    return ModelFileError(f"{where}: expected {expected}, got {shown(value)}")


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 40
_SHORT.maxlist = _SHORT.maxdict = 4


def shown(value: Any) -> str:
    """A short picture of a JSON value: null/true/false as JSON writes them, the rest cut."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return _SHORT.repr(value)


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(low: int, high: int = MAX_WIDTH) -> Spec:
    def check(value: Any, where: str) -> None:
        if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
            raise refuse(where, f"an integer from {low} to {high}", value)

    return check


def number(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
    finite: bool = True,
) -> Spec:
    """A JSON number in [low, high] (either end open); NaN and ±inf only if not `finite`."""
    if math.isinf(low) and math.isinf(high):
        bounds = ""
    elif math.isinf(high):
        bounds = f" {'>' if open_low else '>='} {low:g}"
    else:
        bounds = f" in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    wanted = f"a finite number{bounds}" if finite else "a number"

    def check(value: Any, where: str) -> None:
        try:  # JSON integers have no bound; chainrule writes none beyond float64
            real = float(value) if _real(value) else None
        except OverflowError:
            real = None
        if real is None or (finite and not math.isfinite(real)):
            raise refuse(where, wanted, value)
        below = real <= low if open_low else real < low
        above = real >= high if open_high else real > high
        if math.isfinite(real) and (below or above):
            raise refuse(where, wanted, value)

    return check


def text(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise refuse(where, "a string", value)


def boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise refuse(where, "true or false", value)


def one_of(*names: str) -> Spec:
    def check(value: Any, where: str) -> None:
        if not (isinstance(value, str) and value in names):
            raise refuse(where, f"one of {', '.join(names)}", value)

    return check


def nullable(spec: Spec) -> Spec:
    def check(value: Any, where: str) -> None:
        if value is not None:
            spec(value, where)

    return check


def list_of(item: Spec, what: str, length: int | None = None, distinct: bool = False) -> Spec:
    """A list of `what` (its items checked by `item`), of `length` items if given."""
    wanted = f"a list of {length} {what}" if length is not None else f"a list of {what}"
    wanted += " (no repeats)" if distinct else ""

    def check(value: Any, where: str) -> None:
        if not isinstance(value, list) or (length is not None and len(value) != length):
            raise refuse(where, wanted, value)
        for i, v in enumerate(value):
            item(v, f"{where}[{i}]")
        if distinct and len(set(value)) != len(value):
            raise refuse(where, wanted, value)

    return check


def record(fields: dict[str, Spec], required: tuple[str, ...] = (), closed: bool = True) -> Spec:
    """A JSON object whose keys `fields` declares; `closed`: no other keys. Keys outside
    `fields` of an open record are kept but never read by chainrule."""

    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise refuse(where, "a JSON object", value)
        for key in required:
            if key not in value:
                raise ModelFileError(f"{where}.{key}: missing")
        for key, v in value.items():
            if key in fields:
                fields[key](v, f"{where}.{key}")
            elif closed:
                known = ", ".join(fields) or "none"
                raise ModelFileError(f"{where}: unknown field {key!r} (known: {known})")

    return check


_SPECIAL = np.zeros(256, bool)
_SPECIAL[[ord(c) for c in '"\\[]{}']] = True


def depth(valid_json: bytes) -> int:
    """How deeply valid JSON text nests: the running count of its brackets outside strings,
    by numpy in linear time over the quotes, backslashes and brackets alone (walking the
    parsed value would cost a Python step per container)."""
    text = np.frombuffer(valid_json, np.uint8)
    at = np.flatnonzero(_SPECIAL[text]).astype(np.int32)  # a header is under 2**31 bytes
    char = text[at]
    # a backslash that escapes the very next character, as the run before a quote counts
    escaping = (char == ord("\\")) & np.append(np.diff(at) == 1, False)
    del at
    index = np.arange(len(char), dtype=np.int32)
    last_other = np.maximum.accumulate(np.where(escaping, -1, index))
    run = np.zeros_like(index)
    run[1:] = index[:-1] - last_other[:-1]
    del index, last_other
    # a quote starts or ends a string unless an odd run of backslashes escapes it
    delimiter = (char == ord('"')) & (run % 2 == 0)
    outside = np.cumsum(delimiter, dtype=np.int64) % 2 == 0
    opens = (char == ord("[")) | (char == ord("{"))
    closes = (char == ord("]")) | (char == ord("}"))
    steps = outside.astype(np.int8) * (opens.astype(np.int8) - closes.astype(np.int8))
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def parse_json(raw: str | bytes, where: str) -> Any:
    """JSON nested at most MAX_DEPTH deep (json itself gives up at the recursion limit)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw  # safetensors' encoding
        value = json.loads(text)
    except RecursionError:
        raise ModelFileError(f"{where}: JSON nested more than {MAX_DEPTH} deep") from None
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise ModelFileError(f"{where}: not valid JSON ({err})") from None
    if depth(text.encode()) > MAX_DEPTH:  # UTF-8: no byte of a wider character is a bracket
        raise ModelFileError(f"{where}: JSON nested more than {MAX_DEPTH} deep")
    return value


# ---- the architecture -----------------------------------------------------------------------

LINEAR = record(
    {"in_features": integer(1), "out_features": integer(1), "bias": boolean},
    required=("in_features", "out_features"),
)
# Each layer type's settings (its config()); an activation registered later with no entry
# here is read by the types of its defaults (see `settings_spec`).
LAYER_SETTINGS: dict[str, Spec] = {
    "Linear": LINEAR,
    "Dropout": record({"p": number(0.0, 1.0, open_high=True)}),
    "Softmax": record({"axis": integer(-2, 1)}),  # a network's rows are 2-D: (examples, z)
    "LeakyReLU": record({"negative_slope": number()}),
    "ELU": record({"alpha": number()}),
    "GELU": record({"approximate": one_of("none", "tanh")}),
    "Hardtanh": record({"min_val": number(), "max_val": number()}),
}
_BY_DEFAULT: dict[type, Spec] = {
    bool: boolean,
    int: integer(-MAX_WIDTH),
    float: number(),
    str: text,
}


def settings_spec(kind: str, cls: type) -> Spec:
    """The declared settings of layer type `kind`, else those its defaults' types imply."""
    if kind in LAYER_SETTINGS:
        return LAYER_SETTINGS[kind]
    defaults = cls().config() if hasattr(cls, "config") else {}
    return record({key: _BY_DEFAULT[type(value)] for key, value in defaults.items()})


@dataclass
class Architecture:
    """What an architecture declares: its tensors (name -> shape) and its layer count."""

    tensors: dict[str, tuple[int, ...]]
    layers: int = 0


def check_architecture(
    spec: Any, where: str, layer_types: dict[str, type], max_layers: int
) -> Architecture:
    """The tensors `spec` declares, once every layer and setting in it is valid."""
    found = Architecture({})
    _layer(spec, where, "", layer_types, max_layers, found)
    return found


def _layer(
    spec: Any, where: str, prefix: str, types: dict[str, type], limit: int, found: Architecture
) -> None:
    found.layers += 1
    if not isinstance(spec, dict):
        raise refuse(where, "a layer (a JSON object with a type)", spec)
    kind = spec.get("type")
    if kind != "Sequential" and not (isinstance(kind, str) and kind in types):
        raise refuse(f"{where}.type", f"one of Sequential, {', '.join(sorted(types))}", kind)
    settings = {k: v for k, v in spec.items() if k != "type"}
    if kind != "Sequential":
        settings_spec(kind, types[kind])(settings, where)
        if kind == "Linear":
            n_in, n_out = settings["in_features"], settings["out_features"]
            found.tensors[f"{prefix}weight"] = (n_out, n_in)
            if settings.get("bias", True):
                found.tensors[f"{prefix}bias"] = (n_out,)
        return
    layers = settings.pop("layers", None)
    if not isinstance(layers, list):
        raise refuse(f"{where}.layers", "a list of layers", layers)
    record({})(settings, where)
    if found.layers + len(layers) > limit:
        raise ModelFileError(
            f"{where}: more than {limit} layers (max_layers; raise it to load a larger network)"
        )
    for i, layer in enumerate(layers):
        _layer(layer, f"{where}.layers[{i}]", f"{prefix}{i}.", types, limit, found)


def parameter_count(shapes: dict[str, tuple[int, ...]]) -> int:
    return sum(math.prod(shape) for shape in shapes.values())


# ---- the container --------------------------------------------------------------------------


@dataclass
class Entry:
    """One tensor of the file, as its header declares it."""

    dtype: np.dtype
    shape: tuple[int, ...]


@dataclass
class Header:
    """A model file's checked header: format version, tensors, string metadata."""

    version: int
    tensors: dict[str, Entry]
    strings: dict[str, str]


def read_header(path: Path) -> Header:
    """The header of the safetensors file `path`, each tensor's byte range checked against
    the bytes the file holds, nothing of the tensors read yet."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            start = f.read(8)
            (length,) = struct.unpack("<Q", start) if len(start) == 8 else (None,)
            if length is None or length > size - 8:
                raise ModelFileError(
                    f"{path} is not a chainrule model file (not a readable safetensors file: "
                    f"its header is cut short)"
                )
            if length > MAX_HEADER_BYTES:
                raise ModelFileError(f"{path}: header of {length} bytes, over {MAX_HEADER_BYTES}")
            raw = f.read(length)
    except ModelFileError:
        raise
    except OSError as err:  # unreadable: permissions, a folder, a vanished file
        raise ModelFileError(f"cannot read {path}: {err.strerror or err}") from None
    header = parse_json(raw, f"{path}: header")
    if not isinstance(header, dict):
        raise refuse(f"{path}: header", "a JSON object", header)
    strings = header.pop("__metadata__", None) or {}
    record({}, closed=False)(strings, f"{path}: header.__metadata__")
    if any(not isinstance(v, str) for v in strings.values()):
        raise ModelFileError(f"{path}: header.__metadata__: expected strings only")
    if strings.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a safetensors file but not a chainrule model file")
    version = _version(path, strings)
    tensors = {name: _entry(path, name, e, size - 8 - length) for name, e in header.items()}
    return Header(version, tensors, strings)


ENTRY = record(
    {
        "dtype": one_of(*DTYPES),
        "shape": list_of(integer(0), "integers"),
        "data_offsets": list_of(integer(0, 2**62), "integers", length=2),
    },
    required=("dtype", "shape", "data_offsets"),
)


def _entry(path: Path, name: str, entry: Any, data_bytes: int) -> Entry:
    where = f"{path}: tensor {name!r}"
    ENTRY(entry, where)
    dtype, shape = DTYPES[entry["dtype"]], tuple(entry["shape"])
    begin, end = entry["data_offsets"]
    needed = math.prod(shape) * dtype.itemsize
    if not begin <= end <= data_bytes or end - begin != needed:
        raise ModelFileError(
            f"{where}: shape {list(shape)} needs {needed} bytes, but the file holds bytes "
            f"{begin} to {end} of {data_bytes} for it"
        )
    return Entry(dtype, shape)


def _version(path: Path, strings: dict[str, str]) -> int:
    """The file's format version, if this chainrule reads it."""
    found = strings.get("format_version")
    writer = strings.get("chainrule_version")
    by = f" (written by chainrule {writer})" if writer else ""
    if found is None:
        raise ModelFileError(
            f"{path} has no model format version{by}; expected format version {FORMAT_VERSION}"
        )
    number = int(found) if found.isascii() and found.isdigit() and len(found) < 10 else None
    if number is not None and number > int(FORMAT_VERSION):
        raise ModelFileError(
            f"{path} was made by a newer chainrule{by} (format {number}; this chainrule reads "
            f"{FORMAT_VERSION}): upgrade chainrule to load it"
        )
    if number is None or number < OLDEST_VERSION or found != str(number):
        raise ModelFileError(
            f"{path} has model format version {found!r}{by}, but this chainrule reads format "
            f"version {FORMAT_VERSION!r}; load it with the chainrule that wrote it, or a newer one"
        )
    return number


def check_tensors(path: Path, header: Header, expected: dict[str, tuple[int, ...]]) -> np.dtype:
    """Refuse tensors that are not exactly `expected` (name -> shape), in one float dtype."""
    for name, shape in expected.items():
        entry = header.tensors.get(name)
        if entry is None:
            raise ModelFileError(f"{path}: tensor {name!r} (the architecture's) is missing")
        if entry.shape != shape:
            raise ModelFileError(
                f"{path}: tensor {name!r}: expected shape {list(shape)} (the architecture's), "
                f"got {list(entry.shape)}"
            )
    dtypes = {header.tensors[name].dtype for name in expected}
    if len(dtypes) > 1:
        raise ModelFileError(f"{path}: tensors of several dtypes ({sorted(map(str, dtypes))})")
    return dtypes.pop() if dtypes else np.dtype(np.float64)


def check_finite(path: Path, name: str, array: np.ndarray) -> None:
    """Weights that are NaN or infinite would predict nonsense with a straight face."""
    bad = array.size - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ModelFileError(
            f"{path}: tensor {name!r}: {bad} of its {array.size} values are not finite "
            f"(NaN or infinite); the file holds a diverged or damaged model"
        )


# ---- the optimizer's record -----------------------------------------------------------------

OPTIMIZER = record(
    {
        "type": text,
        "hyperparameters": record({}, closed=False),
        "step": integer(0, 2**62),
        "params": list_of(text, "parameter names", distinct=True),
        "state": record({}, closed=False),
    },
    required=("type", "hyperparameters", "params", "state"),
)


def check_optimizer(
    record_: Any, where: str, header: Header, params: dict[str, tuple[int, ...]], dtype: np.dtype
) -> dict[str, dict[str, str]]:
    """The optimizer record's buffers ({parameter: {buffer: tensor}}), once its type is a
    chainrule optimizer, its hyperparameters are that optimizer's, its parameters the model's,
    and each buffer is a tensor of the file shaped and typed as its parameter."""
    from chainrule import optim
    from chainrule.errors import ConfigError
    from chainrule.nn.module import Parameter

    OPTIMIZER(record_, where)
    kinds = {cls.__name__: cls for cls in (optim.SGD, optim.Adam, optim.AdamW)}
    one_of(*kinds)(record_["type"], f"{where}.type")
    if record_["type"] != "SGD" and "step" not in record_:
        raise ModelFileError(f"{where}.step: missing")
    try:
        probe = kinds[record_["type"]]([Parameter(np.zeros(1))], **record_["hyperparameters"])
    except (ConfigError, TypeError) as err:
        raise ModelFileError(f"{where}.hyperparameters: {err}") from None
    for i, param in enumerate(record_["params"]):
        if param not in params:
            raise refuse(f"{where}.params[{i}]", "a parameter name of the model", param)
    names = sorted(probe.buffers())
    buffers: dict[str, dict[str, str]] = record_["state"]
    for param, entry in buffers.items():
        at = f"{where}.state.{param}"
        if param not in record_["params"]:
            raise refuse(f"{where}.state", "names from its params as keys", param)
        record({n: text for n in names}, required=tuple(names))(entry, at)
        for name, tensor in entry.items():
            found = header.tensors.get(tensor)
            if found is None or found.shape != params[param] or found.dtype != dtype:
                raise ModelFileError(
                    f"{at}.{name}: expected a tensor of shape {list(params[param])} and dtype "
                    f"{dtype} in the file, got {shown(tensor)}"
                    + (f" ({found.dtype}, {list(found.shape)})" if found else " (no such tensor)")
                )
    return buffers
