"""The activations a = σ(z), one class each, and their registry `ACTIVATIONS`, the single
source of truth for every consumer: `nn.mlp`, model files, the CLI's `--activation`, the
scikit-learn estimators and the teaching views, which read each one's forms (symbol,
definition, slope σ'(z)) from here.

An activation with settings (LeakyReLU's slope, ELU's α, Hardtanh's bounds, GELU's form)
computes its forms and σ'(z) from them: read on a layer they are that layer's, read on the
class (as the registry's consumers do) they are those of the default layer, `cls()`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from chainrule import ops
from chainrule.checks import finite, one_of, refuse
from chainrule.errors import ConfigError
from chainrule.nn.module import Module
from chainrule.ops.elementwise import erf_of
from chainrule.tensor import Tensor, no_grad

T = TypeVar("T")
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class Slope(Protocol):
    """σ'(z) in numbers, from z and a = σ(z)."""

    def __call__(self, z: np.ndarray, a: np.ndarray) -> np.ndarray: ...


class _FromSettings(Generic[T]):
    """A class attribute computed from the activation's settings: on a layer from its own, on
    the class from the class's defaults (the settings of `cls()`)."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute

    def __get__(self, layer: Any, cls: type) -> T:
        return self.compute(cls if layer is None else layer)


def _text(v: float) -> str:
    """A setting as the forms write it: 0.01, −1 (the lecture's minus sign)."""
    return f"{v:g}".replace("-", "−")


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


class LeakyReLU(Activation):
    """a = z for z > 0, else αz (α = `negative_slope`, 0.01 by default, as PyTorch's); slope 1
    for z > 0, else α (α at the kink z = 0, as PyTorch)."""

    name = "leaky_relu"
    symbol = "lrelu"
    negative_slope = 0.01

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = finite("LeakyReLU", "negative_slope", negative_slope)

    @_FromSettings
    def definition(self) -> str:
        return f"lrelu(z) = max(z, 0) + {_text(self.negative_slope)} min(z, 0)"

    @_FromSettings
    def slope(self) -> str:
        return f"[{{z}} > 0] + {_text(self.negative_slope)}[{{z}} ≤ 0]"

    @_FromSettings
    def derivative(self) -> Slope:
        def slope(z: np.ndarray, a: np.ndarray) -> np.ndarray:
            """From z: 1 where z > 0, else α."""
            return np.where(z > 0, 1.0, self.negative_slope).astype(z.dtype)

        return slope

    def forward(self, z: Tensor) -> Tensor:
        return ops.leaky_relu(z, self.negative_slope)

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Activation):
    """a = z for z > 0, else α(eᶻ − 1) (α = `alpha`, 1 by default); slope 1 for z > 0, else
    αeᶻ = a + α (α at z = 0, as PyTorch)."""

    name = "elu"
    symbol = "elu"
    alpha = 1.0

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = finite("ELU", "alpha", alpha)

    @_FromSettings
    def definition(self) -> str:
        below = "e^{z} − 1" if self.alpha == 1 else f"{_text(self.alpha)}(e^{{z}} − 1)"
        return f"elu(z) = max(z, 0) + min({below}, 0)"

    @_FromSettings
    def slope(self) -> str:
        return f"[{{z}} > 0] + ({{a}} + {_text(self.alpha)})[{{z}} ≤ 0]"

    @_FromSettings
    def derivative(self) -> Slope:
        def slope(z: np.ndarray, a: np.ndarray) -> np.ndarray:
            """From z: 1 where z > 0, else αeᶻ (not a + α, which loses digits for z ≪ 0)."""
            return np.where(z > 0, 1.0, self.alpha * np.exp(np.minimum(z, 0))).astype(z.dtype)

        return slope

    def forward(self, z: Tensor) -> Tensor:
        return ops.elu(z, self.alpha)

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Activation):
    """a = z Φ(z), Φ(z) = (1 + erf(z/√2))/2 the standard normal's distribution function;
    slope Φ(z) + z φ(z), φ(z) = e^{−z²/2}/√(2π). `approximate="tanh"` is PyTorch's faster form,
    Φ(z) ≈ (1 + tanh(√(2/π)(z + 0.044715 z³)))/2; the exact one calls `math.erf` per element."""

    name = "gelu"
    symbol = "gelu"
    approximate = "none"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = one_of("GELU", "approximate", approximate, ("none", "tanh"))

    @_FromSettings
    def definition(self) -> str:
        if self.approximate == "tanh":
            return "gelu(z) = z(1 + tanh(0.797885(z + 0.044715 z^{3})))/2"
        return "gelu(z) = z(1 + erf(z/√2))/2"

    @_FromSettings
    def slope(self) -> str:
        if self.approximate == "tanh":
            return (
                "(1 + t)/2 + {z}(1 − t²)(0.398942 + 0.0535161 {z}²), "
                "t = tanh(0.797885({z} + 0.044715 {z}^{3}))"
            )
        return "(1 + erf({z}/√2))/2 + {z} e^{−{z}²/2}/√(2π)"

    @_FromSettings
    def derivative(self) -> Slope:
        tanh_form = self.approximate == "tanh"

        def slope(z: np.ndarray, a: np.ndarray) -> np.ndarray:
            """From z: Φ(z) + z φ(z), or the tanh form's slope, written out."""
            if tanh_form:
                t = np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3))
                du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)
                return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * du
            cdf = 0.5 * (1 + erf_of(z / math.sqrt(2)))
            return cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

        return slope

    def forward(self, z: Tensor) -> Tensor:
        return ops.gelu(z, self.approximate)

    def config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Activation):
    """a = z σ(z) (also called swish); silu'(z) = σ(z)(1 + z(1 − σ(z)))."""

    name = "silu"
    symbol = "silu"
    definition = "silu(z) = z σ(z) = z/(1 + e^{−z})"
    slope = "σ({z})(1 + {z}(1 − σ({z})))"

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """From z: σ(z)(1 + z(1 − σ(z))), σ by the sigmoid op (no overflow for z ≪ 0)."""
        s = Sigmoid.of(z)
        return s * (1 + z * (1 - s))

    def forward(self, z: Tensor) -> Tensor:
        return ops.silu(z)


