"""The compiled step (chainrule.compile): replaying a captured step gives the eager engine's
numbers bit for bit, recaptures when its key changes, and falls back to eager when it cannot
replay exactly."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from conftest import training_step

import chainrule as cr
from chainrule import nn, optim
from chainrule.compile import RECORDS, CompiledStep
from chainrule.errors import ConfigError, DataError, GradError
from chainrule.tensor import _birth

DTYPES = (np.float32, np.float64)


def _data(n: int, features: int, dtype: type, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, features)).astype(dtype)


def _targets(loss_name: str, n: int, outputs: int, dtype: type) -> np.ndarray:
    rng = np.random.default_rng(1)
    if loss_name == "ce":
        return rng.integers(0, outputs, n)
    if loss_name == "bce":
        return rng.integers(0, 2, (n, outputs)).astype(dtype)
    return rng.normal(size=(n, outputs)).astype(dtype)


def _batches(n: int, sizes: list[int], steps: int) -> list[np.ndarray]:
    """`steps` batches of row indices, their sizes cycling through `sizes`."""
    rng = np.random.default_rng(2)
    return [rng.integers(0, n, sizes[i % len(sizes)]) for i in range(steps)]


def _train(
    compiled: bool,
    model: nn.Module,
    loss: Callable,
    opt: optim.Optimizer,
    X: np.ndarray,
    Y: np.ndarray,
    batches: list[np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray], Callable]:
    step_fn = training_step(model, loss, opt)
    step = cr.compile(step_fn) if compiled else step_fn
    losses = [np.array(step(X[rows], Y[rows]).data) for rows in batches]
    return losses, [p.data.copy() for p in model.parameters()], step


def _same(eager: tuple, compiled: tuple) -> None:
    assert len(eager[0]) == len(compiled[0])
    for a, b in zip(eager[0], compiled[0], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for a, b in zip(eager[1], compiled[1], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def _both(build: Callable[[], tuple], X: np.ndarray, Y: np.ndarray, batches: list) -> tuple:
    eager = _train(False, *build(), X, Y, batches)
    compiled = _train(True, *build(), X, Y, batches)
    _same(eager, compiled)
    return compiled[2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
def test_every_activation_replays_bit_identically(activation: str, dtype: type) -> None:
    X, Y = _data(64, 4, dtype), _targets("ce", 64, 3, dtype)

    def build() -> tuple:
        model = nn.mlp([4, 8, 3], activation, dtype=dtype, rng=3)
        return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), 0.1, momentum=0.9)

    step = _both(build, X, Y, _batches(64, [16], 100))
    assert (step.stats.captures, step.stats.replays, step.stats.eager) == (1, 99, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss_name", sorted(nn.LOSSES))
def test_every_loss_replays_bit_identically(loss_name: str, reduction: str, dtype: type) -> None:
    X, Y = _data(64, 4, dtype), _targets(loss_name, 64, 3, dtype)
    output = "sigmoid" if loss_name == "bce" else None

    def build() -> tuple:
        model = nn.mlp([4, 8, 3], "tanh", output, dtype=dtype, rng=4)
        module = nn.LOSSES[loss_name](reduction=reduction)
        loss = (lambda a, y: module(a, y).sum()) if reduction == "none" else module
        return model, loss, optim.Adam(model.parameters(), 0.01)

    step = _both(build, X, Y, _batches(64, [16], 100))
    assert step.stats.fallbacks == {} and step.stats.replays == 99


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_log_softmax_and_a_composed_loss_replay(dtype: type) -> None:
    """A loss written with ops (log_softmax, indexing, mean) rather than a loss module."""
    X, Y = _data(64, 4, dtype), _targets("ce", 64, 3, dtype)

    def build() -> tuple:
        model = nn.Sequential(
            nn.Linear(4, 6, dtype=dtype, rng=5), nn.Softmax(), nn.Linear(6, 3, dtype=dtype, rng=6)
        )

        def nll(z: cr.Tensor, y: np.ndarray) -> cr.Tensor:
            return -(z.log_softmax()[np.arange(len(y)), y].mean())

        return model, nll, optim.SGD(model.parameters(), 0.2)

    _both(build, X, Y, _batches(64, [16], 100))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_draws_fresh_masks_in_the_eager_order(dtype: type) -> None:
    X, Y = _data(64, 4, dtype), _targets("ce", 64, 3, dtype)

    def build() -> tuple:
        cr.manual_seed(7)
        model = nn.Sequential(
            nn.Linear(4, 16, dtype=dtype, rng=8),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(16, 3, dtype=dtype, rng=9),
            nn.Dropout(0.2, rng=10),
        )
        return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), 0.1)

    step = _both(build, X, Y, _batches(64, [16], 100))
    assert step.stats.replays == 99


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_new_shape_gets_its_own_capture_and_the_old_one_is_kept(dtype: type) -> None:
    X, Y = _data(64, 4, dtype), _targets("squared", 64, 2, dtype)

    def build() -> tuple:
        model = nn.mlp([4, 8, 2], "sigmoid", dtype=dtype, rng=11)
        return model, nn.SquaredError(), optim.SGD(model.parameters(), 0.5, momentum=0.5)

    sizes = [16] * 40 + [5] * 20 + [16] * 40  # a shape change in the middle, and back
    step = _both(build, X, Y, _batches(64, sizes, 100))
    assert (step.stats.captures, step.stats.replays) == (2, 98)


@pytest.mark.parametrize("loss", ["ce", "squared"])
def test_fit_compiled_equals_fit_eager_bit_for_bit(loss: str) -> None:
    X = _data(203, 5, np.float32)  # 203 rows: a short last batch every epoch
    Y = _targets(loss, 203, 3, np.float32)
    results = []
    for compiled in (False, True):
        model = nn.mlp([5, 16, 3], "tanh", dtype=np.float32, rng=12)
        opt = optim.Adam(model.parameters(), 0.01)
        history = cr.fit(
            model,
            X,
            Y,
            loss=loss,
            optimizer=opt,
            epochs=4,
            batch_size=32,
            seed=2,
            progress=False,
            compile=compiled,
            validation=(X[:50], Y[:50]),
        )
        results.append((history, [p.data for p in model.parameters()]))
    (h0, w0), (h1, w1) = results
    assert h0.loss == h1.loss and h0.accuracy == h1.accuracy and h0.val_loss == h1.val_loss
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1, strict=True))


def test_fit_callbacks_see_the_output_and_the_batch_loss() -> None:
    seen: list[tuple] = []

    class Spy(cr.train.Callback):
        def on_batch_end(self, run: cr.train.Run) -> None:
            seen.append((run.output.shape, run.batch_loss, run.output.data.copy()))

    X, Y = _data(40, 3, np.float64), _targets("ce", 40, 2, np.float64)
    outputs = []
    for compiled in (False, True):
        seen.clear()
        model = nn.mlp([3, 4, 2], "relu", rng=13)
        cr.fit(
            model,
            X,
            Y,
            epochs=2,
            batch_size=16,
            seed=1,
            progress=False,
            callbacks=[Spy()],
            compile=compiled,
        )
        outputs.append(list(seen))
    assert [s[:2] for s in outputs[0]] == [s[:2] for s in outputs[1]]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(*outputs, strict=True))
    assert outputs[1][0][0] == (16, 2)


def _fits(
    compiled: bool, between: Callable[[nn.Module, Callable], None], smoothing: float
) -> tuple:
    """Three fits of one model, loss and optimizer, `between(model, loss)` before the third:
    each fit's History losses, the weights after, and what the optimizer keeps of them."""
    X, Y = _data(50, 3, np.float64), _targets("ce", 50, 2, np.float64)
    model = nn.Sequential(nn.Linear(3, 6, rng=31), nn.LeakyReLU(0.1), nn.Linear(6, 2, rng=32))
    loss = nn.CrossEntropyLoss(label_smoothing=smoothing)
    opt = optim.SGD(model.parameters(), 0.1, momentum=0.9)
    losses = []
    for i in range(3):
        if i == 2:
            between(model, loss)
        fit = cr.fit(model, X, Y, loss, opt, 2, 16, seed=i, progress=False, compile=compiled)
        losses.append(fit.loss)
    return losses, [p.data.copy() for p in model.parameters()], vars(opt).get(cr.train_step.KEPT)


