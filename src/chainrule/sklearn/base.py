"""What both scikit-learn estimators share: their parameters and checks, the network and its
initialisation, scikit-learn's objective and batch order, training through `chainrule.fit`,
and model files.

scikit-learn's stochastic loop, step by step, and what does it here:

- each epoch reshuffles the previous epoch's row order with `sklearn.utils.shuffle` and the
  estimator's random state, then takes `gen_batches` slices of it: `_Shuffle`, fit's `sampler`;
- one optimizer step per batch on C = loss + (α / 2n_batch) Σ_l ||W^{(l)}||²: `_MLP._criterion`,
  fit's `loss`;
- `loss_curve_` is the batch losses C weighted by batch size, over the rows: fit's
  `History.loss`, copied by the `_Record` callback with `n_iter_` and `t_`;
- stop when the training loss has not beaten its best by `tol` for more than `n_iter_no_change`
  epochs: `callbacks.EarlyStopping(tol, patience=n_iter_no_change + 1)`, whose `best` and `wait`
  are `best_loss_` and `_no_improvement_count` between calls (partial_fit never stops on it);
- max_iter epochs: fit's `epochs` (one for partial_fit).

Parameters are checked by chainrule.checks rather than declared as scikit-learn's
`_parameter_constraints`: those need the private `sklearn.utils._param_validation`, and checks
gives every refusal the one ConfigError message shape chainrule uses.
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, shuffle
from sklearn.utils.validation import check_is_fitted, validate_data

from chainrule import io, nn
from chainrule.callbacks import Callback, EarlyStopping, Run
from chainrule.checks import at_least, one_of, positive_int, refuse
from chainrule.errors import ConfigError, DivergedError
from chainrule.nn.init import INITS
from chainrule.optim import OPTIMIZERS, SGD, Adam, Optimizer
from chainrule.tensor import Tensor
from chainrule.train import History, fit, predicting

# scikit-learn calls the sigmoid "logistic"; both names are accepted.
ALIASES = {"logistic": "sigmoid"}
GLOROT = "glorot"


def hidden_activations() -> list[str]:
    """The hidden activations the estimators take: every name in nn.ACTIVATIONS but softmax
    (an output, not a hidden unit), and scikit-learn's aliases. Read at each fit, so an
    activation registered later is accepted with no edit here."""
    return sorted([*ALIASES, *(name for name in nn.ACTIVATIONS if name != "softmax")])


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
    for block in nn.blocks(model):
        fan_out, fan_in = block.linear.weight.shape
        bound = np.sqrt(factor / (fan_in + fan_out))
        weight = random_state.uniform(-bound, bound, (fan_in, fan_out)).T
        block.linear.weight.data[...] = weight
        _bias(block.linear).data[...] = random_state.uniform(-bound, bound, fan_out)


def _bias(linear: nn.Linear) -> Tensor:
    """b of a layer of `model_`, which nn.mlp builds with a bias in every Linear."""
    assert linear.bias is not None, "the estimators' networks have a bias in every layer"
    return linear.bias


def _is_cross_entropy(loss: Any) -> bool:
    return loss == "ce" or isinstance(loss, nn.CrossEntropyLoss)


class _Shuffle:
    """fit's sampler for scikit-learn's batch order: every epoch reshuffles the previous
    epoch's order (starting from the rows in order) with the estimator's random state."""

    def __init__(self, random_state: np.random.RandomState, enabled: bool) -> None:
        self.random_state, self.enabled = random_state, enabled
        self.order: np.ndarray | None = None

    def __call__(self, n: int) -> np.ndarray:
        order = np.arange(n) if self.order is None else self.order
        self.order = shuffle(order, random_state=self.random_state) if self.enabled else order
        return self.order


class _Record(Callback):
    """Each epoch's training loss into the estimator's `loss_curve_`, with `n_iter_` and `t_`
    (examples seen), as scikit-learn's MLP keeps them."""

    def __init__(self, estimator: _MLP, n: int) -> None:
        self.estimator, self.n = estimator, n

    def on_epoch_end(self, run: Run) -> None:
        self.estimator.loss_curve_.append(run.history.loss[-1])
        self.estimator.n_iter_ += 1
        self.estimator.t_ += self.n


