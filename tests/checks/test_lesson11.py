"""Lesson 11 checks (the derivation exercises are in test_lesson11_derive.py): the references
equal PyTorch; valid versions written differently pass and
work in the lesson's later cells; and what no declared mistake covers is named (a stub, a
tensor, float32, a tuple of the wrong length, two mistakes at once, an argument changed in
place). Declared mistakes are tested in test_mistakes.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from coursekit import scratch
from coursekit.checks import lesson11 as check
from coursekit.exercise import ExerciseFailed
from tests.checks.test_lesson11_derive import DX_VERSIONS, SHAPE_VERSIONS
from tests.checks.wire import assert_same_verdict_over_the_wire

# ---- the references equal PyTorch ----


@pytest.mark.parametrize("case", check._conv_cases(np.random.default_rng(0)))
def test_reference_convolution_equals_torch(case):
    x, W, b, s, p = case["x"], case["W"], case["b"], case["stride"], case["padding"]
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    out = F.conv2d(xt, Wt, bt, stride=s, padding=p)
    dout = np.random.default_rng(1).normal(size=tuple(out.shape))
    out.backward(torch.tensor(dout))
    np.testing.assert_allclose(check.reference_conv_forward(x, W, b, s, p),
                               out.detach().numpy(), rtol=1e-10, atol=1e-12)
    dx, dW, db = check.reference_conv_backward(dout, x, W, s, p)
    for mine, theirs in ((dx, xt), (dW, Wt), (db, bt)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", check._pool_cases(np.random.default_rng(0)))
def test_reference_maxpool_backward_equals_torch_ties_included(case):
    x, dout, size = case["x"], case["dout"], case["size"]
    xt = torch.tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, size)
    np.testing.assert_array_equal(check.reference_maxpool_forward(x, size), out.detach().numpy())
    out.backward(torch.tensor(dout))
    np.testing.assert_array_equal(check.reference_maxpool_backward(dout, x, size),
                                  xt.grad.numpy())


# ---- valid versions written differently ----


def _patch_matrix(x, kh, kw, stride, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    patches = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    n, _, oh, ow = patches.shape[:4]
    return patches.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, -1), (n, oh, ow)


def forward_einsum(x, W, b, stride, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    patches = sliding_window_view(xp, W.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("ncijuv,fcuv->nfij", patches, W) + b[:, None, None]


def forward_loops_over_offsets(x, W, b, stride, padding):
    # no im2col: a sum over kernel offsets, each a strided slice times a weight column
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    f, _, kh, kw = W.shape
    oh = (xp.shape[2] - kh) // stride + 1
    ow = (xp.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], f, oh, ow)) + b[None, :, None, None]
    for u in range(kh):
        for v in range(kw):
            rows = slice(u, u + stride * (oh - 1) + 1, stride)
            cols = slice(v, v + stride * (ow - 1) + 1, stride)
            window = xp[:, :, rows, cols]
            out += np.einsum("ncij,fc->nfij", window, W[:, :, u, v])
    return out


def forward_with_coursekit(x, W, b, stride, padding):
    layer = scratch.Conv2d(W.shape[1], W.shape[0], W.shape[2:], stride=stride, padding=padding)
    layer.params["W"][...] = W
    layer.params["b"][...] = b
    return np.ascontiguousarray(layer.forward(x))


def backward_im2col(dout, x, W, stride, padding):
    """The lesson's solution, written independently: im2col and a col2im over offsets."""
    n, c, h, w = x.shape
    f, _, kh, kw = W.shape
    cols, (_, oh, ow) = _patch_matrix(x, kh, kw, stride, padding)
    dmat = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dpatches = (dmat @ W.reshape(f, -1)).reshape(n, oh, ow, c, kh, kw)
    dxp = np.zeros((n, c, h + 2 * padding, w + 2 * padding))
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u:u + stride * (oh - 1) + 1:stride,
                v:v + stride * (ow - 1) + 1:stride] += dpatches[..., u, v].transpose(0, 3, 1, 2)
    return (dxp[:, :, padding:padding + h, padding:padding + w],
            (dmat.T @ cols).reshape(W.shape), dmat.sum(axis=0))


