"""The model-file schema: every malformed file is one ModelFileError naming the file and the
field, refused before anything it declares is allocated; the commands print it as one line
and exit 1. One regression test per class of malformed file the hardening issue found."""

from __future__ import annotations

import copy
import json
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import modelfile

MLP = {
    "type": "Sequential",
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 3, "bias": True},
        {"type": "Tanh"},
        {"type": "Linear", "in_features": 3, "out_features": 2, "bias": True},
    ],
}


def weights(dtype: Any = np.float64) -> dict[str, np.ndarray]:
    return cr.nn.mlp([2, 3, 2], "tanh", dtype=dtype, rng=0).state_dict()


def forge(
    path: Path,
    architecture: Any = None,
    metadata: Any = None,
    tensors: dict[str, np.ndarray] | None = None,
    **strings: str,
) -> Path:
    """A model file written by hand: `architecture` and `metadata` as JSON (a str is taken as
    the JSON text itself), the header's other strings as given."""
    from safetensors.numpy import save

    def text(value: Any, default: Any) -> str:
        value = default if value is None else value
        return value if isinstance(value, str) else json.dumps(value)

    header = {
        "format": "chainrule",
        "format_version": "1",
        "architecture": text(architecture, MLP),
        "metadata": text(metadata, {}),
        **strings,
    }
    path.write_bytes(save(weights() if tensors is None else tensors, metadata=header))
    return path


