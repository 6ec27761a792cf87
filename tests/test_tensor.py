"""The engine's mechanics: the graph, the reverse sweep, accumulation, no_grad, dtypes, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule.backprop import topological_order


def test_chain_rule_on_the_lectures_composite():
    """C = (σ(w a) − y)²: ∂C/∂w = ∂z/∂w · ∂a/∂z · ∂C/∂a = a_prev · σ'(z) · 2(a − y)."""
    a_prev, y = 0.7, 1.0
    w = cr.tensor(1.5, requires_grad=True)
    z = w * a_prev
    a = z.sigmoid()
    c = (a - y) ** 2
    c.backward()
    s = 1 / (1 + np.exp(-1.5 * 0.7))
    assert w.grad == pytest.approx(a_prev * s * (1 - s) * 2 * (s - y), rel=1e-14)


def test_two_backward_calls_add_up():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3 + 2, 3 + 4])


def test_a_value_used_twice_gets_the_sum_of_both_paths():
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x + x  # x reaches y along three edges
    y.backward()
    assert x.grad == 2 * 3.0 + 1


def test_shared_upstream_is_not_aliased_between_leaves():
    """add passes its upstream on unchanged; each leaf must still own its gradient."""
    a = cr.tensor([1.0, 1.0], requires_grad=True)
    b = cr.tensor([1.0, 1.0], requires_grad=True)
    (a + b).backward(np.array([1.0, 2.0]))
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, [1.0, 2.0])


def test_the_upstream_array_given_to_backward_is_not_kept():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([1.0, 1.0])
    (x + 0).backward(g)
    x.grad += 1
    np.testing.assert_array_equal(g, [1.0, 1.0])


def test_leaves_that_do_not_require_grad_get_no_grad():
    x = cr.tensor([1.0, 2.0])
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    (x * w).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad, [1.0, 2.0])


def test_intermediates_keep_grad_only_when_asked():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 2).retain_grad()
    k = x * 3
    (h * k).sum().backward()
    np.testing.assert_array_equal(h.grad, k.data)
    assert k.grad is None


def test_no_grad_records_nothing_and_detach_cuts_the_graph():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf and cr.is_grad_enabled() is not False
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    z = (x * d).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad, [2.0])


def test_no_grad_as_decorator():
    @cr.no_grad()
    def double(t):
        return t * 2

    assert not double(cr.tensor([1.0], requires_grad=True)).requires_grad
    assert cr.is_grad_enabled()


WAIT = 10  # seconds: a bound on every wait below, so a broken test fails instead of hanging


def _run_in_thread(target, results):
    """Run `target()` in a thread, storing its exception (if any) for the main thread."""

    def guarded():
        try:
            target()
        except BaseException as err:  # re-raised by the main thread's assertion
            results["error"] = err

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    return thread


def test_no_grad_in_one_thread_leaves_another_thread_recording():
    """Thread A sits inside no_grad() while thread B builds a graph and backpropagates: B's
    gradients arrive, and A's no_grad() is still in force when B is done (PyTorch's rule)."""
    a_inside, b_done = threading.Event(), threading.Event()
    seen, errors_a, errors_b = {}, {}, {}

    def predict():
        with cr.no_grad():
            a_inside.set()
            assert b_done.wait(WAIT), "thread B did not finish"
            seen["a_enabled"] = cr.is_grad_enabled()
            seen["a_records"] = (cr.tensor([1.0], requires_grad=True) * 2).requires_grad
        seen["a_after"] = cr.is_grad_enabled()

    def train():
        try:
            assert a_inside.wait(WAIT), "thread A did not enter no_grad"
            seen["b_enabled"] = cr.is_grad_enabled()
            w = cr.tensor([1.0, -2.0], requires_grad=True)
            c = (w * w * 3).sum()
            seen["b_records"] = c.requires_grad
            c.backward()
            seen["b_grad"] = w.grad
        finally:
            b_done.set()

    threads = [_run_in_thread(predict, errors_a), _run_in_thread(train, errors_b)]
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert not errors_a and not errors_b, (errors_a, errors_b)
    assert seen["b_enabled"] and seen["b_records"]
    np.testing.assert_array_equal(seen["b_grad"], [6.0, -12.0])  # ∂(3w²)/∂w = 6w
    assert seen["a_enabled"] is False and seen["a_records"] is False
    assert seen["a_after"] is True
    assert cr.is_grad_enabled()