def backward_pixel_loops(dout, x, W, stride, padding):
    """Loops over output pixels (vectorised over samples), np.add.at-free, in a list."""
    n, c, h, w = x.shape
    f, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + kh)
            cols = slice(j * stride, j * stride + kw)
            dxp[:, :, rows, cols] += np.einsum("nf,fcuv->ncuv", dout[:, :, i, j], W)
            dW += np.einsum("nf,ncuv->fcuv", dout[:, :, i, j], xp[:, :, rows, cols])
    return [dxp[:, :, padding:padding + h, padding:padding + w], dW, dout.sum(axis=(0, 2, 3))]


def backward_with_torch(dout, x, W, stride, padding):
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, np.zeros(W.shape[0])))
    F.conv2d(xt, Wt, bt, stride=stride, padding=padding).backward(torch.tensor(dout))
    return xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()


def backward_loops_over_offsets(dout, x, W, stride, padding):
    """The forward's loop over kernel offsets, run backwards: each offset's strided slice of the
    padded input gets dout times that offset's weights, and gives dW's entries at that offset."""
    n, c, h, w = x.shape
    kh, kw = W.shape[2:]
    oh, ow = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dW = np.zeros(xp.shape), np.zeros(W.shape)
    for u in range(kh):
        for v in range(kw):
            rows = slice(u, u + stride * (oh - 1) + 1, stride)
            cols = slice(v, v + stride * (ow - 1) + 1, stride)
            dxp[:, :, rows, cols] += np.einsum("nfij,fc->ncij", dout, W[:, :, u, v])
            dW[:, :, u, v] = np.einsum("nfij,ncij->fc", dout, xp[:, :, rows, cols])
    return dxp[:, :, padding:padding + h, padding:padding + w], dW, dout.sum(axis=(0, 2, 3))


def pool_backward_loops_over_offsets(dout, x, size):
    """First maximum by scanning the window's offsets in reading order, keeping a strict >."""
    n, c, h, w = x.shape
    best = np.full(dout.shape, -np.inf)
    where = np.zeros(dout.shape, dtype=np.int64)
    for k in range(size * size):
        u, v = divmod(k, size)
        values = x[:, :, u::size, v::size]
        better = values > best
        best = np.where(better, values, best)
        where = np.where(better, k, where)
    dx = np.zeros_like(x)
    for k in range(size * size):
        u, v = divmod(k, size)
        dx[:, :, u::size, v::size] = np.where(where == k, dout, 0.0)
    return dx


def pool_backward_with_torch(dout, x, size):
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, size).backward(torch.tensor(dout))
    return xt.grad.numpy()


def pool_backward_with_coursekit(dout, x, size):
    layer = scratch.MaxPool2d(size)
    layer.forward(x)
    return np.ascontiguousarray(layer.backward(dout))


#: Every exercise of lesson 11 -> valid versions a student could write in its solution cell.
VALID_VERSIONS: dict[str, list[object]] = {
    "11-conv-shape": list(SHAPE_VERSIONS),
    "11-conv-dx-full": list(DX_VERSIONS),
    "11-conv-forward": [forward_einsum, forward_loops_over_offsets, forward_with_coursekit],
    "11-conv-backward": [backward_pixel_loops, backward_loops_over_offsets, backward_with_torch],
    "11-maxpool-backward": [pool_backward_loops_over_offsets, pool_backward_with_torch,
                            pool_backward_with_coursekit],
}
REFERENCES = {"11-conv-forward": check.reference_conv_forward,
              "11-conv-backward": check.reference_conv_backward,
              "11-maxpool-backward": check.reference_maxpool_backward}
PASSING = [(key, fn) for key, fns in VALID_VERSIONS.items() for fn in fns
           if callable(fn) and key in REFERENCES] + \
    list(REFERENCES.items()) + [("11-conv-backward", backward_im2col)]


@pytest.mark.parametrize(("exercise_id", "student"), PASSING)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_references_and_valid_versions_pass_on_any_inputs(exercise_id, student, seed, capsys):
    exercise = check.EXERCISES[exercise_id]
    if seed is None:
        exercise(student)
    else:
        exercise.check(student, seed=seed)
    assert f"✔ {exercise_id}:" in capsys.readouterr().out


# ---- what the lesson does with an accepted answer ----


