"""atheris harness: model files, byte by byte.

Each input is a model file (or a framed one, see common.model_file): it is written to a
scratch file and loaded with chainrule.io.load_with_metadata. Allowed: a model, or a
ModelFileError (any ChainruleError). A file that loads is then read by the command line
as 'chainrule info' and 'chainrule evaluate' on a small CSV, where the allowed outcomes
are exit 0, or exit 1 or 2 with one line "chainrule: error: ..." that is not "internal error".

    python fuzz/fuzz_model.py fuzz/corpus/model -dict=fuzz/model.dict \
        -max_total_time=3600 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

import atheris
from common import SCRATCH, Findings, model_file

with atheris.instrument_imports(include=["chainrule"]):
    from chainrule.cli import main as cli_main
    from chainrule.errors import ChainruleError
    from chainrule.io import load_with_metadata

FINDINGS = Findings("model")
MODEL = SCRATCH / f"chainrule-fuzz-{os.getpid()}.model"
DATA = SCRATCH / f"chainrule-fuzz-{os.getpid()}.csv"
DATA.write_text("x1,x2,label\n0.5,1,a\n-1,2.5,b\n3,0,a\n1e-3,-2,b\n")


def cli(data: bytes, *argv: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    FINDINGS.cli(data, list(argv), code, err.getvalue())


def test_one_input(data: bytes) -> None:
    MODEL.write_bytes(model_file(data))
    try:
        load_with_metadata(MODEL)
    except ChainruleError:
        return
    except Exception as err:  # noqa: BLE001 (the finding is any other exception)
        FINDINGS.exception(data, err)
        return
    cli(data, "info", str(MODEL))
    cli(data, "evaluate", str(MODEL), "--data", str(DATA))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
