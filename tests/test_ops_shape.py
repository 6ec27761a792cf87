"""Shape, joining and splitting ops against PyTorch (float64) and central differences.

Each op moves numbers without changing them, so its derivative moves the gradient back. A
random upstream gradient (a different number at every output position) checks that every
element's gradient lands where that element came from; hypothesis chooses the shapes and the
axes, negative axes included.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import chainrule as cr
from chainrule import ops
from chainrule.errors import ConfigError, DataError, ShapeError

torch = oracle()
F = torch.nn.functional


shapes = array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
few = settings(max_examples=15)


def outputs(result):
    return list(result) if isinstance(result, list | tuple) else [result]


def check(name, ours_f, torch_f, arrays, seed=0):
    """Forward values and every input's gradient equal PyTorch's for a random upstream
    gradient, and the gradient passes central differences."""
    leaves = [cr.tensor(a, requires_grad=True) for a in arrays]
    ours = outputs(ours_f(*leaves))
    rng = np.random.default_rng(seed)
    upstream = [rng.normal(size=o.shape) for o in ours]
    for o, g in zip(ours, upstream, strict=True):
        o.backward(g)
    t_leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    theirs = outputs(torch_f(*t_leaves))
    assert len(ours) == len(theirs), f"{name}: {len(ours)} outputs, PyTorch {len(theirs)}"
    torch.autograd.backward(theirs, [torch.tensor(g) for g in upstream])
    for o, t in zip(ours, theirs, strict=True):
        assert o.shape == tuple(t.shape), f"{name}: shape {o.shape}, PyTorch {tuple(t.shape)}"
        assert_matches_torch(o.data, t, f"{name} forward")
    for i, (leaf, t_leaf) in enumerate(zip(leaves, t_leaves, strict=True)):
        t_grad = np.zeros(leaf.shape) if t_leaf.grad is None else t_leaf.grad
        ours_grad = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad
        assert_matches_torch(ours_grad, t_grad, f"{name} ∂/∂input{i}")
    assert_central_differences(name, ours_f, arrays)


def assert_central_differences(name, ours_f, arrays):
    weights = [
        np.random.default_rng(1).uniform(0.5, 1.5, o.shape)
        for o in outputs(ours_f(*[cr.tensor(a) for a in arrays]))
    ]

    def scalar(*leaves):
        return sum((o * w).sum() for o, w in zip(outputs(ours_f(*leaves)), weights, strict=True))

    report = cr.gradcheck(scalar, arrays)
    assert report, f"{name}: central differences disagree\n{report}"


def data_for(shape, seed):
    return np.random.default_rng(seed).normal(size=shape)


def an_axis(draw, ndim):
    return draw(st.integers(-ndim, ndim - 1))


# ---- reshape family ---------------------------------------------------------------------------


@few
@given(shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), data=st.data())
def test_squeeze_all_or_one_axis_like_pytorch(shape, data):
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    x = data_for(shape, 0)
    if axis is None:
        check("squeeze", lambda t: t.squeeze(), lambda t: t.squeeze(), [x])
    else:  # a named axis whose length is not 1 stays, as in PyTorch
        check(f"squeeze({axis})", lambda t: t.squeeze(axis), lambda t: t.squeeze(axis), [x])


def test_squeeze_several_axes():
    x = data_for((1, 3, 1, 2), 0)
    check("squeeze((0, -2))", lambda t: t.squeeze((0, -2)), lambda t: t.squeeze((0, -2)), [x])


@few
@given(shape=shapes, data=st.data())
def test_unsqueeze_and_expand_dims(shape, data):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    x = data_for(shape, 1)
    check(f"unsqueeze({axis})", lambda t: t.unsqueeze(axis), lambda t: t.unsqueeze(axis), [x])
    both = (0, -1)
    assert ops.expand_dims(cr.tensor(x), both).shape == np.expand_dims(x, both).shape
    check(
        "expand_dims((0, -1))",
        lambda t: ops.expand_dims(t, both),
        lambda t: t.unsqueeze(0).unsqueeze(-1),
        [x],
    )


@few
@given(shape=shapes, data=st.data())
def test_flatten_from_start_to_end_like_pytorch(shape, data):
    ndim = len(shape)
    start = data.draw(st.integers(-ndim, ndim - 1))
    end = data.draw(st.integers(start % ndim, ndim - 1)) - data.draw(st.sampled_from([0, ndim]))
    x = data_for(shape, 2)
    check(
        f"flatten({start}, {end})",
        lambda t: t.flatten(start, end),
        lambda t: t.flatten(start, end),
        [x],
    )
    check("ravel", lambda t: t.ravel(), lambda t: t.ravel(), [x])
    check("view(-1, 1)", lambda t: t.view(-1, 1), lambda t: t.view(-1, 1), [x])


def test_flatten_of_a_0d_tensor_has_one_element():
    check("flatten 0-d", lambda t: t.flatten(), lambda t: t.flatten(), [np.array(2.5)])


@few
@given(shape=shapes, data=st.data())
def test_expand_and_broadcast_to_sum_the_copies_back(shape, data):
    ones = tuple(data.draw(st.sampled_from([1, n])) for n in shape)
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    sizes = lead + tuple(
        data.draw(st.sampled_from([-1, 3])) if n == 1 else data.draw(st.sampled_from([-1, n]))
        for n in ones
    )
    x = data_for(ones, 3)
    check(f"expand{sizes}", lambda t: t.expand(*sizes), lambda t: t.expand(*sizes), [x])
    target = tuple(torch.zeros(ones).expand(*sizes).shape)
    check(
        f"broadcast_to{target}",
        lambda t: t.broadcast_to(target),
        lambda t: t.broadcast_to(target),
        [x],
    )


def test_expanded_data_is_writable_and_its_own():
    x = cr.tensor([[1.0], [2.0]])
    y = x.expand(2, 3)
    y.data[0, 0] = 9.0
    assert x.data[0, 0] == 1.0


# ---- axes reordered ---------------------------------------------------------------------------


@few
@given(shape=shapes, data=st.data())
def test_permute_transpose_swapaxes_moveaxis(shape, data):
    ndim = len(shape)
    order = data.draw(st.permutations(range(ndim)))
    negative = [a - ndim if data.draw(st.booleans()) else a for a in order]
    x = data_for(shape, 4)
    check(f"permute{negative}", lambda t: t.permute(*negative), lambda t: t.permute(*order), [x])
    # transpose with negative axes: their order back must be taken after wrapping them
    check(
        f"transpose{negative}",
        lambda t: t.transpose(negative),
        lambda t: t.permute(*order),
        [x],
    )
    a, b = an_axis(data.draw, ndim), an_axis(data.draw, ndim)
    check(f"swapaxes({a}, {b})", lambda t: t.swapaxes(a, b), lambda t: t.swapaxes(a, b), [x])
    count = data.draw(st.integers(1, ndim))
    source = data.draw(st.permutations(range(ndim)))[:count]
    dest = [d - ndim for d in data.draw(st.permutations(range(ndim)))[:count]]
    check(
        f"moveaxis({source}, {dest})",
        lambda t: t.moveaxis(source, dest),
        lambda t: t.moveaxis(source, dest),
        [x],
    )


# ---- copies, reversals, borders ---------------------------------------------------------------


@few
@given(shape=shapes, data=st.data())
def test_flip_and_roll(shape, data):
    ndim = len(shape)
    axes = data.draw(
        st.lists(
            st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim, unique_by=lambda a: a % ndim
        )
    )
    x = data_for(shape, 5)
    check(f"flip{axes}", lambda t: t.flip(*axes), lambda t: t.flip(axes), [x])
    check("flip all", lambda t: t.flip(), lambda t: t.flip(list(range(ndim))), [x])
    shifts = [data.draw(st.integers(-5, 5)) for _ in axes]
    check(
        f"roll({shifts}, {axes})",
        lambda t: t.roll(shifts, axes),
        lambda t: t.roll(shifts, axes),
        [x],
    )
    check("roll flattened", lambda t: t.roll(3), lambda t: t.roll(3), [x])


@few
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), data=st.data())
def test_repeat_is_pytorchs_and_tile_numpys(shape, data):
    ndim = len(shape)
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim + 1))
    x = data_for(shape, 6)
    check(f"repeat{sizes}", lambda t: t.repeat(*sizes), lambda t: t.repeat(*sizes), [x])
    reps = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=ndim + 1))
    check(f"tile{reps}", lambda t: t.tile(*reps), lambda t: t.tile(reps), [x])
    assert np.array_equal(ops.tile(cr.tensor(x), reps).data, np.tile(x, reps))


@few
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), data=st.data())
def test_repeat_interleave_is_numpys_repeat(shape, data):
    ndim = len(shape)
    axis = an_axis(data.draw, ndim)
    counts = data.draw(st.lists(st.integers(0, 3), min_size=shape[axis], max_size=shape[axis]))
    x = data_for(shape, 7)
    check(
        f"repeat_interleave({counts}, {axis})",
        lambda t: t.repeat_interleave(counts, axis),
        lambda t: t.repeat_interleave(torch.tensor(counts), axis),
        [x],
    )
    assert np.array_equal(
        ops.repeat_interleave(cr.tensor(x), counts, axis).data, np.repeat(x, counts, axis)
    )
    check(
        "repeat_interleave(2)",
        lambda t: t.repeat_interleave(2),
        lambda t: t.repeat_interleave(2),
        [x],
    )


def test_repeat_and_repeat_interleave_differ_as_in_pytorch():
    x = cr.tensor([1.0, 2.0])
    assert x.repeat(2).data.tolist() == [1.0, 2.0, 1.0, 2.0]
    assert x.repeat_interleave(2).data.tolist() == [1.0, 1.0, 2.0, 2.0]


def torch_pad_widths(width):
    """numpy's ((before, after) per axis) as F.pad's flat list, last axis first."""
    return [n for before, after in reversed(width) for n in (before, after)]


@few
@given(shape=shapes, data=st.data())
def test_pad_constant_like_numpy_and_pytorch(shape, data):
    width = [(data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape]
    value = data.draw(st.sampled_from([0.0, -1.5]))
    x = data_for(shape, 8)
    check(
        f"pad{width}",
        lambda t: ops.pad(t, width, value=value),
        lambda t: F.pad(t, torch_pad_widths(width), value=value),
        [x],
    )
    assert np.array_equal(ops.pad(cr.tensor(x), 2).data, np.pad(x, 2))
    assert np.array_equal(ops.pad(cr.tensor(x), (1, 2)).data, np.pad(x, (1, 2)))


@pytest.mark.parametrize(
    ("mode", "torch_mode"), [("edge", "replicate"), ("reflect", "reflect"), ("wrap", "circular")]
)
def test_pad_copying_modes_send_gradient_to_the_element_copied(mode, torch_mode):
    x = data_for((2, 3, 5), 9)
    check(
        f"pad {mode}",
        lambda t: ops.pad(t, ((0, 0), (0, 0), (2, 3)), mode),
        lambda t: F.pad(t, (2, 3), mode=torch_mode),
        [x],
    )


@few
@given(
    shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
    mode=st.sampled_from(["edge", "reflect", "symmetric", "wrap"]),
    data=st.data(),
)
def test_pad_every_mode_against_numpy_and_central_differences(shape, mode, data):
    width = [(data.draw(st.integers(0, 5)), data.draw(st.integers(0, 5))) for _ in shape]
    x = data_for(shape, 10)
    out = ops.pad(cr.tensor(x), width, mode)
    assert np.array_equal(out.data, np.pad(x, width, mode=mode))
    assert_central_differences(f"pad {mode}", lambda t: ops.pad(t, width, mode), [x])


# ---- matrices inside a tensor ------------------------------------------------------------------


@few
@given(shape=array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4), data=st.data())
def test_diagonal_trace_tril_triu(shape, data):
    ndim = len(shape)
    a = an_axis(data.draw, ndim)
    b = data.draw(st.integers(-ndim, ndim - 1).filter(lambda b: b % ndim != a % ndim))
    k = data.draw(st.integers(-3, 3))
    x = data_for(shape, 11)
    check(
        f"diagonal({k}, {a}, {b})",
        lambda t: t.diagonal(k, a, b),
        lambda t: t.diagonal(k, a, b),
        [x],
    )
    check(
        f"trace({k}, {a}, {b})",
        lambda t: ops.trace(t, k, a, b),
        lambda t: t.diagonal(k, a, b).sum(-1),
        [x],
    )
    check(f"tril({k})", lambda t: t.tril(k), lambda t: t.tril(k), [x])
    check(f"triu({k})", lambda t: t.triu(k), lambda t: t.triu(k), [x])


def test_trace_of_a_matrix_is_pytorchs():
    check("trace", lambda t: t.trace(), torch.trace, [data_for((3, 4), 12)])


# ---- joining and splitting ---------------------------------------------------------------------


@few
@given(shape=shapes, data=st.data())
def test_cat_and_stack(shape, data):
    ndim = len(shape)
    axis = an_axis(data.draw, ndim)
    lengths = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    arrays = [
        data_for(shape[: axis % ndim] + (n,) + shape[axis % ndim + 1 :], i)
        for i, n in enumerate(lengths)
    ]
    check(
        f"cat axis {axis}",
        lambda *t: cr.ops.cat(list(t), axis),
        lambda *t: torch.cat(t, axis),
        arrays,
    )
    same = [data_for(shape, i) for i in range(len(lengths))]
    new = data.draw(st.integers(-ndim - 1, ndim))
    check(f"stack axis {new}", lambda *t: ops.stack(t, new), lambda *t: torch.stack(t, new), same)


@few
@given(shape=shapes, data=st.data())
def test_split_and_chunk_send_gradients_into_one_input(shape, data):
    ndim = len(shape)
    axis = an_axis(data.draw, ndim)
    n = shape[axis]
    size = data.draw(st.integers(1, 5))
    x = data_for(shape, 13)
    check(
        f"split({size}, {axis})", lambda t: t.split(size, axis), lambda t: t.split(size, axis), [x]
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    lengths = np.diff([0, *cuts, n]).tolist()
    check(
        f"split({lengths}, {axis})",
        lambda t: t.split(lengths, axis),
        lambda t: t.split(lengths, axis),
        [x],
    )
    chunks = data.draw(st.integers(1, 5))
    check(
        f"chunk({chunks}, {axis})",
        lambda t: t.chunk(chunks, axis),
        lambda t: t.chunk(chunks, axis),
        [x],
    )


def test_a_piece_not_used_gives_zero_gradient_there():
    x = cr.tensor(np.arange(6.0), requires_grad=True)
    first, _ = x.split(3)
    (first * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0, 0.0, 0.0, 0.0]


def index_for(draw, shape, axis, seed):
    """An index of the input's rank, no longer than it on any axis, values along `axis`."""
    index_shape = tuple(
        draw(st.integers(1, n)) if d != axis else draw(st.integers(1, 4))
        for d, n in enumerate(shape)
    )
    return np.random.default_rng(seed).integers(0, shape[axis], size=index_shape)