@pytest.mark.parametrize("forward", [check.reference_conv_forward, forward_einsum,
                                     forward_loops_over_offsets])
def test_an_accepted_forward_works_in_the_lessons_later_cell(forward):
    images = np.random.default_rng(0).random((32, 1, 8, 8))
    layer = scratch.Conv2d(1, 4, 3, padding=1, random_state=4)
    np.testing.assert_allclose(forward(images, layer.params["W"], layer.params["b"], 1, 1),
                               layer.forward(images), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("backward", [backward_im2col, backward_pixel_loops,
                                      backward_loops_over_offsets])
def test_an_accepted_backward_passes_the_lessons_gradient_check(backward):
    class Wrapped(scratch.Conv2d):
        def forward(self, x):
            self.x = x
            return check.reference_conv_forward(x, self.params["W"], self.params["b"],
                                                self.stride[0], self.padding[0])

        def backward(self, dout):
            dx, self.grads["W"], self.grads["b"] = backward(dout, self.x, self.params["W"],
                                                            self.stride[0], self.padding[0])
            return dx

    rng = np.random.default_rng(4)
    errors = scratch.check_layer(Wrapped(2, 3, 3, padding=1, random_state=rng),
                                 rng.normal(size=(2, 2, 6, 6)), random_state=rng)
    assert max(errors.values()) < 1e-7


@pytest.mark.parametrize("backward", [pool_backward_loops_over_offsets,
                                      check.reference_maxpool_backward])
def test_an_accepted_maxpool_backward_equals_coursekit_on_relu_maps(backward):
    maps = np.maximum(np.random.default_rng(5).normal(size=(8, 4, 8, 8)), 0.0)
    maps[:, :, :4, :4] = 0.0
    layer = scratch.MaxPool2d(2)
    dout = np.random.default_rng(6).normal(size=layer.forward(maps).shape)
    np.testing.assert_allclose(backward(dout, maps, 2), layer.backward(dout), rtol=1e-9,
                               atol=1e-11)


# ---- what no declared mistake covers ----


def _grads(index, make):
    """The reference's (dx, dW, db) with gradient ``index`` replaced by ``make(it, *args)``."""
    def wrong(*args):
        grads = list(check.reference_conv_backward(*args))
        grads[index] = make(grads[index], *args)
        return tuple(grads)

    return wrong


def _noisy(array):
    return array + 1e-3 * np.cos(np.arange(array.size)).reshape(array.shape)


def forward_flipped_and_unpadded(x, W, b, stride, padding):
    return check.reference_conv_forward(x, W[:, :, ::-1, ::-1], b, stride, 0)


def backward_dw_per_sample_and_dx_overwritten(dout, x, W, stride, padding):
    _, dW, db = check.reference_conv_backward(dout, x, W, stride, padding)
    return (check._conv_dx(dout, x.shape, W, stride, padding, accumulate=False), dW / len(x),
            db)


def backward_swapped_and_dw_flipped(dout, x, W, stride, padding):
    dx, dW, db = check.reference_conv_backward(dout, x, W, stride, padding)
    return dW[:, :, ::-1, ::-1], dx, db


NOT_DECLARED = [
    ("11-conv-forward", lambda *args: torch.tensor(check.reference_conv_forward(*args)),
     "expected a NumPy array, got a Tensor"),
    ("11-conv-forward", lambda *args: check.reference_conv_forward(*args).astype(np.float32),
     "your answer is float32; keep every array float64"),
    ("11-conv-forward", forward_flipped_and_unpadded, "the padding is missing"),
    ("11-conv-forward", lambda *args: _noisy(check.reference_conv_forward(*args)),
     r"entries differ.*; the convolution is out\[n, f, i, j\] = b\[f\]"),
    ("11-conv-backward", _grads(1, lambda g, *_: torch.tensor(g)),
     "dW: expected a NumPy array, got a Tensor"),
    ("11-conv-backward", _grads(0, lambda g, *_: g.astype(np.float32)),
     "your answer is float32; keep every array float64"),
    ("11-conv-backward", _grads(1, lambda g, *_: g.astype(np.float32)),
     "your answer is float32; keep every array float64"),
    ("11-conv-backward", lambda *args: check.reference_conv_backward(*args)[:2],
     r"expected a tuple of 3 \(dx, dW, db\), got a tuple of length 2"),
    ("11-conv-backward", lambda *args: check.reference_conv_backward(*args)[::-1][:2] + (None,),
     "dx: expected shape"),
    ("11-conv-backward", backward_dw_per_sample_and_dx_overwritten,
     "dx is written with `=` where patches overlap"),
    ("11-conv-backward", backward_swapped_and_dw_flipped, r"the return order is \(dx, dW, db\)"),
    ("11-conv-backward", _grads(1, lambda g, *_: _noisy(g)),
     r"dW: .*entries differ.*; dW\[f, c, u, v\] = .*\(dmat.T @ cols\)"),
    ("11-maxpool-backward", lambda d, x, s: torch.tensor(check.reference_maxpool_backward(d, x, s)),
     "expected a NumPy array, got a Tensor"),
    ("11-maxpool-backward",
     lambda d, x, s: check.reference_maxpool_backward(d.astype(np.float32), x, s),
     "right only to about float32 precision"),
    ("11-maxpool-backward", lambda d, x, s: 2 * d, "dx has the shape of the input x"),
    ("11-maxpool-backward", lambda d, x, s: _noisy(check.reference_maxpool_backward(d, x, s)),
     "entries differ.*; each window's dout goes to the position of its"),
]


@pytest.mark.parametrize(("exercise_id", "wrong", "message"), NOT_DECLARED)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_what_no_declared_mistake_covers_is_named(exercise_id, wrong, message, seed):
    exercise = check.EXERCISES[exercise_id]
    with pytest.raises(ExerciseFailed, match=message):
        exercise(wrong) if seed is None else exercise.check(wrong, seed=seed)


def test_a_stub_is_reported_as_not_implemented():
    def todo(x, W, b, stride, padding):
        raise NotImplementedError("11-conv-forward")

    with pytest.raises(ExerciseFailed, match="not implemented yet"):
        check.conv_forward(todo)


# ---- what the later cells read again must come back unchanged ----


def _then_changes(function, index):
    """``function``'s right answer, after which argument ``index`` is changed in place."""
    def changed(*args):
        result = function(*args)
        args[index][...] = args[index] * 1.5 + 1.0
        return result
    return changed


# Cell forward-agrees-code compares conv_forward with coursekit and torch on the same x, W, b;
# the gradient checks reuse dout and W for the numerical gradient (and hand the layer a copy of
# x, so conv_backward's x is not read again); cell pool-agrees gives the same dout, and the same
# feature maps x, to coursekit and torch after maxpool_backward(dout_pool, relu_maps, 2).
KEPT = [(check.conv_forward, check.reference_conv_forward, ("x", "W", "b")),
        (check.conv_backward, check.reference_conv_backward, ("dout", None, "W")),
        (check.maxpool_backward, check.reference_maxpool_backward, ("dout", "x"))]


@pytest.mark.parametrize(("exercise", "reference", "names"), KEPT,
                         ids=[exercise.id for exercise, _, _ in KEPT])
def test_changing_an_argument_a_later_cell_reads_is_refused(exercise, reference, names, capsys):
    for index, name in enumerate(names):
        if name is None:
            exercise(_then_changes(reference, index))
            assert f"✔ {exercise.id}" in capsys.readouterr().out
        else:
            with pytest.raises(ExerciseFailed, match=f"changed `{name}` in place"):
                exercise(_then_changes(reference, index))


def test_maxpool_refuses_the_gradient_written_into_x():
    """Reusing x's memory for dx rewrites the feature maps cell pool-agrees hands to torch."""
    def into_x(dout, x, size):
        x[...] = check.reference_maxpool_backward(dout, x, size)
        return x

    with pytest.raises(ExerciseFailed, match=r"changed `x` in place .*later cells use it again"):
        check.maxpool_backward(into_x)


@pytest.mark.parametrize(
    ("exercise_id", "student"),
    list(REFERENCES.items()) + [(key, wrong) for key, wrong, _ in NOT_DECLARED[::3]] +
    [("11-conv-forward", "not a function"),
     ("11-maxpool-backward", lambda d, x, s: 1 / 0)],
)
def test_probe_data_survives_the_wire(exercise_id, student):
    assert_same_verdict_over_the_wire(check.EXERCISES[exercise_id], student)
