"""Dropout and the training/predicting switch: inverted scaling, the mask as the local
derivative, the identity in eval mode, PyTorch's edge cases p = 0 and p = 1."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import oracle

import chainrule as cr

torch = oracle()


def test_training_keeps_each_input_scaled_by_one_over_one_minus_p_or_zeroes_it():
    a = np.random.default_rng(0).uniform(1, 2, size=(200, 50))
    out = cr.nn.Dropout(0.3, rng=1)(cr.tensor(a)).data
    kept = out != 0
    np.testing.assert_allclose(out[kept], a[kept] / 0.7, rtol=1e-15)
    assert abs(1 - kept.mean() - 0.3) < 0.01  # 10,000 draws: the share dropped is about p
    assert abs(out.mean() / a.mean() - 1) < 0.02  # inverted: the expected output is a


def test_the_gradient_is_the_mask_over_one_minus_p():
    a = cr.tensor(np.random.default_rng(1).normal(size=(6, 5)), requires_grad=True)
    out = cr.nn.Dropout(0.4, rng=2)(a)
    upstream = np.random.default_rng(3).normal(size=(6, 5))
    out.backward(upstream)
    mask = (out.data != 0) / 0.6
    np.testing.assert_allclose(a.grad, upstream * mask, rtol=1e-15)
    assert out.op == "dropout"


def test_eval_mode_is_the_identity_and_train_mode_comes_back():
    layer = cr.nn.Dropout(0.5, rng=0)
    a = cr.tensor(np.ones((4, 4)), requires_grad=True)
    assert layer.eval() is layer and not layer.training
    assert layer(a) is a
    layer.train()
    assert layer.training and np.any(layer(a).data == 0)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_p_zero_and_one_match_pytorch(p):
    x = np.random.default_rng(4).normal(size=(3, 4))
    a = cr.tensor(x, requires_grad=True)
    out = cr.nn.Dropout(p)(a)
    out.backward(np.ones_like(x))
    t = torch.tensor(x, requires_grad=True)
    t_out = torch.nn.Dropout(p)(t)
    t_out.backward(torch.ones_like(t))
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())
    np.testing.assert_array_equal(a.grad, t.grad.numpy())


def test_float32_stays_float32():
    a = cr.tensor(np.ones((3, 3), np.float32), requires_grad=True)
    out = cr.nn.Dropout(0.5, rng=0)(a)
    out.sum().backward()
    assert out.dtype == np.float32 and a.grad.dtype == np.float32


def test_masks_are_repeatable_by_seed_and_by_manual_seed():
    a = cr.tensor(np.ones(100))
    assert np.array_equal(cr.nn.Dropout(0.5, rng=7)(a).data, cr.nn.Dropout(0.5, rng=7)(a).data)
    layer = cr.nn.Dropout(0.5)  # chainrule's own generator, read when the layer runs
    cr.manual_seed(11)
    first = layer(a).data
    cr.manual_seed(11)
    assert np.array_equal(layer(a).data, first)
    assert not np.array_equal(layer(a).data, first)  # a new mask each call


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5", True, None])
def test_bad_p_is_named(p):
    with pytest.raises(cr.ConfigError) as caught:
        cr.nn.Dropout(p)
    assert str(caught.value) == f"Dropout: p must be a probability in [0, 1], got {p!r}"


def test_train_and_eval_reach_every_sub_module():
    inner = cr.nn.Sequential(cr.nn.Linear(3, 3), cr.nn.Dropout(0.5))
    model = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.ReLU(), inner, cr.nn.Linear(3, 1))
    assert all(m.training for m in (model, inner, inner[1], model[0]))
    assert model.eval() is model
    assert not any(m.training for m in (model, inner, inner[1], model[0], model[3]))
    model.train()
    assert all(m.training for m in (model, inner, inner[1], model[3]))
    inner.eval()  # a sub-module may be switched alone, as in PyTorch
    assert model.training and not inner[1].training
    with pytest.raises(cr.ConfigError, match=r"Sequential.train: mode must be True or False"):
        model.train("no")


def test_a_network_with_dropout_predicts_deterministically_in_eval_mode():
    model = cr.nn.Sequential(cr.nn.Linear(4, 8, rng=0), cr.nn.ReLU(), cr.nn.Dropout(0.5, rng=0))
    x = np.random.default_rng(5).normal(size=(10, 4))
    assert not np.array_equal(model(x).data, model(x).data)  # training: a new mask each time
    model.eval()
    np.testing.assert_array_equal(model(x).data, model[1](model[0](x)).data)
    assert repr(model[2]) == "Dropout(p=0.5)"


def test_fit_trains_with_dropout_on_and_validates_with_it_off():
    model = cr.nn.Sequential(cr.nn.Linear(2, 16, rng=0), cr.nn.Dropout(0.5, rng=1))
    model.eval()  # fit switches training back on: the masks must reach the gradient
    X = np.random.default_rng(2).normal(size=(20, 2))
    seen = []

    class Modes(cr.callbacks.Callback):
        def on_batch_end(self, run):
            seen.append(run.model[1].training)

    history = cr.fit(
        model,
        X,
        X @ np.ones((2, 16)),
        epochs=3,
        validation=(X, X @ np.ones((2, 16))),
        progress=False,
        callbacks=[Modes()],
    )
    assert seen == [True] * 3
    assert model[1].training  # validation between epochs gave the mode back
    with cr.train.predicting(model):
        np.testing.assert_array_equal(model(X).data, model[0](X).data)
    assert model[1].training
    assert len(history.val_loss) == 3


def test_a_model_file_keeps_its_dropout_layer(tmp_path):
    model = cr.nn.Sequential(cr.nn.Linear(3, 4, rng=0), cr.nn.ReLU(), cr.nn.Dropout(0.25))
    cr.save(model, tmp_path / "m.safetensors")
    back = cr.load(tmp_path / "m.safetensors")
    assert repr(back[2]) == "Dropout(p=0.25)"
    x = np.ones((2, 3))
    np.testing.assert_array_equal(back.eval()(x).data, model.eval()(x).data)


@pytest.mark.filterwarnings("ignore:.*max_iter=3 epochs reached")
def test_an_estimators_predictions_run_in_eval_mode():
    X = np.random.default_rng(0).normal(size=(30, 3))
    est = cr.sklearn.MLPRegressor((8,), max_iter=3, random_state=0).fit(X, X.sum(1))
    est.model_.append(cr.nn.Dropout(0.9))  # a mask here would change every prediction
    np.testing.assert_array_equal(est.predict(X), est.predict(X))
    assert est.model_[-1].training
