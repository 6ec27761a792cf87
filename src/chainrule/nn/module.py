"""Module and Parameter: PyTorch's shape for models, so users already know it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from chainrule.checks import float_dtype, refuse
from chainrule.compile import observed
from chainrule.errors import ArgumentTypeError, ConfigError, ShapeError
from chainrule.tensor import ArrayLike, Tensor, assigned, assignment_numbers, tracing


class Parameter(Tensor):
    """A tensor a Module learns: requires grad by default, and is found by `parameters()`."""

    __slots__ = ()

    def __init__(self, data: ArrayLike, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)


class Module:
    """Base of every layer and network: parameters and sub-modules are found by attribute,
    in the order they were assigned, and named as PyTorch names them (`0.weight`).

    `training` is True from construction on; `eval()` and `train()` set it on the module and on
    every sub-module, as PyTorch does. Only layers that train differently from how they predict
    (Dropout) read it.
    """

    # Set in __init__ past __setattr__ (which needs them to exist); declared for type checkers.
    _parameters: dict[str, Parameter]
    _modules: dict[str, Module]
    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_modules" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)
        assigned.last = next(assignment_numbers)  # after the assignment: see compile's guard
        if tracing.capture is not None:
            tracing.capture.assigned(self, name)

    def __delattr__(self, name: str) -> None:
        """`del module.name` forgets a parameter or layer as it forgets any attribute."""
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)
        assigned.last = next(assignment_numbers)

    def forward(self, *args: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any) -> Tensor:
        if tracing.capture is not None:  # a compiled step keys its record on training modes
            tracing.capture.module(self)
        return self.forward(*args)

    # ---- training or predicting --------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set `training` to `mode` here and in every sub-module; returns self."""
        if not isinstance(mode, bool):
            raise refuse(f"{type(self).__name__}.train", "mode", "True or False", mode)
        self.training = mode
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Predicting mode, `train(False)`: Dropout passes its input through unchanged."""
        return self.train(False)

    # ---- what it holds --------------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def modules(self) -> Iterator[Module]:
        """This module, then every module inside it, depth first."""
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name (`0.weight`, `0.bias`, `2.weight`, ...)."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    @observed
    def zero_grad(self) -> None:
        """Forget accumulated gradients (`grad = None`), before the next backward."""
        for p in self.parameters():
            p.grad = None

    def to(self, dtype: Any) -> Module:
        """Cast every parameter to `dtype` (np.float32 or np.float64), in place; returns self."""
        floating = float_dtype("Module.to", dtype)
        for p in self.parameters():
            p.data = p.data.astype(floating)
            p.grad = None
        return self

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the first parameter (float64 for a module with none)."""
        params = self.parameters()
        return params[0].data.dtype if params else np.dtype(np.float64)

    # ---- state ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's array, keyed by its dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, ArrayLike]) -> None:
        """Copy arrays (or Tensors) into the parameters; names and shapes must match exactly."""
        if not isinstance(state, Mapping):
            raise ArgumentTypeError(
                f"load_state_dict: state must map names to arrays (model.state_dict()), got "
                f"{type(state).__name__}"
            )
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise ConfigError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}; "
                f"expected exactly {list(params)}"
            )
        arrays = {}
        for name, p in params.items():
            value = state[name]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.shape != p.data.shape:
                raise ShapeError(
                    f"load_state_dict: {name} has shape {array.shape}, expected {p.data.shape}"
                )
            arrays[name] = array
        for name, p in params.items():
            p.data[...] = arrays[name]

    # ---- description ----------------------------------------------------------------------

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): {m!r}".replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def _repr_html_(self) -> str:
        """In a notebook: the layers, their parameters' shapes, and the parameter count."""
        from chainrule.notebook import module_html  # a room above the spine: loaded on first use

        return module_html(self)
