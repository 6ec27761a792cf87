"""Model files: exact round trips, atomic writes, and files that are not models refused safely."""

from __future__ import annotations

import json
import os
import pickle  # only to forge a hostile file: chainrule itself never unpickles
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr


def test_save_load_round_trip_is_exact(tmp_path):
    model = cr.nn.Sequential(
        cr.nn.Linear(3, 5, rng=0),
        cr.nn.Tanh(),
        cr.nn.Linear(5, 4, rng=1),
        cr.nn.ReLU(),
        cr.nn.Linear(4, 2, bias=False, rng=2),
        cr.nn.Softmax(),
    )
    path = tmp_path / "net.model"
    cr.save(model, path)
    loaded = cr.load(path)
    assert repr(loaded) == repr(model)
    for (n, p), (m, q) in zip(model.named_parameters(), loaded.named_parameters(), strict=True):
        assert n == m
        np.testing.assert_array_equal(p.data, q.data)
    x = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_array_equal(model(x).data, loaded(x).data)


def test_float32_and_metadata_survive(tmp_path):
    model = cr.nn.mlp([2, 3, 1], "sigmoid", "sigmoid", dtype=np.float32, rng=0)
    path = tmp_path / "m.model"
    cr.save(model, path, metadata={"loss": "squared", "history": [0.5, 0.25]})
    loaded, meta = cr.io.load_with_metadata(path)
    assert loaded.dtype == np.float32
    assert meta == {"loss": "squared", "history": [0.5, 0.25]}


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_renamed_as_a_model_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = marker
    path = tmp_path / "evil.model"
    path.write_bytes(pickle.dumps(exploit))
    with pytest.raises(cr.ModelFileError, match="not a chainrule model file"):
        cr.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 3, os.urandom(64), b'{"not": "safetensors"}'],
    ids=["empty", "tiny", "random", "json"],
)
def test_garbage_is_refused_with_one_clear_error(tmp_path, content):
    path = tmp_path / "junk.model"
    path.write_bytes(content)
    with pytest.raises(cr.ModelFileError, match=r"junk.model is not a chainrule model file"):
        cr.load(path)


def test_a_truncated_model_is_refused(tmp_path):
    path = tmp_path / "m.model"
    cr.save(cr.nn.mlp([4, 8, 2], rng=0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(cr.ModelFileError, match="not a chainrule model file"):
        cr.load(path)


def test_a_safetensors_file_from_elsewhere_is_refused(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": np.ones(2)}, str(path))
    with pytest.raises(cr.ModelFileError, match="safetensors file but not a chainrule model"):
        cr.load(path)


def _model_file_with_header(tmp_path, **changes):
    """A chainrule model file, written by hand with `changes` to its header (None removes a key)."""
    from safetensors.numpy import save

    model = cr.nn.mlp([2, 3, 1], "sigmoid", rng=0)
    header = {
        "format": "chainrule",
        "format_version": cr.io.FORMAT_VERSION,
        "chainrule_version": "9.9.9",
        "architecture": json.dumps(cr.io.architecture(model)),
        "metadata": "{}",
    }
    header.update(changes)
    path = tmp_path / "hand.model"
    path.write_bytes(save(model.state_dict(), metadata={k: v for k, v in header.items() if v}))
    return path


def test_the_hand_made_file_loads_when_its_version_is_the_current_one(tmp_path):
    assert isinstance(cr.load(_model_file_with_header(tmp_path)), cr.nn.Sequential)


@pytest.mark.parametrize("version", ["1.1", "0", "01", "two"])
def test_a_file_of_another_format_version_is_refused_naming_both_versions(tmp_path, version):
    path = _model_file_with_header(tmp_path, format_version=version)
    with pytest.raises(cr.ModelFileError) as caught:
        cr.load(path)
    message = str(caught.value)
    assert f"format version {version!r}" in message
    assert f"reads format version {cr.io.FORMAT_VERSION!r}" in message
    assert "written by chainrule 9.9.9" in message and "hand.model" in message


def test_a_file_without_a_format_version_is_refused(tmp_path):
    path = _model_file_with_header(tmp_path, format_version=None)
    expected = r"hand.model has no model format version.*expected format version 2"
    with pytest.raises(cr.ModelFileError, match=expected):
        cr.load(path)


def test_a_failed_save_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "m.model"
    cr.save(cr.nn.mlp([2, 2], rng=0), path)
    before = path.read_bytes()
    with pytest.raises(cr.ModelFileError, match="JSON"):
        cr.save(cr.nn.mlp([2, 2], rng=1), path, metadata={"bad": object()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.model"]  # no temporary left behind


def test_missing_file_and_folder_are_named(tmp_path):
    with pytest.raises(cr.ModelFileError, match="no model file at"):
        cr.load(tmp_path / "absent.model")
    with pytest.raises(cr.ModelFileError, match="folder .*nowhere does not exist"):
        cr.save(cr.nn.mlp([2, 2]), tmp_path / "nowhere" / "m.model")


def test_custom_modules_are_refused_with_the_alternative():
    class Custom(cr.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(cr.ModelFileError, match=r"cannot save a Custom.*state_dict"):
        cr.save(Custom(), Path("unused.model"))


def test_saved_files_get_ordinary_permissions(tmp_path):
    """The temporary file is private (0600); the model file is not."""
    umask = os.umask(0o022)
    try:
        path = tmp_path / "m.model"
        cr.save(cr.nn.mlp([2, 2], rng=0), path)
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o640)
        cr.save(cr.nn.mlp([2, 2], rng=1), path)
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
