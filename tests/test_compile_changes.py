"""Between two steps, a user (or a callback) may change anything a step reads: training mode,
a setting, a parameter's array or whether it requires grad, the learning rate, the batch. Any
sequence of such changes gives the compiled step the numbers eager gives, bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import training_step
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn, optim

CHANGES = st.one_of(
    st.tuples(st.just("training"), st.booleans()),
    st.tuples(st.just("requires_grad"), st.integers(0, 1), st.booleans()),  # the first layer's
    st.tuples(st.just("negative_slope"), st.sampled_from([0.0, 0.1, 0.3])),
    st.tuples(st.just("dropout"), st.sampled_from([0.0, 0.25])),
    st.tuples(st.just("label_smoothing"), st.sampled_from([0.0, 0.05, 0.2])),
    st.tuples(st.just("new_array"), st.integers(0, 3)),  # p.data replaced, the same values
    st.tuples(st.just("in_place"), st.integers(0, 3)),  # p.data halved where it is
    st.tuples(st.just("layer"), st.sampled_from([0.0, 0.2])),  # the activation replaced
    st.tuples(st.just("dtype"), st.sampled_from([np.float32, np.float64])),  # model.to(...)
    st.tuples(st.just("lr"), st.sampled_from([0.05, 0.2])),
    st.tuples(st.just("rows"), st.sampled_from([8, 5])),
)


def _change(change: tuple, model: nn.Sequential, loss: Any, opt: optim.SGD) -> int | None:
    """Apply one change; return the batch's row count when the change is the batch's."""
    kind, *value = change
    params = model.parameters()
    if kind == "training":
        model.train(value[0])
    elif kind == "requires_grad":
        params[value[0]].requires_grad = value[1]
    elif kind == "negative_slope":
        model[1].negative_slope = value[0]
    elif kind == "dropout":
        model[2].p = value[0]
    elif kind == "label_smoothing":
        loss.label_smoothing = value[0]
    elif kind == "new_array":
        params[value[0]].data = params[value[0]].data.copy()
    elif kind == "in_place":
        params[value[0]].data *= 0.5
    elif kind == "layer":
        setattr(model, "1", nn.LeakyReLU(value[0]))
    elif kind == "dtype":
        model.to(value[0])
    elif kind == "lr":
        opt.lr = value[0]
    else:
        return value[0]
    return None


def _train(compiled: bool, changes: list[tuple]) -> tuple[list, list]:
    cr.manual_seed(0)  # the same dropout masks in both runs
    model = nn.Sequential(
        nn.Linear(3, 5, rng=41), nn.LeakyReLU(0.1), nn.Dropout(0.25), nn.Linear(5, 2, rng=42)
    )
    loss = nn.CrossEntropyLoss(label_smoothing=0.05)  # settings read at each call
    opt = optim.SGD(model.parameters(), 0.1, momentum=0.5)
    step_fn = training_step(model, loss, opt)
    step = cr.compile(step_fn) if compiled else step_fn
    X = np.random.default_rng(3).normal(size=(8, 3))
    Y = np.random.default_rng(4).integers(0, 2, 8)
    rows, losses = 8, []
    for change in [("training", True), *changes]:
        rows = _change(change, model, loss, opt) or rows
        losses.append(np.array(step(X[:rows], Y[:rows]).data))
        losses.append(np.array(step(X[:rows], Y[:rows]).data))  # a replay of what was recorded
    return losses, [p.data.copy() for p in model.parameters()]


@given(st.lists(CHANGES, min_size=1, max_size=10))
def test_any_changes_between_steps_give_eagers_numbers(changes: list[tuple]) -> None:
    eager, compiled = _train(False, changes), _train(True, changes)
    assert len(eager[0]) == len(compiled[0])
    assert all(np.array_equal(a, b) for a, b in zip(eager[0], compiled[0], strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1], strict=True))


FIT_CHANGES = st.one_of(
    CHANGES.filter(lambda change: change[0] not in ("training", "rows")),  # fit sets those
    st.tuples(st.just("new_loss"), st.sampled_from([0.0, 0.05])),
    st.tuples(st.just("new_optimizer"), st.sampled_from([0.0, 0.5])),
)


def _fits(compiled: bool, changes: list[tuple]) -> tuple[list, list]:
    """One fit, then one more after each change, with the same model, loss and optimizer
    unless a change makes another: the compiled step fit keeps is replayed across them."""
    cr.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 5, rng=43), nn.LeakyReLU(0.1), nn.Dropout(0.25), nn.Linear(5, 2, rng=44)
    )
    loss = nn.CrossEntropyLoss(label_smoothing=0.05)
    opt = optim.SGD(model.parameters(), 0.1, momentum=0.5)
    X = np.random.default_rng(5).normal(size=(10, 3))
    Y = np.random.default_rng(6).integers(0, 2, 10)
    losses = []
    for i, change in enumerate([("lr", 0.1), *changes]):
        if change[0] == "new_loss":
            loss = nn.CrossEntropyLoss(label_smoothing=change[1])
        elif change[0] == "new_optimizer":
            opt = optim.SGD(model.parameters(), 0.1, momentum=change[1])
        else:
            _change(change, model, loss, opt)
        history = cr.fit(model, X, Y, loss, opt, 2, 4, seed=i, progress=False, compile=compiled)
        losses += history.loss
    return losses, [p.data.copy() for p in model.parameters()]


@given(st.lists(FIT_CHANGES, min_size=1, max_size=5))
def test_any_changes_between_fits_give_eagers_numbers(changes: list[tuple]) -> None:
    eager, compiled = _fits(False, changes), _fits(True, changes)
    assert eager[0] == compiled[0]
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1], strict=True))