@few
@given(shape=shapes, data=st.data())
def test_gather_and_scatter_add_like_pytorch(shape, data):
    ndim = len(shape)
    axis = an_axis(data.draw, ndim)
    index = index_for(data.draw, shape, axis % ndim, 14)
    x = data_for(shape, 15)
    check(
        f"gather axis {axis}",
        lambda t: t.gather(axis, index),
        lambda t: t.gather(axis, torch.tensor(index)),
        [x],
    )
    src = data_for(index.shape, 16)
    check(
        f"scatter_add axis {axis}",
        lambda t, s: t.scatter_add(axis, index, s),
        lambda t, s: t.scatter_add(axis, torch.tensor(index), s),
        [x, src],
    )


def test_scatter_add_gives_unreached_source_elements_zero_gradient():
    """PyTorch's own backward fails when src is larger than index; the rule is still clear:
    elements of src the index does not reach are not in the output."""
    x, src = data_for((3, 4), 17), data_for((4, 5), 18)
    index = np.array([[0, 1, 2, 0]])
    t, s = cr.tensor(x, requires_grad=True), cr.tensor(src, requires_grad=True)
    t.scatter_add(0, index, s).backward(np.ones((3, 4)))
    assert s.grad[0, :4].tolist() == [1.0] * 4
    assert not s.grad[1:].any() and not s.grad[:, 4].any()
    assert_central_differences(
        "scatter_add, larger src", lambda t, s: ops.scatter_add(t, 0, index, s), [x, src]
    )


