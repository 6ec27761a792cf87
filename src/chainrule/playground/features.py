"""The input features the network may see, each made from the two raw inputs x₁ and x₂.

The names are the API's (`"x1^2"`, `"sin_x1"`, ...); they are also the column names of an
exported CSV and the feature names in an exported model file, so `chainrule evaluate` reads
the same columns the network was trained on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}

DEFAULT_FEATURES = ["x1", "x2"]


def engineer(X: np.ndarray, names: list[str]) -> np.ndarray:
    """The columns `names` of FEATURES for rows X of the two raw inputs (x₁, x₂)."""
    x1, x2 = X[:, 0], X[:, 1]
    return np.column_stack([FEATURES[name](x1, x2) for name in names]).astype(np.float64)
