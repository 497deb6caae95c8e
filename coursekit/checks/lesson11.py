"""Checks for lesson 11, convolutions.

Images are (N, C, H, W); a convolution's weights are (F, C, KH, KW) and its bias (F,). With
``xpad`` the input padded by ``p`` zeros on each side and stride ``s``:

- forward: ``out[n, f, i, j] = b[f] + Σ_{c,u,v} W[f, c, u, v] · xpad[n, c, i·s + u, j·s + v]``,
  of shape (N, F, OH, OW) with ``OH = (H + 2p − KH) // s + 1``;
- backward: ``dW[f, c, u, v] = Σ_{n,i,j} dout[n, f, i, j] · xpad[n, c, i·s + u, j·s + v]``,
  ``db[f] = Σ_{n,i,j} dout[n, f, i, j]``, and every output pixel adds ``dout · W`` back onto
  the patch it saw (``+=``: patches overlap), cropped to the unpadded input;
- max pooling in ``size × size`` windows side by side: the gradient of each window goes to its
  maximum, the first in reading order when several tie (PyTorch's rule).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from coursekit.checks.score import scorer
from coursekit.exercise import Exercise, Got, Mistake, function, registry, same
from coursekit.exercise.judging import FLOAT32, Tolerance
from coursekit.exercise.mistakes import difference

#: How close a student's numbers must be to the reference's: float64 rounding only, since the
#: lesson's later cells compare these functions with coursekit and PyTorch to 1e-9.
TOLERANCE: Tolerance = {"rtol": 1e-9, "atol": 1e-11}


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``(size + 2·padding − kernel) // stride + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def _patches(x: np.ndarray, kh: int, kw: int, stride: int, padding: int) -> np.ndarray:
    """(N, C, H, W) -> every patch, (N, C, OH, OW, KH, KW) (a strided view)."""
    return sliding_window_view(_pad(x, padding), (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def reference_conv_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int,
                           padding: int) -> np.ndarray:
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> (N, F, OH, OW)."""
    patches = _patches(x, W.shape[2], W.shape[3], stride, padding)
    return np.einsum("ncijuv,fcuv->nfij", patches, W) + b[None, :, None, None]


