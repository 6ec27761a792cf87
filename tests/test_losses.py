"""Every loss under every setting against PyTorch float64 (value, ∂C/∂prediction, ∂C/∂target)
and central differences; the settings' errors; the default path kept as it was."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle

import chainrule as cr
from chainrule.nn import cross_entropy, losses

torch = oracle()
F = torch.nn.functional


REDUCTIONS = ("mean", "sum", "none")


def run_ours(loss, pred: np.ndarray, target, upstream, target_grad: bool):
    """C, ∂C/∂prediction and ∂C/∂target (None when the target takes none) by chainrule."""
    a = cr.tensor(pred, requires_grad=True)
    y = cr.tensor(target, requires_grad=True) if target_grad else target
    c = loss(a, y)
    c.backward(upstream if c.data.ndim else None)
    return c.data, a.grad, (y.grad if target_grad else None)


def run_torch(fn, pred: np.ndarray, target, upstream, target_grad: bool):
    a = torch.tensor(pred, requires_grad=True)
    y = torch.tensor(target, requires_grad=target_grad)
    c = fn(a, y)
    c.backward(torch.tensor(upstream) if c.ndim else None)
    return c, a.grad, (y.grad if target_grad else None)


def compare(ours, theirs, what: str) -> None:
    for name, mine, ref in zip(("C", "∂C/∂a", "∂C/∂y"), ours, theirs, strict=True):
        if ref is None:
            assert mine is None, f"{what}: {name} should be None"
            continue
        assert_matches_torch(mine, ref, f"{what} {name}", tol=1e-12)


def squared_error_torch(reduction):
    def fn(a, y):
        per_example = ((a - y) ** 2).sum(tuple(range(a.ndim > 1, a.ndim)))
        return {"mean": per_example.mean(), "sum": per_example.sum(), "none": per_example}[
            reduction
        ]

    return fn


POINTWISE = {
    "squared": (cr.nn.SquaredError, squared_error_torch),
    "mse": (cr.nn.MSELoss, lambda r: lambda a, y: F.mse_loss(a, y, reduction=r)),
    "bce": (cr.nn.BCELoss, lambda r: lambda a, y: F.binary_cross_entropy(a, y, reduction=r)),
    "bce_logits": (
        cr.nn.BCEWithLogitsLoss,
        lambda r: lambda a, y: F.binary_cross_entropy_with_logits(a, y, reduction=r),
    ),
}


def pointwise_data(name: str, shape: tuple[int, ...], rng: np.random.Generator):
    if name == "bce":
        return rng.uniform(0.05, 0.95, shape), rng.uniform(size=shape)
    if name == "bce_logits":
        return rng.normal(scale=3, size=shape), rng.uniform(size=shape)
    return rng.normal(size=shape), rng.normal(size=shape)


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target_grad", [False, True], ids=["y-array", "y-requires-grad"])
@pytest.mark.parametrize("shape", [(5, 3), (4,), (2, 3, 2)])
def test_pointwise_losses_equal_pytorchs_in_every_setting(name, reduction, target_grad, shape):
    rng = np.random.default_rng(len(shape) * 7 + len(name))
    pred, target = pointwise_data(name, shape, rng)
    ours_cls, theirs = POINTWISE[name]
    out_shape = shape[:1] if name == "squared" and len(shape) > 1 else shape
    out_shape = () if name == "squared" and len(shape) == 1 else out_shape
    upstream = rng.normal(size=out_shape)
    ours = run_ours(ours_cls(reduction=reduction), pred, target, upstream, target_grad)
    ref = run_torch(theirs(reduction), pred, target, upstream, target_grad)
    compare(ours, ref, f"{name} {reduction} {shape}")


def test_bce_with_logits_is_stable_and_its_factor_is_sigmoid_minus_y():
    z = cr.tensor([-1e4, -30.0, 0.0, 30.0, 1e4], requires_grad=True)
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    c = cr.nn.BCEWithLogitsLoss()(z, y)
    c.backward()
    t = torch.tensor(z.data, requires_grad=True)
    F.binary_cross_entropy_with_logits(t, torch.tensor(y)).backward()
    assert np.isfinite(c.data) and np.all(np.isfinite(z.grad))
    assert_matches_torch(c.data, F.binary_cross_entropy_with_logits(t, torch.tensor(y)), "C")
    assert_matches_torch(z.grad, t.grad, "∂C/∂z at ±1e4", tol=1e-12)
    sigma = 1 / (1 + np.exp(-np.array([-30.0, 0.0, 30.0])))
    np.testing.assert_allclose(z.grad[1:4], (sigma - y[1:4]) / 5, rtol=1e-14)


def test_bce_target_gradient_is_the_clamped_logs_where_pytorchs_is_infinite():
    # PyTorch's ∂C/∂y at p = 0 or 1 is ±inf: it differentiates the unclamped logs. The loss
    # both compute clamps each log at −100, and that function's derivative is finite, so ours
    # is (ln(1 − p) − ln p) with the clamped logs: (0 − (−100))/2 at p = 0.
    p = cr.tensor([0.0, 1.0])
    y = cr.tensor([0.3, 0.6], requires_grad=True)
    cr.nn.BCELoss()(p, y).backward()
    np.testing.assert_array_equal(y.grad, [50.0, -50.0])


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_gradients_equal_central_differences(name, reduction):
    rng = np.random.default_rng(3)
    pred, target = pointwise_data(name, (3, 2), rng)
    loss = POINTWISE[name][0](reduction=reduction)
    assert cr.gradcheck(lambda a, y: loss(a, y), [pred, target])


# ---- cross-entropy and NLL ----------------------------------------------------------------


def labels(rng, classes: int, shape: tuple[int, ...], ignore: int | None) -> np.ndarray:
    y = rng.integers(0, classes, shape)
    if ignore is not None and y.size > 1:  # all ignored is its own test
        y.reshape(-1)[:: max(2, y.size // 3)] = ignore
    return y


CE_LOGIT_SHAPES = [(6, 4), (4,), (3, 4, 5), (2, 3, 2, 2)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("ignore", [None, -100, 2])
@pytest.mark.parametrize("shape", CE_LOGIT_SHAPES)
def test_cross_entropy_on_labels_equals_pytorchs(reduction, smoothing, ignore, shape):
    rng = np.random.default_rng(sum(shape))
    classes = shape[0] if len(shape) == 1 else shape[1]
    z = rng.normal(scale=2, size=shape)
    y = labels(rng, classes, shape[:1] + shape[2:] if len(shape) > 1 else (), ignore)
    upstream = rng.normal(size=y.shape)
    loss = cr.nn.CrossEntropyLoss(reduction, label_smoothing=smoothing, ignore_index=ignore)
    ours = run_ours(loss, z, y, upstream, False)

    def theirs(a, t):
        options = {"ignore_index": ignore} if ignore is not None else {}
        return F.cross_entropy(a, t, reduction=reduction, label_smoothing=smoothing, **options)

    compare(ours, run_torch(theirs, z, y, upstream, False), f"CE {shape} {ignore}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape", CE_LOGIT_SHAPES)
def test_cross_entropy_on_probabilities_differentiates_the_target_as_pytorch(
    reduction, smoothing, shape
):
    rng = np.random.default_rng(len(shape))
    z = rng.normal(scale=2, size=shape)
    axis = 0 if len(shape) == 1 else 1
    e = np.exp(rng.normal(size=shape))
    y = e / e.sum(axis=axis, keepdims=True)
    upstream = rng.normal(size=shape[:1] + shape[2:] if len(shape) > 1 else ())
    loss = cr.nn.CrossEntropyLoss(reduction, label_smoothing=smoothing)

    def theirs(a, t):
        return F.cross_entropy(a, t, reduction=reduction, label_smoothing=smoothing)

    ours = run_ours(loss, z, y, upstream, True)
    compare(ours, run_torch(theirs, z, y, upstream, True), f"CE probabilities {shape}")
    assert cr.gradcheck(lambda a, t: loss(a, t), [z, y])


def test_default_cross_entropy_differentiates_a_probability_target_too():
    rng = np.random.default_rng(5)
    z, y = rng.normal(size=(4, 3)), np.eye(3)[[0, 2, 1, 1]]
    ours = run_ours(cr.nn.CrossEntropyLoss(), z, y, None, True)
    compare(ours, run_torch(F.cross_entropy, z, y, None, True), "CE one-hot target with grad")


def test_every_label_ignored_gives_nan_for_the_mean_and_no_gradient_as_pytorch():
    z = np.random.default_rng(0).normal(size=(3, 4))
    y = np.full(3, -100)
    for smoothing in (0.0, 0.1):
        c, grad, _ = run_ours(
            cr.nn.CrossEntropyLoss(label_smoothing=smoothing, ignore_index=-100), z, y, None, False
        )
        assert np.isnan(c) and np.isnan(F.cross_entropy(torch.tensor(z), torch.tensor(y)).item())
        np.testing.assert_array_equal(grad, np.zeros_like(z))
    c, grad, _ = run_ours(cr.nn.NLLLoss(ignore_index=-100), z, y, None, False)
    assert np.isnan(c)
    np.testing.assert_array_equal(grad, np.zeros_like(z))
    c, grad, _ = run_ours(cr.nn.CrossEntropyLoss("sum", ignore_index=-100), z, y, None, False)
    assert c == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(z))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore", [None, 1])
@pytest.mark.parametrize("shape", CE_LOGIT_SHAPES)
def test_nll_on_log_probabilities_equals_pytorchs(reduction, ignore, shape):
    rng = np.random.default_rng(sum(shape) + 1)
    classes = shape[0] if len(shape) == 1 else shape[1]
    x = torch.log_softmax(torch.tensor(rng.normal(size=shape)), dim=0 if len(shape) == 1 else 1)
    y = labels(rng, classes, shape[:1] + shape[2:] if len(shape) > 1 else (), ignore)
    upstream = rng.normal(size=y.shape)
    ours = run_ours(cr.nn.NLLLoss(reduction, ignore_index=ignore), x.numpy(), y, upstream, False)

    def theirs(a, t):
        options = {"ignore_index": ignore} if ignore is not None else {}
        return F.nll_loss(a, t, reduction=reduction, **options)

    compare(ours, run_torch(theirs, x.numpy(), y, upstream, False), f"NLL {shape}")


def test_nll_after_log_softmax_is_cross_entropy():
    z = cr.tensor(np.random.default_rng(2).normal(size=(5, 3)), requires_grad=True)
    y = np.array([0, 2, 1, 1, 0])
    cr.nn.NLLLoss()(z.log_softmax(), y).backward()
    via_nll = z.grad
    z.grad = None
    cr.nn.CrossEntropyLoss()(z, y).backward()
    np.testing.assert_allclose(via_nll, z.grad, rtol=1e-13, atol=1e-16)


def test_a_class_index_target_that_requires_grad_is_refused():
    z = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    y = cr.tensor([0.0, 2.0], requires_grad=True)
    for loss in (cr.nn.CrossEntropyLoss(), cr.nn.CrossEntropyLoss(label_smoothing=0.1)):
        with pytest.raises(cr.GradError, match="class indices takes no gradient"):
            loss(z, y)
    with pytest.raises(cr.GradError, match="NLLLoss: a target of class indices"):
        cr.nn.NLLLoss()(z, y)
    # without requires_grad the same labels are taken
    assert np.isclose(cr.nn.CrossEntropyLoss()(z, cr.tensor([0.0, 2.0])).data, np.log(3))


def test_class_losses_name_bad_labels_and_shapes():
    z = cr.tensor(np.zeros((2, 3, 4)))
    with pytest.raises(cr.ShapeError, match=r"expected one label per row .*shape \(2, 4\)"):
        cr.nn.CrossEntropyLoss()(z, np.zeros((2, 3), int))
    with pytest.raises(cr.DataError, match="label 3 is out of range for 3 classes"):
        cr.nn.CrossEntropyLoss(ignore_index=-1)(z, np.full((2, 4), 3))
    with pytest.raises(cr.DataError, match="NLLLoss: label -1 is out of range"):
        cr.nn.NLLLoss()(z, np.full((2, 4), -1))
    with pytest.raises(cr.ShapeError, match="NLLLoss: input of shape"):
        cr.nn.NLLLoss()(z, np.zeros((2, 3, 4)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: cr.nn.MSELoss(reduction="avg"),
            "MSELoss: reduction must be one of mean, sum, none, got 'avg'",
        ),
        (
            lambda: cr.nn.CrossEntropyLoss(label_smoothing=1.5),
            "CrossEntropyLoss: label_smoothing must be a number in [0, 1], got 1.5",
        ),
        (
            lambda: cr.nn.CrossEntropyLoss(label_smoothing=float("nan")),
            "CrossEntropyLoss: label_smoothing must be a finite number, got nan",
        ),
        (
            lambda: cr.nn.CrossEntropyLoss(ignore_index=1.0),
            "CrossEntropyLoss: ignore_index must be an integer class label or None, got 1.0",
        ),
        (
            lambda: cr.nn.NLLLoss(reduction=None),
            "NLLLoss: reduction must be one of mean, sum, none, got None",
        ),
    ],
)
def test_bad_settings_are_named(make, message):
    with pytest.raises(cr.ConfigError) as caught:
        make()
    assert str(caught.value) == message


def test_the_default_settings_keep_the_fused_training_path():
    # The choice of rule is made once, at construction: the default settings call the same
    # fused functions as before, with no per-call test of the settings.
    assert cr.nn.CrossEntropyLoss().rule is cross_entropy.cross_entropy
    assert cr.nn.MSELoss().rule is losses.mse
    assert cr.nn.BCELoss().rule is losses.bce
    assert cr.nn.SquaredError().rule is losses.squared_error
    assert cr.nn.CrossEntropyLoss(ignore_index=-100).rule.__func__ is (
        cr.nn.CrossEntropyLoss.general
    )
    assert not cr.nn.MSELoss(reduction="sum").plain and cr.nn.MSELoss().plain
    assert repr(cr.nn.CrossEntropyLoss(label_smoothing=0.1)) == (
        "CrossEntropyLoss(label_smoothing=0.1)"
    )


def test_the_teaching_views_refuse_settings_their_forms_do_not_describe():
    model = cr.nn.mlp([2, 3, 2], "sigmoid", rng=0)
    with pytest.raises(cr.ConfigError, match="explain: loss must be a loss at its default"):
        cr.explain(model, [0.1, 0.2], [1], cr.nn.CrossEntropyLoss(reduction="sum"), layer=1, j=0)


def test_explain_works_bce_with_logits_out_as_one_fused_factor():
    model = cr.nn.mlp([2, 3, 2], "tanh", rng=1)
    x, y = np.array([[0.3, -0.8], [1.1, 0.4]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    for layer in (1, 2):
        e = cr.explain(model, x, y, cr.nn.BCEWithLogitsLoss(), layer=layer, j=1, k=0)
        assert e.agree and abs(e.value - e.autodiff) < 1e-12
    assert "σ and BCEWithLogitsLoss are fused" in str(e)


@pytest.mark.parametrize("shape", [(32, 10), (128, 10), (5, 5), (4, 1), (3, 10), (40, 33), (7,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_row_maximum_is_numpys_to_the_bit_whichever_way_it_is_taken(shape, dtype):
    """cross-entropy's shift, max_j z_ij, over a class-major copy for few classes: a maximum
    is exact, so it is numpy's row maximum, NaN and ±inf rows included."""
    z = np.random.default_rng(0).normal(scale=50, size=shape).astype(dtype)
    z.reshape(-1)[:3] = [np.nan, np.inf, -np.inf]
    expected = np.max(z, axis=-1, keepdims=True)
    got = cross_entropy.row_max(z)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
