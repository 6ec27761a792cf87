"""Optimizers: each implements only its update, and its docstring carries the equation."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule.checks import at_least, fraction, int_at_least, positive, refuse
from chainrule.compile import observed
from chainrule.errors import ArgumentTypeError, ConfigError, ShapeError
from chainrule.tensor import Tensor

KEPT_FROM = 65536  # elements: SGD writes η∇C of a parameter this large into a kept array


def parameters_of(values: Iterable[Tensor]) -> list[Tensor]:
    """The list of tensors in `values`, checked to be Tensors."""
    if not isinstance(values, Iterable):
        raise ArgumentTypeError(
            f"expected an iterable of Tensors (model.parameters()), got {type(values).__name__}"
        )
    out = list(values)
    for v in out:
        if not isinstance(v, Tensor):
            raise ArgumentTypeError(f"expected Tensors (parameters), got {type(v).__name__}")
    return out


def _once_each(owner: str, params: list[Tensor]) -> list[Tensor]:
    """`params` with repeats removed, first place kept. A parameter listed twice would be
    stepped twice per step; PyTorch warns (and still steps it twice), chainrule warns with
    PyTorch's words and steps it once. Tensors are told apart by identity, never by `==`."""
    unique = list({id(p): p for p in params}.values())
    if len(unique) != len(params):
        warnings.warn(
            f"{owner}: optimizer contains a parameter group with duplicate parameters; "
            f"each is kept once and stepped once per step",
            UserWarning,
            stacklevel=4,
        )
    return unique


class Optimizer:
    """Holds the parameters to update; `step()` applies the update, `zero_grad()` clears grads.

    Both are `observed`: a compiled step (chainrule.compile) records that they were called and
    calls them again at every replay, so every optimizer, a subclass's too, works compiled.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("step", "zero_grad"):
            if name in cls.__dict__:
                setattr(cls, name, observed(cls.__dict__[name]))

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        owner = type(self).__name__
        self.lr = positive(owner, "lr", lr)
        self.params = _once_each(owner, parameters_of(params))
        if not self.params:
            raise refuse(owner, "params", "a non-empty list (model.parameters())", [])
        self._rooms: dict[int, np.ndarray] = {}  # _room's arrays, by id(p)

    @observed
    def zero_grad(self) -> None:
        """Set every parameter's grad to None, ready for the next backward."""
        for p in self.params:
            p.grad = None

    @observed
    def step(self) -> None:
        raise NotImplementedError

    def _grads(self) -> list[tuple[Tensor, np.ndarray]]:
        return [(p, p.grad) for p in self.params if p.grad is not None]

    def _room(self, p: Tensor, like: np.ndarray) -> np.ndarray:
        """An array like `like`, kept for p's update terms from step to step (out= of the
        same numpy calls, so the same bits). A new temporary the size of a large weight at
        every step lands on fresh pages: Adam's step on the parameters of a 784-256-10 MLP
        took 554 µs with a new array per term, 471 µs with kept ones (float32)."""
        room = self._rooms.get(id(p))
        if room is None or room.shape != like.shape or room.dtype != like.dtype:
            room = self._rooms[id(p)] = np.empty_like(like)
        return room

    # ---- state: what a resumed run needs to step exactly as an uninterrupted one --------

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's settings (JSON data): `type(self)(params, **these)` rebuilds it."""
        return {"lr": self.lr}

    def buffers(self) -> dict[str, dict[int, np.ndarray]]:
        """The per-parameter arrays the update keeps between steps, by PyTorch's names, each
        keyed by id(parameter); none for plain gradient descent."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's name: the optimizer's type, hyperparameters and buffers (copies), the
        buffers keyed by the parameter's index in `params`, as PyTorch keys them."""
        state: dict[int, dict[str, np.ndarray]] = {}
        for i, p in enumerate(self.params):
            entry = {
                name: kept[id(p)].copy() for name, kept in self.buffers().items() if id(p) in kept
            }
            if entry:
                state[i] = entry
        return {
            "type": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "state": state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from `state_dict()`'s data: the hyperparameters (checked as the constructor
        checks them) and a copy of every buffer, whose shape and dtype must be its parameter's."""
        owner = f"{type(self).__name__}.load_state_dict"
        if state.get("type") != type(self).__name__:
            raise refuse(owner, "type", repr(type(self).__name__), state.get("type"))
        try:
            fresh = type(self)(self.params, **state.get("hyperparameters", {}))
        except TypeError as err:
            raise ConfigError(f"{owner}: hyperparameters do not fit ({err})") from None
        arrays = self._checked_buffers(owner, state.get("state", {}))
        vars(self).update({k: v for k, v in vars(fresh).items() if k != "params"})
        for i, entry in arrays.items():
            for name, array in entry.items():
                self.buffers()[name][id(self.params[i])] = array

    def _checked_buffers(self, owner: str, state: Any) -> dict[int, dict[str, np.ndarray]]:
        """`state`'s buffers as owned copies, once every index, name, shape and dtype fits."""
        names = set(self.buffers())
        if not isinstance(state, Mapping):
            raise refuse(owner, "state", "a dict {parameter index: {buffer: array}}", state)
        checked: dict[int, dict[str, np.ndarray]] = {}
        for key, entry in state.items():
            i = int_at_least(owner, "state index", key, 0)
            if i >= len(self.params):
                raise refuse(owner, "state index", f"< {len(self.params)} (the parameters)", i)
            if not isinstance(entry, Mapping) or set(entry) != names:
                raise refuse(owner, f"state[{i}]", f"a dict of {sorted(names)}", entry)
            p = self.params[i].data
            checked[i] = {}
            for name, value in entry.items():
                array = np.asarray(value.data if isinstance(value, Tensor) else value)
                if array.shape != p.shape:
                    raise ShapeError(
                        f"{owner}: state[{i}][{name!r}] has shape {array.shape}, expected "
                        f"{p.shape} (its parameter's)"
                    )
                if array.dtype != p.dtype:
                    raise refuse(owner, f"state[{i}][{name!r}].dtype", str(p.dtype), array.dtype)
                checked[i][name] = array.copy()
        return checked


