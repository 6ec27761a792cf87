"""The primitives, each with its forward and its local derivative side by side.

Read file by file this is the lecture's table of derivative rules (`arithmetic`), then the
functions a network is built from (`elementwise`, `activations`, `reductions`, `shape`,
`matrices`, `joining`, `linalg`) and the comparisons (`compare`). Every op returns
`node(forward value, parents, name, vjps)`; `vjps[i]` maps the upstream gradient
`g = ∂C/∂out` to `g · ∂out/∂parent_i` (the chain rule's one step). Most build it with
`base.apply` from their kernel, the op on arrays alone, which a compiled step replays.
Broadcasting is undone for every operand by one helper, `backprop.unbroadcast`, in the engine.
"""

from chainrule.ops import (
    activations,
    arithmetic,
    compare,
    elementwise,
    joining,
    linalg,
    matrices,
    reductions,
    shape,
)
from chainrule.ops.activations import *  # noqa: F403
from chainrule.ops.arithmetic import *  # noqa: F403
from chainrule.ops.base import Axis, constant, lift
from chainrule.ops.compare import *  # noqa: F403
from chainrule.ops.elementwise import *  # noqa: F403
from chainrule.ops.joining import *  # noqa: F403
from chainrule.ops.linalg import *  # noqa: F403
from chainrule.ops.matrices import *  # noqa: F403
from chainrule.ops.reductions import *  # noqa: F403
from chainrule.ops.shape import *  # noqa: F403

__all__ = [
    "Axis",
    "constant",
    "lift",
    *activations.__all__,
    *arithmetic.__all__,
    *compare.__all__,
    *elementwise.__all__,
    *joining.__all__,
    *linalg.__all__,
    *matrices.__all__,
    *reductions.__all__,
    *shape.__all__,
]