def test_a_new_thread_records_even_when_its_parent_is_inside_no_grad():
    seen, errors = {}, {}
    with cr.no_grad():
        thread = _run_in_thread(lambda: seen.update(enabled=cr.is_grad_enabled()), errors)
        thread.join(WAIT)
        assert not cr.is_grad_enabled()
    assert not thread.is_alive() and not errors
    assert seen["enabled"] is True


def test_np_array_copies_and_np_asarray_shares():
    t = cr.tensor([1.0, 2.0])
    copied = np.array(t)
    copied[0] = 99.0
    assert t.data[0] == 1.0 and not np.shares_memory(np.array(t), t.data)
    assert np.shares_memory(np.asarray(t), t.data)
    assert np.shares_memory(np.array(t, copy=False), t.data)
    assert not np.shares_memory(np.array(t, copy=True), t.data)
    assert not np.shares_memory(np.asarray(t, copy=True), t.data)


def test_np_array_converts_dtype_and_refuses_a_copy_it_would_need():
    t = cr.tensor([1.5, 2.5])
    as32 = np.asarray(t, dtype=np.float32)
    assert as32.dtype == np.float32 and as32.tolist() == [1.5, 2.5]
    assert np.shares_memory(np.asarray(t, dtype=np.float64), t.data)
    with pytest.raises(ValueError, match="copy"):
        np.array(t, dtype=np.float32, copy=False)


def test_a_chain_of_ten_thousand_ops_backpropagates():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**10_000, rel=1e-9)


def test_topological_order_puts_parents_first():
    x = cr.tensor(1.0, requires_grad=True)
    a = x * 2
    b = a + x
    c = b * a
    order = topological_order(c)
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:
        for p in t.parents:
            if p.requires_grad:  # constants such as the 2 in x * 2 are not visited
                assert position[id(p)] < position[id(t)]


def test_data_can_be_written_in_place_and_reassigned():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.data[0] = 5.0
    x.data = np.array([3.0, 4.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 8.0])


def test_float32_stays_float32_end_to_end():
    model = cr.nn.Sequential(
        cr.nn.Linear(3, 4, dtype=np.float32, rng=0),
        cr.nn.Tanh(),
        cr.nn.Linear(4, 2, dtype=np.float32, rng=1),
    )
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    for loss in (cr.nn.SquaredError(), cr.nn.MSELoss(), cr.nn.CrossEntropyLoss()):
        target = (
            np.array([0, 1, 1, 0, 1])
            if isinstance(loss, cr.nn.CrossEntropyLoss)
            else np.ones((5, 2))
        )
        out = model(x)
        c = loss(out, target)
        model.zero_grad()
        c.backward()
        assert out.dtype == np.float32 and c.dtype == np.float32
        assert all(p.grad.dtype == np.float32 for p in model.parameters())
    t = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    y = (2 * t + 1 / t + 2**t + t**3 - 0.5).sum()
    y.backward()
    assert y.dtype == np.float32 and t.grad.dtype == np.float32


def test_float64_is_the_default():
    assert cr.tensor([1, 2, 3]).dtype == np.float64
    assert cr.tensor(2.0).dtype == np.float64
    assert cr.nn.Linear(2, 2).weight.dtype == np.float64


def test_backward_on_a_non_scalar_without_a_gradient_says_so():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.GradError, match=r"needs a scalar.*shape \(2,\).*backward\(grad\)"):
        (x * 2).backward()


def test_backward_grad_of_the_wrong_shape_is_refused():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.ShapeError, match=r"grad has shape \(3,\), expected .*\(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_any_grad_input_says_so():
    with pytest.raises(cr.GradError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (lambda a, b: a + b, r"add: shapes \(2, 3\) and \(4,\) do not broadcast"),
        (lambda a, b: a * b, r"mul: shapes \(2, 3\) and \(4,\)"),
        (lambda a, b: a @ b, r"matmul: shapes \(2, 3\) and \(4,\) do not multiply"),
    ],
)
def test_shape_errors_name_the_op_and_both_shapes(expr, message):
    a = cr.tensor(np.ones((2, 3)), requires_grad=True)
    b = cr.tensor(np.ones(4))
    with pytest.raises(cr.ShapeError, match=message):
        expr(a, b)