def test_the_next_fit_of_the_same_model_loss_and_optimizer_replays_the_last_ones_records() -> None:
    """A fit of a few batches (a playground frame) would otherwise record its steps anew."""
    eager, compiled = (_fits(c, lambda model, loss: None, 0.0) for c in (False, True))
    assert eager[:1] == compiled[:1]
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1], strict=True))
    assert compiled[2].entry[1].stats.captures == 2  # batches of 16 and the last one of 2, once


@pytest.mark.parametrize(
    "change",
    [
        lambda model, loss: setattr(model[1], "negative_slope", 0.3),  # a constant of its op
        lambda model, loss: setattr(loss, "label_smoothing", 0.3),  # read at each call
        lambda model, loss: setattr(model, "2", nn.Linear(6, 2, rng=33)),  # another layer
    ],
    ids=["activation setting", "loss setting", "layer replaced"],
)
def test_a_setting_changed_between_two_fits_is_recorded_again_not_replayed(change) -> None:
    eager, compiled = (_fits(c, change, 0.1) for c in (False, True))
    assert eager[:1] == compiled[:1]
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1], strict=True))
    assert compiled[2].entry[1].stats.captures == 4  # both batch shapes recorded again


class _Anneal(cr.train.Callback):
    """A schedule: the LeakyReLU's slope grows at the end of every epoch."""

    def on_epoch_end(self, run: cr.train.Run) -> None:
        run.model[1].negative_slope = 0.1 * run.epoch


