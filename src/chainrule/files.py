"""Writing a file so that nothing is ever destroyed: every file chainrule writes (model files,
checkpoints, pictures, CSVs, exercise sheets) goes through `atomic_write`.

- The bytes go to a temporary file beside the target, `.{name}.{pid}.{random}.tmp`, which is
  flushed to disk and then renamed over the target: a crash or a full disk mid-write leaves an
  existing file as it was, byte for byte.
- Only regular files are written. A folder, a device (`/dev/null`), a pipe or a socket at the
  target is refused, never replaced; a symbolic link is followed, and its target is replaced
  (the link stays a link).
- A temporary file left by a killed run (its process gone, or older than STALE_SECONDS) is
  removed on the next write of the same target; only our own pattern, only beside the target.
- Every refusal is a ModelFileError (an OSError) naming the path, and the option when a
  command line gave it, never a temporary file or errno's raw text.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from chainrule.errors import ModelFileError

# A temporary file whose writer cannot be told apart (a name without a process id) counts as
# left behind once it is this old: no save of a model takes an hour.
STALE_SECONDS = 3600

_KINDS = {
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISFIFO: "a named pipe",
    stat.S_ISSOCK: "a socket",
}


def _where(path: str | os.PathLike[str], option: str | None) -> str:
    return f"{option} {os.fspath(path)}" if option else f"cannot write {os.fspath(path)}"


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS.items() if test(mode)), "not a regular file")


def target(path: str | os.PathLike[str], option: str | None = None) -> Path:
    """The regular file that writing `path` would replace or create, checked before any work:
    its folder exists and is writable, and it is not a folder or a special file. A symbolic
    link gives the file it points to. `option` ("--save") names the path in the error."""
    text = os.fspath(path)
    where = _where(path, option)
    if not text:
        raise ModelFileError(f"{where}: an empty file name")
    if "\0" in text:
        raise ModelFileError(f"{where!r}: a file name cannot hold a NUL character")
    if text.endswith(("/", os.sep)):
        raise ModelFileError(f"{where}: names a folder (it ends in '/'); expected a file name")
    real = Path(os.path.realpath(text))
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise ModelFileError(f"{where}: cannot look at it ({_reason(err)})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ModelFileError(f"{where}: is a folder; expected a file name")
    if mode is not None and not stat.S_ISREG(mode):
        raise ModelFileError(f"{where}: is {_kind(mode)}; chainrule writes regular files only")
    folder = real.parent
    if not folder.is_dir():
        given = Path(text).parent
        shown = given if os.path.realpath(given) == str(folder) else folder
        raise ModelFileError(f"{where}: cannot write there, folder {shown} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ModelFileError(f"{where}: cannot write there, folder {folder} is not writable")
    return real


def refuse_inputs(
    path: str | os.PathLike[str], option: str, inputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Refuse an output that is also one of the command's `inputs` (the model file, the data):
    writing it would destroy what the command reads."""
    real = os.path.realpath(path)
    for given in inputs:
        if given is None or not os.path.exists(given):
            continue
        same = os.path.exists(real) and os.path.samefile(real, given)
        if same or real == os.path.realpath(given):
            raise ModelFileError(
                f"{option} {os.fspath(path)}: is also an input of this command "
                f"({os.fspath(given)}); writing it would destroy that input, choose another file"
            )


def _reason(err: OSError) -> str:
    """errno's words without its number or the file it names: "permission denied"."""
    if err.strerror:  # errno's own words, "No space left on device"
        return err.strerror[0].lower() + err.strerror[1:]
    return str(err) or type(err).__name__


def _mode_for(path: Path) -> int:
    """The permissions the file would have had if written in place: those of the file it
    replaces, else the umask's (mkstemp's private 0600 is for the temporary only)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


def remove_stale(path: Path, suffix: str = ".tmp") -> list[Path]:
    """Remove the temporary files a killed write of `path` left beside it; the ones removed.
    Ours are `.{name}.{pid}.{8 characters}{suffix}` (older chainrules wrote no pid): stale
    when that process is gone, or when older than STALE_SECONDS. A save's end in `.tmp`, a
    download's (chainrule.fetch) in `.part`."""
    own = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)\.)?[a-z0-9_]{{8}}{re.escape(suffix)}")
    now, removed = time.time(), []
    for entry in path.parent.glob(f".{glob_escape(path.name)}.*{suffix}"):
        match = own.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_file():
            continue
        pid = int(match[1]) if match[1] else None
        try:
            old = now - entry.stat().st_mtime > STALE_SECONDS
            if (pid is not None and pid != os.getpid() and not _alive(pid)) or old:
                entry.unlink()
                removed.append(entry)
        except OSError:  # gone already, or not ours to remove: the write goes on regardless
            continue
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def atomic_write(path: str | os.PathLike[str], data: bytes, option: str | None = None) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename; the
    regular file written (a symbolic link's target)."""
    real = target(path, option)
    remove_stale(real)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=real.parent, prefix=f".{real.name}.{os.getpid()}.", suffix=".tmp"
        )
    except OSError as err:
        raise ModelFileError(f"{_where(path, option)}: {_reason(err)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), _mode_for(real))
        os.replace(tmp, real)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, ModelFileError):
            raise ModelFileError(f"{_where(path, option)}: {_reason(err)}") from None
        raise
    return real
