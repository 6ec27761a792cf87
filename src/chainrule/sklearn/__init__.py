"""scikit-learn estimators on the chainrule engine: `MLPClassifier` and `MLPRegressor`.

They take scikit-learn's MLP parameters where the meaning is the same (`hidden_layer_sizes`,
`activation`, `alpha`, `batch_size`, `learning_rate_init`, `max_iter`, `tol`, ...) and train
the same network the same way: Glorot-uniform weights and biases, mini-batches of
`min(200, n)` in scikit-learn's shuffled order, Adam or SGD with Nesterov momentum, and the
objective

    C = loss(a^{(L)}, y) + (α / 2n_batch) Σ_l ||W^{(l)}||²    (weights only, not biases)

whose gradient chainrule's autodiff computes. They train through `chainrule.fit`, the one
training loop; what is scikit-learn's own (the batch order, the tol rule, `loss_curve_`) is
given to it as a sampler and callbacks (see `chainrule.sklearn.base`). On top of that they take
chainrule's own `loss` (a name from `nn.LOSSES` or any callable on tensors), `optimizer`,
`until` (stop once the training loss is at most this) and `dtype`, accept every hidden
activation in `nn.ACTIVATIONS`, and expose the trained network as `model_`, a
`chainrule.nn.Sequential`, so `explain`, the plots and `chainrule.save` work on it.
"""

from chainrule.sklearn.base import binary_log_loss, half_squared_error, hidden_activations
from chainrule.sklearn.estimators import ESTIMATORS, MLPClassifier, MLPRegressor, load

__all__ = [
    "ESTIMATORS",
    "MLPClassifier",
    "MLPRegressor",
    "binary_log_loss",
    "half_squared_error",
    "hidden_activations",
    "load",
]