def reference_conv_backward(dout: np.ndarray, x: np.ndarray, W: np.ndarray, stride: int,
                            padding: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout (N, F, OH, OW) -> dx (N, C, H, W), dW (F, C, KH, KW), db (F,)."""
    return (_conv_dx(dout, x.shape, W, stride, padding, accumulate=True),
            np.einsum("nfij,ncijuv->fcuv", dout,
                      _patches(x, W.shape[2], W.shape[3], stride, padding)),
            dout.sum(axis=(0, 2, 3)))


def _conv_dx(dout: np.ndarray, x_shape: tuple[int, ...], W: np.ndarray, stride: int,
             padding: int, *, accumulate: bool, by_pixel: bool = False) -> np.ndarray:
    """dL/dx of a convolution; ``accumulate=False`` writes with ``=`` as a buggy col2im does,
    looping over kernel offsets, or over output pixels when ``by_pixel``."""
    n, c, h, w = x_shape
    _, _, kh, kw = W.shape
    oh, ow = dout.shape[2:]
    dpatch = np.einsum("nfij,fcuv->ncijuv", dout, W)  # what each patch entry receives
    dxp = np.zeros((n, c, h + 2 * padding, w + 2 * padding))
    if by_pixel:
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * stride, i * stride + kh)
                cols = slice(j * stride, j * stride + kw)
                dxp[:, :, rows, cols] = dpatch[:, :, i, j] + accumulate * dxp[:, :, rows, cols]
    else:
        for u in range(kh):
            for v in range(kw):
                rows = slice(u, u + stride * (oh - 1) + 1, stride)
                cols = slice(v, v + stride * (ow - 1) + 1, stride)
                dxp[:, :, rows, cols] = dpatch[..., u, v] + accumulate * dxp[:, :, rows, cols]
    return dxp[:, :, padding:padding + h, padding:padding + w]


def _windows(x: np.ndarray, size: int) -> np.ndarray:
    """(N, C, H, W) with H, W multiples of size -> (N, C, H/size, W/size, size*size)."""
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // size, size, w // size, size).transpose(0, 1, 2, 4, 3, 5)
    return blocks.reshape(n, c, h // size, w // size, size * size)


def _unwindow(g: np.ndarray, size: int) -> np.ndarray:
    """The inverse of :func:`_windows`."""
    n, c, oh, ow, _ = g.shape
    blocks = g.reshape(n, c, oh, ow, size, size).transpose(0, 1, 2, 4, 3, 5)
    return blocks.reshape(n, c, oh * size, ow * size)


def reference_maxpool_forward(x: np.ndarray, size: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H/size, W/size): the maximum of each window."""
    return _windows(x, size).max(axis=-1)


def reference_maxpool_backward(dout: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    """dout (N, C, H/size, W/size) -> dx (N, C, H, W): each window's gradient on its first
    maximum."""
    windows = _windows(x, size)
    first = windows.argmax(axis=-1)[..., None]
    g = np.zeros_like(windows)
    np.put_along_axis(g, first, dout[..., None], axis=-1)
    return _unwindow(g, size)


# ---- what this lesson adds to coursekit.exercise.function ----


def _explain(reference: Callable[..., Any], mistakes: Sequence[Mistake], hints: Sequence[str],
             parts: Sequence[str] = ()) -> Callable[..., str | None]:
    """``explain=`` for an answer no declared mistake gives as a whole (two mistakes at once):
    part by part (the items ``parts`` names, else the whole answer), the first mistake whose
    wrong version gives that part, or an array of that part's shape where the reference's has
    another; failing that, what differs in the first wrong part, and its formula (``hints``).
    None (``match`` says why) when right to float32 precision only, or not even the shape."""

    def part(answer: Any, k: int) -> Any:
        if not parts:
            return answer
        return answer[k] if isinstance(answer, tuple) and len(answer) == len(parts) else None

    def explain(got: Got, *args: Any) -> str | None:
        want = reference(*args)
        if same(got, want, FLOAT32) or parts and (got.kind != "list" or got.length != len(parts)):
            return None
        gots = got.items if parts else [got]
        wrong = [k for k, item in enumerate(gots) if not same(item, part(want, k), TOLERANCE)]
        candidates = [(mistake, mistake.candidate(*args)) for mistake in mistakes]
        for k, (mistake, candidate) in product(wrong, candidates):
            given, shape = part(candidate, k), np.shape(part(want, k))
            if given is not None and (same(gots[k], given, TOLERANCE) or gots[k].kind == "array"
                                      and gots[k].shape == np.shape(given) != shape):
                return mistake.says(*args)
        if not wrong or gots[wrong[0]].kind != "array" \
                or gots[wrong[0]].shape != np.shape(part(want, wrong[0])):
            return None
        name = f"{parts[wrong[0]]}: " if parts else ""
        return f"{name}{difference(gots[wrong[0]], part(want, wrong[0]))}; {hints[wrong[0]]}"

    return explain


def _declare(id: str, *, reference: Callable[..., Any], where: Callable[..., str],
             mistakes: Sequence[Mistake], hints: Sequence[str], parts: Sequence[str] = (),
             **declared: Any) -> Exercise:
    """:func:`~coursekit.exercise.function` to float64 rounding, naming mistakes made together
    (:func:`_explain`); a tensor where a NumPy array belongs is refused by the declaration."""
    return function(id, reference=reference, where=where, mistakes=mistakes, parts=parts,
                    tolerance=TOLERANCE, float64=True,
                    explain=_explain(reference, mistakes, hints, parts), **declared)


def _layer(x: np.ndarray, W: np.ndarray, stride: int, padding: int) -> str:
    return f"x {x.shape}, W {W.shape}, stride {stride}, padding {padding}"


def _out_shape(x: np.ndarray, W: np.ndarray, stride: int, padding: int) -> tuple[int, ...]:
    return (x.shape[0], W.shape[0], output_size(x.shape[2], W.shape[2], stride, padding),
            output_size(x.shape[3], W.shape[3], stride, padding))


# ---- 11-conv-forward ----

#: (N, C, H, W, F, KH, KW, stride, padding): the lesson's own layer first (1 channel, 8×8,
#: 3×3, padding 1), then strides, no padding, a non-square kernel and several channels.
_FORWARD_SHAPES = [(2, 1, 8, 8, 4, 3, 3, 1, 1), (3, 2, 7, 6, 3, 3, 3, 2, 1),
                   (2, 3, 5, 6, 2, 2, 3, 1, 0), (1, 2, 6, 6, 3, 3, 2, 2, 2),
                   (2, 4, 4, 4, 5, 3, 3, 1, 1)]


def _conv_cases(rng: np.random.Generator, with_dout: bool = False) -> list[dict[str, Any]]:
    cases = []
    for n, c, h, w, f, kh, kw, stride, padding in _FORWARD_SHAPES:
        case = {"x": rng.normal(size=(n, c, h, w)), "W": rng.normal(size=(f, c, kh, kw)),
                "b": rng.normal(size=f), "stride": stride, "padding": padding}
        if with_dout:
            oh, ow = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
            case["dout"] = rng.normal(size=(n, f, oh, ow))
            del case["b"]  # drawn all the same: the layers are the forward's
        cases.append(case)
    return cases


def _product(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int,
             padding: int) -> np.ndarray:
    """The im2col product (N·OH·OW, F): one row per output pixel, one column per filter."""
    return reference_conv_forward(x, W, b, stride, padding).transpose(0, 2, 3, 1) \
        .reshape(-1, W.shape[0])


def _not_transposed(x: np.ndarray, W: np.ndarray, s: int, p: int, *, rows: bool) -> str:
    n, f, oh, ow = shape = _out_shape(x, W, s, p)
    return (f"expected shape {shape}, got {(n * oh * ow, f) if rows else (n, oh, ow, f)}: the "
            "matrix product gives one row per output pixel and one column per filter; reshape "
            "it to (N, OH, OW, F), then transpose to (N, F, OH, OW)")


def _columns_by_offset(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int,
                       padding: int) -> np.ndarray:
    """im2col's columns ordered (KH, KW, C) against W.reshape(F, -1)'s (C, KH, KW)."""
    f, c, kh, kw = W.shape
    return reference_conv_forward(x, W.reshape(f, kh, kw, c).transpose(0, 3, 1, 2), b, stride,
                                  padding)


FORWARD_MISTAKES = [
    Mistake(lambda x, W, b, s, p: f"expected shape {_out_shape(x, W, s, p)}, got "
            f"{_out_shape(x, W, s, 0)}: the padding is missing; pad H and W with {p} zeros on "
            "each side first", lambda x, W, b, s, p: reference_conv_forward(x, W, b, s, 0)),
    Mistake(lambda x, W, b, s, p: f"expected shape {_out_shape(x, W, s, p)}, got "
            f"{_out_shape(x, W, 1, p)}: the stride is ignored; keep every {s}th patch in each "
            "direction", lambda x, W, b, s, p: reference_conv_forward(x, W, b, 1, p)),
    Mistake(lambda x, W, b, s, p: _not_transposed(x, W, s, p, rows=False),
            lambda x, W, b, s, p: reference_conv_forward(x, W, b, s, p).transpose(0, 2, 3, 1)),
    Mistake(lambda x, W, b, s, p: _not_transposed(x, W, s, p, rows=True), _product),
    Mistake("the kernel is flipped: deep-learning libraries compute a cross-correlation, "
            "W[f, c, u, v] times the pixel at offset (u, v) of the patch, with no flip",
            lambda x, W, b, s, p: reference_conv_forward(x, W[:, :, ::-1, ::-1], b, s, p)),
    Mistake("the bias is missing: add b[f] to every pixel of output channel f",
            lambda x, W, b, s, p: reference_conv_forward(x, W, 0 * b, s, p)),
    Mistake("the numbers are in the wrong places: the (N·OH·OW, F) product was reshaped "
            "straight to (N, F, OH, OW); reshape it to (N, OH, OW, F), then transpose",
            lambda x, W, b, s, p: _product(x, W, b, s, p).reshape(_out_shape(x, W, s, p))),
    Mistake("with several channels the im2col columns are in the order (KH, KW, C), but "
            "W.reshape(F, -1) lays out each filter as (C, KH, KW): reorder the patches to "
            "(N, OH, OW, C, KH, KW) before the reshape", _columns_by_offset),
]

conv_forward = _declare(
    "11-conv-forward", names=("conv_forward",), args=("x", "W", "b", "stride", "padding"),
    keep=("x", "W", "b"), cases=_conv_cases, reference=reference_conv_forward,
    where=lambda x, W, b, s, p: _layer(x, W, s, p), mistakes=FORWARD_MISTAKES,
    hints=["the convolution is out[n, f, i, j] = b[f] + Σ W[f, c, u, v]·xpad[n, c, i·s + u, "
           "j·s + v]"],
    implemented_by=("coursekit.scratch.Conv2d.forward", "coursekit.scratch.conv.im2col"),
    passed="outputs match on {n} layers (strides, padding, several channels)")


# ---- 11-conv-backward ----


def _grads(index: int, make: Callable[..., np.ndarray]) -> Callable[..., tuple[np.ndarray, ...]]:
    """The reference's (dx, dW, db) with gradient ``index`` replaced by
    ``make(right gradient, dout, x, W, stride, padding)``: a mistake in one of the three."""

    def wrong(dout: np.ndarray, x: np.ndarray, W: np.ndarray, stride: int,
              padding: int) -> tuple[np.ndarray, ...]:
        grads = list(reference_conv_backward(dout, x, W, stride, padding))
        grads[index] = make(grads[index], dout, x, W, stride, padding)
        return tuple(grads)

    return wrong


_OVERWRITTEN = ("dx is written with `=` where patches overlap, so one patch's gradient replaces "
                "another's; add them with `+=`")
_DB_MEAN = "db is the mean of dout; it is the sum over the batch and the pixels"

BACKWARD_MISTAKES = [
    Mistake("your first array is dW and your second is dx: the return order is (dx, dW, db)",
            lambda d, x, W, s, p: reference_conv_backward(d, x, W, s, p)[1::-1] +
            reference_conv_backward(d, x, W, s, p)[2:]),
    Mistake(lambda d, x, W, s, p: f"dx has the padded shape {_pad(x, p).shape}; the padding is "
            f"not part of the input: crop {p} rows and columns off each side",
            _grads(0, lambda g, d, x, W, s, p: _pad(g, p))),
    Mistake(lambda d, x, W, s, p: f"dW has shape {(W.shape[1], W.shape[0], *W.shape[2:])}, "
            f"expected {W.shape}: filters first, then channels, like W",
            _grads(1, lambda g, *_: g.transpose(1, 0, 2, 3))),
    Mistake(lambda d, *_: f"db has shape {d.shape[:2]}: the bias is shared by every sample and "
            "every pixel, so sum dout over axes (0, 2, 3)",
            _grads(2, lambda g, d, *_: d.sum(axis=(2, 3)))),
    Mistake(lambda d, *_: f"dW is divided by N={len(d)}; dout already carries the loss's 1/N, "
            "so sum over the batch", _grads(1, lambda g, d, *_: g / len(d))),
    Mistake("dW uses the kernel flipped; dW[f, c, u, v] sums dout[n, f, i, j] times the pixel "
            "at offset (u, v) of patch (i, j), with no flip",
            _grads(1, lambda g, *_: g[:, :, ::-1, ::-1])),
    Mistake(_DB_MEAN, _grads(2, lambda g, d, *_: g / len(d))),
    Mistake(_DB_MEAN, _grads(2, lambda g, d, *_: d.mean(axis=(0, 2, 3)))),
    Mistake(_DB_MEAN, _grads(2, lambda g, d, *_: d.mean(axis=(2, 3)).sum(axis=0))),
    Mistake("db sums over the batch only; the bias is added at every pixel, so sum over axes "
            "(0, 2, 3)", _grads(2, lambda g, d, *_: d.sum(axis=0)[:, 0, 0])),
    Mistake(_OVERWRITTEN, _grads(0, lambda g, d, x, W, s, p: _conv_dx(
        d, x.shape, W, s, p, accumulate=False))),
    Mistake(_OVERWRITTEN, _grads(0, lambda g, d, x, W, s, p: _conv_dx(
        d, x.shape, W, s, p, accumulate=False, by_pixel=True))),
    Mistake("dx uses the kernel flipped: each patch gets dout[n, f, i, j]·W[f] back as it is, "
            "with no flip", _grads(0, lambda g, d, x, W, s, p: _conv_dx(
                d, x.shape, W[:, :, ::-1, ::-1], s, p, accumulate=True))),
]

conv_backward = _declare(
    "11-conv-backward", names=("conv_backward",), args=("dout", "x", "W", "stride", "padding"),
    keep=("dout", "W"), cases=lambda rng: _conv_cases(rng, with_dout=True),
    reference=reference_conv_backward, where=lambda d, x, W, s, p: _layer(x, W, s, p),
    mistakes=BACKWARD_MISTAKES, parts=("dx", "dW", "db"),
    hints=["every output pixel (i, j) adds Σ_f dout[n, f, i, j]·W[f] onto the patch it saw, "
           "then the padding is cropped",
           "dW[f, c, u, v] = Σ_{n,i,j} dout[n, f, i, j]·xpad[n, c, i·s + u, j·s + v] "
           "(dmat.T @ cols)", "db is dout summed over axes (0, 2, 3)"],
    implemented_by=("coursekit.scratch.Conv2d.backward", "coursekit.scratch.conv.col2im"),
    passed="dx, dW and db match on {n} layers (overlapping patches, strides, padding)")


# ---- 11-maxpool-backward ----

#: (N, C, H, W, size): the lesson's two pooling layers first, then other window sizes.
_POOL_SHAPES = [(2, 4, 8, 8, 2), (2, 3, 4, 4, 2), (1, 2, 6, 9, 3), (3, 1, 4, 6, 2)]


def _pool_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Inputs after a ReLU (many windows of zeros, so ties) with some positive ties too, and
    one window of negative values, whose largest entry is the smallest in magnitude."""
    cases = []
    for n, c, h, w, size in _POOL_SHAPES:
        x = np.maximum(rng.normal(size=(n, c, h, w)), 0.0)
        x[0, 0, :size, :size] = 0.0  # a window of zeros: its maximum ties everywhere
        x[-1, -1, :size, -size:] = 0.5  # a window of equal positive values
        x[-1, 0, -size:, :size] = np.arange(size * size).reshape(size, size) % 2 + 1.0
        x[0, -1, -size:, -size:] = -1.0 - np.arange(size * size).reshape(size, size)[::-1]
        dout = rng.normal(size=(n, c, h // size, w // size))
        cases.append({"x": x, "dout": dout, "size": size})
    return cases


def _spread(dout: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    """Each window's dout on every entry of the window."""
    return np.repeat(np.repeat(dout, size, axis=2), size, axis=3)


def _maxima(x: np.ndarray, size: int) -> np.ndarray:
    """1.0 on every maximum of each window, ties included, as :func:`_windows` lays them."""
    windows = _windows(x, size)
    return (windows == windows.max(axis=-1, keepdims=True)).astype(np.float64)


def _last_maximum(dout: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    """Each window's dout on its last maximum in reading order."""
    flipped = reference_maxpool_backward(dout[:, :, ::-1, ::-1], x[:, :, ::-1, ::-1], size)
    return flipped[:, :, ::-1, ::-1]


def _window_transposed(a: np.ndarray, size: int) -> np.ndarray:
    """``a`` (N, C, H, W) with every size×size window transposed (its own inverse)."""
    n, c, h, w = a.shape
    blocks = a.reshape(n, c, h // size, size, w // size, size).transpose(0, 1, 2, 5, 4, 3)
    return blocks.reshape(n, c, h, w)


_EVERY_TIE = ("where a window's maximum is tied (a window of zeros after a ReLU) every tied entry "
              "got the gradient: send it to one entry only, the first maximum in reading order "
              "(argmax), as PyTorch does")
_MASK = "that is the 0/1 mask of the maxima alone; multiply it by dout"

POOL_MISTAKES = [
    Mistake("in a window of negative values the gradient went to the entry largest in "
            "magnitude: the maximum is the largest value, so compare x itself, not |x|",
            lambda d, x, s: reference_maxpool_backward(d, np.abs(x), s)),
    Mistake(lambda d, x, s: f"expected shape {x.shape}, got {d.shape}: dx has the shape of the "
            "input x; each window's gradient goes back onto its size×size entries",
            lambda d, x, s: d),
    Mistake(_EVERY_TIE, lambda d, x, s: _unwindow(_maxima(x, s) * d[..., None], s)),
    Mistake(_EVERY_TIE, lambda d, x, s: _unwindow(
        _maxima(x, s) * d[..., None] / _maxima(x, s).sum(axis=-1, keepdims=True), s)),
    Mistake("on a tie the gradient went to the last maximum; take the first in reading order "
            "(argmax), as PyTorch does", _last_maximum),
    Mistake("on a tie the gradient went to the first maximum column by column; reading order "
            "goes row by row: move the window axes last as (size of H, size of W), "
            "transpose(0, 1, 2, 4, 3, 5), before flattening them", lambda d, x, s:
            _window_transposed(reference_maxpool_backward(d, _window_transposed(x, s), s), s)),
    Mistake("every entry of a window got the window's gradient: only the maximum affected the "
            "output, so only it gets dout", _spread),
    Mistake("that is average pooling's backward (dout / size²); max pooling sends the whole "
            "gradient to the maximum", lambda d, x, s: _spread(d, x, s) / s**2),
    Mistake(_MASK, lambda d, x, s: reference_maxpool_backward(np.ones_like(d), x, s)),
    Mistake(_MASK, lambda d, x, s: _unwindow(_maxima(x, s), s)),
]

maxpool_backward = _declare(
    "11-maxpool-backward", names=("maxpool_backward",), args=("dout", "x", "size"),
    keep=("dout", "x"), cases=_pool_cases, reference=reference_maxpool_backward,
    where=lambda d, x, size: f"x {x.shape}, {size}×{size} windows", mistakes=POOL_MISTAKES,
    hints=["each window's dout goes to the position of its (first) maximum, every other entry "
           "gets 0"],
    implemented_by=("coursekit.scratch.MaxPool2d.backward",),
    passed="dx matches on {n} inputs, windows of tied zeros and tied positive values included")

EXERCISES = registry(conv_forward, conv_backward, maxpool_backward)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)