def test_linear_layer_shape_error_names_what_it_expected():
    layer = cr.nn.Linear(3, 2)
    with pytest.raises(cr.ShapeError, match=r"input has shape \(5, 4\).*expects 3 features"):
        layer(np.ones((5, 4)))


def test_reshape_error_names_both_shapes():
    with pytest.raises(cr.ShapeError, match=r"cannot reshape \(2, 3\) \(6 elements\) into \(4,\)"):
        cr.tensor(np.ones((2, 3))).reshape(4)


def test_errors_are_chainrule_errors_and_builtin_kinds():
    assert issubclass(cr.ShapeError, cr.ChainruleError) and issubclass(cr.ShapeError, ValueError)
    assert issubclass(cr.GradError, RuntimeError)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(cr.GradError, match="floating-point"):
        cr.Tensor(np.array([1, 2]), requires_grad=True, dtype=np.int64)


def test_repr_shows_data_and_op():
    t = cr.tensor([1.0, 2.0], requires_grad=True) * 2
    assert "op=mul" in repr(t) and "requires_grad=True" in repr(t)


def test_reshape_and_transpose_take_numpy_s_two_spellings_and_pass_gradients_back():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    for shaped in (x.reshape(3, 2), x.reshape((3, 2)), x.reshape([3, 2]), x.reshape(np.int64(6))):
        assert shaped.shape == ((6,) if shaped.ndim == 1 else (3, 2))
    for turned in (x.transpose(), x.transpose(1, 0), x.transpose((1, 0)), x.T):
        np.testing.assert_array_equal(turned.data, x.data.T)
    weights = np.arange(6.0).reshape(3, 2)
    (x.transpose(1, 0) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad, weights.T)
    line = cr.tensor([1.0, 2.0], requires_grad=True)
    (line.transpose(0) * 3).sum().backward()
    np.testing.assert_array_equal(line.grad, [3.0, 3.0])
    with pytest.raises(TypeError, match="integers or one sequence"):
        x.reshape(2, (3,))


def test_iteration_and_unpacking_give_rows_that_pass_gradients_back():
    """`for row in t`, `list(t)` and `a, b = t` work as in numpy and PyTorch (issue 10): each
    row is `t[i]`, so a loss built from the rows sends its gradient back into t."""
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(x)
    assert len(rows) == len(x) == 2 and all(r.shape == (2,) for r in rows)
    first, second = x
    np.testing.assert_array_equal(second.data, [3.0, 4.0])
    total = sum((row * (i + 1)).sum() for i, row in enumerate(x))
    total.backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 1.0], [2.0, 2.0]])
    assert [float(v.data) for v in cr.tensor([5.0, 6.0])] == [5.0, 6.0]


def test_a_zero_dimensional_tensor_has_no_length_and_cannot_be_iterated():
    scalar = cr.tensor(3.0)
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(scalar)
    with pytest.raises(TypeError, match="0-d"):
        iter(scalar)
    assert len(cr.tensor(np.ones((4, 2)))) == 4


def test_truth_of_a_tensor_is_numpys():
    assert cr.tensor(2.0) and cr.tensor([1.0]) and not cr.tensor(0.0)
    if cr.tensor(3.0) > 2:  # the form a student writes
        reached = True
    assert reached
    with pytest.raises(ValueError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))


def test_equality_compares_values_and_identity_lives_in_is_and_hash():
    """`==` meant identity before issue 10; now it is elementwise, as numpy's and PyTorch's,
    while hashing stays by identity so tensors remain dict keys and set members."""
    a, b = cr.tensor([1.0, 2.0], requires_grad=True), cr.tensor([1.0, 2.0])
    same = a == b
    assert same.dtype == np.bool_ and not same.requires_grad
    np.testing.assert_array_equal(same.data, [True, True])
    grads = {a: "a", b: "b"}
    assert grads[a] == "a" and grads[b] == "b"
    assert {a, b, a} == {a, b} and a in [a] and b in {b}
    assert a is not b