@few
@given(shape=shapes, data=st.data())
def test_masked_fill_sends_no_gradient_where_filled(shape, data):
    mask_shape = tuple(data.draw(st.sampled_from([1, n])) for n in shape)[
        data.draw(st.integers(0, len(shape) - 1)) :
    ]
    mask = np.random.default_rng(19).random(mask_shape) < 0.5
    x = data_for(shape, 20)
    check(
        "masked_fill",
        lambda t: t.masked_fill(mask, -2.5),
        lambda t: t.masked_fill(torch.tensor(mask), -2.5),
        [x],
    )


def test_masked_fill_with_minus_infinity_as_attention_masks_use():
    out = cr.tensor([[1.0, 2.0]]).masked_fill(np.array([False, True]), -np.inf)
    assert out.data.tolist() == [[1.0, -np.inf]]


@few
@given(labels=st.lists(st.integers(0, 4), min_size=1, max_size=6), extra=st.integers(0, 2))
def test_one_hot_is_pytorchs_as_floats(labels, extra):
    classes = max(labels) + 1 + extra
    ours = ops.one_hot(labels, classes)
    theirs = F.one_hot(torch.tensor(labels), classes)
    assert ours.dtype == np.float64 and not ours.requires_grad
    assert np.array_equal(ours.data, theirs.numpy())
    assert np.array_equal(
        ops.one_hot(np.array(labels)).data, F.one_hot(torch.tensor(labels)).numpy()
    )
    assert np.array_equal(ops.one_hot(cr.tensor(labels), classes).data, theirs.numpy())


