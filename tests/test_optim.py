"""Optimizers: the lecture's update W ← W − η∇C, and PyTorch's momentum and Adam, step for step."""

from __future__ import annotations

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
