"""scikit-learn estimators on the chainrule engine: `MLPClassifier` and `MLPRegressor`.

They take scikit-learn's MLP parameters where the meaning is the same (`hidden_layer_sizes`,
`activation`, `alpha`, `batch_size`, `learning_rate_init`, `max_iter`, `tol`, ...) and train
the same network the same way: Glorot-uniform weights and biases, mini-batches of
`min(200, n)`, Adam or SGD with Nesterov momentum, and the objective

    C = loss(a^{(L)}, y) + (α / 2n_batch) Σ_l ||W^{(l)}||²    (weights only, not biases)

whose gradient chainrule's autodiff computes. On top of that they take chainrule's own
`loss` (a name from `nn.LOSSES` or any callable on tensors), `optimizer`, `until` (stop once
the training loss is at most this) and `dtype`, and expose the trained network as `model_`,
a `chainrule.nn.Sequential`, so `explain`, the plots and `chainrule.save` work on it.
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Tags, check_random_state, gen_batches, shuffle
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from chainrule import io, nn
from chainrule.checks import positive_int
from chainrule.errors import ConfigError, DataError, DivergedError, ModelFileError
from chainrule.nn.init import INITS
from chainrule.optim import OPTIMIZERS, SGD, Adam, Optimizer
from chainrule.tensor import Tensor, no_grad

# scikit-learn calls the sigmoid "logistic"; both names are accepted.
HIDDEN_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
}
GLOROT = "glorot"


def half_squared_error(a: Tensor, y: np.ndarray) -> Tensor:
    """scikit-learn's regression loss: C = (1/2n) Σ_i Σ_j (a_ij − y_ij)², ∂C/∂a = (a − y)/n."""
    return nn.SquaredError()(a, y) * 0.5


def binary_log_loss(p: Tensor, y: np.ndarray) -> Tensor:
    """scikit-learn's loss for sigmoid outputs: C = −(1/n) Σ_i Σ_j [y ln p + (1 − y) ln(1 − p)],
    summed over the outputs (labels) and averaged over the examples."""
    return nn.BCELoss()(p, y) * p.shape[-1]


def _glorot(model: nn.Sequential, factor: float, random_state: np.random.RandomState) -> None:
    """scikit-learn's initialisation, draw for draw: per layer, w and b ~ U(±√(f/(fan_in +
    fan_out))), f = 6 (2 for logistic units), the weights drawn in its (fan_in, fan_out) order."""
    for layer in model:
        if isinstance(layer, nn.Linear):
            fan_out, fan_in = layer.weight.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            weight = random_state.uniform(-bound, bound, (fan_in, fan_out)).T
            layer.weight.data[...] = weight
            layer.bias.data[...] = random_state.uniform(-bound, bound, fan_out)


def _is_cross_entropy(loss: Any) -> bool:
    return loss == "ce" or isinstance(loss, nn.CrossEntropyLoss)