def _scheduled_fits(schedule: cr.train.Callback, rows: int) -> CompiledStep:
    """Four epochs of fit with `schedule`, eager and compiled, which must give the same losses
    and weights; returns the compiled step fit kept."""
    X, Y = _data(rows, 3, np.float64), _targets("ce", rows, 2, np.float64)
    runs = []
    for compiled in (False, True):
        model = nn.Sequential(nn.Linear(3, 6, rng=36), nn.LeakyReLU(0.0), nn.Linear(6, 2, rng=37))
        opt = optim.SGD(model.parameters(), 0.1)
        history = cr.fit(
            model, X, Y, nn.CrossEntropyLoss(), opt, 4, 8, seed=0, progress=False,
            compile=compiled, callbacks=[schedule],
        )  # fmt: skip
        runs.append((history.loss, [p.data.copy() for p in model.parameters()], opt))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    return vars(runs[1][2])[cr.train_step.KEPT].entry[1]


def test_a_callback_that_changes_a_setting_mid_fit_is_followed_as_eager_follows_it() -> None:
    _scheduled_fits(_Anneal(), rows=40)


class _EveryBatch(cr.train.Callback):
    """A schedule that moves the LeakyReLU's slope after every batch."""

    def on_batch_end(self, run: cr.train.Run) -> None:
        run.model[1].negative_slope = 0.01 * (run.epoch * 10 + run.batch)


def test_a_setting_changed_at_every_batch_runs_eagerly_after_a_few_captures() -> None:
    """A capture costs several eager steps: recording every batch anew would be slower than
    eager, so once the records keep being replaced before they pay, the key runs eagerly."""
    stats = _scheduled_fits(_EveryBatch(), rows=64).stats
    assert stats.captures == RECORDS + 1 and stats.eager == 32 - stats.captures
    assert "changes at almost every step" in next(iter(stats.fallbacks.values()))


def test_a_setting_left_as_it_was_costs_no_capture_when_assigned_again() -> None:
    """Every module assignment moves the number the replay's head compares; a record whose
    modules still hold what it recorded (eval() and back, the same value again) replays."""
    model = nn.Sequential(nn.Linear(3, 6, rng=38), nn.Dropout(0.0), nn.Linear(6, 2, rng=39))
    opt = optim.SGD(model.parameters(), 0.1)
    step = cr.compile(training_step(model, nn.CrossEntropyLoss(), opt))
    X, Y = _data(16, 3, np.float64), _targets("ce", 16, 2, np.float64)
    step(X, Y)
    model.eval()
    model.train()
    model[1].p = float("0.0")  # another float object, the same value
    step(X, Y)
    model[1].p = -0.0  # equal to 0.0, but not the same bits
    step(X, Y)
    model[1].p = 0.5
    step(X, Y)
    assert (step.stats.captures, step.stats.replays) == (3, 1)


