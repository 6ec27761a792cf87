"""The exceptions chainrule raises: each names what was wrong and what was expected.

Each one also subclasses the built-in exception that Python or numpy raise for the same
mistake, so `except ValueError` (numpy's habit), `except TypeError`, `except IndexError` and
`except OSError` keep working beside `except chainrule.ChainruleError`. docs/engine.md
("Exceptions") lists what raises each.
"""


class ChainruleError(Exception):
    """Base of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Operands whose shapes an op cannot combine; names the op and both shapes."""


class AxisError(ShapeError, IndexError):
    """An axis out of range for the tensor (`t.sum(axis=5)` on a 2-D tensor); both a
    ValueError and an IndexError, as numpy's AxisError is."""


class IndexingError(ChainruleError, IndexError):
    """An index outside a tensor (`t[5]` on 2 rows), or of a kind numpy cannot index with."""


class GradError(ChainruleError, RuntimeError):
    """A backward pass that cannot run as asked (non-scalar root without a gradient, ...)."""


class ConfigError(ChainruleError, ValueError):
    """A bad argument: a learning rate <= 0, an unknown name, a negative size."""


class ArgumentTypeError(ConfigError, TypeError):
    """An argument of the wrong kind of object (integers where parameters belong, `len()` of a
    0-d tensor); a TypeError, and a ValueError as every ConfigError is."""


class DivergedError(ChainruleError, ArithmeticError):
    """Training produced a NaN or infinite loss, or one that grew far above its best;
    `history` holds what was trained so far."""

    def __init__(self, message: str, history: object = None) -> None:
        super().__init__(message)
        self.history = history


class ModelFileError(ChainruleError, OSError):
    """A file that is not a chainrule model, or a model that cannot be written."""


class DataError(ChainruleError, ValueError):
    """Bad input data: a malformed CSV row, NaN features, too few classes."""


class DTypeError(DataError, TypeError):
    """Values that cannot be a tensor's numbers: strings, None, complex numbers, objects; a
    TypeError (Python's habit) and a ValueError (numpy's, through DataError)."""


class DataWarning(UserWarning):
    """Data that trains, but not as the user probably meant: features whose values are all
    equal carry nothing for the network to learn from."""


class ClusterError(ChainruleError, ConnectionError):
    """A Dask cluster that cannot be reached, or that lost the workers a distributed fit needs."""
