"""Layers: Linear (z = W a + b), the activations a = σ(z), and Sequential to chain them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import numpy as np

from chainrule import ops
from chainrule.checks import positive_int
from chainrule.errors import ConfigError
from chainrule.nn import init as inits
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor, no_grad


class Linear(Module):
    """z = a Wᵀ + b for a batch of rows a (the lecture's z_j = Σ_k w_{jk} a_k + b_j).

    `weight` has shape (out_features, in_features), so `weight[j, k]` is `w_{jk}`, joining
    input k to neuron j; `bias[j]` is `b_j`, the lecture's `w_{j0}`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        init: str = "default",
        dtype: Any = np.float64,
        rng: inits.RNG = None,
    ) -> None:
        super().__init__()
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ConfigError(f"Linear: dtype must be float32 or float64, got {dtype}")
        self.weight = Parameter(np.zeros((self.out_features, self.in_features), dtype))
        self.bias = Parameter(np.zeros(self.out_features, dtype)) if bias else None
        inits.get(init)(self.weight, self.bias, rng)

    def forward(self, a: Tensor) -> Tensor:
        if not isinstance(a, Tensor):
            a = Tensor(a, dtype=self.weight.data.dtype)
        return ops.linear(a, self.weight, self.bias)

    def config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
        }

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Activation(Module):
    """a = σ(z), elementwise; the class carries the lecture's forms, read by every teaching view.

    `symbol` is the function's plain-text name ("σ"), `definition` what it computes, and `slope`
    σ'(z) as the lecture writes it, a template in `{z}` and `{a}` (`"{a}(1 − {a})"`).
    `derivative(z, a)` is that slope in numbers, from whichever of z and a = σ(z) is cheapest;
    the ops compute the same local derivative inside backward().
    """

    name: ClassVar[str]
    symbol: ClassVar[str]
    definition: ClassVar[str]
    slope: ClassVar[str]
    elementwise: ClassVar[bool] = True  # one slope per neuron (every one but Softmax)

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def of(cls, z: np.ndarray | float) -> np.ndarray:
        """a = σ(z) in numbers, by the activation's own op, with no graph recorded (for the
        teaching views that work the lecture's numbers out by hand)."""
        with no_grad():
            return cls()(Tensor(z)).data


class Sigmoid(Activation):
    """a = σ(z) = 1/(1 + e⁻ᶻ); σ'(z) = a(1 − a)."""

    name = "sigmoid"
    symbol = "σ"
    definition = "σ(z) = 1/(1 + e^{−z})"
    slope = "{a}(1 − {a})"

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """From a: a(1 − a)."""
        return a * (1 - a)

    def forward(self, z: Tensor) -> Tensor:
        return ops.sigmoid(z)


class Tanh(Activation):
    """a = tanh(z); tanh'(z) = 1 − a²."""

    name = "tanh"
    symbol = "tanh"
    definition = "tanh(z) = (e^{z} − e^{−z})/(e^{z} + e^{−z})"
    slope = "1 − ({a})²"

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """From a: 1 − a²."""
        return 1 - a * a

    def forward(self, z: Tensor) -> Tensor:
        return ops.tanh(z)


class ReLU(Activation):
    """a = max(z, 0); derivative 1 for z > 0, else 0."""

    name = "relu"
    symbol = "relu"
    definition = "relu(z) = max(z, 0)"
    slope = "[{z} > 0]"

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """From z: 1 where z > 0, else 0 (0 at the kink, as PyTorch)."""
        return (z > 0).astype(z.dtype)

    def forward(self, z: Tensor) -> Tensor:
        return ops.relu(z)


class Softplus(Activation):
    """a = ln(1 + eᶻ), a smooth ReLU; softplus'(z) = σ(z) = 1 − e⁻ᵃ."""

    name = "softplus"
    symbol = "softplus"
    definition = "softplus(z) = ln(1 + e^{z})"
    # σ(z) written in a, as the other slopes are: e^{−a} = 1/(1 + e^{z}), so 1 − e^{−a} = σ(z).
    slope = "1 − e^{−{a}}"

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """From a: 1 − e⁻ᵃ, by expm1 so that a tiny a (z ≪ 0) keeps its digits."""
        return -np.expm1(-a)

    def forward(self, z: Tensor) -> Tensor:
        return ops.softplus(z)


