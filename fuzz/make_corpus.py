"""Write the seed corpora under fuzz/corpus/ from valid inputs that this chainrule makes:
small trained models (with their training record), one saved from Python and one with
Adam's state, each also
framed (common.framed), small CSVs, a small IDX pair (raw and gzipped) packed the way
fuzz_idx.py reads its input, and byte patterns for fuzz_cli_options.py.

Run it again after a model file format change: `python fuzz/make_corpus.py`.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import framed  # noqa: E402 (fuzz/ is not a package)
from idx_input import pack  # noqa: E402

CSV_SEEDS = {
    "classes.csv": "x1,x2,label\n0.5,1,a\n-1,2.5,b\n3,0,a\n1e-3,-2,b\n",
    "numbers.csv": "a,b,y\n1,2,0.5\n3,4,1.5\n5,6,2.25\n7,8,-1\n9,10,3.75\n",
    "quoted.csv": '\ufeff"x 1","x,2",label\n" 1 ",2,0\n3,"4",1\n5,6,0\n',
    "digits.csv": "p0,p1,p2,digit\n0,16,3,7\n1,0,0,1\n2,5,9,7\n4,4,4,1\n",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """`array` (uint8) as an IDX file: magic 0x08 0x<ndim>, the sizes, the bytes."""
    header = bytes([0, 0, 0x08, array.ndim])
    sizes = b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + sizes + array.astype(np.uint8).tobytes()


def models(folder: Path) -> None:
    import chainrule as cr
    from chainrule.cli import main

    os.chdir(folder)  # the file records the data's path: "seed.csv", the same on every run
    data = Path("seed.csv")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        for name, extra in [
            ("trained.model", ["--hidden", "3", "--optimizer", "adam"]),
            ("regression.model", ["--hidden", "none", "--optimizer", "momentum"]),
        ]:
            source = CSV_SEEDS["numbers.csv"] if "regression" in name else CSV_SEEDS["classes.csv"]
            data.write_text(source)
            code = main(
                ["train", "--data", str(data), "--epochs", "2", "--quiet",
                 "--save", str(HERE / "corpus" / "model" / name), *extra]
            )  # fmt: skip
            assert code == 0, name
    net = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.Tanh(), cr.nn.Linear(3, 2), cr.nn.Softmax())
    cr.save(net, HERE / "corpus" / "model" / "python.model")
    net = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.Tanh(), cr.nn.Linear(3, 2))
    adam = cr.optim.Adam(net.parameters(), 0.01)
    for _ in range(2):  # Adam's moments and step count, saved as the format's optimizer state
        adam.zero_grad()
        (net(cr.tensor([[0.5, -1.0], [2.0, 0.0]])) ** 2).sum().backward()
        adam.step()
    cr.save(net, HERE / "corpus" / "model" / "adam.model", optimizer=adam)
    for model in (HERE / "corpus" / "model").glob("*.model"):
        model.with_suffix(".framed").write_bytes(framed(model.read_bytes()))


def main() -> None:
    for target in ("model", "csv", "idx", "cli"):
        (HERE / "corpus" / target).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        models(Path(tmp))
    for name, text in CSV_SEEDS.items():
        (HERE / "corpus" / "csv" / name).write_bytes(text.encode("utf-8"))
    rng = np.random.default_rng(0)
    images = idx_bytes(rng.integers(0, 256, (3, 2, 2)))
    labels = idx_bytes(np.array([7, 0, 9]))
    (HERE / "corpus" / "idx" / "raw").write_bytes(pack(images, labels, 0))
    gz = gzip.compress(images, mtime=0), gzip.compress(labels, mtime=0)
    (HERE / "corpus" / "idx" / "gz").write_bytes(pack(*gz, 0))
    (HERE / "corpus" / "idx" / "gz-by-harness").write_bytes(pack(images, labels, 3))
    # fuzz_cli_options.py reads its input as choices: a few byte patterns start it off
    for i, seed in enumerate([bytes(64), bytes(range(64)), b"\x01\x02\x03" * 30, b"\xff" * 64]):
        (HERE / "corpus" / "cli" / f"seed{i}").write_bytes(seed)


if __name__ == "__main__":
    main()
