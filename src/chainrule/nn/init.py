"""Weight initialisation: the lecture's "set all weights to smaller random values", and the
schemes that keep signals from vanishing in deeper networks.

Each scheme fills a `(out_features, in_features)` weight (and its bias) in place and takes a
`rng`: a seed, a numpy Generator, or None for chainrule's own generator (`manual_seed`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chainrule.errors import ConfigError
from chainrule.tensor import Tensor

RNG = int | np.random.Generator | None


class _Seed:
    generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator used wherever no `rng` is given, for repeatable runs."""
    _Seed.generator = np.random.default_rng(seed)


def generator(rng: RNG = None) -> np.random.Generator:
    """A numpy Generator from a seed, a Generator (returned as is) or None (chainrule's own)."""
    if rng is None:
        return _Seed.generator
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _fill(t: Tensor, values: np.ndarray) -> None:
    t.data[...] = values.astype(t.data.dtype, copy=False)


def default(weight: Tensor, bias: Tensor | None = None, rng: RNG = None) -> None:
    """w, b ~ U(−1/√fan_in, 1/√fan_in): PyTorch's Linear default; trains well with every
    activation here, so it is chainrule's default too."""
    g = generator(rng)
    bound = 1.0 / np.sqrt(weight.shape[1])
    _fill(weight, g.uniform(-bound, bound, weight.shape))
    if bias is not None:
        _fill(bias, g.uniform(-bound, bound, bias.shape))


def small_uniform(
    weight: Tensor, bias: Tensor | None = None, rng: RNG = None, scale: float = 0.5
) -> None:
    """The lecture's "smaller random values": every weight and bias (the bias is `w_0`)
    ~ U(−scale, scale)."""
    g = generator(rng)
    _fill(weight, g.uniform(-scale, scale, weight.shape))
    if bias is not None:
        _fill(bias, g.uniform(-scale, scale, bias.shape))


def xavier(weight: Tensor, bias: Tensor | None = None, rng: RNG = None) -> None:
    """Glorot/Xavier uniform, w ~ U(±√(6/(fan_in + fan_out))), b = 0: keeps the variance of
    sigmoid and tanh layers' signals steady forwards and backwards."""
    fan_out, fan_in = weight.shape
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    _fill(weight, generator(rng).uniform(-bound, bound, weight.shape))
    if bias is not None:
        bias.data[...] = 0


def he(weight: Tensor, bias: Tensor | None = None, rng: RNG = None) -> None:
    """He/Kaiming normal, w ~ N(0, 2/fan_in), b = 0: for ReLU layers, which zero half their
    inputs and so need twice the variance."""
    std = np.sqrt(2.0 / weight.shape[1])
    _fill(weight, generator(rng).normal(0.0, std, weight.shape))
    if bias is not None:
        bias.data[...] = 0


INITS: dict[str, Callable[..., None]] = {
    "default": default,
    "small": small_uniform,
    "xavier": xavier,
    "he": he,
}


def get(name: str) -> Callable[..., None]:
    """The scheme called `name`; the error lists the known ones."""
    try:
        return INITS[name]
    except KeyError:
        raise ConfigError(f"unknown init {name!r}; expected one of {sorted(INITS)}") from None
