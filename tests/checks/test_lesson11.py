"""Lesson 11's checks pass the reference and valid variants, and name each realistic mistake."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from coursekit import scratch
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson11 as check

# ---- the references equal PyTorch ----


@pytest.mark.parametrize("case", check._forward_cases(np.random.default_rng(0))["cases"])
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


@pytest.mark.parametrize("case", check._pool_cases(np.random.default_rng(0))["cases"])
def test_reference_maxpool_backward_equals_torch_ties_included(case):
    x, dout, size = case["x"], case["dout"], case["size"]
    xt = torch.tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, size)
    np.testing.assert_array_equal(check.reference_maxpool_forward(x, size), out.detach().numpy())
    out.backward(torch.tensor(dout))
    np.testing.assert_array_equal(check.reference_maxpool_backward(dout, x, size),
                                  xt.grad.numpy())


# ---- 11-conv-forward ----


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


CONV_FORWARD_VALID = [forward_einsum, forward_loops_over_offsets, forward_with_coursekit]


@pytest.mark.parametrize("valid", [check.reference_conv_forward, *CONV_FORWARD_VALID])
def test_forward_accepts_valid_versions(valid, capsys):
    check.conv_forward(valid)
    assert capsys.readouterr().out.startswith("✔ 11-conv-forward:")


def _im2col_product(x, W, b, stride, padding):
    cols, (n, oh, ow) = _patch_matrix(x, W.shape[2], W.shape[3], stride, padding)
    return cols @ W.reshape(W.shape[0], -1).T + b, (n, oh, ow, W.shape[0])


def forward_reshape_without_transpose(x, W, b, stride, padding):
    out, (n, oh, ow, f) = _im2col_product(x, W, b, stride, padding)
    return out.reshape(n, f, oh, ow)


def forward_no_transpose_at_all(x, W, b, stride, padding):
    out, (n, oh, ow, f) = _im2col_product(x, W, b, stride, padding)
    return out.reshape(n, oh, ow, f)


def forward_flipped(x, W, b, stride, padding):
    return check.reference_conv_forward(x, W[:, :, ::-1, ::-1], b, stride, padding)


def forward_no_bias(x, W, b, stride, padding):
    return check.reference_conv_forward(x, W, np.zeros_like(b), stride, padding)


def forward_no_padding(x, W, b, stride, padding):
    return check.reference_conv_forward(x, W, b, stride, 0)


def forward_no_stride(x, W, b, stride, padding):
    return check.reference_conv_forward(x, W, b, 1, padding)


def forward_tensor(x, W, b, stride, padding):
    return F.conv2d(torch.tensor(x), torch.tensor(W), torch.tensor(b), stride=stride,
                    padding=padding)


FORWARD_MISTAKES = [
    (forward_reshape_without_transpose, "reshaped straight to \\(N, F, OH, OW\\)"),
    (forward_no_transpose_at_all, "reshape it to \\(N, OH, OW, F\\), then transpose"),
    (forward_flipped, "the kernel is flipped"),
    (forward_no_bias, "the bias is missing"),
    (forward_no_padding, "the padding is missing"),
    (forward_no_stride, "the stride is ignored"),
    (forward_tensor, "expected a NumPy array, got a Tensor"),
    (lambda *args: check.reference_conv_forward(*args).astype(np.float32),
     "float32 precision only"),
]


@pytest.mark.parametrize(("wrong", "message"), FORWARD_MISTAKES,
                         ids=[m[0].__name__ for m in FORWARD_MISTAKES])
def test_forward_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.conv_forward(wrong)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("wrong", "message"), FORWARD_MISTAKES,
                         ids=[m[0].__name__ for m in FORWARD_MISTAKES])
def test_forward_mistakes_keep_their_message_on_fresh_inputs(wrong, message, seed):
    with pytest.raises(ExerciseFailed, match=message):
        check.CONV_FORWARD.check(wrong, seed=seed)


def test_a_stub_is_reported_as_not_implemented():
    def todo(x, W, b, stride, padding):
        raise NotImplementedError("11-conv-forward")

    with pytest.raises(ExerciseFailed, match="not implemented yet"):
        check.conv_forward(todo)


# ---- 11-conv-backward ----


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


CONV_BACKWARD_VALID = [backward_pixel_loops, backward_loops_over_offsets, backward_with_torch]


@pytest.mark.parametrize("valid", [check.reference_conv_backward, backward_im2col,
                                   *CONV_BACKWARD_VALID])
def test_backward_accepts_valid_versions(valid, capsys):
    check.conv_backward(valid)
    assert capsys.readouterr().out.startswith("✔ 11-conv-backward:")


def _replace(index, make):
    def wrong(dout, x, W, stride, padding):
        grads = list(check.reference_conv_backward(dout, x, W, stride, padding))
        grads[index] = make(grads[index], dout, x, W, stride, padding)
        return tuple(grads)

    return wrong


def backward_overwrites(dout, x, W, stride, padding):
    dx, dW, db = backward_im2col(dout, x, W, stride, padding)
    return check._conv_dx(dout, x.shape, W, stride, padding, accumulate=False), dW, db


def backward_overwrites_by_pixel(dout, x, W, stride, padding):
    _, dW, db = backward_im2col(dout, x, W, stride, padding)
    return (check._conv_dx(dout, x.shape, W, stride, padding, accumulate=False, by_pixel=True),
            dW, db)


def backward_padded_dx(dout, x, W, stride, padding):
    dx, dW, db = check.reference_conv_backward(dout, x, W, stride, padding)
    return np.pad(dx, ((0, 0), (0, 0), (padding, padding), (padding, padding))), dW, db


BACKWARD_MISTAKES = [
    (backward_overwrites, "written with `=` where patches overlap"),
    (backward_overwrites_by_pixel, "written with `=` where patches overlap"),
    (_replace(1, lambda g, d, *_: g / len(d)), "dW is divided by N"),
    (_replace(1, lambda g, *_: g[:, :, ::-1, ::-1]), "dW uses the kernel flipped"),
    (_replace(2, lambda g, d, *_: d.sum(axis=(2, 3))), r"db has shape .*sum dout over axes"),
    (_replace(2, lambda g, d, *_: d.mean(axis=(0, 2, 3))), "db is the mean of dout"),
    (_replace(0, lambda g, d, x, W, s, p: check._conv_dx(d, x.shape, W[:, :, ::-1, ::-1], s, p,
                                                         accumulate=True)),
     "dx uses the kernel flipped"),
    (backward_padded_dx, "dx has the padded shape"),
    (_replace(1, lambda g, *_: g.transpose(1, 0, 2, 3)), "filters first, then channels"),
    (lambda d, x, W, s, p: check.reference_conv_backward(d, x, W, s, p)[::-1][:2] + (None,),
     "your first array is dW|expected shape"),
    (lambda d, x, W, s, p: check.reference_conv_backward(d, x, W, s, p)[:2],
     r"expected a triple \(dx, dW, db\)"),
    (_replace(0, lambda g, *_: g.astype(np.float32)), "dx is right to about float32"),
    (_replace(1, lambda g, *_: g.astype(np.float32)), "dW is right to about float32"),
]


@pytest.mark.parametrize(("wrong", "message"), BACKWARD_MISTAKES)
def test_backward_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.conv_backward(wrong)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("wrong", "message"), BACKWARD_MISTAKES)
def test_backward_mistakes_keep_their_message_on_fresh_inputs(wrong, message, seed):
    with pytest.raises(ExerciseFailed, match=message):
        check.CONV_BACKWARD.check(wrong, seed=seed)


def test_backward_return_order_is_named():
    def swapped(dout, x, W, stride, padding):
        dx, dW, db = check.reference_conv_backward(dout, x, W, stride, padding)
        return dW, dx, db

    with pytest.raises(ExerciseFailed, match=r"return order is \(dx, dW, db\)"):
        check.conv_backward(swapped)


# ---- 11-maxpool-backward ----


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


MAXPOOL_VALID = [pool_backward_loops_over_offsets, pool_backward_with_torch,
                 pool_backward_with_coursekit]


@pytest.mark.parametrize("valid", [check.reference_maxpool_backward, *MAXPOOL_VALID])
def test_maxpool_accepts_valid_versions(valid, capsys):
    check.maxpool_backward(valid)
    assert capsys.readouterr().out.startswith("✔ 11-maxpool-backward:")


def _spread(dout, size):
    return np.repeat(np.repeat(dout, size, axis=2), size, axis=3)


def pool_every_tie(dout, x, size):
    windows_max = _spread(check.reference_maxpool_forward(x, size), size)
    return _spread(dout, size) * (x == windows_max)


def pool_last_tie(dout, x, size):
    flipped = check.reference_maxpool_backward(dout[:, :, ::-1, ::-1], x[:, :, ::-1, ::-1], size)
    return flipped[:, :, ::-1, ::-1]


POOL_MISTAKES = [
    (pool_every_tie, "every tied entry got the gradient"),
    (pool_last_tie, "the gradient went to the last maximum"),
    (lambda d, x, s: _spread(d, s), "every entry of a window got the window's gradient"),
    (lambda d, x, s: _spread(d, s) / s**2, "average pooling's backward"),
    (lambda d, x, s: check.reference_maxpool_backward(np.ones_like(d), x, s),
     "0/1 mask of the maxima alone"),
    (lambda d, x, s: d, r"dx has the shape of the input x"),
    (lambda d, x, s: torch.tensor(check.reference_maxpool_backward(d, x, s)),
     "expected a NumPy array"),
    (lambda d, x, s: check.reference_maxpool_backward(d.astype(np.float32), x, s),
     "float32 precision only"),
]


@pytest.mark.parametrize(("wrong", "message"), POOL_MISTAKES)
def test_maxpool_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.maxpool_backward(wrong)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("wrong", "message"), POOL_MISTAKES)
def test_maxpool_mistakes_keep_their_message_on_fresh_inputs(wrong, message, seed):
    with pytest.raises(ExerciseFailed, match=message):
        check.MAXPOOL_BACKWARD.check(wrong, seed=seed)


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


# ---- every exercise's valid versions, for tests/checks/test_valid_versions.py ----

VALID_VERSIONS: dict[str, list[object]] = {
    "11-conv-forward": CONV_FORWARD_VALID,
    "11-conv-backward": CONV_BACKWARD_VALID,
    "11-maxpool-backward": MAXPOOL_VALID,
}


# ---- what the later cells read again must come back unchanged ----


def _then_changes(function, index):
    """``function``'s right answer, after which argument ``index`` is changed in place."""
    def changed(*args):
        result = function(*args)
        args[index][...] = args[index] * 1.5 + 1.0
        return result
    return changed


# Cell forward-agrees-code compares conv_forward with coursekit and torch on the same x, W, b;
# the gradient checks reuse dout and W for the numerical gradient; cell pool-agrees gives the
# same dout to coursekit and torch. The input x of a backward pass is not read again.
KEPT = [(check.CONV_FORWARD, check.reference_conv_forward, ("x", "W", "b")),
        (check.CONV_BACKWARD, check.reference_conv_backward, ("dout", None, "W")),
        (check.MAXPOOL_BACKWARD, check.reference_maxpool_backward, ("dout", None))]


@pytest.mark.parametrize(("exercise", "reference", "names"), KEPT,
                         ids=[exercise.id for exercise, _, _ in KEPT])
def test_changing_an_argument_a_later_cell_reads_is_refused(exercise, reference, names, capsys):
    for index, name in enumerate(names):
        if name is None:
            exercise.check(_then_changes(reference, index))
            assert f"✔ {exercise.id}" in capsys.readouterr().out
        else:
            with pytest.raises(ExerciseFailed, match=f"changed `{name}` in place"):
                exercise.check(_then_changes(reference, index))
