"""Layers: Linear (z = W a + b) and Sequential to chain it with the activations a = σ(z) of
`nn.activations` (whose names this module also offers, as it did when they lived here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from chainrule import ops
from chainrule.checks import float_dtype, positive_int
from chainrule.errors import ArgumentTypeError, ConfigError, IndexingError
from chainrule.nn import init as inits
from chainrule.nn.activations import (
    ACTIVATIONS,
    ELU,
    GELU,
    Activation,
    Hardtanh,
    Identity,
    LeakyReLU,
    Mish,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
    activation,
)
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "Activation",
    "Block",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "Linear",
    "Mish",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Softsign",
    "Tanh",
    "activation",
    "blocks",
    "mlp",
]


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
        dtype = float_dtype("Linear", dtype)
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
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ArgumentTypeError(
                f"Sequential: index must be an integer or a slice, got {index!r}"
            )
        if not -len(layers) <= index < len(layers):
            raise IndexingError(
                f"Sequential: layer {index} is out of range for {len(layers)} layers "
                f"(0..{len(layers) - 1}, or negative from the end)"
            )
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
