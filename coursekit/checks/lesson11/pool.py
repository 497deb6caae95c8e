"""11-maxpool-backward: each window's gradient to its first maximum."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.checks.lesson11._shared import (
    _declare,
    _unwindow,
    _windows,
    reference_maxpool_backward,
)
from coursekit.exercise import Mistake

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
