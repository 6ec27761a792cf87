"""What every harness shares: the one rule (success or a documented error), the record of
anything else, and the framing of model-file inputs.

A harness does not stop at the first finding (libFuzzer would end the run there, and its exec
count with it): each distinct finding (exception type and the place it was raised) is printed
once as a line starting "FINDING", and its input saved under WORK/findings/<target>/. Set
FUZZ_STOP=1 to raise instead (the exception itself, with its traceback), which hands the
input to libFuzzer as a crash.
Over-time and over-memory runs are libFuzzer's to catch (-timeout, -rss_limit_mb): it stops
the run, names the bound and writes the input.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

# where long runs keep what they make (the grown corpora, the findings), outside the repository
WORK = Path(os.environ.get("CHAINRULE_FUZZ_WORK", Path(tempfile.gettempdir()) / "chainrule-fuzz"))
# a scratch folder in memory where there is one: each input is written as a file
SCRATCH = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(os.environ.get("TMPDIR", "/tmp"))
FRAMED = b"CRFZ"  # a model input that starts so is a header and a body; the harness frames it
CLI_OK = (0, 1, 2, 130)


def model_file(data: bytes) -> bytes:
    """The model file an input stands for: the input itself, or, for a framed input
    (FRAMED, header JSON, NUL, body), the safetensors file with that header's true length, so
    that mutations of the JSON reach the loader instead of dying at safetensors' framing."""
    if not data.startswith(FRAMED):
        return data
    header, _, body = data[len(FRAMED) :].partition(b"\x00")
    return len(header).to_bytes(8, "little") + header + body


def framed(model: bytes) -> bytes:
    """The framed input for a valid model file (for the seeds)."""
    size = int.from_bytes(model[:8], "little")
    return FRAMED + model[8 : 8 + size] + b"\x00" + model[8 + size :]


class Findings:
    """Outcomes that are neither success nor a documented error, each reported once."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: set[str] = set()
        self.folder = WORK / "findings" / target

    def record(self, data: bytes, key: str, detail: str) -> None:
        """Save and print `data` the first time a finding named `key` is seen."""
        if os.environ.get("FUZZ_STOP") == "1":
            raise AssertionError(f"{key}: {detail}")
        if key in self.seen:
            return
        self.seen.add(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(key.encode()).hexdigest()[:12]
        (self.folder / name).write_bytes(data)
        print(
            f"FINDING {self.target}: {key}: {detail} (input: {self.folder / name})", file=sys.stderr
        )

    def attempt(self, data: bytes, read: Callable[[], object]) -> None:
        """Run `read` on the input `data`: success and chainrule's documented errors pass,
        anything else is a finding."""
        from chainrule.errors import ChainruleError  # after the harness instrumented chainrule

        try:
            read()
        except ChainruleError:
            pass
        except Exception as err:  # noqa: BLE001 (the finding is any other exception)
            self.exception(data, err)

    def exception(self, data: bytes, err: BaseException) -> None:
        """Record an undocumented exception by its type and the innermost chainrule frame."""
        if os.environ.get("FUZZ_STOP") == "1":
            raise err
        frames = traceback.extract_tb(err.__traceback__)
        ours = [f for f in frames if "chainrule" in f.filename] or frames
        where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
        message = str(err).splitlines()[0][:100] if str(err) else ""
        self.record(data, f"{type(err).__name__} @ {where}", message)

    def cli(self, data: bytes, argv: list[str], code: object, err: str) -> None:
        """Check one in-process CLI run: an exit code of CLI_OK, and on failure one line on
        stderr that is chainrule's own and not the handler for bugs."""
        lines = [line for line in err.splitlines() if not line.startswith("note: ")]
        detail = f"{' '.join(argv)[:200]} -> exit {code}, stderr {err[-300:]!r}"
        if code not in CLI_OK:
            self.record(data, f"{argv[0]}: exit {code}", detail)
        elif "Traceback" in err:
            self.record(data, f"{argv[0]}: traceback", detail)
        elif "internal error" in err:
            kind = err.split("internal error: ", 1)[1].split(":", 1)[0]
            self.record(data, f"{argv[0]}: internal error {kind}", detail)
        elif code in (1, 2) and (len(lines) != 1 or not lines[0].startswith("chainrule: error:")):
            self.record(data, f"{argv[0]}: exit {code} with {len(lines)} stderr lines", detail)
