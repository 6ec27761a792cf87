"""Networks and losses against PyTorch on the same weights: every value, every gradient."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr

torch = oracle()


TORCH_ACTIVATIONS = {
    "sigmoid": torch.nn.Sigmoid,
    "tanh": torch.nn.Tanh,
    "relu": torch.nn.ReLU,
    "softplus": torch.nn.Softplus,
    "identity": torch.nn.Identity,
}


def torch_copy(model: cr.nn.Sequential) -> torch.nn.Sequential:
    """The same network in PyTorch, weights copied across (layout is the same: (out, in))."""
    layers = []
    for layer in model:
        if isinstance(layer, cr.nn.Linear):
            t = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
            with torch.no_grad():
                t.weight.copy_(torch.tensor(layer.weight.data))
                if layer.bias is not None:
                    t.bias.copy_(torch.tensor(layer.bias.data))
            layers.append(t)
        else:
            name = type(layer).__name__.lower()
            layers.append(torch.nn.Softmax(-1) if name == "softmax" else TORCH_ACTIVATIONS[name]())
    return torch.nn.Sequential(*layers)


def data_for(loss: str, n: int, n_out: int, rng: np.random.Generator):
    """Targets each loss expects, plus the output activation that makes sense before it."""
    if loss == "ce":
        return rng.integers(0, n_out, n), None
    if loss == "ce-onehot":
        return np.eye(n_out)[rng.integers(0, n_out, n)], None
    if loss == "bce":
        return (rng.uniform(size=(n, n_out)) > 0.5).astype(float), "sigmoid"
    return rng.normal(size=(n, n_out)), None


def torch_loss(loss: str, out, target):
    t = torch.tensor(target)
    if loss == "squared":
        return ((out - t) ** 2).sum() / out.shape[0]
    if loss == "mse":
        return torch.nn.functional.mse_loss(out, t)
    if loss == "bce":
        return torch.nn.functional.binary_cross_entropy(out, t)
    return torch.nn.functional.cross_entropy(out, t)


OUR_LOSSES = {
    "squared": cr.nn.SquaredError,
    "mse": cr.nn.MSELoss,
    "bce": cr.nn.BCELoss,
    "ce": cr.nn.CrossEntropyLoss,
    "ce-onehot": cr.nn.CrossEntropyLoss,
}


@pytest.mark.parametrize("loss", list(OUR_LOSSES))
@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    n=st.integers(1, 7),
    seed=st.integers(0, 2**16),
)
def test_mlp_loss_and_every_gradient_equal_pytorchs(loss, activation, sizes, n, seed):
    rng = np.random.default_rng(seed)
    if loss.startswith("ce"):
        sizes[-1] = max(sizes[-1], 2)
    target, output = data_for(loss, n, sizes[-1], rng)
    model = cr.nn.mlp(sizes, activation, output, rng=rng)
    reference = torch_copy(model)
    x = rng.normal(size=(n, sizes[0]))

    c = OUR_LOSSES[loss]()(model(x), target)
    c.backward()
    t_c = torch_loss(loss, reference(torch.tensor(x)), target)
    t_c.backward()

    where = f"{activation} MLP {sizes}, {loss}"
    assert_matches_torch(c.data, t_c, f"{where} loss")
    for (name, p), t_p in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert_matches_torch(p.grad, t_p.grad, f"{where} ∂C/∂{name}")


def test_softmax_module_matches_pytorch():
    rng = np.random.default_rng(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 4, rng=rng), cr.nn.Softmax())
    x = rng.normal(size=(5, 3))
    out = model(x)
    (out * out).sum().backward()
    reference = torch_copy(model)
    t_out = reference(torch.tensor(x))
    (t_out * t_out).sum().backward()
    assert_matches_torch(out.data, t_out, "softmax module forward")
    assert_matches_torch(model[0].weight.grad, reference[0].weight.grad, "softmax module ∂/∂W")


def test_cross_entropy_is_stable_for_logits_of_1e4():
    z = cr.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], requires_grad=True)
    c = cr.nn.CrossEntropyLoss()(z, np.array([1, 1]))
    c.backward()
    t = torch.tensor(z.data, requires_grad=True)
    t_c = torch.nn.functional.cross_entropy(t, torch.tensor([1, 1]))
    t_c.backward()
    assert np.isfinite(c.data) and np.all(np.isfinite(z.grad))
    assert_matches_torch(c.data, t_c, "cross-entropy at ±1e4")
    assert_matches_torch(z.grad, t.grad, "cross-entropy ∂/∂z at ±1e4")


def test_fused_cross_entropy_gradient_is_p_minus_y_over_n():
    z = np.array([[2.0, 1.0, 0.1], [0.5, 0.5, 3.0]])
    logits = cr.tensor(z, requires_grad=True)
    cr.nn.CrossEntropyLoss()(logits, np.array([0, 2])).backward()
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits.grad, (p - np.eye(3)[[0, 2]]) / 2, rtol=1e-14)


def test_bce_is_clamped_at_zero_and_one_like_pytorch():
    p = cr.tensor([0.0, 1.0, 0.5], requires_grad=True)
    y = np.array([1.0, 0.0, 1.0])
    c = cr.nn.BCELoss()(p, y)
    c.backward()
    t = torch.tensor(p.data, requires_grad=True)
    t_c = torch.nn.functional.binary_cross_entropy(t, torch.tensor(y))
    t_c.backward()
    assert np.isfinite(c.data) and np.all(np.isfinite(p.grad))
    assert_matches_torch(c.data, t_c, "BCE at p = 0 and 1")
    assert_matches_torch(p.grad, t.grad, "BCE ∂/∂p at p = 0 and 1")


def test_squared_error_is_the_lectures_sum_over_outputs_mean_over_examples():
    a = np.array([[0.88, 0.2], [0.5, 0.5]])
    y = np.array([[1.0, 0.0], [1.0, 1.0]])
    c = cr.nn.SquaredError()(cr.tensor(a), y)
    # example 1: (0.88 − 1)² + 0.2² = 0.0144 + 0.04; example 2: 0.25 + 0.25
    assert float(c.data) == pytest.approx((0.0544 + 0.5) / 2)
    one = cr.nn.SquaredError()(cr.tensor([0.88]), [1.0])
    assert float(one.data) == pytest.approx(0.0144)  # the slide's C_i


def test_loss_targets_as_column_or_flat_and_as_tensors():
    a = cr.tensor(np.array([[1.0], [2.0]]))
    flat = cr.nn.MSELoss()(a, np.array([0.0, 0.0]))
    column = cr.nn.MSELoss()(a, cr.tensor([[0.0], [0.0]]))
    assert float(flat.data) == float(column.data) == 2.5


def test_loss_shape_mismatch_is_named():
    with pytest.raises(cr.ShapeError, match=r"SquaredError: prediction has shape \(2, 2\).*\(3,\)"):
        cr.nn.SquaredError()(cr.tensor(np.ones((2, 2))), np.ones(3))


def test_cross_entropy_label_errors_are_named():
    # Labels the loss cannot take are bad data (DataError); only a count that does not fit the
    # rows of logits is a shape error.
    z = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(
        cr.DataError, match=r"label 3 is out of range for 3 classes \(expected 0..2\)"
    ):
        cr.nn.CrossEntropyLoss()(z, np.array([0, 3]))
    with pytest.raises(cr.DataError, match=r"label -1 is out of range"):
        cr.nn.CrossEntropyLoss()(z, np.array([-1, 0]))
    with pytest.raises(cr.DataError, match="whole numbers"):
        cr.nn.CrossEntropyLoss()(z, np.array([0.0, 1.5]))
    with pytest.raises(cr.DataError, match="labels must be integers, got dtype <U1"):
        cr.nn.CrossEntropyLoss()(z, np.array(["a", "b"]))
    with pytest.raises(cr.ShapeError, match="one label per row"):
        cr.nn.CrossEntropyLoss()(z, np.array([0, 1, 2]))


def test_state_dict_uses_pytorchs_names_and_round_trips():
    model = cr.nn.mlp([3, 4, 2], "relu", rng=0)
    reference = torch_copy(model)
    assert list(model.state_dict()) == list(reference.state_dict())
    other = cr.nn.mlp([3, 4, 2], "relu", rng=1)
    other.load_state_dict({k: v.numpy() for k, v in reference.state_dict().items()})
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_checks_names_and_shapes():
    model = cr.nn.mlp([3, 4, 2], rng=0)
    state = model.state_dict()
    with pytest.raises(cr.ConfigError, match=r"missing keys \['2.bias'\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "2.bias"})
    with pytest.raises(cr.ShapeError, match=r"0.weight has shape \(3, 3\), expected \(4, 3\)"):
        model.load_state_dict({**state, "0.weight": np.zeros((3, 3))})


def test_state_dict_is_a_snapshot():
    model = cr.nn.mlp([2, 2], rng=0)
    state = model.state_dict()
    model[0].weight.data += 1
    assert not np.array_equal(state["0.weight"], model[0].weight.data)


def test_sequential_is_indexable_iterable_and_sized():
    model = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.Sigmoid(), cr.nn.Linear(3, 1))
    assert len(model) == 3 and isinstance(model[0], cr.nn.Linear)
    assert model[0].weight.shape == (3, 2) and model[0].bias.shape == (3,)
    assert [type(m).__name__ for m in model] == ["Linear", "Sigmoid", "Linear"]
    assert len(model[:2]) == 2
    assert len(model.parameters()) == 4
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_custom_module_finds_its_parameters_in_order():
    class Affine(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = cr.nn.Parameter(np.ones(2))
            self.inner = cr.nn.Linear(2, 2)

        def forward(self, x):
            return self.inner(x) * self.scale

    m = Affine()
    assert [n for n, _ in m.named_parameters()] == ["scale", "inner.weight", "inner.bias"]


def test_a_deleted_parameter_or_layer_is_forgotten():
    m = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.ReLU(), cr.nn.Linear(3, 2))
    m.extra = cr.nn.Parameter(np.ones(2))
    del m.extra
    delattr(m, "2")
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]
    assert len(m) == 2 and m(cr.Tensor(np.ones((1, 2)))).shape == (1, 3)


def test_forgetting_super_init_is_explained():
    class Broken(cr.nn.Module):
        def __init__(self):
            self.w = cr.nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Broken()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 2), "in_features must be a positive integer, got 0"),
        ((2, 2.5), "out_features must be a positive integer, got 2.5"),
    ],
)
def test_linear_validates_sizes(args, message):
    with pytest.raises(cr.ConfigError, match=message):
        cr.nn.Linear(*args)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(cr.ConfigError, match=r"unknown activation 'swish'.*'relu'"):
        cr.nn.activation("swish")
    with pytest.raises(cr.ConfigError, match=r"unknown init 'zeros'.*'xavier'"):
        cr.nn.Linear(2, 2, init="zeros")


def test_init_schemes_have_their_stated_spread():
    rng = np.random.default_rng(0)
    fan_in, fan_out = 400, 300
    default = cr.nn.Linear(fan_in, fan_out, rng=rng).weight.data
    assert np.abs(default).max() <= 1 / np.sqrt(fan_in)
    xavier = cr.nn.Linear(fan_in, fan_out, init="xavier", rng=rng)
    assert np.abs(xavier.weight.data).max() <= np.sqrt(6 / (fan_in + fan_out))
    assert np.all(xavier.bias.data == 0)
    he = cr.nn.Linear(fan_in, fan_out, init="he", rng=rng).weight.data
    assert he.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.02)
    small = cr.nn.Linear(2, 3, init="small", rng=rng)
    assert np.abs(small.weight.data).max() <= 0.5 and np.any(small.bias.data != 0)


def test_seeds_make_initialisation_repeatable():
    a = cr.nn.mlp([3, 5, 2], rng=42).state_dict()
    b = cr.nn.mlp([3, 5, 2], rng=42).state_dict()
    cr.manual_seed(7)
    c = cr.nn.mlp([3, 5, 2]).state_dict()
    cr.manual_seed(7)
    d = cr.nn.mlp([3, 5, 2]).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_array_equal(c[k], d[k])


def test_to_casts_parameters():
    model = cr.nn.mlp([2, 3, 1], rng=0).to(np.float32)
    assert model.dtype == np.float32
    assert model(np.ones((1, 2), np.float32)).dtype == np.float32


ELEMENTWISE = [name for name, cls in cr.nn.ACTIVATIONS.items() if cls.elementwise]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_each_activation_states_its_forms_and_its_slope_is_autodiffs(name):
    cls = cr.nn.ACTIVATIONS[name]
    assert cls.name == name and cr.nn.activation(name).name == name
    for form in (cls.symbol, cls.definition, cls.slope):
        assert isinstance(form, str) and form
    assert set(re.findall(r"\{(\w+)\}", cls.slope)) <= {"z", "a"}
    # Away from relu's kink, so the slope is defined and the nudge sees it.
    z = np.random.default_rng(0).normal(size=(4, 3))
    z += np.sign(z) * 0.1
    t = cr.tensor(z, requires_grad=True)
    a = cls()(t)
    a.backward(np.ones_like(z))
    np.testing.assert_allclose(cls.derivative(z, a.data), t.grad, rtol=1e-12, atol=1e-15)
    h = 1e-6
    with cr.no_grad():
        numeric = (cls()(cr.tensor(z + h)).data - cls()(cr.tensor(z - h)).data) / (2 * h)
    np.testing.assert_allclose(cls.derivative(z, a.data), numeric, rtol=1e-7, atol=1e-9)


def test_softmax_states_that_its_slope_is_a_matrix_and_is_fused_into_the_loss():
    assert not cr.nn.Softmax.elementwise
    with pytest.raises(cr.ConfigError, match="p_j − y_j"):
        cr.nn.Softmax.derivative(np.zeros((1, 2)), np.full((1, 2), 0.5))
    assert cr.nn.CrossEntropyLoss.slope == "{p} − {y}"


def test_softplus_is_registered_exported_and_saved():
    assert cr.nn.ACTIVATIONS["softplus"] is cr.nn.Softplus
    model = cr.nn.mlp([2, 3, 1], "softplus", rng=0)
    assert isinstance(model[1], cr.nn.Softplus)
    assert [b.activation.name for b in cr.nn.blocks(model) if b.activation] == ["softplus"]


@pytest.mark.parametrize("loss", list(OUR_LOSSES))
def test_each_loss_states_its_forms_and_its_factor_is_autodiffs(loss):
    """derivative(a, y) is ∂C_i/∂a per example; C = 1/n Σ_i C_i, so autodiff's is it over n."""
    rng = np.random.default_rng(3)
    n, m = 4, 3
    target, output = data_for(loss, n, m, rng)
    a = rng.normal(size=(n, m))
    if output == "sigmoid":
        a = 1 / (1 + np.exp(-a))
    module = OUR_LOSSES[loss]()
    for form in (module.cost, module.slope):
        assert set(re.findall(r"\{(\w+)\}", form)) <= {"a", "y", "m", "p", "v"}
    t = cr.tensor(a, requires_grad=True)
    module(t, target).backward()
    y = module.targets(a, target)
    assert y.shape == a.shape
    np.testing.assert_allclose(module.derivative(a, y) / n, t.grad, rtol=1e-12, atol=1e-15)


def test_bce_factor_is_clamped_by_the_losss_own_constant():
    a, y = np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])
    expected = (a - y) / cr.nn.losses.BCE_EPS / 2
    np.testing.assert_array_equal(cr.nn.BCELoss.derivative(a, y), expected)
    t = cr.tensor(a, requires_grad=True)
    cr.nn.BCELoss()(t, y).backward()
    np.testing.assert_array_equal(t.grad, expected)


def test_cross_entropy_targets_refuse_bad_labels_as_data():
    z = np.zeros((2, 3))
    np.testing.assert_array_equal(
        cr.nn.CrossEntropyLoss().targets(z, [2, 0]), [[0, 0, 1], [1, 0, 0]]
    )
    with pytest.raises(cr.DataError, match="label 3 is out of range"):
        cr.nn.CrossEntropyLoss().targets(z, [0, 3])
    with pytest.raises(cr.DataError, match="label -1 is out of range"):
        cr.nn.CrossEntropyLoss().targets(z, [-1, 0])
    with pytest.raises(cr.DataError, match="whole numbers"):
        cr.nn.CrossEntropyLoss().targets(z, [0.5, 1.0])
