"""11-conv-backward: dx, dW and db of a convolution (col2im with +=)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from coursekit.checks.lesson11._shared import (
    _conv_cases,
    _conv_dx,
    _declare,
    _layer,
    _pad,
    reference_conv_backward,
)
from coursekit.exercise import Mistake


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