class _Keeps(nn.Module):
    """A layer that keeps its last output, as a teaching view might: an attribute its own
    forward assigns, again at every eager call (fit's validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 2, rng=40)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        self.last = self.layer(x)
        return self.last


def test_an_attribute_a_forward_assigns_itself_is_no_setting_to_watch() -> None:
    X, Y = _data(40, 3, np.float64), _targets("ce", 40, 2, np.float64)
    runs = []
    for compiled in (False, True):
        model = _Keeps()
        opt = optim.SGD(model.parameters(), 0.1)
        history = cr.fit(
            model, X, Y, nn.CrossEntropyLoss(), opt, 5, 8, seed=0, progress=False,
            compile=compiled, validation=(X, Y),
        )  # fmt: skip
        runs.append((history.loss, history.val_loss, opt))
    assert runs[0][:2] == runs[1][:2]
    assert vars(runs[1][2])[cr.train_step.KEPT].entry[1].stats.captures == 1


def _freeze_first_layer(model: nn.Module, loss: Callable) -> None:
    for p in model[0].parameters():
        p.requires_grad = False


def test_a_layer_frozen_between_two_fits_is_left_alone() -> None:
    """Fine-tuning: fit, freeze the first layer, fit again; backward must skip its rules."""
    eager, compiled = (_fits(c, _freeze_first_layer, 0.0) for c in (False, True))
    assert eager[:1] == compiled[:1]
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1], strict=True))


def test_a_parameter_frozen_between_two_steps_is_captured_again_not_replayed() -> None:
    X, Y = _data(32, 3, np.float64), _targets("ce", 32, 2, np.float64)
    runs = []
    for compiled in (False, True):
        model = nn.mlp([3, 4, 2], "tanh", rng=35)
        opt = optim.SGD(model.parameters(), 0.1)
        losses, _, step = _train(compiled, model, nn.CrossEntropyLoss(), opt, X, Y, [...] * 3)
        model[0].weight.requires_grad = False
        frozen = model[0].weight.data.copy()
        losses += [np.array(step(X, Y).data) for _ in range(3)]
        assert np.array_equal(model[0].weight.data, frozen)
        runs.append((losses, [p.data.copy() for p in model.parameters()], step))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    assert runs[1][2].stats.captures == 2


def test_a_copy_of_a_fitted_optimizer_keeps_no_records_of_the_originals_tensors() -> None:
    import copy
    import pickle

    X, Y = _data(40, 3, np.float64), _targets("ce", 40, 2, np.float64)
    model = nn.mlp([3, 4, 2], "tanh", rng=34)
    loss, opt = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), 0.1)
    cr.fit(model, X, Y, loss, opt, epochs=1, batch_size=8, progress=False)
    before = [p.data.copy() for p in model.parameters()]
    twin, twin_loss, twin_opt = copy.deepcopy((model, loss, opt))
    cr.fit(twin, X, Y, twin_loss, twin_opt, epochs=2, batch_size=8, progress=False)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters(), strict=True))
    assert vars(twin_opt)[cr.train_step.KEPT].entry[1].stats.captures == 1
    assert vars(pickle.loads(pickle.dumps(opt)))[cr.train_step.KEPT].entry is None


class Cube(cr.Function):
    """A rule of the user's own: (x³)' = 3x². The engine cannot know what else forward does."""

    @staticmethod
    def forward(ctx, x):  # noqa: ANN001, ANN205
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        (x,) = ctx.saved_tensors
        return 3 * x**2 * g


def test_an_op_without_a_kernel_runs_eagerly_and_says_why() -> None:
    X, Y = _data(32, 3, np.float64), _targets("squared", 32, 2, np.float64)

    def build() -> tuple:
        model = nn.mlp([3, 4, 2], "tanh", rng=14)
        return (
            model,
            lambda a, y: nn.SquaredError()(Cube.apply(a), y),
            optim.SGD(model.parameters(), 0.1),
        )

    step = _both(build, X, Y, _batches(32, [8], 30))
    assert (step.stats.captures, step.stats.replays, step.stats.eager) == (1, 0, 29)
    (reason,) = step.stats.fallbacks.values()
    assert "'Cube' has no kernel" in reason


def test_a_parameter_changed_outside_an_optimizer_makes_the_step_eager() -> None:
    """Hand-written SGD inside step_fn: the update is no op the replay could repeat."""
    model = nn.mlp([3, 4, 2], "sigmoid", rng=15)
    X, Y = _data(16, 3, np.float64), _targets("squared", 16, 2, np.float64)

    def step_fn(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        model.zero_grad()
        c = nn.SquaredError()(model(cr.Tensor(x)), y)
        c.backward()
        for p in model.parameters():
            p.data -= 0.1 * p.grad
        return c

    step = cr.compile(step_fn)
    first = [step(X, Y).item() for _ in range(5)]
    assert first[-1] < first[0] and step.stats.eager == 4
    assert "other than by an optimizer" in next(iter(step.stats.fallbacks.values()))


def _clipping_step(model: nn.Module, opt: optim.Optimizer) -> Callable:
    def step_fn(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        opt.zero_grad()
        c = nn.CrossEntropyLoss()(model(cr.Tensor(x)), y)
        c.backward()
        for p in model.parameters():
            np.clip(p.grad, -0.01, 0.01, out=p.grad)
        opt.step()
        return c

    return step_fn


def test_a_gradient_clipped_by_hand_makes_the_step_eager() -> None:
    """Clipping p.grad in place between backward() and step() is no op the replay records."""
    X, Y = _data(16, 3, np.float64), _targets("ce", 16, 2, np.float64)
    runs = []
    for compiled in (False, True):
        model = nn.mlp([3, 4, 2], "tanh", rng=47)
        step_fn = _clipping_step(model, optim.SGD(model.parameters(), 0.1))
        step = cr.compile(step_fn) if compiled else step_fn
        runs.append(([step(X, Y).item() for _ in range(5)], step))
    assert runs[0][0] == runs[1][0]
    assert runs[1][1].stats.eager == 4
    assert "gradient clipped or scaled by hand" in next(iter(runs[1][1].stats.fallbacks.values()))


def test_parameters_are_read_afresh_at_every_replay() -> None:
    X, Y = _data(16, 3, np.float64), _targets("ce", 16, 2, np.float64)
    results = []
    for compiled in (False, True):
        model = nn.mlp([3, 4, 2], "tanh", rng=16)
        opt = optim.SGD(model.parameters(), 0.1)
        _, _, step = _train(compiled, model, nn.CrossEntropyLoss(), opt, X, Y, [])
        losses = [step(X, Y).item(), step(X, Y).item()]
        model[0].weight.data = np.full((4, 3), 0.25)  # a new array, not written in place
        model.load_state_dict(
            {"2.bias": np.array([0.5, -0.5])}
            | {k: v for k, v in model.state_dict().items() if k != "2.bias"}
        )
        losses += [step(X, Y).item() for _ in range(3)]
        results.append((losses, [p.data.copy() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))


def test_the_key_changes_with_dtype_and_training_mode() -> None:
    model = nn.Sequential(nn.Linear(3, 4, rng=17), nn.Dropout(0.5), nn.Linear(4, 2, rng=18))
    opt = optim.SGD(model.parameters(), 0.1)
    loss = nn.CrossEntropyLoss()
    X, Y = _data(8, 3, np.float64), _targets("ce", 8, 2, np.float64)
    _, _, step = _train(True, model, loss, opt, X, Y, [])
    step(X, Y)
    step(X, Y)
    step(X.astype(np.float32), Y)  # float32 rows: Linear converts them, a new capture
    assert (step.stats.captures, step.stats.replays) == (2, 1)
    model.eval()
    step(X, Y)  # no dropout now: the training-mode record must not be replayed
    assert step.stats.captures == 3
    cr.manual_seed(0)
    before = [p.data.copy() for p in model.parameters()]
    compiled_loss = step(X, Y).item()
    for p, b in zip(model.parameters(), before, strict=True):
        p.data[...] = b
    opt.zero_grad()
    eager = loss(model(cr.Tensor(X)), Y)
    assert compiled_loss == eager.item()
    model.train()
    step(X, Y)
    assert step.stats.captures == 3  # the training-mode record is still there


def test_the_key_is_each_arguments_kind_shape_dtype_or_value() -> None:
    """The record replayed last checks the key itself (compile/key.py): an argument of another
    kind, shape, dtype or value is never taken for its own."""
    model = nn.mlp([3, 4, 2], "tanh", rng=23)
    opt = optim.SGD(model.parameters(), 0.1)
    loss = nn.CrossEntropyLoss()

    def step_fn(x, y, scale):
        opt.zero_grad()
        c = loss(model(cr.Tensor(x)) * scale, y)
        c.backward()
        opt.step()
        return c

    step = cr.compile(step_fn)
    X, Y = _data(8, 3, np.float64), _targets("ce", 8, 2, np.float64)
    calls = [
        (X, Y, 1.0), (X, Y, 1.0),  # captured, then replayed
        (X, Y, 2.0),  # another value
        (X, Y, 2),  # another type, an equal value
        (cr.Tensor(X), Y, 1.0),  # a Tensor where an array was
        (X[:4], Y[:4], 1.0),  # another shape
        (X.astype(np.float32), Y, 1.0),  # another dtype
        (X, Y.astype(np.int32), 1.0),
        (X, Y, 1.0), (X[:4], Y[:4], 1.0), (X, Y, 2.0),  # each its own record again
    ]  # fmt: skip
    for x, y, scale in calls:
        before = [p.data.copy() for p in model.parameters()]
        compiled = step(x, y, scale).item()
        for p, b in zip(model.parameters(), before, strict=True):
            p.data[...] = b
        assert compiled == step_fn(x, y, scale).item()
    assert (step.stats.captures, step.stats.replays) == (7, 4)


def _replayed_ce_step(rng: int) -> tuple[Callable, np.ndarray, np.ndarray]:
    """A compiled cross-entropy step on 8 rows, captured and replayed once."""
    model = nn.mlp([3, 4, 2], "tanh", rng=rng)
    opt = optim.SGD(model.parameters(), 0.1)
    X, Y = _data(8, 3, np.float64), _targets("ce", 8, 2, np.float64)
    _, _, step = _train(True, model, nn.CrossEntropyLoss(), opt, X, Y, [])
    step(X, Y)
    step(X, Y)
    return step, X, Y


def test_the_key_changes_with_grad_mode() -> None:
    step, X, Y = _replayed_ce_step(19)
    with cr.no_grad(), pytest.raises(GradError, match="does not require grad"):
        step(X, Y)  # not the grad-mode record replayed: step_fn runs, and backward refuses
    assert (step.stats.captures, step.stats.replays) == (1, 1)


def test_replayed_ops_still_check_their_values() -> None:
    step, X, Y = _replayed_ce_step(20)
    bad = Y.copy()
    bad[3] = 7
    with pytest.raises(DataError, match="label 7 is out of range for 2 classes"):
        step(X, bad)
    assert step.stats.replays == 2


def test_a_step_that_does_not_return_its_loss_is_refused() -> None:
    model = nn.mlp([3, 4, 2], "tanh", rng=21)
    opt = optim.SGD(model.parameters(), 0.1)
    X, Y = _data(8, 3, np.float64), _targets("ce", 8, 2, np.float64)

    def returns_a_number(x: np.ndarray, y: np.ndarray) -> float:
        opt.zero_grad()
        c = nn.CrossEntropyLoss()(model(cr.Tensor(x)), y)
        c.backward()
        opt.step()
        return c.item()

    def returns_the_output(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        opt.zero_grad()
        out = model(cr.Tensor(x))
        nn.CrossEntropyLoss()(out, y).backward()
        opt.step()
        return out

    with pytest.raises(ConfigError, match="must return the loss it called backward.. on.*float"):
        cr.compile(returns_a_number)(X, Y)
    with pytest.raises(ConfigError, match="it returned another tensor"):
        cr.compile(returns_the_output)(X, Y)
    with pytest.raises(ConfigError, match="step_fn must be callable"):
        cr.compile(3)  # type: ignore[arg-type]


def test_a_replay_makes_no_tensor_but_the_loss_it_returns() -> None:
    model = nn.mlp([3, 16, 16, 2], "sigmoid", rng=22)
    opt = optim.Adam(model.parameters())
    X, Y = _data(8, 3, np.float64), _targets("ce", 8, 2, np.float64)
    _, _, step = _train(True, model, nn.CrossEntropyLoss(), opt, X, Y, [])
    step(X, Y)

    def births(f: Callable[[], object]) -> int:
        before = next(_birth)
        f()
        return next(_birth) - before - 1

    assert births(lambda: step.step_fn(X, Y)) == 7  # eager: the input, 6 nodes
    assert births(lambda: step(X, Y)) == 1  # the returned loss, a detached 0-d tensor
    loss = step(X, Y)
    assert loss.shape == () and not loss.requires_grad and loss.is_leaf


def test_the_returned_loss_is_never_overwritten() -> None:
    model = nn.mlp([3, 4, 2], "tanh", rng=23)
    opt = optim.SGD(model.parameters(), 0.5)
    X, Y = _data(8, 3, np.float64), _targets("ce", 8, 2, np.float64)
    _, _, step = _train(True, model, nn.CrossEntropyLoss(), opt, X, Y, [])
    losses = [step(X, Y) for _ in range(4)]
    values = [t.item() for t in losses]
    step(X, Y)
    assert [t.item() for t in losses] == values and len(set(values)) == 4


class _HalfStep(optim.Optimizer):
    """A user's own optimizer: W ← W − (η/2) ∇C, with a step counter as state."""

    def __init__(self, params: list, lr: float) -> None:
        super().__init__(params, lr)
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        for p, grad in self._grads():
            p.data -= 0.5 * self.lr * grad


