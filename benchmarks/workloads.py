"""The workloads: each a network, a loss, a batch size, a learning rate and its data.

Every contender process rebuilds the same data and the same initial weights from the same
seeds, and visits the mini-batches in the same order (`batch_plan`, which is also the order
`chainrule.fit(seed=...)` uses), so their losses can be compared step by step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from benchmarks import mnist

SEED = 1234
# What a workload's loader imports, so the worker can import it before the start memory it
# measures (`peak − start` is then the data and the training, not the import).
DATA_LIBRARIES = {"W1": "sklearn.datasets"}
PARITY_ROWS = 2048
PARITY_STEPS = 20


@dataclass(frozen=True)
class Workload:
    """One network trained one way. `steps` is the number of timed steps per repeat; a
    workload with `epochs` trains that many epochs instead and reports held-out accuracy."""

    name: str
    title: str
    sizes: tuple[int, ...]
    activation: str  # hidden layers: "sigmoid" or "relu"
    output: str | None  # None: the last layer's z are logits for "ce"
    loss: str  # "ce" (softmax + cross-entropy, integer labels) or "squared"
    batch: int | None  # None: full batch
    lr: float
    steps: int = 0
    epochs: int = 0
    rows: int = 0  # rows of data (W2's synthetic; W5's MNIST training set or synthetic)
    contenders: tuple[str, ...] = (
        "chainrule",
        "chainrule-compiled",
        "chainrule-fit",
        "pytorch",
        "sklearn",
        "numpy",
    )

    def tiny(self) -> Workload:
        """The same workload at a size that runs in a second (for the test suite)."""
        return replace(
            self,
            steps=min(self.steps, 3),
            epochs=min(self.epochs, 1),
            rows=min(self.rows, 512),
        )


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "W1",
            "digits 1437×64, MLP 64-128-10 sigmoid, softmax-CE, batch 32, SGD lr 0.1",
            (64, 128, 10), "sigmoid", None, "ce", 32, 0.1, steps=300,
        ),
        Workload(
            "W2",
            "synthetic 60000×784, MLP 784-256-10 relu, softmax-CE, batch 128, SGD lr 0.05",
            (784, 256, 10), "relu", None, "ce", 128, 0.05, steps=40, rows=60000,
        ),
        Workload(
            "W3",
            "XOR 4×2, MLP 2-2-1 sigmoid, squared error, full batch, SGD lr 0.5",
            (2, 2, 1), "sigmoid", "sigmoid", "squared", None, 0.5, steps=1500,
        ),
        Workload(
            "W4-quadratic",
            "MNIST 8000 train / 2000 held out, 784-100-10 sigmoid, quadratic cost, batch 10, "
            "lr 1.5 (the book's η = 3.0 for ½‖y − a‖²)",
            (784, 100, 10), "sigmoid", "sigmoid", "squared", 10, 1.5, epochs=10,
            contenders=("chainrule", "chainrule-compiled", "chainrule-fit", "pytorch", "numpy"),
        ),
        Workload(
            "W4-ce",
            "MNIST 8000 train / 2000 held out, 784-100-10 sigmoid, softmax-CE, batch 10, lr 0.5",
            (784, 100, 10), "sigmoid", None, "ce", 10, 0.5, epochs=10,
        ),
        Workload(
            "W5",
            "full-size MNIST 60000×784 (the training files, else synthetic of that shape), "
            "MLP 784-128-10 relu, softmax-CE, batch 64, SGD lr 0.1, one epoch",
            (784, 128, 10), "relu", None, "ce", 64, 0.1, epochs=1, rows=60000,
            contenders=("chainrule", "chainrule-compiled", "chainrule-fit", "pytorch", "numpy"),
        ),
    )
}  # fmt: skip


@dataclass
class Data:
    """Training rows and targets as the loss wants them, and held-out rows with labels."""

    x: np.ndarray
    y: np.ndarray  # integer labels for "ce"; float rows for "squared"
    x_val: np.ndarray | None = None
    labels_val: np.ndarray | None = None
    source: str = ""  # where the rows came from, when a workload can take them from two places

    @property
    def nbytes(self) -> int:
        held = 0 if self.x_val is None else self.x_val.nbytes
        return self.x.nbytes + self.y.nbytes + held


def _one_hot(labels: np.ndarray, classes: int, dtype: np.dtype) -> np.ndarray:
    rows = np.zeros((len(labels), classes), dtype)
    rows[np.arange(len(labels)), labels] = 1
    return rows


def _targets(w: Workload, labels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return labels if w.loss == "ce" else _one_hot(labels, w.sizes[-1], dtype)


NO_TRAINING_FILES = "no MNIST training files (train-*-ubyte) in $CHAINRULE_MNIST or ../shared"


def _synthetic(w: Workload, dtype: np.dtype) -> Data:
    """`w.rows` rows of uniform pixels, labelled by a random linear teacher."""
    rng = np.random.default_rng(SEED)
    # Drawn in `dtype` directly, so no float64 copy of 60000×784 ever exists.
    x = rng.random((w.rows, w.sizes[0]), dtype=dtype)
    teacher = rng.standard_normal((w.sizes[0], w.sizes[-1])).astype(dtype)
    # Centred inputs, so that every class gets about a tenth of the rows; in chunks, so
    # that the centring never holds a second copy of the dataset.
    labels = np.concatenate(
        [np.argmax((x[lo : lo + 4096] - 0.5) @ teacher, axis=1) for lo in range(0, w.rows, 4096)]
    ).astype(np.intp)
    return Data(x, labels)


def load(w: Workload, dtype: np.dtype, tiny: bool = False) -> Data:
    """The workload's data in `dtype`, the same in every process."""
    dtype = np.dtype(dtype)
    if w.name == "W1":
        from sklearn.datasets import load_digits

        digits = load_digits()
        order = np.random.default_rng(SEED).permutation(len(digits.target))
        train, held = order[:1437], order[1437:]
        x = (digits.data / 16.0).astype(dtype)
        return Data(x[train], digits.target[train].astype(np.intp), x[held], digits.target[held])
    if w.name == "W2":
        return _synthetic(w, dtype)
    if w.name == "W5":
        if not mnist.training_available():
            return replace(_synthetic(w, dtype), source=f"synthetic: {NO_TRAINING_FILES}")
        x, labels = mnist.load_training_set(dtype, w.rows)
        images, labels_val = mnist.load_test_set()
        held = 1000 if tiny else len(images)
        return Data(x, labels, images[:held].astype(dtype), labels_val[:held], "MNIST")
    if w.name == "W3":
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
        return Data(x, np.array([[0], [1], [1], [0]], dtype))
    if w.name.startswith("W4"):
        images, labels = mnist.load_test_set()
        train, held = (800, 1000) if tiny else (8000, 10000)
        x = images[:held].astype(dtype)
        return Data(x[:train], _targets(w, labels[:train], dtype), x[train:], labels[train:held])
    raise KeyError(w.name)


