"""The contenders, one class each, with the same three calls:

- `run(plan)`: train through the mini-batches of `plan` (row indices, or None for the full
  batch) and return the number of steps taken; this is what is timed;
- `losses(plan)`: the loss at each step, for the parity check (None where the contender
  cannot follow our batch order);
- `predict(x)`: class labels, for held-out accuracy.

Each is built from the same initial weights. Libraries are imported inside the classes so a
contender's process loads only its own library (`library` names it, so the worker can import
it before it takes the process's starting memory).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from benchmarks.workloads import Workload, layers, steps_per_epoch


class Chainrule:
    """chainrule's public API in a plain loop: Sequential, a loss module, SGD."""

    name = "chainrule"
    library = "chainrule"

    def __init__(self, w: Workload, x: np.ndarray, y: np.ndarray, weights: dict, dtype) -> None:
        import chainrule as cr

        self.cr = cr
        self.x, self.y = x, y
        self.model = cr.nn.mlp(list(w.sizes), w.activation, w.output, dtype=dtype)
        self.model.load_state_dict(weights)
        self.loss = cr.nn.LOSSES[w.loss]()
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=w.lr)

    def _step(self, index: np.ndarray | None):
        x, y = (self.x, self.y) if index is None else (self.x[index], self.y[index])
        return self._step_on(x, y)

    def _step_on(self, x: np.ndarray, y: np.ndarray):
        c = self.loss(self.model(self.cr.Tensor(x)), y)
        self.optimizer.zero_grad()
        c.backward()
        self.optimizer.step()
        return c

    def run(self, plan: list) -> int:
        for index in plan:
            self._step(index)
        return len(plan)

    def losses(self, plan: list) -> list[float]:
        return [float(self._step(index).data) for index in plan]

    def predict(self, x: np.ndarray) -> np.ndarray:
        with self.cr.no_grad():
            return self.model(self.cr.Tensor(x)).data.argmax(axis=1)


class ChainruleCompiled(Chainrule):
    """The same plain loop, its step captured once and replayed: `cr.compile(step_fn)`."""

    name = "chainrule-compiled"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.step = self.cr.compile(self._step_on)

    def _step(self, index: np.ndarray | None):
        x, y = (self.x, self.y) if index is None else (self.x[index], self.y[index])
        return self.step(x, y)


class ChainruleFit(Chainrule):
    """chainrule's `fit`, which shuffles and batches itself (and tracks loss and accuracy),
    compiles its step, and chooses its BLAS threads (`threads_used` keeps its choice)."""

    name = "chainrule-fit"

    def __init__(self, w: Workload, *args, **kwargs) -> None:
        super().__init__(w, *args, **kwargs)
        self.batch = w.batch
        self.calls = 0
        self.threads_used: int | None = None
        contender = self

        class RecordThreads(self.cr.callbacks.Callback):
            def on_train_begin(self, run) -> None:
                contender.threads_used = contender.cr.get_num_threads()

        self.recorder = RecordThreads()

    def run(self, plan: list) -> int:
        rows = len(self.x)
        if self.batch is not None:
            rows = min(rows, len(plan) * self.batch)
        per_epoch = steps_per_epoch(rows, self.batch)
        epochs = math.ceil(len(plan) / per_epoch)
        self.calls += 1
        self.cr.fit(
            self.model,
            self.x[:rows],
            self.y[:rows],
            loss=self.loss,
            optimizer=self.optimizer,
            epochs=epochs,
            batch_size=self.batch,
            seed=self.calls,
            progress=False,
            callbacks=[self.recorder],
        )
        return epochs * per_epoch

    def losses(self, plan: list) -> None:
        return None


class PyTorch:
    """torch.nn.Sequential, torch's losses and torch.optim.SGD, in the same plain loop."""

    name = "pytorch"
    library = "torch"

    def __init__(self, w: Workload, x: np.ndarray, y: np.ndarray, weights: dict, dtype) -> None:
        import torch

        self.torch = torch
        modules = []
        act = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}
        for i, (weight, bias) in enumerate(layers(weights)):
            linear = torch.nn.Linear(
                weight.shape[1], weight.shape[0], dtype=getattr(torch, str(np.dtype(dtype)))
            )
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(weight))
                linear.bias.copy_(torch.from_numpy(bias))
            modules.append(linear)
            last = i == len(w.sizes) - 2
            if not last:
                modules.append(act[w.activation]())
            elif w.output is not None:
                modules.append(act[w.output]())
        self.model = torch.nn.Sequential(*modules)
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y)
        if w.loss == "ce":
            self.loss = torch.nn.functional.cross_entropy
        else:
            # chainrule's SquaredError: Σ over outputs, mean over examples.
            self.loss = lambda a, t: (a - t).pow(2).sum() / a.shape[0]
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=w.lr)

    def _index(self, plan: list) -> list:
        return [None if i is None else self.torch.from_numpy(i) for i in plan]

    def _step(self, index):
        x, y = (self.x, self.y) if index is None else (self.x[index], self.y[index])
        c = self.loss(self.model(x), y)
        self.optimizer.zero_grad()
        c.backward()
        self.optimizer.step()
        return c

    def run(self, plan: list) -> int:
        for index in self._index(plan):
            self._step(index)
        return len(plan)

    def losses(self, plan: list) -> list[float]:
        return [self._step(index).item() for index in self._index(plan)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(x)).argmax(dim=1).numpy()


