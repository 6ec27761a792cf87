"""Networks: Module, Parameter, layers, activations, losses and initialisation schemes."""

from chainrule.nn import init
from chainrule.nn.layers import (
    ACTIVATIONS,
    Activation,
    Block,
    Identity,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    activation,
    blocks,
    mlp,
)
from chainrule.nn.losses import (
    LOSSES,
    BCELoss,
    CrossEntropyLoss,
    Loss,
    MSELoss,
    SquaredError,
    loss_module,
)
from chainrule.nn.module import Module, Parameter

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Block",
    "LOSSES",
    "BCELoss",
    "CrossEntropyLoss",
    "Identity",
    "Linear",
    "Loss",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "SquaredError",
    "Tanh",
    "activation",
    "blocks",
    "init",
    "loss_module",
    "mlp",
]
