"""The exceptions chainrule raises: each names what was wrong and what was expected."""


class ChainruleError(Exception):
    """Base of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Operands whose shapes an op cannot combine; names the op and both shapes."""


class GradError(ChainruleError, RuntimeError):
    """A backward pass that cannot run as asked (non-scalar root without a gradient, ...)."""


class ConfigError(ChainruleError, ValueError):
    """A bad argument: a learning rate <= 0, an unknown name, a negative size."""


class DivergedError(ChainruleError, ArithmeticError):
    """Training produced a NaN or infinite loss; `history` holds what was trained so far."""

    def __init__(self, message: str, history: object = None) -> None:
        super().__init__(message)
        self.history = history


class ModelFileError(ChainruleError, OSError):
    """A file that is not a chainrule model, or a model that cannot be written."""


class DataError(ChainruleError, ValueError):
    """Bad input data: a malformed CSV row, NaN features, too few classes."""


class ClusterError(ChainruleError, ConnectionError):
    """A Dask cluster that cannot be reached, or that lost the workers a distributed fit needs."""
