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

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from coursekit.checks._legacy import mistake
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    FLOAT32,
    FLOAT32_HINT,
    Data,
    Tolerance,
    close,
    describe,
    expect_array,
    expect_tuple,
    fail,
    results,
    value,
)
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson11 as probes

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
                if accumulate:
                    dxp[:, :, rows, cols] += dpatch[:, :, i, j]
                else:
                    dxp[:, :, rows, cols] = dpatch[:, :, i, j]
    else:
        for u in range(kh):
            for v in range(kw):
                rows = slice(u, u + stride * (oh - 1) + 1, stride)
                cols = slice(v, v + stride * (ow - 1) + 1, stride)
                if accumulate:
                    dxp[:, :, rows, cols] += dpatch[:, :, :, :, u, v]
                else:
                    dxp[:, :, rows, cols] = dpatch[:, :, :, :, u, v]
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


def _array_of(got: Data, shape: tuple[int, ...]) -> np.ndarray | None:
    """The array ``got`` describes when it is one of ``shape``, else None (no failure)."""
    if isinstance(got, dict) and got.get("kind") == "array" and tuple(got["shape"]) == shape:
        return np.asarray(got["value"], dtype=np.float64)
    return None


def _ndarray(got: Data, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Like expect_array, but a later cell computes with it as a NumPy array: no tensors."""
    array = expect_array(got, shape, what)
    if got.get("type") != "ndarray":
        raise fail(f"{what}: expected a NumPy array, got {describe(got)}: later cells use it "
                   "with NumPy")
    return array


# ---- 11-conv-forward ----

#: (N, C, H, W, F, KH, KW, stride, padding): the lesson's own layer first (1 channel, 8×8,
#: 3×3, padding 1), then strides, no padding, a non-square kernel and several channels.
_FORWARD_SHAPES = [(2, 1, 8, 8, 4, 3, 3, 1, 1), (3, 2, 7, 6, 3, 3, 3, 2, 1),
                   (2, 3, 5, 6, 2, 2, 3, 1, 0), (1, 2, 6, 6, 3, 3, 2, 2, 2),
                   (2, 4, 4, 4, 5, 3, 3, 1, 1)]


def _conv_cases(rng: np.random.Generator, *, with_dout: bool) -> dict[str, Any]:
    cases = []
    for n, c, h, w, f, kh, kw, stride, padding in _FORWARD_SHAPES:
        case = {"x": rng.normal(size=(n, c, h, w)), "W": rng.normal(size=(f, c, kh, kw)),
                "b": rng.normal(size=f), "stride": stride, "padding": padding}
        if with_dout:
            oh, ow = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
            case["dout"] = rng.normal(size=(n, f, oh, ow))
        cases.append(case)
    return {"cases": cases}


def _forward_cases(rng: np.random.Generator) -> dict[str, Any]:
    return _conv_cases(rng, with_dout=False)


def _judge_forward(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        x, W, b, s, p = case["x"], case["W"], case["b"], case["stride"], case["padding"]
        (n, _, h, w), (f, _, kh, kw) = x.shape, W.shape
        where = f"x {x.shape}, W {W.shape}, stride {s}, padding {p}"
        shape = (n, f, output_size(h, kh, s, p), output_size(w, kw, s, p))
        got = value(got)
        if got["kind"] == "array" and tuple(got["shape"]) != shape:
            found = tuple(got["shape"])
            unpadded = (n, f, output_size(h, kh, s, 0), output_size(w, kw, s, 0))
            unstrided = (n, f, output_size(h, kh, 1, p), output_size(w, kw, 1, p))
            if p and found == unpadded:
                raise fail(f"{where}: expected shape {shape}, got {found}: the padding is "
                           f"missing; pad H and W with {p} zeros on each side first")
            if s > 1 and found == unstrided:
                raise fail(f"{where}: expected shape {shape}, got {found}: the stride is "
                           f"ignored; keep every {s}th patch in each direction")
            if found == (n, shape[2], shape[3], f) or found == (n * shape[2] * shape[3], f):
                raise fail(f"{where}: expected shape {shape}, got {found}: the matrix product "
                           "gives one row per output pixel and one column per filter; reshape "
                           "it to (N, OH, OW, F), then transpose to (N, F, OH, OW)")
        out = _ndarray(got, shape, where)
        want = reference_conv_forward(x, W, b, s, p)
        if close(out, want, **TOLERANCE):
            continue
        if close(out, want, **FLOAT32):
            raise fail(f"{where}: the output is {FLOAT32_HINT}")
        rows = want.transpose(0, 2, 3, 1).reshape(-1, f)  # the (N·OH·OW, F) product
        raise mistake(out, {
            "the kernel is flipped: deep-learning libraries compute a cross-correlation, "
            "W[f, c, u, v] times the pixel at offset (u, v) of the patch, with no flip":
                reference_conv_forward(x, W[:, :, ::-1, ::-1].copy(), b, s, p),
            "the bias is missing: add b[f] to every pixel of output channel f":
                want - b[None, :, None, None],
            "the numbers are in the wrong places: the (N·OH·OW, F) product was reshaped "
            "straight to (N, F, OH, OW); reshape it to (N, OH, OW, F), then transpose":
                rows.reshape(shape),
        }, where=where, otherwise=f"{where}: the output differs from the convolution "
           "out[n, f, i, j] = b[f] + Σ W[f, c, u, v]·xpad[n, c, i·s + u, j·s + v]", **TOLERANCE)
    return f"outputs match on {len(cases)} layers (strides, padding, several channels)"


# ---- 11-conv-backward ----


def _backward_cases(rng: np.random.Generator) -> dict[str, Any]:
    return _conv_cases(rng, with_dout=True)


def _judge_backward(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        dout, x, W, s, p = case["dout"], case["x"], case["W"], case["stride"], case["padding"]
        n, c, h, w = x.shape
        f = W.shape[0]
        where = f"x {x.shape}, W {W.shape}, stride {s}, padding {p}"
        dx, dW, db = expect_tuple(got, 3, "a triple (dx, dW, db)", what=where)
        want_dx, want_dW, want_db = reference_conv_backward(dout, x, W, s, p)
        first, second = _array_of(dx, W.shape), _array_of(dW, x.shape)
        if first is not None and second is not None and close(first, want_dW, **TOLERANCE):
            raise fail(f"{where}: your first array is dW and your second is dx: the return "
                       "order is (dx, dW, db)")
        if p and _array_of(dx, (n, c, h + 2 * p, w + 2 * p)) is not None:
            raise fail(f"{where}: dx has the padded shape {(n, c, h + 2 * p, w + 2 * p)}; the "
                       f"padding is not part of the input: crop {p} rows and columns off each "
                       "side")
        if W.shape[0] != W.shape[1] and _array_of(dW, (W.shape[1], f, *W.shape[2:])) is not None:
            raise fail(f"{where}: dW has shape {(W.shape[1], f, *W.shape[2:])}, expected "
                       f"{W.shape}: filters first, then channels, like W")
        if _array_of(db, (n, f)) is not None and n > 1:
            raise fail(f"{where}: db has shape {(n, f)}: the bias is shared by every sample "
                       "and every pixel, so sum dout over axes (0, 2, 3)")
        got_dx = _ndarray(dx, x.shape, f"{where}: dx")
        got_dW = _ndarray(dW, W.shape, f"{where}: dW")
        got_db = _ndarray(db, (f,), f"{where}: db")
        for name, got_array, want_array in (("dx", got_dx, want_dx), ("dW", got_dW, want_dW),
                                            ("db", got_db, want_db)):
            if not close(got_array, want_array, **TOLERANCE) \
                    and close(got_array, want_array, **FLOAT32):
                raise fail(f"{where}: {name} is {FLOAT32_HINT}")
        if not close(got_dW, want_dW, **TOLERANCE):
            raise mistake(got_dW, {
                f"dW is divided by N={n}; dout already carries the loss's 1/N, so sum over "
                "the batch": want_dW / n if n > 1 else None,
                "dW uses the kernel flipped; dW[f, c, u, v] sums dout[n, f, i, j] times the "
                "pixel at offset (u, v) of patch (i, j), with no flip":
                    want_dW[:, :, ::-1, ::-1],
            }, where=where, otherwise=f"{where}: dW is wrong: dW[f, c, u, v] = "
               "Σ_{n,i,j} dout[n, f, i, j]·xpad[n, c, i·s + u, j·s + v] (dmat.T @ cols)",
                **TOLERANCE)
        if not close(got_db, want_db, **TOLERANCE):
            raise mistake(got_db, {
                "db is the mean of dout; it is the sum over the batch and the pixels":
                    [want_db / n, want_db / (n * dout.shape[2] * dout.shape[3]),
                     want_db / (dout.shape[2] * dout.shape[3])],
                "db sums over the batch only; the bias is added at every pixel, so sum over "
                "axes (0, 2, 3)": dout.sum(axis=0)[:, 0, 0] if dout.shape[2:] != (1, 1)
                else None,
            }, where=where, otherwise=f"{where}: db should be dout summed over axes (0, 2, 3)",
                **TOLERANCE)
        if not close(got_dx, want_dx, **TOLERANCE):
            overwritten = [_conv_dx(dout, x.shape, W, s, p, accumulate=False),
                           _conv_dx(dout, x.shape, W, s, p, accumulate=False, by_pixel=True)]
            raise mistake(got_dx, {
                "dx is written with `=` where patches overlap, so one patch's gradient "
                "replaces another's; add them with `+=`": overwritten,
                "dx uses the kernel flipped: each patch gets dout[n, f, i, j]·W[f] back as it "
                "is, with no flip": _conv_dx(dout, x.shape, W[:, :, ::-1, ::-1], s, p,
                                             accumulate=True),
            }, where=where, otherwise=f"{where}: dx is wrong: every output pixel (i, j) adds "
               "Σ_f dout[n, f, i, j]·W[f] onto the patch it saw, then the padding is cropped",
                **TOLERANCE)
    return (f"dx, dW and db match on {len(cases)} layers (overlapping patches, strides, "
            "padding)")


# ---- 11-maxpool-backward ----

#: (N, C, H, W, size): the lesson's two pooling layers first, then other window sizes.
_POOL_SHAPES = [(2, 4, 8, 8, 2), (2, 3, 4, 4, 2), (1, 2, 6, 9, 3), (3, 1, 4, 6, 2)]


def _pool_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Inputs after a ReLU (many windows of zeros, so ties) with some positive ties too."""
    cases = []
    for n, c, h, w, size in _POOL_SHAPES:
        x = np.maximum(rng.normal(size=(n, c, h, w)), 0.0)
        x[0, 0, :size, :size] = 0.0  # a window of zeros: its maximum ties everywhere
        x[-1, -1, :size, -size:] = 0.5  # a window of equal positive values
        x[-1, 0, -size:, :size] = np.arange(size * size).reshape(size, size) % 2 + 1.0
        dout = rng.normal(size=(n, c, h // size, w // size))
        cases.append({"x": x, "dout": dout, "size": size})
    return {"cases": cases}


def _judge_pool(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        x, dout, size = case["x"], case["dout"], case["size"]
        where = f"x {x.shape}, {size}×{size} windows"
        got = value(got)
        if got["kind"] == "array" and tuple(got["shape"]) == dout.shape:
            raise fail(f"{where}: expected shape {x.shape}, got {dout.shape}: dx has the shape "
                       "of the input x; each window's gradient goes back onto its size×size "
                       "entries")
        dx = _ndarray(got, x.shape, where)
        want = reference_maxpool_backward(dout, x, size)
        if close(dx, want, **TOLERANCE):
            continue
        if close(dx, want, **FLOAT32):
            raise fail(f"{where}: dx is {FLOAT32_HINT}")
        windows = _windows(x, size)
        is_max = (windows == windows.max(axis=-1, keepdims=True)).astype(np.float64)
        spread = np.repeat(np.repeat(dout, size, axis=2), size, axis=3)
        last = size * size - 1 - windows[..., ::-1].argmax(axis=-1)
        last_g = np.zeros_like(windows)
        np.put_along_axis(last_g, last[..., None], dout[..., None], axis=-1)
        raise mistake(dx, {
            "where a window's maximum is tied (a window of zeros after a ReLU) every tied "
            "entry got the gradient: send it to one entry only, the first maximum in reading "
            "order (argmax), as PyTorch does":
                [_unwindow(is_max * dout[..., None], size),
                 _unwindow(is_max * dout[..., None] / is_max.sum(axis=-1, keepdims=True),
                           size)],
            "on a tie the gradient went to the last maximum; take the first in reading order "
            "(argmax), as PyTorch does": _unwindow(last_g, size),
            "every entry of a window got the window's gradient: only the maximum affected the "
            "output, so only it gets dout": spread,
            "that is average pooling's backward (dout / size²); max pooling sends the whole "
            "gradient to the maximum": spread / size ** 2,
            "that is the 0/1 mask of the maxima alone; multiply it by dout":
                [reference_maxpool_backward(np.ones_like(dout), x, size),
                 _unwindow(is_max, size)],
        }, where=where, otherwise=f"{where}: dx differs: each window's dout goes to the "
           "position of its (first) maximum, every other entry gets 0", **TOLERANCE)
    return (f"dx matches on {len(cases)} inputs, windows of tied zeros and tied positive "
            "values included")


CONV_FORWARD = Exercise("11-conv-forward", _forward_cases, probes.conv_forward_cases,
                        _judge_forward, implemented_by=("coursekit.scratch.Conv2d.forward",
                                                        "coursekit.scratch.conv.im2col"),
                        names=("conv_forward",))
CONV_BACKWARD = Exercise("11-conv-backward", _backward_cases, probes.conv_backward_cases,
                         _judge_backward, implemented_by=("coursekit.scratch.Conv2d.backward",
                                                          "coursekit.scratch.conv.col2im"),
                         names=("conv_backward",))
MAXPOOL_BACKWARD = Exercise("11-maxpool-backward", _pool_cases, probes.maxpool_backward_cases,
                            _judge_pool, implemented_by=("coursekit.scratch.MaxPool2d.backward",),
                            names=("maxpool_backward",))
EXERCISES = registry(CONV_FORWARD, CONV_BACKWARD, MAXPOOL_BACKWARD)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def conv_forward(forward: Callable[[np.ndarray, np.ndarray, np.ndarray, int, int], Any]) -> None:
    """Check ``forward(x, W, b, stride, padding)`` returns the convolution, (N, F, OH, OW)."""
    CONV_FORWARD.check(forward)


def conv_backward(
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray, int, int], Any],
) -> None:
    """Check ``backward(dout, x, W, stride, padding)`` returns ``(dx, dW, db)``."""
    CONV_BACKWARD.check(backward)


def maxpool_backward(backward: Callable[[np.ndarray, np.ndarray, int], Any]) -> None:
    """Check ``backward(dout, x, size)`` returns dx of the shape of x."""
    MAXPOOL_BACKWARD.check(backward)