def raw_file(path: Path, header: dict[str, Any], data: bytes = b"") -> Path:
    """A safetensors file whose header is exactly `header`: sizes that lie included."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def refused(path: Path, field: str, **limits: int) -> str:
    with pytest.raises(cr.ModelFileError) as caught:
        cr.load(path, **limits)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert field in message, message
    return message


def layers(*extra: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Sequential", "layers": [*MLP["layers"], *extra]}


def deep(n: int) -> str:
    return "[" * n + "]" * n


# ---- the container and the architecture ------------------------------------------------------

CONTAINER_CASES = {
    "metadata-null": ({"metadata": "null"}, "metadata: expected a JSON object, got null"),
    "metadata-list": ({"metadata": "[1]"}, "metadata: expected a JSON object"),
    "metadata-deep": ({"metadata": deep(1000)}, "metadata: JSON nested more than 64 deep"),
    "metadata-100k-deep": ({"metadata": deep(100_000)}, "metadata: JSON nested more than"),
    "metadata-not-json": ({"metadata": "{oops"}, "metadata: not valid JSON"),
    "type-a-list": ({"architecture": {"type": ["Linear"]}}, "architecture.type: expected one of"),
    "architecture-deep": ({"architecture": deep(1000)}, "architecture: JSON nested"),
    "architecture-a-number": ({"architecture": "3"}, "architecture: expected a layer"),
    "unknown-layer": (
        {"architecture": {"type": "Sequential", "layers": [{"type": "Conv2d"}]}},
        "architecture.layers[0].type: expected one of",
    ),
    "layers-not-a-list": (
        {"architecture": {"type": "Sequential", "layers": "Linear"}},
        "architecture.layers: expected a list of layers",
    ),
    "softmax-axis-99": (
        {"architecture": layers({"type": "Softmax", "axis": 99})},
        "architecture.layers[3].axis: expected an integer from -2 to 1, got 99",
    ),
    "in-features-a-string": (
        {"architecture": {"type": "Linear", "in_features": "2", "out_features": 3}},
        "architecture.in_features: expected an integer",
    ),
    "out-features-missing": (
        {"architecture": {"type": "Linear", "in_features": 2}},
        "architecture.out_features: missing",
    ),
    "bias-a-number": (
        {"architecture": {"type": "Linear", "in_features": 2, "out_features": 3, "bias": 1}},
        "architecture.bias: expected true or false, got 1",
    ),
    "unknown-setting": (
        {"architecture": layers({"type": "ReLU", "inplace": True})},
        "architecture.layers[3]: unknown field 'inplace'",
    ),
    "dropout-p": ({"architecture": layers({"type": "Dropout", "p": 1.5})}, "layers[3].p"),
    "slope-nan": (
        {"architecture": layers({"type": "LeakyReLU", "negative_slope": float("nan")})},
        "layers[3].negative_slope: expected a finite number",
    ),
    "hardtanh-bounds": (
        {"architecture": layers({"type": "Hardtanh", "min_val": 2, "max_val": 1})},
        "architecture.layers[3]: Hardtanh: max_val must be",
    ),
    "newer-format": (
        {"format_version": "3", "chainrule_version": "9.0"},
        "was made by a newer chainrule (written by chainrule 9.0) (format 3; this chainrule "
        "reads 2)",
    ),
    "format-1.1": ({"format_version": "1.1"}, "has model format version '1.1'"),
    "format-digits": ({"format_version": "١"}, "has model format version '١'"),
    "shape-mismatch": (
        {"architecture": {"type": "Linear", "in_features": 3, "out_features": 2}},
        "tensor 'weight' (the architecture's) is missing",
    ),
    "extra-tensor": ({"tensors": {**weights(), "extra": np.ones(2)}}, "tensor 'extra' is neither"),
    "missing-tensor": (
        {"tensors": {k: v for k, v in weights().items() if k != "2.bias"}},
        "tensor '2.bias' (the architecture's) is missing",
    ),
    "wrong-shape": (
        {"tensors": {**weights(), "0.weight": np.ones((2, 3))}},
        "tensor '0.weight': expected shape [3, 2] (the architecture's), got [2, 3]",
    ),
    "mixed-dtypes": (
        {"tensors": {**weights(), "0.bias": np.ones(3, np.float32)}},
        "tensors of several dtypes",
    ),
    "integer-weights": (
        {"tensors": {**weights(), "0.bias": np.ones(3, np.int64)}},
        "tensor '0.bias'.dtype: expected one of F32, F64",
    ),
    "nan-weights": (
        {"tensors": {**weights(), "0.weight": np.full((3, 2), np.nan)}},
        "tensor '0.weight': 6 of its 6 values are not finite",
    ),
    "inf-bias": (
        {"tensors": {**weights(), "2.bias": np.array([np.inf, 0.0])}},
        "tensor '2.bias': 1 of its 2 values are not finite",
    ),
}


@pytest.mark.parametrize("case", CONTAINER_CASES)
def test_each_malformed_file_is_one_error_naming_the_field(tmp_path, case):
    changes, field = CONTAINER_CASES[case]
    refused(forge(tmp_path / "model.safetensors", **copy.deepcopy(changes)), field)


def test_a_small_file_declaring_a_big_network_is_refused_before_allocating(tmp_path):
    path = forge(
        tmp_path / "big.model",
        {"type": "Linear", "in_features": 20000, "out_features": 20000},
        tensors=cr.nn.Linear(2, 3).state_dict(),
    )
    assert path.stat().st_size < 2000
    tracemalloc.start()
    refused(path, "400020000 parameters, over the limit of 100000000 (max_parameters")
    # raised limit: the tensors the file holds are checked against the architecture instead
    refused(path, "tensor 'weight': expected shape [20000, 20000]", max_parameters=10**9)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20


def test_a_header_whose_sizes_lie_is_refused_before_reading_the_tensors(tmp_path):
    architecture = {"type": "Linear", "in_features": 100000, "out_features": 100000}
    entry = {"dtype": "F64", "shape": [100000, 100000], "data_offsets": [0, 8 * 10**10]}
    header = {
        "__metadata__": {
            "format": "chainrule",
            "format_version": "1",
            "architecture": json.dumps(architecture),
        },
        "weight": entry,
        "bias": {"dtype": "F64", "shape": [100000], "data_offsets": [0, 800000]},
    }
    path = raw_file(tmp_path / "lies.model", header, b"\0" * 64)
    # the header's byte ranges are checked first, against the 64 bytes the file holds
    for limit in (None, 10**11):
        refused(
            path,
            "tensor 'weight': shape [100000, 100000] needs 80000000000 bytes, but the file "
            "holds bytes 0 to 80000000000 of 64",
            **({} if limit is None else {"max_parameters": limit}),
        )


def test_a_header_longer_than_the_file_or_the_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "short.model"
    path.write_bytes(struct.pack("<Q", 10**9) + b"{}")
    refused(path, "header is cut short")
    forge(path)
    monkeypatch.setattr(modelfile, "MAX_HEADER_BYTES", 100)
    refused(path, "over 100")


def test_header_metadata_must_be_strings(tmp_path):
    header = {"__metadata__": {"format": "chainrule", "format_version": 1}}
    refused(raw_file(tmp_path / "m.model", header), "expected strings only")


def test_300000_identity_layers_are_refused_by_the_layer_limit(tmp_path):
    many = {"type": "Sequential", "layers": [{"type": "Identity"}] * 300_000}
    path = forge(tmp_path / "many.model", many, tensors={})
    refused(path, "architecture: more than 10000 layers (max_layers")


def test_the_limits_can_be_raised_per_call_and_module_wide(tmp_path, monkeypatch):
    path = forge(tmp_path / "m.model")  # 2-3-2: 17 parameters, 3 layers plus the Sequential
    refused(path, "17 parameters, over the limit of 10", max_parameters=10)
    refused(path, "more than 3 layers", max_layers=3)
    assert isinstance(cr.load(path, max_layers=4), cr.nn.Sequential)
    monkeypatch.setattr(modelfile, "MAX_PARAMETERS", 16)
    refused(path, "over the limit of 16")
    assert isinstance(cr.load(path, max_parameters=17), cr.nn.Sequential)


def test_a_valid_forged_file_loads(tmp_path):
    model = cr.load(forge(tmp_path / "m.model"))
    for name, array in weights().items():
        np.testing.assert_array_equal(model.state_dict()[name], array)


def test_every_layer_type_round_trips_through_the_schema(tmp_path):
    modules = [cr.io.LAYER_TYPES[name]() for name in cr.io.LAYER_TYPES if name != "Linear"]
    model = cr.nn.Sequential(cr.nn.Linear(2, 2, rng=0), *modules)
    cr.save(model, tmp_path / "all.model")
    assert repr(cr.load(tmp_path / "all.model")) == repr(model)


def test_declared_settings_are_the_layers_own():
    for name, cls in cr.io.LAYER_TYPES.items():
        declared = modelfile.LAYER_SETTINGS.get(name)
        if declared is not None and name != "Linear":
            declared(cls().config(), name)  # each layer's own config passes its declaration


# ---- the optimizer's record -------------------------------------------------------------------


def saved_with_adam(tmp_path: Path) -> tuple[Path, dict[str, Any], dict[str, np.ndarray]]:
    model = cr.nn.mlp([2, 3, 2], "tanh", rng=0)
    optimizer = cr.optim.Adam(model.parameters())
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    optimizer.step()
    path = tmp_path / "adam.model"
    cr.save(model, path, optimizer=optimizer)
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        strings = f.metadata()
    return path, strings, tensors


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r, t: r.update(type="RMSprop"), "optimizer.type: expected one of SGD, Adam"),
        (lambda r, t: r["hyperparameters"].update(lr=-1), "optimizer.hyperparameters: Adam: lr"),
        (lambda r, t: r["hyperparameters"].update(lr="x"), "optimizer.hyperparameters"),
        (lambda r, t: r.pop("step"), "optimizer.step: missing"),
        (lambda r, t: r.update(step="1"), "optimizer.step: expected an integer"),
        (lambda r, t: r["params"].append("9.weight"), "optimizer.params[4]"),
        (lambda r, t: r["state"]["0.bias"].pop("exp_avg"), "optimizer.state.0.bias.exp_avg"),
        (
            lambda r, t: r["state"]["0.bias"].update(exp_avg="optimizer.0.weight.exp_avg"),
            "optimizer.state.0.bias.exp_avg: expected a tensor of shape [3]",
        ),
        (lambda r, t: t.pop("optimizer.0.bias.exp_avg"), "optimizer.state.0.bias.exp_avg"),
    ],
    ids=["type", "lr", "lr-text", "step", "step-text", "params", "buffer", "shape", "tensor"],
)
def test_a_malformed_optimizer_record_is_refused(tmp_path, change, field):
    from safetensors.numpy import save

    path, strings, tensors = saved_with_adam(tmp_path)
    record = json.loads(strings["optimizer"])
    change(record, tensors)
    strings["optimizer"] = json.dumps(record)
    path.write_bytes(save(tensors, metadata=strings))
    refused(path, field)


def test_non_finite_optimizer_state_is_refused_when_it_is_loaded(tmp_path):
    from safetensors.numpy import save

    path, strings, tensors = saved_with_adam(tmp_path)
    tensors["optimizer.0.bias.exp_avg_sq"][0] = np.nan
    path.write_bytes(save(tensors, metadata=strings))
    model = cr.load(path)  # the weights are fine
    with pytest.raises(cr.ModelFileError, match="exp_avg_sq': 1 of its 3 values are not finite"):
        cr.io.load_optimizer(path, model)


# ---- hypothesis: structured mutations of a valid file ------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(10**400)
    | st.floats()
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),  # fmt: skip
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value, as the keys and indexes that lead to it."""
    found = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list
    ) else []  # fmt: skip
    for key, item in items:
        found += _paths(item, (*prefix, key))
    return found