class Identity(Activation):
    """a = z (a linear output layer, for regression)."""

    name = "identity"
    symbol = "id"
    definition = "id(z) = z"
    slope = "1"

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """1 everywhere."""
        return np.ones_like(z)

    def forward(self, z: Tensor) -> Tensor:
        return z


class Softmax(Activation):
    """a_j = e^{z_j} / Σ_i e^{z_i} over `axis` (class probabilities).

    For training use CrossEntropyLoss on the logits z instead: it fuses the two stably. Its slope
    is a matrix, ∂a_j/∂z_q = a_j(δ_{jq} − a_q), so no chain of one number per neuron runs
    through it: the lecture's views take it fused into the loss, whose factor is p_j − y_j.
    """

    name = "softmax"
    symbol = "softmax"
    definition = "softmax(z)_j = e^{z_j}/Σ_q e^{z_q}"
    slope = "{a}(δ_{jq} − a_q)"
    elementwise = False

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Refused: the slope is a matrix per example, not one number per neuron."""
        raise ConfigError(
            "Softmax: ∂a_j/∂z_q = a_j(δ_{jq} − a_q) is a matrix, not one slope per neuron; "
            "use CrossEntropyLoss on the logits z, whose factor ∂C/∂z_j is p_j − y_j"
        )

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, z: Tensor) -> Tensor:
        return ops.softmax(z, self.axis)

    def config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class Sequential(Module):
    """Layers applied in order: a^{(l)} = layer_l(a^{(l−1)}). Indexable, iterable, sized."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise ConfigError(
                    f"Sequential: layer {i} is a {type(layer).__name__}, expected a Module "
                    f"(for example nn.Linear(2, 3) or nn.Sigmoid())"
                )
            setattr(self, str(i), layer)

    def forward(self, a: Tensor) -> Tensor:
        for layer in self.children():
            a = layer(a)
        return a

    def __getitem__(self, index: int | slice) -> Module:
        layers = list(self.children())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self) -> int:
        return sum(1 for _ in self.children())

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def append(self, layer: Module) -> Sequential:
        setattr(self, str(len(self)), layer)
        return self


class Block(NamedTuple):
    """Layer l of a network: z^{(l)} = W a^{(l−1)} + b by `linear`, then a^{(l)} = σ(z^{(l)}) by
    `activation` (None when z^{(l)} is the layer's output, as for logits or regression)."""

    position: int  # the Linear's index in the Sequential
    linear: Linear
    activation: Activation | None


def blocks(model: Sequential) -> Iterator[Block]:
    """Each Linear of `model` with the activation right after it: the lecture's layers l = 1..L.

    Modules that are neither (a Softmax before a loss, a second activation) are the caller's to
    refuse or skip: `blocks` reports only the pairs it sees.
    """
    modules = list(model)
    for i, m in enumerate(modules):
        if isinstance(m, Linear):
            after = modules[i + 1] if i + 1 < len(modules) else None
            yield Block(i, m, after if isinstance(after, Activation) else None)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, Tanh, ReLU, Softplus, Identity, Softmax)
}


def activation(name: str) -> Module:
    """A new activation module by name; the error lists the known names."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None


def mlp(
    sizes: list[int] | tuple[int, ...],
    activation_name: str = "sigmoid",
    output: str | None = None,
    *,
    init: str = "default",
    dtype: Any = np.float64,
    rng: inits.RNG = None,
) -> Sequential:
    """A multilayer perceptron: Linear layers of `sizes` (inputs first) with `activation_name`
    between them and `output` (an activation name, or None for raw z) after the last."""
    if len(sizes) < 2:
        raise ConfigError(f"mlp: sizes needs at least an input and an output size, got {sizes}")
    generator = inits.generator(rng)
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Linear(n_in, n_out, init=init, dtype=dtype, rng=generator))
        last = i == len(sizes) - 2
        if not last:
            layers.append(activation(activation_name))
        elif output is not None and output != "identity":
            layers.append(activation(output))
    return Sequential(*layers)