class _MLP(BaseEstimator):
    """What both estimators share: parameter checks, the network, the training loop, files."""

    _optimizer: Optimizer | None

    @property
    def _output(self) -> str | None:
        """The output activation's chainrule name (the classifier's depends on its targets)."""
        return None

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
            expected = "positive integers (an int or a tuple of ints)"
            raise refuse(type(self).__name__, "hidden_layer_sizes", expected, sizes)
        return [int(s) for s in sizes]

    def _check_params(self) -> None:
        name = type(self).__name__
        one_of(name, "activation", self.activation, hidden_activations())
        if not (isinstance(self.optimizer, str) and self.optimizer in OPTIMIZERS) and not (
            callable(self.optimizer)
        ):
            expected = f"one of {', '.join(OPTIMIZERS)} or a callable params -> Optimizer"
            raise refuse(name, "optimizer", expected, self.optimizer)
        one_of(name, "init", self.init, [GLOROT, *sorted(INITS)])
        self._hidden_sizes()
        self._check_loss()
        # Ranges of the optimizer's settings are the optimizer's to check; here only that
        # they are numbers.
        for key in ("learning_rate_init", "momentum", "beta_1", "beta_2", "epsilon", "alpha"):
            at_least(name, key, getattr(self, key), 0.0)
        at_least(name, "tol", self.tol, 0.0)
        if self.until is not None:
            at_least(name, "until", self.until, 0.0)
        positive_int(name, "max_iter", self.max_iter)
        positive_int(name, "n_iter_no_change", self.n_iter_no_change)
        if self.batch_size not in ("auto", None):
            positive_int(name, "batch_size", self.batch_size)
        self._np_dtype()

    def _check_loss(self) -> None:
        loss = self.loss
        if loss is None or callable(loss) or (isinstance(loss, str) and loss in nn.LOSSES):
            return
        expected = f"one of {', '.join(nn.LOSSES)}, None or a callable (a, y) -> scalar Tensor"
        raise refuse(type(self).__name__, "loss", expected, loss)

    def _np_dtype(self) -> np.dtype:
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None  # not a dtype at all: refused below with the same message
        if dtype not in (np.float32, np.float64):
            raise refuse(type(self).__name__, "dtype", "'float32' or 'float64'", self.dtype)
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
        hidden = ALIASES.get(self.activation, self.activation)
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

    def _criterion(self, net: nn.Sequential, loss: Callable) -> Callable[[Tensor, Any], Tensor]:
        """What fit minimises: C = loss(a^{(L)}, y) + (α / 2n) Σ_l Σ_jk (w_jk^{(l)})², n the
        batch's examples (scikit-learn's L2 term: weights only, not biases)."""
        weights = [block.linear.weight for block in nn.blocks(net)]

        def objective(a: Tensor, y: Any) -> Tensor:
            c = loss(a, y)
            if not isinstance(c, Tensor) or c.data.size != 1:
                expected = "a loss that returns a scalar chainrule Tensor"
                raise refuse(type(self).__name__, "loss", expected, type(c).__name__)
            if self.alpha:
                squares = [(w * w).sum() for w in weights]
                c = c + sum(squares[1:], squares[0]) * (self.alpha / (2 * len(y)))
            return c

        return objective

    def _objective(self, net: nn.Sequential, loss: Callable, x: np.ndarray, y: Any) -> Tensor:
        """C (see _criterion) on rows x with targets y."""
        return self._criterion(net, loss)(net(Tensor(x)), y)

    def _linears(self) -> list[nn.Linear]:
        return [block.linear for block in nn.blocks(self.model_)]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weights in scikit-learn's layout: coefs_[l][k, j] is w_jk^{(l+1)}."""
        return [layer.weight.data.T for layer in self._linears()]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The biases b^{(l)}, one array per layer, as scikit-learn's `intercepts_`."""
        return [_bias(layer).data for layer in self._linears()]

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
        self._train(x, target, random_state, incremental)
        return self

    def _batch_size(self, n: int) -> int:
        """scikit-learn's: min(200, n) for "auto", all n rows for None, else at most n."""
        size = self.batch_size
        if size is None:
            return n
        return min(200 if size == "auto" else int(size), n)

    def _train(
        self, x: np.ndarray, y: np.ndarray, random_state: np.random.RandomState, incremental: bool
    ) -> None:
        """scikit-learn's stochastic loop, run by chainrule.fit (see the module docstring):
        max_iter epochs (one for partial_fit), at most `until`, or the tol rule."""
        n = len(x)
        # scikit-learn's rule (count > n_iter_no_change) is EarlyStopping's count >= patience
        stopper = EarlyStopping("loss", tol=self.tol, patience=self.n_iter_no_change + 1)
        stopper.best, stopper.wait = self.best_loss_, self._no_improvement_count
        try:
            history = fit(
                self.model_,
                x,
                y,
                loss=self._criterion(self.model_, self._loss_fn()),
                optimizer=self._optimizer,
                epochs=1 if incremental else self.max_iter,
                batch_size=self._batch_size(n),
                until=self.until,
                progress=False,
                callbacks=[_Record(self, n), stopper],
                sampler=_Shuffle(random_state, self.shuffle),
            )
        except DivergedError as err:
            loss = err.history.loss[-1] if isinstance(err.history, History) else "not finite"
            raise DivergedError(
                f"{type(self).__name__}: training diverged at epoch {self.n_iter_ + 1} (the "
                f"loss is {loss}); try a smaller learning_rate_init (now "
                f"{self.learning_rate_init})",
                err.history,
            ) from None
        finally:
            self.best_loss_, self._no_improvement_count = stopper.best, stopper.wait
        self.stop_reason_ = history.stop_reason
        if incremental and history.stop_reason in ("epochs", "tol"):
            self.stop_reason_ = "partial_fit"  # partial_fit trains one epoch; tol never stops it
        elif history.stop_reason == "epochs":
            self.stop_reason_ = "max_iter"
            warnings.warn(
                f"{type(self).__name__}: max_iter={self.max_iter} epochs reached and the "
                f"training loss still improves by more than tol={self.tol}",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _forward(self, X: Any) -> np.ndarray:
        """a^{(L)} for rows X (the softmax applied when `model_` ends at the logits)."""
        check_is_fitted(self)
        x = validate_data(self, X, reset=False, dtype=self.model_.dtype)
        with predicting(self.model_):
            a = self.model_(Tensor(x))
            if self.out_activation_ == "softmax" and isinstance(self.model_[-1], nn.Linear):
                a = a.softmax(axis=-1)
            return a.data

    # ---- pickle and model files ---------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # The engine's optimizers key their state by id(parameter), which a copy or an
        # unpickled object does not share; the next partial_fit starts a fresh optimizer
        # (save and load keep it: the file holds it by parameter name).
        state = super().__getstate__()
        state.pop("_optimizer", None)
        return state

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted estimator to a chainrule model file (safetensors + JSON; no
        pickle), with its optimizer's state, so that partial_fit after `load` continues
        bit for bit as it would have without the save. Parameters that are not JSON data (a
        callable loss or optimizer) are stored as None and named in the file, so `load` can
        say which to set again."""
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
        io.save(self.model_, path, metadata=metadata, optimizer=getattr(self, "_optimizer", None))

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


def _numpy_scalar(value: Any) -> Any:
    """numpy scalars (a grid search's np.float64 alpha) as the Python numbers they hold."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON data")
