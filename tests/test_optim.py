"""Optimizers: the lecture's update W ← W − η∇C, and PyTorch's momentum and Adam, step for step."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle
from test_nn import torch_copy

import chainrule as cr

torch = oracle()


def test_plain_sgd_is_the_lectures_update():
    w = cr.nn.Parameter(np.array([1.0, -2.0]))
    w.grad = np.array([2.1, 0.1])
    cr.optim.SGD([w], lr=0.5).step()
    np.testing.assert_array_equal(w.data, [1.0 - 0.5 * 2.1, -2.0 - 0.5 * 0.1])


def test_updates_happen_in_place():
    w = cr.nn.Parameter(np.ones(3))
    before = w.data
    w.grad = np.ones(3)
    cr.optim.Adam([w], lr=0.1).step()
    assert w.data is before


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda p: cr.optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (
            lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        ),
        (
            lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        ),
        (lambda p: cr.optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
        (
            lambda p: cr.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2),
            lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2),
        ),
    ],
    ids=["sgd", "momentum", "nesterov+decay", "adam", "adam+decay"],
)
def test_sixty_training_steps_end_on_pytorchs_weights(ours, theirs):
    rng = np.random.default_rng(0)
    model = cr.nn.mlp([4, 8, 6, 3], "tanh", rng=rng)
    reference = torch_copy(model)
    x = rng.normal(size=(32, 4))
    y = rng.integers(0, 3, 32)
    opt, t_opt = ours(model.parameters()), theirs(reference.parameters())
    loss, t_loss = cr.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    tx, ty = torch.tensor(x), torch.tensor(y)
    for step in range(60):
        batch = slice(8 * (step % 4), 8 * (step % 4) + 8)
        opt.zero_grad()
        c = loss(model(x[batch]), y[batch])
        c.backward()
        opt.step()
        t_opt.zero_grad()
        t_c = t_loss(reference(tx[batch]), ty[batch])
        t_c.backward()
        t_opt.step()
        assert_matches_torch(c.data, t_c, f"loss at step {step}", tol=1e-9)
    for (name, p), t_p in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert_matches_torch(p.data, t_p, f"{name} after 60 steps", tol=1e-9)


DECAY = [
    ("sgd+decay", dict(lr=0.1, weight_decay=1e-2), "SGD"),
    ("momentum+decay", dict(lr=0.05, momentum=0.9, weight_decay=1e-2), "SGD"),
    ("nesterov+decay", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=3e-2), "SGD"),
    ("adam+l2", dict(lr=0.01, weight_decay=1e-2), "Adam"),
    ("adamw", dict(lr=0.01), "AdamW"),
    ("adamw+settings", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), "AdamW"),
]


@pytest.mark.parametrize(("settings", "name"), [d[1:] for d in DECAY], ids=[d[0] for d in DECAY])
def test_weight_decay_steps_equal_pytorchs_for_twenty_steps(settings, name):
    # SGD and Adam add λW to the gradient (L2); AdamW shrinks W by (1 − ηλ) apart from it
    rng = np.random.default_rng(1)
    model = cr.nn.mlp([3, 5, 2], "tanh", rng=rng)
    reference = torch_copy(model)
    opt = getattr(cr.optim, name)(model.parameters(), **settings)
    t_opt = getattr(torch.optim, name)(reference.parameters(), **settings)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    for step in range(20):
        opt.zero_grad()
        cr.nn.MSELoss()(model(x), y).backward()
        opt.step()
        t_opt.zero_grad()
        torch.nn.functional.mse_loss(reference(torch.tensor(x)), torch.tensor(y)).backward()
        t_opt.step()
        for (n, p), t_p in zip(model.named_parameters(), reference.parameters(), strict=True):
            assert_matches_torch(p.data, t_p, f"{name} {n} at step {step}", tol=1e-12)


def test_adamw_decay_is_decoupled_from_the_gradient():
    # With ∇C = 0 Adam's step is 0, so one AdamW step is the decay alone: W(1 − ηλ).
    w = cr.nn.Parameter(np.array([2.0, -4.0]))
    w.grad = np.zeros(2)
    cr.optim.AdamW([w], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(w.data, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-15)
    assert cr.optim.AdamW([w]).weight_decay == 1e-2  # PyTorch's default


@pytest.mark.parametrize(
    "make",
    [
        lambda p: cr.optim.SGD(p, lr=0.1),
        lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: cr.optim.Adam(p, lr=0.1),
        lambda p: cr.optim.AdamW(p, lr=0.1),
    ],
    ids=["sgd", "momentum", "adam", "adamw"],
)
def test_a_parameter_given_twice_warns_and_is_stepped_once(make):
    # PyTorch warns with these words and then steps the parameter twice; chainrule steps once.
    w, other = cr.nn.Parameter(np.array([1.0, 2.0])), cr.nn.Parameter(np.array([3.0]))
    twin = cr.nn.Parameter(np.array([1.0, 2.0]))
    with pytest.warns(UserWarning, match="contains a parameter group with duplicate parameters"):
        opt = make([w, other, w])
    assert opt.params[0] is w and opt.params[1] is other and len(opt.params) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        once = make([twin])
    for p in (w, twin):
        p.grad = np.array([0.5, -1.0])
    other.grad = np.array([1.0])
    opt.step()
    once.step()
    np.testing.assert_array_equal(w.data, twin.data)


def test_equal_but_distinct_parameters_are_both_kept():
    a, b = cr.nn.Parameter(np.ones(2)), cr.nn.Parameter(np.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = cr.optim.SGD([a, b], lr=0.1)
    assert len(opt.params) == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: cr.optim.SGD(p, lr=0), "SGD: lr must be a finite number > 0, got 0"),
        (lambda p: cr.optim.SGD(p, lr=-1.0), "SGD: lr must be a finite number > 0, got -1.0"),
        (lambda p: cr.optim.SGD(p, lr=True), "SGD: lr must be a finite number > 0, got True"),
        (
            lambda p: cr.optim.Adam(p, lr=float("nan")),
            "Adam: lr must be a finite number > 0, got nan",
        ),
        (lambda p: cr.optim.Adam(p, lr="0.1"), "Adam: lr must be a finite number > 0, got '0.1'"),
        (
            lambda p: cr.optim.SGD(p, lr=0.1, momentum=1.5),
            "SGD: momentum must be a fraction in [0, 1), got 1.5",
        ),
        (
            lambda p: cr.optim.Adam(p, betas=(0.9, 1.0)),
            "Adam: betas[1] must be a fraction in [0, 1), got 1.0",
        ),
        (
            lambda p: cr.optim.Adam(p, betas=(-0.1, 0.9)),
            "Adam: betas[0] must be a fraction in [0, 1), got -0.1",
        ),
        (lambda p: cr.optim.Adam(p, eps=0), "Adam: eps must be a finite number > 0, got 0"),
        (
            lambda p: cr.optim.SGD(p, lr=0.1, weight_decay=-1e-3),
            "SGD: weight_decay must be a finite number >= 0, got -0.001",
        ),
        (
            lambda p: cr.optim.Adam(p, weight_decay=float("inf")),
            "Adam: weight_decay must be a finite number >= 0, got inf",
        ),
        (
            lambda p: cr.optim.SGD(p, lr=0.1, nesterov=True),
            "SGD: momentum must be > 0 for Nesterov momentum (nesterov=True), got 0.0",
        ),
        (
            lambda p: cr.optim.AdamW(p, weight_decay=-0.1),
            "AdamW: weight_decay must be a finite number >= 0, got -0.1",
        ),
        (
            lambda p: cr.optim.AdamW(p, betas=(0.9, 1.2)),
            "AdamW: betas[1] must be a fraction in [0, 1), got 1.2",
        ),
        (lambda p: cr.optim.AdamW(p, lr=0), "AdamW: lr must be a finite number > 0, got 0"),
        (
            lambda p: cr.optim.SGD([], lr=0.1),
            "SGD: params must be a non-empty list (model.parameters()), got []",
        ),
    ],
)
def test_bad_settings_are_named(make, message):
    with pytest.raises(cr.ConfigError) as caught:
        make([cr.nn.Parameter(np.ones(1))])
    assert str(caught.value) == message


def test_zero_grad_clears_and_params_without_grad_are_skipped():
    a, b = cr.nn.Parameter(np.ones(2)), cr.nn.Parameter(np.ones(2))
    a.grad = np.ones(2)
    opt = cr.optim.SGD([a, b], lr=1.0)
    opt.step()
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("betas", [(0.9,), (0.9, 0.99, 0.999), 0.9])
def test_adam_betas_must_be_a_pair(betas):
    """Found by the fuzzer: one beta gave a bare IndexError from inside Adam."""
    with pytest.raises(cr.ConfigError, match="betas must be a pair"):
        cr.optim.Adam(cr.nn.Linear(2, 1).parameters(), betas=betas)


def _equations(name: str, w: np.ndarray, grads: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The updates written as their equations, a new array per term: the bits the optimizers'
    kept arrays must reproduce."""
    w, lr, mu, b1, b2, eps = w.copy(), 0.01, 0.9, 0.9, 0.999, 1e-8
    v, m = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            w -= lr * g
        elif name == "momentum":
            v = g.copy() if t == 1 else v * mu + g
            w -= lr * v
        else:
            m = m * b1 + (1 - b1) * g
            v = v * b2 + (1 - b2) * g * g
            denom = np.sqrt(v) / math.sqrt(1 - b2**t) + eps
            w -= (lr / (1 - b1**t)) * (m / denom)
    return w, grads[-1]


@pytest.mark.parametrize("shape", [(7, 5), (300, 250)])  # below and above SGD's KEPT_FROM
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_the_updates_are_their_equations_to_the_bit_and_leave_the_gradient_alone(
    name, dtype, shape
):
    assert 7 * 5 < cr.optim.KEPT_FROM <= 300 * 250  # noqa: SIM300  (sizes in order)
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=shape).astype(dtype)
    grads = [rng.normal(size=shape).astype(dtype) for _ in range(12)]
    w = cr.nn.Parameter(w0.copy())
    make = {
        "sgd": lambda: cr.optim.SGD([w], lr=0.01),
        "momentum": lambda: cr.optim.SGD([w], lr=0.01, momentum=0.9),
        "adam": lambda: cr.optim.Adam([w], lr=0.01),
    }
    optimizer = make[name]()
    for g in grads:
        w.grad = g.copy()
        optimizer.step()
    expected, last = _equations(name, w0, grads)
    assert w.data.dtype == dtype and np.array_equal(w.data, expected)
    assert np.array_equal(w.grad, last)