def test_one_hot_keeps_the_labels_shape():
    assert ops.one_hot([[0, 1], [2, 0]], 3).shape == (2, 2, 3)


# ---- mistakes are named -------------------------------------------------------------------------

x2 = cr.tensor(np.zeros((2, 3)))

BAD = [
    (lambda: x2.squeeze(2), ShapeError, "squeeze: axis 2 is out of range for a tensor of 2"),
    (lambda: x2.unsqueeze(-4), ShapeError, "unsqueeze: axis -4 is out of range"),
    (lambda: x2.unsqueeze(1.5), ConfigError, "unsqueeze: axis must be an integer, got 1.5"),
    (lambda: x2.flatten(1, 0), ShapeError, "flatten: start axis 1 comes after end axis 0"),
    (lambda: x2.view(4, 2), ShapeError, "cannot reshape (2, 3)"),
    (lambda: x2.expand(4, 3), ShapeError, "expand: cannot broadcast shape (2, 3) to (4, 3)"),
    (lambda: x2.expand(3), ShapeError, "expand: 1 sizes for a tensor of shape (2, 3)"),
    (lambda: x2.broadcast_to((3,)), ShapeError, "broadcast_to: cannot broadcast"),
    (lambda: x2.permute(0, 0), ShapeError, "permute: axes (0, 0) name the same axis twice"),
    (lambda: x2.permute(0), ShapeError, "permute: axes (0,) must name each of the 2 axes"),
    (lambda: x2.transpose(0, 2), ShapeError, "transpose: axis 2 is out of range"),
    (
        lambda: cr.tensor(np.zeros((2, 3, 4))).transpose(0, 1),
        ShapeError,
        "PyTorch's transpose(dim0, dim1) is swapaxes",
    ),
    (lambda: x2.swapaxes(0, 5), ShapeError, "swapaxes: axis 5 is out of range"),
    (lambda: x2.moveaxis((0, 1), 0), ShapeError, "moveaxis: 2 source axes but 1 destinations"),
    (lambda: x2.flip(3), ShapeError, "flip: axis 3 is out of range"),
    (lambda: x2.roll((1, 2), 0), ShapeError, "roll: 2 shifts for 1 axes"),
    (lambda: x2.roll(1.5), ConfigError, "roll: shift must be integers"),
    (lambda: x2.repeat(2), ShapeError, "numpy's np.repeat is repeat_interleave"),
    (lambda: x2.tile(-1), ConfigError, "tile: reps must be whole numbers >= 0, got (-1,)"),
    (lambda: x2.repeat_interleave([1, 2], 1), ShapeError, "2 repeats for axis 1 of length 3"),
    (lambda: ops.pad(x2, ((1, 1), (1, 1), (1, 1))), ShapeError, "pad: pad_width"),
    (lambda: ops.pad(x2, -1), ConfigError, "pad: pad_width must be whole numbers >= 0"),
    (lambda: ops.pad(x2, 1, "mirror"), ConfigError, "pad: mode must be one of constant, edge"),
    (lambda: ops.pad(cr.tensor(np.zeros((0, 2))), 1, "wrap"), ShapeError, "has none"),
    (
        lambda: cr.tensor([1.0, 2.0]).diagonal(),
        ShapeError,
        "diagonal: needs a tensor of at least 2",
    ),
    (lambda: x2.diagonal(0, 1, -1), ShapeError, "axis1 and axis2 must differ"),
    (lambda: x2.tril(0.5), ConfigError, "tril: k must be an integer, got 0.5"),
    (
        lambda: ops.cat([x2, cr.tensor(np.zeros((2, 2)))]),
        ShapeError,
        "concatenate: shapes (2, 3), (2, 2)",
    ),
    (lambda: ops.cat([]), ConfigError, "concatenate: tensors must be a non-empty list"),
    (lambda: ops.cat([x2], 2), ShapeError, "concatenate: axis 2 is out of range"),
    (lambda: ops.stack([x2, x2.T]), ShapeError, "stack: tensors must share one shape"),
    (lambda: x2.split([1, 2]), ShapeError, "split: lengths [1, 2] must sum to 2"),
    (lambda: x2.split([1.5, 0.5]), ConfigError, "split: sizes must be whole numbers >= 0"),
    (lambda: x2.split(0), ConfigError, "split: sizes must be a positive integer, got 0"),
    (lambda: x2.chunk(0), ConfigError, "chunk: chunks must be a positive integer"),
    (lambda: x2.gather(1, [[0, 3]]), ConfigError, "gather: index 3 is out of range for axis 1"),
    (lambda: x2.gather(1, [[0.5]]), ConfigError, "gather: index must hold whole numbers"),
    (lambda: x2.gather(1, [0]), ShapeError, "gather: index has 1 axes, the tensor 2"),
    (lambda: x2.gather(1, np.zeros((3, 1), int)), ShapeError, "exceeds tensor shape (2, 3)"),
    (lambda: x2.scatter_add(0, [[0, 1]], np.ones((1, 1))), ShapeError, "exceeds src shape (1, 1)"),
    (lambda: x2.masked_fill(np.zeros(3), 1.0), ConfigError, "masked_fill: mask must be boolean"),
    (
        lambda: x2.masked_fill(np.zeros(2, bool), 1.0),
        ShapeError,
        "mask shape (2,) does not broadcast",
    ),
    (
        lambda: x2.masked_fill(np.zeros(3, bool), "a"),
        ConfigError,
        "masked_fill: value must be a number",
    ),
    (lambda: ops.one_hot([0.0, 1.5]), DataError, "one_hot: labels must hold whole numbers"),
    (lambda: ops.one_hot([0, 3], 3), DataError, "one_hot: label 3 is out of range for 3 classes"),
    (lambda: ops.one_hot([-1, 0]), DataError, "one_hot: label -1 is out of range"),
    (lambda: ops.one_hot([0], 0), ConfigError, "one_hot: num_classes"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_axes_and_sizes_are_named(call, error, message):
    with pytest.raises(error) as caught:
        call()
    assert message in str(caught.value)


FLOAT32 = {
    "expand": lambda t: t.expand(2, 3, 4),
    "tile": lambda t: t.tile(2, 1),
    "repeat_interleave": lambda t: t.repeat_interleave(2, 0),
    "pad": lambda t: ops.pad(t, 1, value=0.5),
    "pad reflect": lambda t: ops.pad(t, 1, "reflect"),
    "diagonal": lambda t: t.diagonal(),
    "cat": lambda t: ops.cat([t, t * 2]),
    "stack": lambda t: ops.stack([t, t], -1),
    "gather": lambda t: t.gather(1, [[0, 0]]),
    "scatter_add": lambda t: t.scatter_add(0, [[1, 0, 1, 0]], np.ones((1, 4))),
    "masked_fill": lambda t: t.masked_fill(np.array([True, False, True, False]), 1.5),
}


@pytest.mark.parametrize("name", list(FLOAT32))
def test_float32_stays_float32(name):
    x = cr.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    out = FLOAT32[name](x)
    out.backward(np.ones(out.shape))
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
