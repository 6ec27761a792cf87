"""Issue 16, the command line: every error a user can cause is one line with its exit code,
no file is ever destroyed (chainrule.files), Ctrl-C is one line and exit 130 at any moment,
numbers are read strictly, and --save keeps a better model from an interrupted run."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import files
from chainrule.cli import main
from chainrule.errors import ModelFileError
from chainrule.io import load_with_metadata

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, code: int, *args: object) -> str:
    """A command that must fail with `code`: its one line on stderr (and nothing else)."""
    got, out, err = run(capsys, *args)
    assert got == code, f"exit {got}, expected {code}; stderr: {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), err
    assert "Traceback" not in err + out and ".tmp" not in err and "Errno" not in err
    return lines[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A moons model trained for 20 epochs."""
    path = tmp_path_factory.mktemp("hardening") / "m.model"
    assert main(["train", "--data", "moons", "--epochs", "20", "--save", str(path), "--quiet"]) == 0
    return path


# --- chainrule.files: only regular files, atomically, never a temp file left ------------------


def test_a_symlink_keeps_being_a_link_and_its_target_is_replaced(tmp_path):
    target = tmp_path / "real.bin"
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target.name)
    assert files.atomic_write(link, b"new") == target
    assert link.is_symlink() and os.readlink(link) == "real.bin"
    assert target.read_bytes() == b"new"
    dangling = tmp_path / "dangling.bin"
    dangling.symlink_to("made.bin")
    files.atomic_write(dangling, b"made")
    assert dangling.is_symlink() and (tmp_path / "made.bin").read_bytes() == b"made"


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: os.mkfifo(p), "is a named pipe; chainrule writes regular files only"),
    ],
)
def test_folders_and_special_files_are_refused_not_replaced(tmp_path, make, words):
    path = tmp_path / "x.model"
    make(path)
    before = path.lstat().st_mode
    with pytest.raises(ModelFileError, match=words) as caught:
        files.atomic_write(path, b"data", "--save")
    assert str(caught.value).startswith(f"--save {path}: ")
    assert path.lstat().st_mode == before and os.listdir(tmp_path) == ["x.model"]


def test_dev_null_stays_a_device(capsys, tmp_path):
    line = fails(capsys, 1, "train", "--save", "/dev/null", "--epochs", "1")
    assert line == (
        "chainrule: error: --save /dev/null: is a character device; chainrule writes regular "
        "files only"
    )
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_missing_folder_and_a_folder_name_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="folder .*none does not exist"):
        files.target(tmp_path / "none" / "m.model")
    with pytest.raises(ModelFileError, match=r"names a folder \(it ends in '/'\)"):
        files.target(f"{tmp_path}/newdir/")
    with pytest.raises(ModelFileError, match="an empty file name"):
        files.target("")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    with pytest.raises(ModelFileError, match="is not writable"):
        files.target(folder / "m.model", "--save")


def test_a_failed_write_names_the_path_not_the_temp_file_and_keeps_the_old_file(
    tmp_path, monkeypatch
):
    path = tmp_path / "m.model"
    path.write_bytes(b"old")

    def full(fd):
        raise OSError(28, "No space left on device", str(tmp_path / ".m.model.1.abcdefgh.tmp"))

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(ModelFileError) as caught:
        files.atomic_write(path, b"new", "--save")
    assert str(caught.value) == f"--save {path}: no space left on device"
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.model"]


def test_cr_save_into_a_folder_is_a_chainrule_error_and_an_oserror(tmp_path):
    with pytest.raises(ModelFileError) as caught:
        cr.save(cr.nn.Linear(2, 1), tmp_path)
    assert isinstance(caught.value, OSError) and "is a folder" in str(caught.value)


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_temp_files_of_our_own_pattern_are_removed_on_the_next_save(tmp_path):
    path = tmp_path / "m.model"
    dead = 2**22 + 12345  # above Linux's pid_max: no such process
    stale = [
        tmp_path / f".m.model.{dead}.abcdefgh.tmp",  # its writer is gone
        tmp_path / ".m.model.k2j4h5g6.tmp",  # an older chainrule's, an hour and more old
    ]
    kept = [
        tmp_path / f".m.model.{os.getppid()}.zzzzzzzz.tmp",  # a live writer's
        tmp_path / ".m.model.q1w2e3r4.tmp",  # no pid, but recent
        tmp_path / ".m.model.notes.tmp",  # not our pattern
        tmp_path / f".m.{dead}.abcdefgh.tmp",  # another target's (m, not m.model)
        tmp_path / "sub" / f".m.model.{dead}.abcdefgh.tmp",  # not beside the target
    ]
    (tmp_path / "sub").mkdir()
    for p in stale + kept:
        p.write_bytes(b"half")
    _age(stale[1], files.STALE_SECONDS + 60)
    files.atomic_write(path, b"whole")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert path.read_bytes() == b"whole"


