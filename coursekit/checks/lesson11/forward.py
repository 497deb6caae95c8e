"""11-conv-forward: the convolution as one im2col matrix product."""

from __future__ import annotations

import numpy as np

from coursekit.checks.lesson11._shared import (
    _conv_cases,
    _declare,
    _layer,
    _out_shape,
    reference_conv_forward,
)
from coursekit.exercise import Mistake


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
