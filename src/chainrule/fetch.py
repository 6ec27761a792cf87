"""Downloading the real data sets (MNIST, Fashion-MNIST) into a cache folder, once.

Each file's SHA-256 is checked against the known one before it takes its place; mirrors are
tried in order (a `mirror` given first); a file is written to a temporary name in the cache
folder and renamed only once it is whole and checked, so an interrupted download leaves
nothing half-written. The cache folder is `$CHAINRULE_DATA/NAME`, else the platform's user
cache folder (platformdirs: ~/.cache/chainrule/NAME on Linux).

The SHA-256 values: the publishers give MD5 (Zalando's Fashion-MNIST README) or no checksum
(LeCun's MNIST page), so these are the SHA-256 of the files those publishers serve, as listed
alike by independent downloaders (Britefury/batchup, batchup/datasets/mnist.py and
fashion_mnist.py; notwa/mnists); MNIST's two t10k values were also checked on the files here.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chainrule.checks import one_of, refuse
from chainrule.errors import DataError
from chainrule.files import remove_stale

CACHE_VARIABLE = "CHAINRULE_DATA"
CHUNK = 1 << 16
TIMEOUT = 30.0  # seconds without a byte before a mirror counts as down

# progress(file name, bytes so far, total bytes or None when the server does not say)
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class Source:
    """A data set's files (name -> SHA-256) and the base URLs that serve them, in order."""

    files: dict[str, str]
    mirrors: tuple[str, ...]


SOURCES: dict[str, Source] = {
    "mnist": Source(
        {
            "train-images-idx3-ubyte.gz": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
            ),
            "train-labels-idx1-ubyte.gz": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
            ),
        },
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "fashion-mnist": Source(
        {
            "train-images-idx3-ubyte.gz": (
                "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"
            ),
            "train-labels-idx1-ubyte.gz": (
                "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"
            ),
        },
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
}


def cache_folder(name: str) -> Path:
    """Where data set `name` is kept: $CHAINRULE_DATA/name, else the user cache folder's."""
    root = os.environ.get(CACHE_VARIABLE)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("chainrule")
    return Path(root).expanduser() / name


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    name: str,
    mirror: str | None = None,
    folder: Path | None = None,
    progress: Progress | None = None,
    timeout: float = TIMEOUT,
) -> Path:
    """Download data set `name` ("mnist" or "fashion-mnist") into its cache folder (or
    `folder`) and return the folder. A file already there with the right SHA-256 is kept;
    one with another is downloaded again. `mirror`, a base URL, is tried before the known
    mirrors. Raises DataError, in one line naming the URL and the folder, when a file cannot
    be had from any mirror."""
    source = _source(name)
    if mirror is not None and not isinstance(mirror, str):
        raise refuse("fetch", "mirror", "a base URL (str) or None", mirror)
    folder = Path(folder) if folder is not None else cache_folder(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"fetch {name}: cannot make the cache folder {folder}: {err}") from None
    mirrors = ((mirror,) if mirror else ()) + source.mirrors
    for file, expected in source.files.items():
        path = folder / file
        if path.is_file() and sha256(path) == expected:
            continue
        _from_mirrors(
            name, file, expected, [_url(m, file) for m in mirrors], path, progress, timeout
        )
    return folder


def _source(name: str) -> Source:
    return SOURCES[one_of("fetch", "name", name, SOURCES)]


def _url(mirror: str, file: str) -> str:
    return mirror if mirror.endswith(file) else mirror.rstrip("/") + "/" + file


def _from_mirrors(
    name: str,
    file: str,
    expected: str,
    urls: list[str],
    path: Path,
    progress: Progress | None,
    timeout: float,
) -> None:
    """`file` from the first of `urls` that serves it whole with the `expected` SHA-256."""
    failures = []
    for url in urls:
        try:
            _download(url, path, expected, progress, timeout)
            return
        except (OSError, http.client.HTTPException, ValueError) as err:
            failures.append((url, _reason(err)))
    reasons = {reason for _, reason in failures}
    if len(reasons) == 1:
        why = f"from {len(urls)} mirror{'s' if len(urls) > 1 else ''}: {reasons.pop()}"
    else:
        why = "; ".join(f"{url}: {reason}" for url, reason in failures)
    raise DataError(
        f"fetch {name}: cannot download {file} ({why}); offline, put the files from "
        f"{urls[0].removesuffix(file)} into {path.parent} by hand"
    )


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err) or type(err).__name__


def _download(
    url: str, path: Path, expected: str, progress: Progress | None, timeout: float
) -> None:
    """`url` to `path` through a temporary file beside it, renamed only once its SHA-256 is
    `expected`; the temporary file is removed on any failure, and one that a killed download
    left behind is removed by the next."""
    remove_stale(path, ".part")
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part"
    )
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.length
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(path.name, done, total)
            if total is not None and done < total:
                raise http.client.IncompleteRead(b"", total - done)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected:
            raise ValueError(
                f"SHA-256 {digest.hexdigest()[:16]}..., expected {expected[:16]}... "
                f"(a damaged or different file)"
            )
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