class SGD(Optimizer):
    """Gradient descent, the lecture's rule:  W ← W − η ∇C(W).

    With momentum μ > 0 (PyTorch's form): v ← μ v + ∇C, then W ← W − η v (Nesterov:
    W ← W − η (∇C + μ v)). `weight_decay` λ adds λ W to the gradient (L2 regularisation).
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = fraction("SGD", "momentum", momentum)
        self.weight_decay = at_least("SGD", "weight_decay", weight_decay, 0.0)
        if nesterov and self.momentum == 0:
            raise refuse("SGD", "momentum", "> 0 for Nesterov momentum (nesterov=True)", momentum)
        self.nesterov = nesterov
        self.velocity: dict[int, np.ndarray] = {}

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
        }

    def buffers(self) -> dict[str, dict[int, np.ndarray]]:
        """v, the velocity (PyTorch's momentum_buffer), once the first step has made it."""
        return {"momentum_buffer": self.velocity}

    def step(self) -> None:
        lr, mu, decay = self.lr, self.momentum, self.weight_decay
        for p in self.params:
            grad = p.grad
            if grad is None:
                continue
            if decay:
                grad = grad + decay * p.data
            if mu:
                v = self.velocity.get(id(p))
                if v is None:
                    v = self.velocity[id(p)] = grad.copy()
                else:
                    v *= mu
                    v += grad
                grad = grad + mu * v if self.nesterov else v
            if grad.size < KEPT_FROM:  # finding the kept array costs more than a small new one
                p.data -= lr * grad
            else:
                p.data -= np.multiply(grad, lr, out=self._room(p, grad))


class Adam(Optimizer):
    """Adam (Kingma & Ba), as PyTorch computes it: with g = ∇C (+ λW, L2 regularisation),
    m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
    W ← W − (η/(1−β₁ᵗ)) m / (√v/√(1−β₂ᵗ) + ε)."""

    decoupled: ClassVar[bool] = False  # weight decay on W itself (AdamW) instead of in g

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        owner = type(self).__name__
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise refuse(owner, "betas", "a pair (beta1, beta2) such as (0.9, 0.999)", betas)
        self.beta1 = fraction(owner, "betas[0]", betas[0])
        self.beta2 = fraction(owner, "betas[1]", betas[1])
        self.eps = positive(owner, "eps", eps)
        self.weight_decay = at_least(owner, "weight_decay", weight_decay, 0.0)
        self.t = 0
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "betas": [self.beta1, self.beta2],
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def buffers(self) -> dict[str, dict[int, np.ndarray]]:
        """m and v, the moments (PyTorch's exp_avg and exp_avg_sq)."""
        return {"exp_avg": self.m, "exp_avg_sq": self.v}

    def state_dict(self) -> dict[str, Any]:
        """Optimizer.state_dict() and t, the steps taken, which the bias corrections 1 − βᵗ use."""
        return {**super().state_dict(), "step": self.t}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        owner = f"{type(self).__name__}.load_state_dict"
        step = int_at_least(owner, "step", state.get("step"), 0)
        super().load_state_dict(state)
        self.t = step

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1 - b1**self.t)
        root_correction = math.sqrt(1 - b2**self.t)  # a Python float keeps float32 float32
        for p, grad in self._grads():
            if self.weight_decay:
                if self.decoupled:
                    p.data *= 1 - self.lr * self.weight_decay
                else:
                    grad = grad + self.weight_decay * p.data
            m = self.m.get(id(p))
            if m is None:
                m = self.m[id(p)] = np.zeros_like(p.data)
                self.v[id(p)] = np.zeros_like(p.data)
            v = self.v[id(p)]
            term = self._room(p, grad)  # each line below is one numpy call of the equations
            m *= b1
            m += np.multiply(grad, 1 - b1, out=term)
            v *= b2
            np.multiply(grad, 1 - b2, out=term)
            v += np.multiply(term, grad, out=term)
            denom = np.sqrt(v, out=term)
            denom /= root_correction
            denom += self.eps
            p.data -= np.multiply(np.divide(m, denom, out=term), step_size, out=term)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as PyTorch's AdamW: first
    W ← W(1 − ηλ), then Adam's step on g = ∇C alone. The decay shrinks every weight by the same
    share, where Adam's L2 term would be scaled down by √v like the gradient."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}
