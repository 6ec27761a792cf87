"""The lecture's "Backpropagation algorithm" slide, written as the slide reads.

    Let η be the learning rate. Set all weights to smaller random values.
    Until total error is small enough, repeat:
        for each input example: feed forward to get the outputs o;
            β_z = d_z − o_z                         for each output node z
            β_j = Σ_k w_{j→k} o_k (1 − o_k) β_k     for the nodes below, layer by layer
            Δw_{i→j} = η o_i o_j (1 − o_j) β_j
        add up the weight changes over all examples, and change the weights.

Every neuron is a sigmoid, o = σ(Σ_i w_{i→j} o_i), and the bias is folded in as the
"Simplify notation" slide does: `o_0 = x_0 = 1` and `w_0 = b`, so one block of code changes
all the weights. `weights[l]` has shape `(n_l, n_{l−1} + 1)`; column 0 is the bias and
`weights[l][j, i]` is `w_{i→j}` (input i, counted from 1, to neuron j of the layer above).

The update is gradient descent on the total error `E = ½ Σ_examples Σ_z (d_z − o_z)²`:
`Δw = −η ∂E/∂w`. The ½ is why no 2 appears; the lecture's later slides use `(a − y)²`
without it and so carry the factor `2(a − y)`.

σ and its slope are the registry's `nn.Sigmoid`, the one statement of the lecture's sigmoid:
its forward gives o, and `Sigmoid.derivative(z, o)` is the slide's `o (1 − o)`. The algorithm
itself (the β's and Δw's) is the slide's and never calls backward().
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.checks import at_least, positive, positive_int, refuse
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as inits
from chainrule.nn.layers import Linear, Sequential, Sigmoid, blocks
from chainrule.tensor import ArrayLike

OWNER = "classic.Network"


def sigmoid(z: np.ndarray) -> np.ndarray:
    """o = σ(z) = 1/(1 + e⁻ᶻ), by the registry's Sigmoid on plain numbers (no graph recorded)."""
    return Sigmoid.of(z)


def with_bias_input(o: np.ndarray) -> np.ndarray:
    """Rows `o` with the constant input `o_0 = 1` put in front (column 0)."""
    ones = np.ones(o.shape[:-1] + (1,), dtype=o.dtype)
    return np.concatenate([ones, o], axis=-1)