def initial_weights(w: Workload, dtype: np.dtype) -> dict[str, np.ndarray]:
    """PyTorch's Linear default, U(−1/√fan_in, 1/√fan_in), named as `nn.mlp` names them
    ("0.weight", "0.bias", "2.weight", ...): Linear layers sit at every second index."""
    rng = np.random.default_rng(SEED + 1)
    weights = {}
    for i, (n_in, n_out) in enumerate(zip(w.sizes[:-1], w.sizes[1:], strict=True)):
        bound = 1.0 / math.sqrt(n_in)
        weights[f"{2 * i}.weight"] = rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype)
        weights[f"{2 * i}.bias"] = rng.uniform(-bound, bound, n_out).astype(dtype)
    return weights


def layers(weights: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight, bias) per Linear layer, input layer first."""
    count = len(weights) // 2
    return [(weights[f"{2 * i}.weight"], weights[f"{2 * i}.bias"]) for i in range(count)]


def steps_per_epoch(n: int, batch: int | None) -> int:
    return 1 if batch is None else math.ceil(n / min(batch, n))


def batch_plan(n: int, batch: int | None, steps: int, seed: int = SEED) -> list[np.ndarray | None]:
    """The row indices of `steps` consecutive mini-batches (None: the full batch).

    Each epoch is `default_rng(seed).permutation(n)` cut into slices, exactly as
    `chainrule.fit(seed=seed)` shuffles.
    """
    if batch is None or batch >= n:
        return [None] * steps
    rng = np.random.default_rng(seed)
    plan: list[np.ndarray | None] = []
    while len(plan) < steps:
        order = rng.permutation(n)
        plan.extend(order[lo : lo + batch] for lo in range(0, n, batch))
    return plan[:steps]


def matmul_shapes(w: Workload, n: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The matrix products one training step executes, as (left shape, right shape): per
    layer the forward `a Wᵀ`, the grad-weight `Gᵀ a`, and the grad-input `G W` except for the
    first layer (whose input needs no gradient)."""
    m = n if w.batch is None else min(w.batch, n)
    shapes = []
    for i, (n_in, n_out) in enumerate(zip(w.sizes[:-1], w.sizes[1:], strict=True)):
        shapes.append(((m, n_in), (n_in, n_out)))
        shapes.append(((n_out, m), (m, n_in)))
        if i > 0:
            shapes.append(((m, n_out), (n_out, n_in)))
    return shapes
