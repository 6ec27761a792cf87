"""atheris harness: the options of `chainrule train`, `evaluate` and `predict`.

Each input chooses a command and some of its options, each with a value that is tricky
text, a number in an odd spelling, or a string of the fuzzer's own. The command runs in
process on tiny data in a scratch folder, its output captured. Allowed: exit 0, or exit 1
or 2 with one line "chainrule: error: ..." that is not "internal error" (130 on Ctrl-C).

Paths that a command may write (--save, --output, --plot, --resume) come from a fixed list
inside the scratch folder, never from the fuzzer's text: the list holds the traps (the input
data itself, a folder, a symlink, a missing folder). Values that ask for long legitimate work
(--epochs, --n, --max-parameters above a few) are cut down, so that a run over the -timeout
is a finding.

    python fuzz/fuzz_cli_options.py fuzz/corpus/cli -max_total_time=3600 \
        -rss_limit_mb=2048 -timeout=20 -print_final_stats=1
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys

import atheris
from common import SCRATCH, Findings

with atheris.instrument_imports(include=["chainrule"]):
    from chainrule.cli import main as cli_main

FINDINGS = Findings("cli")
HOME = SCRATCH / f"chainrule-fuzz-{os.getpid()}-cli"
CSV_TEXT = "x1,x2,label\n0.5,1,a\n-1,2.5,b\n3,0,a\n1e-3,-2,b\n0,0,a\n2,2,b\n"

TRICKY = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "2",
    " 16",
    "16 ",
    "1_6",
    "١٦",
    "１６",
    "16,8",
    "16,,8",
    "0,4",
    "none",
    "None",
    "full",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "-0",
    "0.5",
    "1.0",
    "0x10",
    "999999999999999999999999999999",
    "-999999999999999999999",
    "1e-320",
    "3",
    "1e9",
    "sgd",
    "adam",
    "momentum",
    "tanh",
    "relu",
    "softmax",
    "ce",
    "bce",
    "squared",
    "mse",
    "auto",
    "float32",
    "float64",
    "float16",
    "classification",
    "regression",
    "xavier",
    "label",
    "x1",
    "x9",
    "--quiet",
    "-",
    "\x00",
    "é",
    "a,b",
]
INT_OPTIONS_CAPPED = {"--epochs": 3, "--n": 200, "--checkpoint-every": 3, "--max-parameters": 10**6}
TEXT_OPTIONS = {
    "train": [
        "--target",
        "--task",
        "--n",
        "--noise",
        "--hidden",
        "--activation",
        "--loss",
        "--init",
        "--optimizer",
        "--lr",
        "--momentum",
        "--weight-decay",
        "--epochs",
        "--batch-size",
        "--until",
        "--seed",
        "--dtype",
        "--test-split",
        "--checkpoint-every",
        "--max-parameters",
    ],
    "evaluate": ["--target"],
    "predict": [],
}
PATH_OPTIONS = {
    "train": ["--save", "--plot", "--resume"],
    "evaluate": [],
    "predict": ["--output"],
}
DATA = ["data.csv", "xor", "and", "moons", "blobs", "missing.csv", "folder", "model.model"]


def paths() -> list[str]:
    """What a path option may name: fresh files, the inputs themselves, and traps."""
    return [
        str(HOME / name)
        for name in (
            "out.model", "out.png", "out.csv", "data.csv", "model.model", "link.model",
            "folder", "folder/", "missing/out.model", "out.txt", "",
        )
    ]  # fmt: skip


def setup() -> None:
    """The scratch folder as every input starts from it (a run may have changed it)."""
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    (HOME / "folder").mkdir()
    (HOME / "data.csv").write_text(CSV_TEXT)
    (HOME / "model.model").write_bytes(MODEL)
    (HOME / "target.model").write_bytes(MODEL)
    (HOME / "link.model").symlink_to(HOME / "target.model")


def value(fdp: atheris.FuzzedDataProvider, option: str) -> str:
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))
    elif kind == 1:
        text = str(fdp.ConsumeIntInRange(-(2**40), 2**40))
    elif kind == 2:
        text = repr(fdp.ConsumeRegularFloat())
    else:
        text = fdp.PickValueInList(TRICKY)
    cap = INT_OPTIONS_CAPPED.get(option)
    if cap is not None:
        with contextlib.suppress(ValueError):
            if int(text) > cap:
                text = str(cap)
    return text


def argv_for(fdp: atheris.FuzzedDataProvider) -> list[str]:
    command = fdp.PickValueInList(["train", "evaluate", "predict"])
    argv = [command]
    if command == "train":
        argv += ["--data", str(HOME / fdp.PickValueInList(DATA)), "--quiet"]
        argv += ["--overwrite-worse"] if fdp.ConsumeIntInRange(0, 4) == 0 else []
        if fdp.ConsumeBool():  # a built-in set by name, not as a path
            argv[2] = fdp.PickValueInList(DATA[1:5])
    else:
        argv.append(str(HOME / fdp.PickValueInList(["model.model", "data.csv", "missing"])))
        argv += ["--data"] if command == "evaluate" else []
        argv.append(str(HOME / fdp.PickValueInList(["data.csv", "model.model", "missing.csv"])))
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        if fdp.ConsumeBool() and TEXT_OPTIONS[command]:
            option = fdp.PickValueInList(TEXT_OPTIONS[command])
            argv += [option, value(fdp, option)]
        elif PATH_OPTIONS[command]:
            argv += [fdp.PickValueInList(PATH_OPTIONS[command]), fdp.PickValueInList(paths())]
        elif command == "predict" and fdp.ConsumeBool():
            argv.append("--proba")
    if command == "train":  # the defaults, made small (a 10^8-parameter network is asked for)
        argv += [] if "--epochs" in argv else ["--epochs", "2"]
        argv += [] if "--max-parameters" in argv else ["--max-parameters", str(10**6)]
    return argv


def test_one_input(raw: bytes) -> None:
    setup()
    argv = argv_for(atheris.FuzzedDataProvider(raw))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    FINDINGS.cli(raw, argv, code, err.getvalue())


def trained_model() -> bytes:
    """A model trained on CSV_TEXT, to evaluate, predict with and resume."""
    HOME.mkdir(parents=True, exist_ok=True)
    (HOME / "data.csv").write_text(CSV_TEXT)
    path = HOME / "seed.model"
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(["train", "--data", str(HOME / "data.csv"), "--hidden", "3",
                         "--epochs", "2", "--quiet", "--save", str(path)])  # fmt: skip
    assert code == 0, code
    return path.read_bytes()


if __name__ == "__main__":
    MODEL = trained_model()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