class ScikitLearn:
    """MLPClassifier (or MLPRegressor for W3's sigmoid regression) with plain SGD, started
    from our weights; it shuffles and batches itself, so it has no parity line."""

    name = "sklearn"
    library = "sklearn.neural_network"

    def __init__(self, w: Workload, x: np.ndarray, y: np.ndarray, weights: dict, dtype) -> None:
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        regression = w.loss == "squared"
        kind = MLPRegressor if regression else MLPClassifier
        self.batch = w.batch
        self.x, self.y = x, (y.ravel() if regression else y)
        self.model = kind(
            hidden_layer_sizes=w.sizes[1:-1],
            activation={"sigmoid": "logistic", "relu": "relu"}[w.activation],
            solver="sgd",
            batch_size=w.batch if w.batch is not None else len(x),
            learning_rate_init=w.lr,
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            tol=0.0,
            n_iter_no_change=2**30,
            warm_start=True,
            shuffle=True,
            random_state=0,
            max_iter=1,
        )
        self.classes = None if regression else np.arange(w.sizes[-1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if regression:
                self.model.partial_fit(self.x, self.y)
            else:
                self.model.partial_fit(self.x, self.y, classes=self.classes)
        self.model.coefs_ = [weight.T.copy() for weight, _ in layers(weights)]
        self.model.intercepts_ = [bias.copy() for _, bias in layers(weights)]

    def run(self, plan: list) -> int:
        rows = len(self.x)
        if self.batch is not None:
            rows = min(rows, len(plan) * self.batch)
        if self.classes is not None and len(np.unique(self.y[:rows])) < len(self.classes):
            rows = len(self.x)  # warm_start refits only on data showing every class again
        per_epoch = steps_per_epoch(rows, self.batch)
        epochs = math.ceil(len(plan) / per_epoch)
        self.model.max_iter = epochs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: we stop it on purpose
            self.model.fit(self.x[:rows], self.y[:rows])
        return epochs * per_epoch

    def losses(self, plan: list) -> None:
        return None

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)


class NumpyReference:
    """The floor of what numpy can do: backprop written out by hand for this network, with
    in-place updates. δ^{(L)} = ∂C/∂z^{(L)}; δ^{(l)} = (δ^{(l+1)} W^{(l+1)}) ⊙ σ'(z^{(l)})."""

    name = "numpy"
    library = "numpy"

    def __init__(self, w: Workload, x: np.ndarray, y: np.ndarray, weights: dict, dtype) -> None:
        self.x, self.y = x, y
        self.weights = [(weight.copy(), bias.copy()) for weight, bias in layers(weights)]
        self.hidden = w.activation
        self.output = w.output
        self.ce = w.loss == "ce"
        self.lr = w.lr

    @staticmethod
    def _activate(name: str | None, z: np.ndarray) -> np.ndarray:
        if name == "sigmoid":
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1.0
            np.reciprocal(z, out=z)
        elif name == "relu":
            np.maximum(z, 0.0, out=z)
        return z

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        a = [x]
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(self.weights):
            z = a[-1] @ weight.T
            z += bias
            a.append(self._activate(self.hidden if i < last else self.output, z))
        return a

    def _step(self, index) -> float:
        x, y = (self.x, self.y) if index is None else (self.x[index], self.y[index])
        a = self.forward(x)
        out, n = a[-1], len(x)
        if self.ce:
            out -= out.max(axis=1, keepdims=True)
            np.exp(out, out=out)
            out /= out.sum(axis=1, keepdims=True)
            rows = np.arange(n)
            loss = -np.log(out[rows, y]).sum() / n
            out[rows, y] -= 1.0
            delta = out
            delta *= 1.0 / n
        else:
            diff = out - y
            loss = np.vdot(diff, diff) / n
            delta = diff
            delta *= (2.0 / n) * out * (1.0 - out)
        for i in range(len(self.weights) - 1, -1, -1):
            weight, bias = self.weights[i]
            grad_weight = delta.T @ a[i]
            grad_bias = delta.sum(axis=0)
            if i > 0:
                below = a[i]
                delta = delta @ weight
                if self.hidden == "sigmoid":
                    delta *= below * (1.0 - below)
                else:
                    delta *= below > 0
            grad_weight *= self.lr
            weight -= grad_weight
            grad_bias *= self.lr
            bias -= grad_bias
        return float(loss)

    def run(self, plan: list) -> int:
        for index in plan:
            self._step(index)
        return len(plan)

    def losses(self, plan: list) -> list[float]:
        return [self._step(index) for index in plan]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)[-1].argmax(axis=1)


CONTENDERS = {
    c.name: c
    for c in (Chainrule, ChainruleCompiled, ChainruleFit, PyTorch, ScikitLearn, NumpyReference)
}
