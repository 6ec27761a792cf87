"""`chainrule datasets fetch`: downloads checked by SHA-256, mirror after mirror, written
atomically, against a real HTTP server on 127.0.0.1 (a thread of this process) that serves
small IDX files the test writes. No test reaches the network."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import fetch, idx
from chainrule.cli import main
from chainrule.errors import DataError

N_TRAIN, N_TEST = 12, 5


def idx_file(magic: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)
    return gzip.compress(header + payload, mtime=0)


def small_set() -> dict[str, bytes]:
    """The four files of an MNIST of 12 training and 5 test images, gzipped as published."""
    rng = np.random.default_rng(0)
    files = {}
    for part, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        pixels = rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes()
        labels = bytes(int(d) for d in rng.integers(0, 10, n))
        files[f"{part}-images-idx3-ubyte.gz"] = idx_file(idx.IDX_IMAGES_MAGIC, (n, 28, 28), pixels)
        files[f"{part}-labels-idx1-ubyte.gz"] = idx_file(idx.IDX_LABELS_MAGIC, (n,), labels)
    return files


FILES = small_set()


class Server:
    """A bounded HTTP server on 127.0.0.1: `files` by name; `cut` names files it sends only
    half of (the connection then closes, as a dropped download does)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.cut: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(self.path)
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if name in server.cut else body)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def down_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: a port bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture
def served(monkeypatch, tmp_path) -> Iterator[Server]:
    """A server of FILES, the test's checksums as mnist's, its mirrors as the known ones,
    $CHAINRULE_DATA in tmp_path, and no proxy between this process and 127.0.0.1."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(fetch.CACHE_VARIABLE, str(tmp_path / "cache"))
    with Server(FILES) as server:
        sums = {name: hashlib.sha256(body).hexdigest() for name, body in FILES.items()}
        monkeypatch.setitem(fetch.SOURCES, "mnist", fetch.Source(sums, (server.url,)))
        yield server


def test_fetch_downloads_checks_and_load_keeps_the_published_split(served, tmp_path):
    folder = fetch.fetch("mnist", timeout=5)
    assert folder == tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    for name, body in FILES.items():
        assert (folder / name).read_bytes() == body
    ds = cr.data.load("mnist")
    assert (len(ds), ds.n_train, ds.note) == (N_TRAIN + N_TEST, N_TRAIN, "")
    train, test = cr.data.split(ds, 0.2)
    assert (len(train), len(test)) == (N_TRAIN, N_TEST)
    np.testing.assert_array_equal(test.X, ds.X[N_TRAIN:])
    # a second fetch finds every file whole and downloads nothing
    served.requests.clear()
    fetch.fetch("mnist", timeout=5)
    assert served.requests == []


def test_a_corrupted_cached_file_is_downloaded_again(served):
    folder = fetch.fetch("mnist", timeout=5)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    served.requests.clear()
    fetch.fetch("mnist", timeout=5)
    assert served.requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == FILES["t10k-labels-idx1-ubyte.gz"]


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(served, tmp_path):
    served.files["train-images-idx3-ubyte.gz"] = b"not the published file"
    with pytest.raises(DataError, match="SHA-256 .* expected .*a damaged or different file"):
        fetch.fetch("mnist", timeout=5)
    folder = tmp_path / "cache" / "mnist"
    assert not (folder / "train-images-idx3-ubyte.gz").exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_a_killed_downloads_part_file_is_removed_by_the_next_download(served, tmp_path):
    folder = tmp_path / "cache" / "mnist"
    folder.mkdir(parents=True)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = folder / f".train-images-idx3-ubyte.gz.{gone}.abcd1234.part"  # its process is gone
    alive = folder / f".train-images-idx3-ubyte.gz.{os.getpid()}.abcd1234.part"  # ours, busy
    stale.write_bytes(b"half a download")
    alive.write_bytes(b"a download in progress")
    fetch.fetch("mnist", timeout=5)
    assert not stale.exists() and alive.exists()
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == FILES[
        "train-images-idx3-ubyte.gz"
    ]


def test_a_cut_connection_leaves_no_half_file_and_the_next_mirror_serves(
    served, monkeypatch, tmp_path
):
    served.cut.add("train-images-idx3-ubyte.gz")
    with Server(FILES) as good:
        sums = fetch.SOURCES["mnist"].files
        monkeypatch.setitem(fetch.SOURCES, "mnist", fetch.Source(sums, (good.url,)))
        folder = fetch.fetch("mnist", mirror=served.url, timeout=5, folder=tmp_path / "m")
        # --mirror is tried first; it cut the file, so the known mirror (here `good`) served it
        assert "/mnist/train-images-idx3-ubyte.gz" in served.requests
        assert good.requests == ["/mnist/train-images-idx3-ubyte.gz"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == FILES[
        "train-images-idx3-ubyte.gz"
    ]


def test_a_cut_connection_on_every_mirror_is_one_error_and_no_file(served, tmp_path):
    served.cut.add("train-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="cannot download train-images-idx3-ubyte.gz"):
        fetch.fetch("mnist", timeout=5)
    folder = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == []


def test_mirrors_are_tried_in_order_past_one_that_is_down(served, monkeypatch):
    source = fetch.SOURCES["mnist"]
    monkeypatch.setitem(
        fetch.SOURCES, "mnist", fetch.Source(source.files, (down_url(), served.url))
    )
    fetch.fetch("mnist", timeout=5)
    assert len(served.requests) == 4


def test_offline_the_command_says_the_url_and_the_folder_in_one_line(
    served, monkeypatch, capsys, tmp_path
):
    url = down_url()
    monkeypatch.setitem(fetch.SOURCES, "mnist", fetch.Source(fetch.SOURCES["mnist"].files, (url,)))
    assert main(["datasets", "fetch", "mnist"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chainrule: error: fetch mnist: cannot download")
    assert url in err and str(tmp_path / "cache" / "mnist") in err and "by hand" in err


def test_the_command_fetches_then_trains_on_the_cached_split(served, capsys):
    assert main(["datasets", "fetch", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "mnist: 4 files in" in out and "SHA-256 checked" in out
    code = main(["train", "--data", "mnist", "--hidden", "4", "--epochs", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{N_TRAIN} rows, {N_TEST} held out (the published test set)" in out


def test_load_names_the_fetch_when_the_cache_is_empty(served):
    with pytest.raises(DataError, match="run 'chainrule datasets fetch mnist'"):
        cr.data.load("mnist")


def test_a_folder_of_the_test_set_alone_says_so_and_splits_it(tmp_path):
    for name, body in FILES.items():
        if name.startswith("t10k"):
            (tmp_path / name).write_bytes(body)
    ds = cr.data.load(f"mnist:{tmp_path}")
    assert ds.n_train is None and "only the test set's files" in ds.note
    train, test = cr.data.split(ds, 0.2)
    assert (len(train), len(test)) == (4, 1)


def test_unknown_names_are_refused():
    with pytest.raises(cr.ConfigError, match="name must be one of mnist, fashion-mnist"):
        fetch.fetch("cifar")


def test_the_cache_folder_follows_chainrule_data(monkeypatch, tmp_path):
    monkeypatch.setenv(fetch.CACHE_VARIABLE, str(tmp_path))
    assert fetch.cache_folder("fashion-mnist") == Path(tmp_path) / "fashion-mnist"
    monkeypatch.delenv(fetch.CACHE_VARIABLE)
    assert fetch.cache_folder("mnist").parts[-2:] == ("chainrule", "mnist")