def test_the_command_line_cleans_a_killed_runs_temp_file(capsys, tmp_path):
    left = tmp_path / f".m.model.{2**22 + 1}.abcdefgh.tmp"
    left.write_bytes(b"half a model")
    code, out, _ = run(capsys, "train", "--data", "and", "--epochs", "2", "--save",
                       tmp_path / "m.model", "--quiet")  # fmt: skip
    assert code == 0 and not left.exists() and (tmp_path / "m.model").is_file()


# --- outputs checked before any work, never an input -----------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command reads its data or builds a network."""
    from chainrule.cli import source

    def refuse(*args, **kwargs):
        raise AssertionError("the command started work before checking its outputs")

    monkeypatch.setattr(source, "load", refuse)


def test_save_to_a_folder_name_writes_nothing(capsys, tmp_path, monkeypatch, no_work):
    monkeypatch.chdir(tmp_path)
    line = fails(capsys, 1, "train", "--save", "newdir/")
    assert line.startswith("chainrule: error: --save newdir/: names a folder")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "args, words",
    [
        (["--save", "none/m.model"], "--save none/m.model: cannot write there, folder none"),
        (["--plot", "none/l.png"], "--plot none/l.png: cannot write there, folder none"),
        (["--plot", "."], "--plot must be a file name ending in .png"),
        (["--save", "same.png", "--plot", "same.png"], "--plot must be another file than"),
        (["--data", "d.csv", "--save", "d.csv"], "--save d.csv: is also an input"),
        (["--data", "d.csv", "--save", "link.csv"], "--save link.csv: is also an input"),
    ],
)
def test_train_checks_its_outputs_before_any_work(
    capsys, tmp_path, monkeypatch, no_work, args, words
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    (tmp_path / "link.csv").symlink_to("d.csv")
    line = fails(capsys, 2 if "must be" in words else 1, "train", *args)
    assert words in line
    assert (tmp_path / "d.csv").read_text() == "a,b,label\n1,2,0\n3,4,1\n"


def test_resume_refuses_to_save_over_its_own_data(capsys, tmp_path, model):
    data = tmp_path / "moons.csv"
    X, y = cr.data.load("moons")
    rows = "".join(f"{a},{b},{c}\n" for (a, b), c in zip(X, y, strict=True))
    data.write_text("x1,x2,label\n" + rows)
    resumable = tmp_path / "r.model"
    assert main(["train", "--data", str(data), "--epochs", "2", "--save", str(resumable),
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    before = data.read_bytes()
    line = fails(capsys, 1, "train", "--resume", resumable, "--epochs", "3", "--save", data)
    assert "is also an input" in line and data.read_bytes() == before


def test_predict_never_writes_over_its_model_or_its_rows(capsys, tmp_path, model):
    rows = tmp_path / "pts.csv"
    rows.write_text("x1,x2\n0,1\n1,0\n")
    before = model.read_bytes()
    for output in (model, rows):
        line = fails(capsys, 1, "predict", model, rows, "--output", output)
        assert f"--output {output}: is also an input of this command" in line
    assert model.read_bytes() == before and rows.read_text() == "x1,x2\n0,1\n1,0\n"


def test_plot_and_exercise_check_their_out_before_work(capsys, tmp_path, model):
    (tmp_path / "d.png").mkdir()
    line = fails(capsys, 1, "plot", model, "--kind", "loss", "--out", tmp_path / "d.png")
    assert line.endswith("d.png: is a folder; expected a file name")
    line = fails(capsys, 1, "exercise", "--out", f"{tmp_path}/sheets/")
    assert "--out" in line and "names a folder" in line


# --- strict numbers and empty names ----------------------------------------------------------

NOT_NUMBERS = [" 16", "1_6", "١٦", "+16", "16 ", "0x10", "999999999999999999999999999999"]


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_hidden_takes_plain_ascii_digits_only(capsys, text):
    line = fails(capsys, 2, "train", "--hidden", text)
    assert line.startswith("chainrule: error: --hidden must be positive integers")


@pytest.mark.parametrize("text", NOT_NUMBERS)
@pytest.mark.parametrize(
    "command",
    [
        ["train", "--epochs"],
        ["train", "--seed"],
        ["train", "--n"],
        ["train", "--checkpoint-every"],
        ["train", "--max-parameters"],
        ["explain", "M", "--data", "moons", "--layer", "1", "--j", "0", "--example"],
        ["exercise", "--seed"],
        ["playground", "--port"],
    ],
)
def test_typers_integer_options_are_strict_too(capsys, command, text):
    line = fails(capsys, 2, *command, text)
    assert f"{text!r} is not a whole number in plain digits" in line


@pytest.mark.parametrize("text", ["1_0", "١", " 0.1", "0,1", "1e"])
@pytest.mark.parametrize(
    "command",
    [["train", "--lr"], ["train", "--noise"], ["walkthrough", "--a"], ["exercise", "--lr"]],
)
def test_number_options_are_strict(capsys, command, text):
    assert f"{text!r} is not a number in plain digits" in fails(capsys, 2, *command, text)


def test_exercise_sizes_and_asks_are_strict(capsys):
    assert "--sizes '2,٣,2' is not a list" in fails(capsys, 2, "exercise", "--sizes", "2,٣,2")
    assert "--ask '1,0,1_0' is not a weight" in fails(capsys, 2, "exercise", "--ask", "1,0,1_0")


@pytest.mark.parametrize("option", ["--activation", "--loss", "--dtype", "--init", "--data"])
def test_an_empty_name_is_an_error_not_the_default(capsys, option):
    assert f"{option} must be" in fails(capsys, 2, "train", option, "")


def test_negative_and_huge_seeds_are_bad_options(capsys):
    assert fails(capsys, 2, "train", "--seed", "-1") == (
        "chainrule: error: --seed must be an integer >= 0, got -1"
    )
    assert "is not a whole number" in fails(capsys, 2, "train", "--seed", "9" * 30)


def test_a_huge_network_is_refused_before_it_is_allocated(capsys, monkeypatch):
    from chainrule import nn

    def allocate(*args, **kwargs):
        raise AssertionError("a network over the limit was built")

    monkeypatch.setattr(nn, "mlp", allocate)
    line = fails(capsys, 2, "train", "--hidden", "100000000")
    assert "makes a network of" in line and "--max-parameters raises it" in line
    line = fails(capsys, 2, "train", "--hidden", "64", "--max-parameters", "1000")
    assert "4,810 parameters (layers 64-64-10), over the limit of 1,000" in line


def test_max_parameters_defaults_to_the_model_file_limit():
    import inspect

    from chainrule.cli.train import train_command
    from chainrule.modelfile import MAX_PARAMETERS

    assert inspect.signature(train_command).parameters["max_parameters"].default == MAX_PARAMETERS


def test_a_generated_set_has_a_row_limit(capsys):
    assert "--n must be at most 10,000,000 rows" in fails(
        capsys, 2, "train", "--data", "moons", "--n", "100000000"
    )


# --- numpy's warnings: at most one line of chainrule's own ------------------------------------


def test_a_diverging_run_prints_its_error_and_no_numpy_warnings(capsys):
    line = fails(capsys, 1, "train", "--data", "moons", "--lr", "1e300", "--activation", "relu",
                 "--dtype", "float32", "--epochs", "50", "--quiet")  # fmt: skip
    assert "training diverged" in line


def test_numeric_warnings_of_a_run_that_succeeds_are_one_line(capsys, monkeypatch):
    import warnings

    from chainrule.cli import show

    real = show.console

    def noisy():
        with np.errstate(over="warn", invalid="warn"):
            np.float32(3e38) * np.float32(10)
            np.array([np.inf]) - np.array([np.inf])
            np.exp(np.array([1000.0]))
        warnings.warn("a chainrule hint", UserWarning, stacklevel=1)
        return real()

    monkeypatch.setattr(show, "console", noisy)
    code, out, err = run(capsys, "datasets")
    assert code == 0 and "digits" in out
    assert err.splitlines() == [
        "chainrule: warning: a chainrule hint",
        "chainrule: warning: numpy: overflow encountered in scalar multiply (and 2 more numeric "
        "warnings); the numbers may be inaccurate",
    ]


# --- start-up: lazy commands, one table of their help lines ----------------------------------


def test_help_and_version_load_no_command_module():
    code = textwrap.dedent(
        """
        import sys
        from chainrule.cli import main
        assert main(["--help"]) == 0 and main(["--version"]) == 0
        heavy = ["chainrule.cli.train", "chainrule.cli.evaluate", "chainrule.cli.plot",
                 "chainrule.cli.lecture", "matplotlib", "sklearn", "rich"]
        print(sorted(name for name in heavy if name in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "Commands:" in done.stdout and "chainrule 0." in done.stdout


def test_the_help_table_matches_each_commands_own_help():
    import typer

    from chainrule.cli import COMMANDS, app

    group = typer.main.get_command(app)
    for name, (_, _, line) in COMMANDS.items():
        assert group.commands[name].get_short_help_str(limit=500) == line, name
    assert list(group.list_commands(None)) == list(COMMANDS)


def test_docs_list_every_exit_code():
    from chainrule.cli import EXIT_CODES

    text = (ROOT / "docs" / "cli.md").read_text()
    listed = {int(code) for code in re.findall(r"^\| (\d+) \|", text, flags=re.M)}
    assert listed == {0} | {code for _, code in EXIT_CODES}


# --- Ctrl-C at any moment: one line, exit 130 -------------------------------------------------

# The child runs `chainrule` as the program (main() with no argv), after installing HOOK: a
# patch that sends the process Ctrl-C at one chosen moment, so the moment is certain.
CHILD = """
import os, signal, sys, time
sys.argv[0] = "chainrule"  # as the console script names itself
def ctrl_c(times=1):
    for _ in range(times):
        os.kill(os.getpid(), signal.SIGINT)
    time.sleep(2)  # the signal lands here, inside the moment
{hook}
from chainrule.cli import main
code = main()
ctrl_c_after_main = os.environ.get("CTRL_C_AFTER_MAIN")
if ctrl_c_after_main:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)
sys.exit(code)
"""

HOOKS = {
    "loading the package (numpy)": """
import importlib.abc
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            ctrl_c()
        return None
sys.meta_path.insert(0, Hook())
""",
    "start-up": """
import importlib.abc
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "typer":
            sys.meta_path.remove(self)
            ctrl_c()
        return None
sys.meta_path.insert(0, Hook())
""",
    "data loading": """
import chainrule.data as data
data.load = lambda *a, **k: ctrl_c()
""",
    "data loading, twice": """
import chainrule.data as data
data.load = lambda *a, **k: ctrl_c(times=2)
""",
    "writing a file": """
import chainrule.files as files
files.os.fsync = lambda fd: ctrl_c()
""",
}


def child(tmp_path: Path, hook: str, *args: str, env: dict | None = None):
    code = CHILD.format(hook=textwrap.dedent(hook))
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize("moment", list(HOOKS))
def test_ctrl_c_at_any_moment_is_one_line_and_130(tmp_path, moment):
    old = tmp_path / ("old.md" if moment == "writing a file" else "old.model")
    old.write_bytes(b"the old file")
    if moment == "writing a file":  # a file written without a model's held save
        args = ["exercise", "--out", old.name]
    else:
        args = ["train", "--data", "and", "--epochs", "3", "--save", old.name, "--quiet"]
    done = child(tmp_path, HOOKS[moment], *args)
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == ["chainrule: error: interrupted"]
    assert old.read_bytes() == b"the old file"
    assert os.listdir(tmp_path) == [old.name]  # no temp file left


def test_ctrl_c_during_training_stops_after_the_batch_and_saves(tmp_path):
    hook = """
import chainrule.optim as optim
real = optim.Adam.step
def step(self):
    real(self)
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)
optim.Adam.step = step
"""
    done = child(tmp_path, hook, "train", "--data", "moons", "--save", "m.model", "--quiet")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.strip().splitlines()[-1] == "saved model to m.model"
    assert load_with_metadata(tmp_path / "m.model")[1]["history"]["stop_reason"] == "interrupted"


@pytest.mark.parametrize("where", ["saving", "the summary after saving"])
def test_ctrl_c_after_the_save_began_says_the_model_was_saved(tmp_path, where):
    hook = (
        """
import chainrule.io as io
real = io.save
def save(*a, **k):
    os.kill(os.getpid(), signal.SIGINT)
    real(*a, **k)
io.save = save
"""
        if where == "saving"
        else """
import chainrule.cli.report as report
report.summary = lambda *a, **k: ctrl_c(times=2)
"""
    )
    done = child(tmp_path, hook, "train", "--data", "and", "--epochs", "3", "--save", "m.model")
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        "chainrule: error: interrupted after saving the model to m.model"
    ]
    assert "saved model to" not in done.stdout
    assert len(load_with_metadata(tmp_path / "m.model")[1]["history"]["loss"]) == 3


def test_ctrl_c_once_main_has_answered_cannot_change_the_exit(tmp_path):
    done = child(tmp_path, "", "datasets", env={"CTRL_C_AFTER_MAIN": "1"})
    assert done.returncode == 0 and done.stderr == "" and "digits" in done.stdout


# --- --save keeps a better model from an interrupted run --------------------------------------


@pytest.fixture
def interrupt_at_step(monkeypatch):
    """Ctrl-C (the real signal, to this process) right after optimizer step `n`."""
    from chainrule import optim

    def at(n: int) -> None:
        real, steps = optim.Adam.step, [0]

        def step(self):
            real(self)
            steps[0] += 1
            if steps[0] == n:
                os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(optim.Adam, "step", step)

    return at


def _trained(tmp_path: Path, data: str = "moons", epochs: int = 30) -> Path:
    path = tmp_path / "good.model"
    assert main(["train", "--data", data, "--epochs", str(epochs), "--save", str(path),
                 "--quiet"]) == 0  # fmt: skip
    return path


def test_an_interrupted_run_keeps_a_better_model(capsys, tmp_path, interrupt_at_step):
    good = _trained(tmp_path)
    capsys.readouterr()
    before = good.read_bytes()
    interrupt_at_step(1)
    code, out, err = run(capsys, "train", "--data", "moons", "--seed", "3", "--save", good,
                         "--checkpoint-every", "1", "--quiet")  # fmt: skip
    assert code == 0 and err == ""
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"kept {re.escape(str(good))}: its loss \S+ is lower than this run's \S+; "
        r"--overwrite-worse saves this run over it",
        last,
    )
    assert good.read_bytes() == before


def test_overwrite_worse_saves_the_interrupted_run(capsys, tmp_path, interrupt_at_step):
    good = _trained(tmp_path)
    interrupt_at_step(1)
    code, out, _ = run(capsys, "train", "--data", "moons", "--save", good, "--overwrite-worse",
                       "--quiet")  # fmt: skip
    assert code == 0 and out.strip().splitlines()[-1] == f"saved model to {good}"
    assert load_with_metadata(good)[1]["history"]["stop_reason"] == "interrupted"


def test_a_file_that_cannot_be_compared_is_kept(capsys, tmp_path, interrupt_at_step):
    other = _trained(tmp_path, data="circles", epochs=3)
    before = other.read_bytes()
    interrupt_at_step(1)
    code, out, _ = run(capsys, "train", "--data", "moons", "--save", other, "--quiet")
    assert code == 0
    assert "it holds a model of other data or with another loss" in out.splitlines()[-1]
    assert other.read_bytes() == before


def test_a_run_that_ends_as_asked_saves_and_a_diverged_one_does_not(capsys, tmp_path):
    good = _trained(tmp_path)
    before = good.read_bytes()
    fails(capsys, 1, "train", "--data", "moons", "--lr", "1e300", "--activation", "relu",
          "--dtype", "float32", "--save", good, "--checkpoint-every", "1", "--quiet")  # fmt: skip
    assert good.read_bytes() == before
    code, out, _ = run(capsys, "train", "--data", "moons", "--epochs", "1", "--save", good)
    assert code == 0 and out.strip().splitlines()[-1] == f"saved model to {good}"
    assert good.read_bytes() != before


def test_a_checkpoint_refuses_a_device_before_training():
    from chainrule.callbacks import Checkpoint

    with pytest.raises(ModelFileError, match="Checkpoint: /dev/null: is a character device"):
        Checkpoint("/dev/null", every=1)


def test_a_nul_in_an_output_name_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in (["train", "--save"], ["exercise", "--out"]):
        assert "cannot hold a NUL character" in fails(capsys, 1, *command, "a\0b")
    assert os.listdir(tmp_path) == []


def test_a_walkthrough_whose_checks_disagree_says_so_in_one_line(capsys):
    code, out, err = run(capsys, "walkthrough", "--y", "1e20")
    assert code == 1 and "DO NOT agree" in out
    assert err.splitlines() == [
        "chainrule: error: walkthrough: with these numbers the small changes (± 0.001) do not "
        "agree with the chain rule (see above): float64 runs out of digits; values nearer the "
        "slide's keep them"
    ]


def test_only_the_command_takes_over_ctrl_c_at_import():
    """`import chainrule` in a script leaves sys.excepthook alone; as the `chainrule` command
    (its console script's name, or -m chainrule.cli) it installs start.py's."""
    code = "import sys; import chainrule; print(sys.excepthook is sys.__excepthook__)"
    for argv0, expected in (("script.py", "True"), ("chainrule", "False")):
        done = subprocess.run(
            [sys.executable, "-c", f"import sys; sys.argv[0] = {argv0!r}; {code}"],
            capture_output=True,
            text=True,
        )
        assert done.stdout.strip() == expected, done.stderr


def test_python_dash_m_chainrule_is_the_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "train", "--hidden", "1_6"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and done.stderr.startswith("chainrule: error: --hidden must be")