class Network:
    """A sigmoid network trained by the slide's delta rule (see the module docstring).

    `Network([2, 2, 1], seed=0)` has 2 inputs, one hidden layer of 2 and one output.
    Examples are rows: `X` has shape `(n_examples, n_inputs)`, `D` (the desired outputs d)
    `(n_examples, n_outputs)`; a 1-D `x` is one example.
    """

    def __init__(self, sizes: list[int] | tuple[int, ...], seed: int | None = None) -> None:
        self.sizes = _check_sizes(sizes)
        rng = inits.generator(seed)
        # "Set all weights to smaller random values": U(−0.5, 0.5), bias column included.
        self.weights: list[np.ndarray] = [
            rng.uniform(-0.5, 0.5, (n_out, n_in + 1))
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True)
        ]

    def __repr__(self) -> str:
        return f"Network(sizes={self.sizes})"

    # ---- the slide, line by line ---------------------------------------------------------------

    def forward(self, x: ArrayLike) -> list[np.ndarray]:
        """Feed forward: the outputs `o` of every layer, the input `x` first and the network's
        output last; `o_j = σ(Σ_i w_{i→j} o_i)` with `o_0 = 1`."""
        return self._feed(x)[0]

    def betas(self, x: ArrayLike, d: ArrayLike) -> list[np.ndarray]:
        """β for every layer that has weights, in order (`betas[-1]` is the output layer):
        `β_z = d_z − o_z` at the output, `β_j = Σ_k w_{j→k} o_k (1 − o_k) β_k` below."""
        outputs, slopes = self._feed(x)
        d = self._targets(d, outputs[-1].shape, "d")
        return self._betas(outputs, slopes, d)

    def weight_changes(self, X: ArrayLike, D: ArrayLike, lr: float) -> list[np.ndarray]:
        """`Δw_{i→j} = η o_i o_j (1 − o_j) β_j`, added up over all examples; one array per layer,
        shaped like `weights` (column 0 is the bias's change, with `o_0 = 1`)."""
        lr = positive(OWNER, "lr", lr)
        outputs, slopes = self._feed(X)
        D = self._targets(D, outputs[-1].shape, "D")
        return self._weight_changes(outputs, slopes, D, lr)

    def total_error(self, X: ArrayLike, D: ArrayLike) -> float:
        """`E = ½ Σ_examples Σ_z (d_z − o_z)²`."""
        o = self.forward(X)[-1]
        return _total_error(o, self._targets(D, o.shape, "D"))

    def train(
        self,
        X: ArrayLike,
        D: ArrayLike,
        lr: float = 0.5,
        until: float = 0.01,
        max_epochs: int = 10_000,
    ) -> list[float]:
        """ "Until total error is small enough, repeat": one feed forward over all examples per
        epoch, then the summed weight changes. Returns E of each epoch, measured before that
        epoch's change. Stops as soon as `E <= until`, or after `max_epochs` changes (then E of
        the final weights is appended); either way the last value is the error of the weights
        the network has now."""
        lr = positive(OWNER, "lr", lr)
        until = at_least("classic.train", "until", until, 0)
        max_epochs = positive_int("classic.train", "max_epochs", max_epochs)
        X = self._inputs(X, "X")
        D = self._targets(D, (len(X), self.sizes[-1]), "D")
        history: list[float] = []
        for _ in range(max_epochs):
            outputs, slopes = self._feed(X)
            error = _total_error(outputs[-1], D)
            history.append(error)
            if error <= until:
                return history
            for weight, change in zip(
                self.weights, self._weight_changes(outputs, slopes, D, lr), strict=True
            ):
                weight += change
        history.append(self.total_error(X, D))
        return history

    def _feed(self, x: ArrayLike) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The outputs `o` of every layer (input first), and for each layer with weights the
        slope `o (1 − o)` of its neurons, which the slide multiplies into every β and Δw."""
        o = self._inputs(x, "x")
        outputs, slopes = [o], []
        for weight in self.weights:
            z = with_bias_input(o) @ weight.T
            o = sigmoid(z)
            outputs.append(o)
            slopes.append(Sigmoid.derivative(z, o))
        return outputs, slopes

    def _betas(
        self, outputs: list[np.ndarray], slopes: list[np.ndarray], d: np.ndarray
    ) -> list[np.ndarray]:
        beta = d - outputs[-1]
        betas = [beta]
        for weight, slope in zip(self.weights[:0:-1], slopes[:0:-1], strict=True):
            # Σ_k w_{j→k} o_k (1 − o_k) β_k: w_{j→k} for every real input j of layer k is
            # weight[:, 1:] (column 0 is the bias).
            beta = (slope * beta) @ weight[:, 1:]
            betas.append(beta)
        return betas[::-1]

    def _weight_changes(
        self, outputs: list[np.ndarray], slopes: list[np.ndarray], d: np.ndarray, lr: float
    ) -> list[np.ndarray]:
        changes = []
        for o_i, slope_j, beta_j in zip(
            outputs[:-1], slopes, self._betas(outputs, slopes, d), strict=True
        ):
            # Σ_examples η o_i o_j (1 − o_j) β_j for every pair (i → j): one matrix product.
            signal = np.atleast_2d(slope_j * beta_j)
            changes.append(lr * signal.T @ np.atleast_2d(with_bias_input(o_i)))
        return changes

    # ---- to and from chainrule.nn ---------------------------------------------------------------

    def to_module(self) -> Sequential:
        """The same network as `Sequential(Linear, Sigmoid, Linear, Sigmoid, ...)`: each Linear's
        `bias` is column 0 and its `weight` the rest."""
        layers = []
        for weight in self.weights:
            linear = Linear(weight.shape[1] - 1, weight.shape[0])
            linear.load_state_dict({"weight": weight[:, 1:], "bias": weight[:, 0]})
            layers += [linear, Sigmoid()]
        return Sequential(*layers)

    @classmethod
    def from_module(cls, model: Sequential) -> Network:
        """A Network with `model`'s weights; `model` must be Linear (with bias) and Sigmoid layers
        in turn, ending with a Sigmoid, as `to_module` makes."""
        expected = (
            "expected a Sequential of Linear (with bias) and Sigmoid layers in turn, ending "
            "with Sigmoid (the slide's all-sigmoid network)"
        )
        found = list(blocks(model)) if isinstance(model, Sequential) else []
        # Every Linear followed by its Sigmoid and nothing else: two modules per block.
        if not found or len(model) != 2 * len(found):
            raise ConfigError(f"Network.from_module: got {model!r}; {expected}")
        for block in found:
            if block.linear.bias is None:
                raise ConfigError(
                    f"Network.from_module: layer {block.position} is {block.linear!r}, where a "
                    f"Linear with bias was expected; {expected}"
                )
            if not isinstance(block.activation, Sigmoid):
                after = model[block.position + 1]
                raise ConfigError(
                    f"Network.from_module: layer {block.position + 1} is {after!r}, where a "
                    f"Sigmoid was expected; {expected}"
                )
        linears = [block.linear for block in found]
        for below, above in zip(linears[:-1], linears[1:], strict=True):
            if below.out_features != above.in_features:
                raise ShapeError(
                    f"Network.from_module: a Linear with {below.out_features} outputs feeds one "
                    f"with {above.in_features} inputs; expected them equal"
                )
        net = cls([linears[0].in_features] + [lin.out_features for lin in linears], seed=0)
        net.weights = [
            np.hstack([state["bias"][:, None], state["weight"]]).astype(np.float64)
            for state in (lin.state_dict() for lin in linears)
        ]
        return net

    # ---- checks ---------------------------------------------------------------------------------

    def _inputs(self, x: ArrayLike, name: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (1, 2) or x.shape[-1] != self.sizes[0]:
            raise ShapeError(
                f"classic.Network: {name} has shape {x.shape}; expected ({self.sizes[0]},) for one "
                f"example or (n_examples, {self.sizes[0]}) for rows of examples"
            )
        return x

    def _targets(self, d: ArrayLike, shape: tuple[int, ...], name: str) -> np.ndarray:
        d = np.asarray(d, dtype=np.float64)
        if d.shape != shape:
            if d.size != int(np.prod(shape)):
                raise ShapeError(
                    f"classic.Network: {name} has shape {d.shape}, but the network gives outputs "
                    f"of shape {shape}; expected one desired output d_z per output node"
                )
            d = d.reshape(shape)
        return d


def _total_error(o: np.ndarray, d: np.ndarray) -> float:
    return 0.5 * float(np.sum((d - o) ** 2))


def _check_sizes(sizes: Any) -> list[int]:
    try:
        widths = [positive_int(OWNER, "sizes", n) for n in sizes]
    except (TypeError, ConfigError):
        widths = []
    if len(widths) < 2:
        raise refuse(
            OWNER, "sizes", "at least two positive integers (inputs first, outputs last)", sizes
        )
    return widths