def test_a_users_optimizer_and_model_zero_grad_are_called_at_every_replay() -> None:
    X, Y = _data(32, 3, np.float64), _targets("squared", 32, 2, np.float64)
    results = []
    for compiled in (False, True):
        model = nn.mlp([3, 5, 2], "softplus", rng=24)
        opt = _HalfStep(model.parameters(), 0.3)

        def step_fn(x: cr.Tensor, y: cr.Tensor, model=model, opt=opt) -> cr.Tensor:  # noqa: ANN001
            model.zero_grad()
            c = nn.MSELoss()(model(x), y)
            c.backward()
            opt.step()
            return c

        step = cr.compile(step_fn) if compiled else step_fn
        rows = _batches(32, [8], 20)
        losses = [step(cr.Tensor(X[r]), cr.Tensor(Y[r])).item() for r in rows]
        results.append((losses, opt.steps, [p.data.copy() for p in model.parameters()]))
    assert results[0][:2] == results[1][:2] and results[1][1] == 20
    assert all(np.array_equal(a, b) for a, b in zip(results[0][2], results[1][2], strict=True))


def test_gradients_accumulate_as_eager_when_zero_grad_is_outside_the_step() -> None:
    """Zeroing every other step, outside step_fn: backward adds into p.grad, as eager does."""
    X, Y = _data(32, 3, np.float64), _targets("ce", 32, 2, np.float64)
    results = []
    for compiled in (False, True):
        model = nn.mlp([3, 4, 2], "elu", rng=25)
        opt = optim.SGD(model.parameters(), 0.1)

        def step_fn(x: np.ndarray, y: np.ndarray, model=model, opt=opt) -> cr.Tensor:  # noqa: ANN001
            c = nn.CrossEntropyLoss()(model(cr.Tensor(x)), y)
            c.backward()
            opt.step()
            return c

        step = cr.compile(step_fn) if compiled else step_fn
        losses = []
        for i, rows in enumerate(_batches(32, [8], 12)):
            if i % 2 == 0:
                opt.zero_grad()
            losses.append(step(X[rows], Y[rows]).item())
        results.append((losses, [p.grad.copy() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))


def test_one_object_passed_twice_runs_eagerly() -> None:
    model = nn.mlp([3, 4, 3], "tanh", rng=26)
    opt = optim.SGD(model.parameters(), 0.1)
    X = _data(8, 3, np.float64)
    _, _, step = _train(True, model, nn.MSELoss(), opt, X, X, [])
    step(X, X)
    step(X, X)
    assert step.stats.eager == 1
    assert "the same object is passed as two arguments" in next(iter(step.stats.fallbacks.values()))


def _tied_run(compiled: bool, dtype: type, X: np.ndarray, Y: np.ndarray) -> tuple:
    rng = np.random.default_rng(7)
    weight = cr.tensor(rng.normal(size=(3, 2)), requires_grad=True, dtype=dtype)
    bias = cr.tensor(rng.normal(size=(1, 2)), requires_grad=True, dtype=dtype)
    scale = np.float64(0.5)
    opt = optim.SGD([weight, bias], 0.05)

    def step_fn(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        opt.zero_grad()
        z = cr.Tensor(x) @ weight + bias  # bias (1, 2) broadcast over the rows
        h = z.tanh()  # used three times: its upstream is a sum of three parts
        fit = ((h * h + h - y) ** 2).mean()
        fit.backward()
        tied = (cr.Tensor(x) @ weight * scale).mean() + 0.01 * (weight * weight).sum()
        tied.backward()  # adds into the grads the first pass left
        opt.step()
        return tied

    step = cr.compile(step_fn) if compiled else step_fn
    losses = [np.array(step(X[rows], Y[rows]).data) for rows in _batches(48, [16], 30)]
    if compiled:
        assert step.stats.fallbacks == {} and step.stats.replays == 29
    return losses, [weight.data, bias.data, weight.grad, bias.grad]


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcasts_shared_weights_and_two_backward_passes_replay_bit_identically(
    dtype: type,
) -> None:
    """The replay's backward as the engine's: a gradient summed back over broadcast axes, a
    weight used four times, a float64 constant meeting float32 data, a hidden value used
    three times (its upstream parts added in the engine's order), and two losses each with
    its own backward() in one step."""
    X, Y = _data(48, 3, dtype), _data(48, 2, dtype, seed=3)
    eager, replayed = _tied_run(False, dtype, X, Y), _tied_run(True, dtype, X, Y)
    _same(eager, replayed)
    assert all(a.dtype == np.dtype(dtype) for a in replayed[1])


def _many_ops_run(compiled: bool, dtype: type, X: np.ndarray) -> tuple:
    """A step through the engine's ops: each must replay, none may fall back."""
    rng = np.random.default_rng(11)
    weight = cr.tensor(rng.normal(size=(4, 4)) * 0.5, requires_grad=True, dtype=dtype)
    scale = cr.tensor(rng.normal(size=(4,)) * 0.5, requires_grad=True, dtype=dtype)
    opt = optim.SGD([weight, scale], 0.01)

    def step_fn(x: np.ndarray, index: np.ndarray) -> cr.Tensor:
        opt.zero_grad()
        z = cr.Tensor(x) @ weight  # (n, 4)
        smooth = z.sin() + z.cos() * 0.5 + z.exp2() * 0.1 + (z.abs() + 1.0).log1p()
        kinked = cr.where(z > 0, z, 0.1 * z) + cr.maximum(z, scale) + z.clip(-1.0, 1.0)
        joined = cr.cat([smooth, kinked], axis=1)  # (n, 8)
        left, right = cr.split(joined, 4, axis=1)
        stacked = cr.stack([left, right.flip(1).roll(1, 1)], axis=0)  # (2, n, 4)
        square = cr.einsum("bnk,kj->bnj", stacked, weight)  # batched through einsum
        batched = stacked @ weight.transpose()  # N-D matmul
        tiled = scale.tile((2, 1)).tril() + scale.broadcast_to((2, 4)).triu()
        picked = joined.gather(1, index)  # a step argument as the index
        masked = z.masked_fill(z < -2.0, 0.0)
        loss = (
            square.var() + batched.std(axis=1).mean() + stacked.logsumexp(axis=2).mean()
            + joined.max(axis=1).mean() + (tiled * 0.1).prod() + picked.mean()
            + masked.square().mean() + ((1.0 / (z.tanh() + 2.0)) % 3.0).mean() * 0.01
            + z.cumsum(1).mean() * 0.1 + (z.tanh() * 0.5).cumprod(0).mean()
            + z.repeat_interleave(2, axis=1).mean() + cr.pad(z, 1, mode="reflect").mean()
            + weight.trace() * 0.1 + weight.diagonal(1).sum() * 0.1
            + joined.scatter_add(1, index, picked).mean()
        )  # fmt: skip
        loss.backward()
        opt.step()
        return loss

    step = cr.compile(step_fn) if compiled else step_fn
    index = np.random.default_rng(12).integers(0, 8, (16, 3))
    losses = [np.array(step(X[rows], index).data) for rows in _batches(64, [16], 30)]
    if compiled:
        assert step.stats.fallbacks == {}, step.stats.fallbacks
        assert step.stats.replays == 29
    return losses, [weight.data, scale.data, weight.grad, scale.grad]


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_choosing_joining_shape_and_reduction_ops_replay_bit_identically(
    dtype: type,
) -> None:
    X = _data(64, 4, dtype, seed=9)
    _same(_many_ops_run(False, dtype, X), _many_ops_run(True, dtype, X))
