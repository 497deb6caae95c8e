"""What the checks of lesson 11 share: the references (convolution forward and backward, max
pooling) and the declaration helpers; the formulas are in the package's docstring."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from coursekit.exercise import Exercise, Got, Mistake, function, same
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