class Mish(Activation):
    """a = z tanh(softplus(z)); mish'(z) = t + z(1 − t²)σ(z), with t = tanh(softplus(z))."""

    name = "mish"
    symbol = "mish"
    definition = "mish(z) = z tanh(ln(1 + e^{z}))"
    slope = "t + {z}(1 − t²)σ({z}), t = tanh(ln(1 + e^{{z}}))"

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """From z: t + z(1 − t²)σ(z), softplus by logaddexp (no overflow for z ≫ 0)."""
        t = np.tanh(np.logaddexp(0.0, z))
        return t + z * (1 - t * t) * Sigmoid.of(z)

    def forward(self, z: Tensor) -> Tensor:
        return ops.mish(z)


class Hardtanh(Activation):
    """a = z clipped to [min_val, max_val] (−1 and 1 by default); slope 1 strictly inside,
    0 outside and at the bounds themselves (PyTorch's hardtanh; its clamp passes them)."""

    name = "hardtanh"
    symbol = "hardtanh"
    min_val = -1.0
    max_val = 1.0

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        self.min_val = finite("Hardtanh", "min_val", min_val)
        self.max_val = finite("Hardtanh", "max_val", max_val)
        if self.min_val > self.max_val:
            raise refuse("Hardtanh", "max_val", f"at least min_val = {min_val:g}", max_val)

    @_FromSettings
    def definition(self) -> str:
        return f"hardtanh(z) = max({_text(self.min_val)}, min(z, {_text(self.max_val)}))"

    @_FromSettings
    def slope(self) -> str:
        return f"[{_text(self.min_val)} < {{z}} < {_text(self.max_val)}]"

    @_FromSettings
    def derivative(self) -> Slope:
        def slope(z: np.ndarray, a: np.ndarray) -> np.ndarray:
            """From z: 1 strictly between the bounds, else 0."""
            return ((z > self.min_val) & (z < self.max_val)).astype(z.dtype)

        return slope

    def forward(self, z: Tensor) -> Tensor:
        return ops.hardtanh(z, self.min_val, self.max_val)

    def config(self) -> dict[str, Any]:
        return {"min_val": self.min_val, "max_val": self.max_val}

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softsign(Activation):
    """a = z/(1 + |z|); softsign'(z) = 1/(1 + |z|)² = (1 − |a|)², from the output."""

    name = "softsign"
    symbol = "softsign"
    definition = "softsign(z) = z/(1 + |z|)"
    slope = "(1 − |{a}|)²"

    @staticmethod
    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """From a: (1 − |a|)², since 1 − |a| = 1/(1 + |z|)."""
        return (1 - np.abs(a)) ** 2

    def forward(self, z: Tensor) -> Tensor:
        return ops.softsign(z)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (
        Sigmoid,
        Tanh,
        ReLU,
        Softplus,
        Identity,
        Softmax,
        LeakyReLU,
        ELU,
        GELU,
        SiLU,
        Mish,
        Hardtanh,
        Softsign,
    )
}


def activation(name: str) -> Module:
    """A new activation module by name; the error lists the known names."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None