class _MLP(BaseEstimator):
    """What both estimators share: parameter checks, the network, the training loop, files."""

    _output: str | None = None  # the output activation's chainrule name, set per target

    def __init__(
        self,
        hidden_layer_sizes: int | tuple[int, ...] = (100,),
        activation: str = "relu",
        *,
        optimizer: str | Callable[[list], Optimizer] = "adam",
        alpha: float = 1e-4,
        batch_size: int | str | None = "auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        loss: str | Callable | None = None,
        until: float | None = None,
        init: str = GLOROT,
        dtype: str = "float64",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.loss = loss
        self.until = until
        self.init = init
        self.dtype = dtype

    # ---- parameters, checked in fit (scikit-learn's rule: __init__ only stores) ------------

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = [sizes]
        if not isinstance(sizes, list | tuple | np.ndarray) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise ConfigError(
                f"{type(self).__name__}: hidden_layer_sizes must be positive integers (an int "
                f"or a tuple of ints), got {self.hidden_layer_sizes!r}"
            )
        return [int(s) for s in sizes]

    def _check_params(self) -> None:
        name = type(self).__name__
        if self.activation not in HIDDEN_ACTIVATIONS:
            raise ConfigError(
                f"{name}: unknown activation {self.activation!r}; expected one of "
                f"{sorted(HIDDEN_ACTIVATIONS)}"
            )
        if not (isinstance(self.optimizer, str) and self.optimizer in OPTIMIZERS) and not (
            callable(self.optimizer)
        ):
            raise ConfigError(
                f"{name}: optimizer must be one of {sorted(OPTIMIZERS)} or a callable "
                f"params -> chainrule Optimizer, got {self.optimizer!r}"
            )
        if self.init != GLOROT and self.init not in INITS:
            raise ConfigError(
                f"{name}: unknown init {self.init!r}; expected one of {[GLOROT, *sorted(INITS)]}"
            )
        self._hidden_sizes()
        self._check_loss()
        # Ranges of these are the optimizers' to check; here only that they are numbers.
        for key in ("learning_rate_init", "momentum", "beta_1", "beta_2", "epsilon"):
            _number(name, key, getattr(self, key), low=0.0)
        _number(name, "alpha", self.alpha, low=0.0)
        _number(name, "tol", self.tol, low=0.0)
        if self.until is not None:
            _number(name, "until", self.until, low=0.0)
        positive_int(name, "max_iter", self.max_iter)
        positive_int(name, "n_iter_no_change", self.n_iter_no_change)
        if self.batch_size not in ("auto", None):
            positive_int(name, "batch_size", self.batch_size)
        self._np_dtype()

    def _check_loss(self) -> None:
        loss = self.loss
        if loss is None or callable(loss) or (isinstance(loss, str) and loss in nn.LOSSES):
            return
        raise ConfigError(
            f"{type(self).__name__}: unknown loss {loss!r}; expected one of {sorted(nn.LOSSES)}, "
            f"None or a callable (a, y) -> scalar Tensor"
        )

    def _np_dtype(self) -> np.dtype:
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None  # not a dtype at all: refused below with the same message
        if dtype not in (np.float32, np.float64):
            raise ConfigError(
                f"{type(self).__name__}: dtype must be 'float32' or 'float64', got {self.dtype!r}"
            )
        return dtype

    def _make_optimizer(self, params: list) -> Optimizer:
        if callable(self.optimizer):
            optimizer = self.optimizer(params)
            if not isinstance(optimizer, Optimizer):
                raise ConfigError(
                    f"{type(self).__name__}: optimizer callable returned "
                    f"{type(optimizer).__name__}, expected a chainrule Optimizer"
                )
            return optimizer
        if OPTIMIZERS[self.optimizer] is SGD:
            return SGD(
                params,
                lr=self.learning_rate_init,
                momentum=self.momentum,
                nesterov=self.nesterovs_momentum and self.momentum > 0,
            )
        return Adam(
            params,
            lr=self.learning_rate_init,
            betas=(self.beta_1, self.beta_2),
            eps=self.epsilon,
        )

    # ---- the network --------------------------------------------------------------------

    def _build(self, n_features: int, random_state: np.random.RandomState) -> None:
        sizes = [n_features, *self._hidden_sizes(), self.n_outputs_]
        hidden = HIDDEN_ACTIVATIONS[self.activation]
        output = self._model_output()
        if self.init == GLOROT:
            model = nn.mlp(sizes, hidden, output, dtype=self._np_dtype(), rng=0)
            _glorot(model, 2.0 if hidden == "sigmoid" else 6.0, random_state)
        else:
            seed = int(random_state.randint(np.iinfo(np.int32).max))
            model = nn.mlp(sizes, hidden, output, init=self.init, dtype=self._np_dtype(), rng=seed)
        optimizer = self._make_optimizer(model.parameters())  # may refuse its settings
        self.model_ = model
        self._optimizer = optimizer
        self.loss_curve_: list[float] = []
        self.best_loss_ = np.inf
        self.n_iter_ = 0
        self.t_ = 0
        self.stop_reason_ = ""
        self._no_improvement_count = 0

    def _model_output(self) -> str | None:
        """The activation after the last Linear: none for cross-entropy, which takes the
        logits z^{(L)} and fuses the softmax itself, so that `loss(model_(X), y)` is C."""
        return None if _is_cross_entropy(self._loss_spec()) else self._output

    def _loss_spec(self) -> str | Callable:
        return self.loss if self.loss is not None else self._default_loss()

    def _loss_fn(self) -> Callable:
        loss = self._loss_spec()
        return nn.LOSSES[loss]() if isinstance(loss, str) else loss

    def _objective(self, net: nn.Sequential, loss: Callable, x: np.ndarray, y: np.ndarray):
        """C = loss(a^{(L)}, y) + (α / 2n) Σ_l Σ_jk (w_jk^{(l)})², n the batch's examples."""
        c = loss(net(Tensor(x)), y)
        if not isinstance(c, Tensor) or c.data.size != 1:
            raise ConfigError(
                f"{type(self).__name__}: the loss must return a scalar chainrule Tensor, got "
                f"{type(c).__name__}"
            )
        if self.alpha:
            squares = [(layer.weight * layer.weight).sum() for layer in self._linears()]
            c = c + sum(squares[1:], squares[0]) * (self.alpha / (2 * len(x)))
        return c

    def _linears(self) -> list[nn.Linear]:
        return [layer for layer in self.model_ if isinstance(layer, nn.Linear)]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weights in scikit-learn's layout: coefs_[l][k, j] is w_jk^{(l+1)}."""
        return [layer.weight.data.T for layer in self._linears()]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The biases b^{(l)}, one array per layer, as scikit-learn's `intercepts_`."""
        return [layer.bias.data for layer in self._linears()]

    # ---- training -----------------------------------------------------------------------

    def _fit(self, X: Any, y: Any, incremental: bool, classes: Any = None) -> _MLP:
        self._check_params()
        first = not incremental or not hasattr(self, "model_")
        x, target = self._validate(X, y, first, incremental, classes)
        random_state = check_random_state(self.random_state)
        if first:
            self._build(x.shape[1], random_state)
        elif isinstance(self.model_[-1], nn.Linear) != (self._model_output() is None):
            raise ConfigError(
                f"{type(self).__name__}.partial_fit: loss={self.loss!r} needs a different output "
                f"layer than the fitted model_ has; call fit to start again"
            )
        if getattr(self, "_optimizer", None) is None:
            self._optimizer = self._make_optimizer(self.model_.parameters())
        self._epochs(x, target, random_state, incremental)
        return self

    def _epochs(
        self, x: np.ndarray, y: np.ndarray, random_state: np.random.RandomState, incremental: bool
    ) -> None:
        """scikit-learn's stochastic loop: shuffle, mini-batches, one optimizer step each;
        stop at max_iter, when the loss has not improved by tol for n_iter_no_change + 1
        epochs, or when it is at most `until`."""
        n = len(x)
        size = (
            n
            if self.batch_size is None
            else min(200 if self.batch_size == "auto" else self.batch_size, n)
        )
        net, loss, optimizer = self.model_, self._loss_fn(), self._optimizer
        order = np.arange(n)
        for _ in range(1 if incremental else self.max_iter):
            if self.shuffle:
                order = shuffle(order, random_state=random_state)
            total = 0.0
            for batch in gen_batches(n, size):
                rows = order[batch]
                c = self._objective(net, loss, x[rows], y[rows])
                optimizer.zero_grad()
                c.backward()
                optimizer.step()
                total += float(c.data) * len(rows)
            epoch_loss = total / n
            if not np.isfinite(epoch_loss):
                raise DivergedError(
                    f"{type(self).__name__}: training diverged at epoch {self.n_iter_ + 1} (the "
                    f"loss is {epoch_loss}); try a smaller learning_rate_init (now "
                    f"{self.learning_rate_init})"
                )
            self._record(epoch_loss, n)
            if self.until is not None and epoch_loss <= self.until:
                self.stop_reason_ = "until"
                return
            if self._no_improvement_count > self.n_iter_no_change and not incremental:
                self.stop_reason_ = "tol"
                return
        if incremental:
            self.stop_reason_ = "partial_fit"
            return
        self.stop_reason_ = "max_iter"
        warnings.warn(
            f"{type(self).__name__}: max_iter={self.max_iter} epochs reached and the training "
            f"loss still improves by more than tol={self.tol}",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _record(self, epoch_loss: float, n: int) -> None:
        self.loss_curve_.append(epoch_loss)
        self.n_iter_ += 1
        self.t_ += n
        if epoch_loss > self.best_loss_ - self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        self.best_loss_ = min(self.best_loss_, epoch_loss)

    def _forward(self, X: Any) -> np.ndarray:
        """a^{(L)} for rows X (the softmax applied when `model_` ends at the logits)."""
        check_is_fitted(self)
        x = validate_data(self, X, reset=False, dtype=self.model_.dtype)
        with no_grad():
            a = self.model_(Tensor(x))
            if self.out_activation_ == "softmax" and isinstance(self.model_[-1], nn.Linear):
                a = a.softmax(axis=-1)
            return a.data

    # ---- pickle and model files ---------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # The engine's optimizers key their state by id(parameter), which a copy or an
        # unpickled object does not share; the next partial_fit starts a fresh optimizer.
        state = super().__getstate__()
        state.pop("_optimizer", None)
        return state

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted estimator to a chainrule model file (safetensors + JSON; no
        pickle). Parameters that are not JSON data (a callable loss or optimizer) are stored
        as None and named in the file, so `load` can say which to set again."""
        check_is_fitted(self)
        params, dropped = {}, []
        for key, value in self.get_params().items():
            try:
                params[key] = json.loads(json.dumps(value, default=_numpy_scalar))
            except TypeError:
                params[key] = None
                dropped.append(key)
        metadata = {
            "estimator": type(self).__name__,
            "params": params,
            "dropped_params": dropped,
            "fitted": self._fitted_state(),
        }
        io.save(self.model_, path, metadata=metadata)

    def _fitted_state(self) -> dict[str, Any]:
        state = {
            "n_features_in_": self.n_features_in_,
            "n_outputs_": self.n_outputs_,
            "loss_curve_": self.loss_curve_,
            "best_loss_": self.best_loss_,
            "n_iter_": self.n_iter_,
            "t_": self.t_,
            "stop_reason_": self.stop_reason_,
            "_no_improvement_count": self._no_improvement_count,
        }
        if hasattr(self, "feature_names_in_"):
            state["feature_names_in_"] = self.feature_names_in_.tolist()
        return state

    def _restore(self, model: nn.Sequential, fitted: dict[str, Any]) -> None:
        self.model_ = model
        for key, value in fitted.items():
            setattr(self, key, value)
        if "feature_names_in_" in fitted:
            self.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
        self._optimizer = None


class MLPClassifier(ClassifierMixin, _MLP):
    """A multilayer perceptron classifier trained by chainrule's backpropagation.

    Binary targets get one sigmoid output unit, a^{(L)} = σ(z^{(L)}) = P(classes_[1]);
    multiclass targets get a softmax over one unit per class; a multilabel indicator matrix
    gets one sigmoid unit per label. The default loss is scikit-learn's log-loss: softmax
    cross-entropy on the logits z^{(L)} (multiclass) or binary cross-entropy summed over the
    outputs. `loss` may instead name one of `chainrule.nn.LOSSES` ("ce" trains on the logits,
    the others on the probabilities a^{(L)}) or be any callable `loss(a, y) -> scalar Tensor`
    on the probabilities, with `y` the one-hot (or 0/1 label) matrix.

    Fitted attributes: `model_` (the `chainrule.nn.Sequential` the loss sees: it ends at the
    logits z^{(L)} for cross-entropy, else at the probabilities a^{(L)}), `classes_`,
    `n_features_in_`, `feature_names_in_` (DataFrame input), `n_outputs_`, `out_activation_`,
    `loss_curve_`, `best_loss_`, `n_iter_`, `t_`, `stop_reason_` ("tol", "max_iter", "until"
    or "partial_fit"), and `coefs_`/`intercepts_` in scikit-learn's layout.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train from scratch on rows X with labels y (1-D, or a 0/1 multilabel matrix)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y), continuing from the current weights. The first call needs
        `classes` (every label any later batch may hold) unless y is a multilabel matrix."""
        return self._fit(X, y, incremental=True, classes=classes)

    @property
    def _output(self) -> str:
        return "softmax" if self.out_activation_ == "softmax" else "sigmoid"

    def _default_loss(self) -> Callable | str:
        return "ce" if self.out_activation_ == "softmax" else binary_log_loss

    def _validate(self, X: Any, y: Any, first: bool, incremental: bool, classes: Any) -> tuple:
        x, y = validate_data(self, X, y, reset=first, dtype=self._np_dtype(), multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if first:
            if incremental and classes is None and kind != "multilabel-indicator":
                raise DataError(
                    "MLPClassifier.partial_fit: pass classes= (every label any batch may hold) "
                    "on the first call"
                )
            self._set_classes(y, kind, classes)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise DataError(
                f"MLPClassifier.partial_fit: classes {np.unique(classes)} differ from the "
                f"first call's {self.classes_}"
            )
        return x, self._encode(y, kind, x.dtype)

    def _set_classes(self, y: np.ndarray, kind: str, classes: Any) -> None:
        if kind == "multilabel-indicator":
            self.classes_ = np.arange(y.shape[1])
            self.out_activation_ = "logistic"
            self.n_outputs_ = y.shape[1]
            return
        if kind not in ("binary", "multiclass"):
            raise DataError(
                f"MLPClassifier: target type {kind!r} is not supported; expected binary or "
                f"multiclass labels, or a 0/1 multilabel indicator matrix"
            )
        self.classes_ = np.unique(y if classes is None else classes)
        if len(self.classes_) < 2:
            raise DataError(
                f"MLPClassifier needs at least two classes to train, but y has one class "
                f"({self.classes_[0]!r})"
            )
        binary = len(self.classes_) == 2
        self.out_activation_ = "logistic" if binary else "softmax"
        self.n_outputs_ = 1 if binary else len(self.classes_)
        if _is_cross_entropy(self.loss) and binary:
            raise ConfigError(
                "MLPClassifier: loss 'ce' needs a softmax output, but binary targets get one "
                "sigmoid unit; use loss=None or 'bce'"
            )

    def _encode(self, y: np.ndarray, kind: str, dtype: np.dtype) -> np.ndarray:
        """Targets as the loss wants them: integer labels for cross-entropy, else the 0/1
        matrix of one column per output unit."""
        if self._multilabel:
            if kind != "multilabel-indicator" or y.shape[1] != self.n_outputs_:
                raise DataError(
                    f"MLPClassifier: fitted on a 0/1 label matrix with {self.n_outputs_} "
                    f"columns; y is {kind} with shape {y.shape}"
                )
            return y.astype(dtype)
        if y.ndim != 1:
            raise DataError(f"MLPClassifier: fitted on one label per row; y has shape {y.shape}")
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if len(unknown):
            raise DataError(
                f"MLPClassifier: y has classes {unknown} not in classes_ {self.classes_}"
            )
        labels = np.searchsorted(self.classes_, y)
        if self.out_activation_ == "logistic":
            return labels.astype(dtype).reshape(-1, 1)
        if _is_cross_entropy(self._loss_spec()):
            return labels.astype(np.intp)
        return np.eye(self.n_outputs_, dtype=dtype)[labels]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class of `classes_` (per label for
        multilabel targets)."""
        a = self._forward(X)
        if self._binary:
            return np.hstack([1 - a, a])
        return a

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class per row (for multilabel targets, every label with p > ½)."""
        a = self._forward(X)
        if self.out_activation_ == "softmax":
            return self.classes_[a.argmax(axis=1)]
        if self._binary:
            return self.classes_[(a[:, 0] > 0.5).astype(np.intp)]
        return (a > 0.5).astype(np.int64)

    @property
    def _binary(self) -> bool:
        return self.out_activation_ == "logistic" and self.n_outputs_ == 1

    @property
    def _multilabel(self) -> bool:
        return self.out_activation_ == "logistic" and self.n_outputs_ > 1

    def _fitted_state(self) -> dict[str, Any]:
        state = super()._fitted_state()
        state["classes_"] = self.classes_.tolist()
        state["classes_dtype"] = self.classes_.dtype.str
        state["out_activation_"] = self.out_activation_
        return state

    def _restore(self, model: nn.Sequential, fitted: dict[str, Any]) -> None:
        dtype = fitted.pop("classes_dtype")
        super()._restore(model, fitted)
        self.classes_ = np.asarray(fitted["classes_"], dtype=np.dtype(dtype))


class MLPRegressor(RegressorMixin, _MLP):
    """A multilayer perceptron regressor trained by chainrule's backpropagation.

    The output layer is linear, a^{(L)} = z^{(L)}, one unit per target column. The default
    loss is scikit-learn's, C = (1/2n) Σ_i Σ_j (a_ij − y_ij)²; `loss` may instead name
    "squared" or "mse" from `chainrule.nn.LOSSES`, or be any callable `loss(a, y) -> scalar
    Tensor` that chainrule can differentiate.

    Fitted attributes: `model_` (the `chainrule.nn.Sequential`), `n_features_in_`,
    `feature_names_in_` (DataFrame input), `n_outputs_`, `out_activation_` ("identity"),
    `loss_curve_`, `best_loss_`, `n_iter_`, `t_`, `stop_reason_`, `coefs_`/`intercepts_`.
    """

    _output = None

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train from scratch on rows X with targets y (1-D, or one column per output)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, incremental=True)

    def _default_loss(self) -> Callable:
        return half_squared_error

    def _check_loss(self) -> None:
        super()._check_loss()
        if self.loss in ("ce", "bce") or isinstance(self.loss, nn.CrossEntropyLoss | nn.BCELoss):
            raise ConfigError(
                f"MLPRegressor: loss {self.loss!r} is a classification loss; expected "
                f"'squared', 'mse', None or a callable"
            )

    def _validate(self, X: Any, y: Any, first: bool, incremental: bool, classes: Any) -> tuple:
        x, y = validate_data(
            self, X, y, reset=first, dtype=self._np_dtype(), multi_output=True, y_numeric=True
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        y = y.reshape(len(y), -1).astype(x.dtype, copy=False)
        if first:
            self.n_outputs_ = y.shape[1]
            self.out_activation_ = "identity"
        elif y.shape[1] != self.n_outputs_:
            raise DataError(
                f"MLPRegressor.partial_fit: y has {y.shape[1]} outputs, expected {self.n_outputs_}"
            )
        return x, y

    def predict(self, X: Any) -> np.ndarray:
        """a^{(L)} for each row: shape (n,) for a single target, (n, outputs) otherwise."""
        a = self._forward(X)
        return a.ravel() if self.n_outputs_ == 1 else a

    def _fitted_state(self) -> dict[str, Any]:
        state = super()._fitted_state()
        state["out_activation_"] = self.out_activation_
        return state


ESTIMATORS: dict[str, type[_MLP]] = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}


def load(path: str | os.PathLike) -> MLPClassifier | MLPRegressor:
    """The estimator `est.save(path)` wrote, fitted, rebuilt without pickle."""
    model, metadata = io.load_with_metadata(path)
    kind = metadata.get("estimator")
    if kind not in ESTIMATORS:
        raise ModelFileError(
            f"{path} holds a chainrule model but no scikit-learn estimator; load it with "
            f"chainrule.load, or save one with MLPClassifier/MLPRegressor.save"
        )
    params = dict(metadata["params"])
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    estimator = ESTIMATORS[kind](**params)
    estimator._restore(model, dict(metadata["fitted"]))
    if metadata.get("dropped_params"):
        warnings.warn(
            f"{path}: parameters {metadata['dropped_params']} were callables and not saved; "
            f"the estimator predicts as saved, but set them again before training it further",
            UserWarning,
            stacklevel=2,
        )
    return estimator


def _numpy_scalar(value: Any) -> Any:
    """numpy scalars (a grid search's np.float64 alpha) as the Python numbers they hold."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _number(owner: str, name: str, value: Any, low: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= low:
        raise ConfigError(f"{owner}: {name} must be a number >= {low}, got {value!r}")