def _mutated(document: Any, data: st.DataObject) -> Any:
    document = copy.deepcopy(document)
    places = [p for p in _paths(document) if p]
    place = data.draw(st.sampled_from(places))
    parent = document
    for key in place[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[place[-1]]
    else:
        parent[place[-1]] = data.draw(JSON)
    return document


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_mutated_architecture_loads_or_is_one_model_file_error(tmp_path, data):
    architecture = _mutated(layers({"type": "Softmax", "axis": -1}, {"type": "Dropout"}), data)
    path = forge(tmp_path / "fuzz.model", architecture)
    try:
        model = cr.load(path)
        model(np.zeros((2, 2)))
    except cr.ModelFileError:
        pass


def test_a_header_not_in_utf8_is_refused(tmp_path):
    text = json.dumps({"__metadata__": {"format": "chainrule"}}).encode("utf-16")
    path = tmp_path / "wide.model"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    refused(path, "header: not valid JSON")


def _nesting(value: Any) -> int:
    if not isinstance(value, dict | list):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_nesting(v) for v in items), default=0)


TRICKY = st.text(alphabet='[]{}"\\x', max_size=6)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers() | TRICKY,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
        max_leaves=12,
    ),
    st.booleans(),
)
def test_the_depth_count_skips_brackets_inside_strings(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert modelfile.depth(text.encode()) == _nesting(value)


def test_an_integer_beyond_float64_is_not_a_number_here(tmp_path):
    architecture = layers({"type": "LeakyReLU", "negative_slope": 10**400})
    refused(forge(tmp_path / "big-int.model", architecture), "negative_slope: expected a finite")
