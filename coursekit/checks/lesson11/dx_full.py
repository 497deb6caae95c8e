"""11-conv-dx-full: dx of a stride-1 convolution as a full convolution with the flipped kernel.

With stride 1, a square k×k kernel and padding ``p ≤ k − 1``,
``dx[n, c, a, b] = Σ_{f,u,v} dout_pad[n, f, a + u, b + v] · W[f, c, k−1−u, k−1−v]`` where
``dout_pad`` is ``dout`` padded with ``k − 1 − p`` zeros: the forward convolution applied to
``dout`` with the kernel ``W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]`` (channels swapped,
flipped in both image axes), no bias and padding ``k − 1 − p``. The student writes it with their
own ``conv_forward``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.checks.lesson11._shared import _declare, reference_conv_forward
from coursekit.exercise import Mistake, Raised

#: (N, F, C, OH, OW, k, padding): a layer with as many filters as channels first (8×8, 3×3,
#: padding 1, like the lesson's), then no padding, a 5×5 kernel with padding 1 (so k − 1 − p,
#: p and k // 2 all differ), a 2×2 kernel, and a 4×4 kernel with padding 2.
_DX_SHAPES = [(2, 4, 4, 8, 8, 3, 1), (3, 3, 2, 5, 4, 3, 0), (2, 2, 3, 4, 6, 5, 1),
              (1, 5, 1, 6, 6, 2, 0), (2, 3, 3, 5, 6, 4, 2)]


def _full(dout: np.ndarray, kernel: np.ndarray, padding: int) -> np.ndarray:
    """``dout`` convolved (as the forward does) with ``kernel`` (C, F, k, k), no bias."""
    return reference_conv_forward(dout, kernel, np.zeros(kernel.shape[0]), 1, padding)


def reference_conv_dx_full(dout: np.ndarray, W: np.ndarray, padding: int) -> np.ndarray:
    """dout (N, F, OH, OW), W (F, C, k, k) -> dx (N, C, OH + k − 1 − 2p, OW + k − 1 − 2p)."""
    k = W.shape[2]
    return _full(dout, W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1], k - 1 - padding)


def _dx_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"dout": rng.normal(size=(n, f, oh, ow)), "W": rng.normal(size=(f, c, k, k)),
             "padding": p} for n, f, c, oh, ow, k, p in _DX_SHAPES]


def _shape(dout: np.ndarray, W: np.ndarray, p: int) -> tuple[int, ...]:
    k = W.shape[2]
    return (dout.shape[0], W.shape[1], dout.shape[2] + k - 1 - 2 * p, dout.shape[3] + k - 1 - 2 * p)


def _padded_by(pad: Any, says: str) -> Mistake:
    """dout padded by ``pad(k, p)`` instead of k − 1 − p: a shape the message names."""

    def message(d: np.ndarray, W: np.ndarray, p: int) -> str:
        q, k = pad(W.shape[2], p), W.shape[2]
        got = (d.shape[0], W.shape[1], d.shape[2] + 2 * q - k + 1, d.shape[3] + 2 * q - k + 1)
        return f"expected shape {_shape(d, W, p)}, got {got}: {says}"

    return Mistake(message, lambda d, W, p: _full(d, W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1],
                                                  pad(W.shape[2], p)))


DX_MISTAKES = [
    Mistake("the kernel is not flipped: x[j] reaches out[i] through W[j − i], so as j grows the "
            "weight index grows while dout's falls; flip W in both image axes ([:, :, ::-1, ::-1])",
            lambda d, W, p: _full(d, W.transpose(1, 0, 2, 3), W.shape[2] - 1 - p)),
    Mistake("the kernel is flipped along its rows only; flip both image axes, KH and KW",
            lambda d, W, p: _full(d, W.transpose(1, 0, 2, 3)[:, :, ::-1, :], W.shape[2] - 1 - p)),
    Mistake("the kernel is flipped along its columns only; flip both image axes, KH and KW",
            lambda d, W, p: _full(d, W.transpose(1, 0, 2, 3)[:, :, :, ::-1], W.shape[2] - 1 - p)),
    Mistake("the filters and channels are not swapped: dout has F channels and dx has C, so the "
            "kernel is (C, F, k, k), W.transpose(1, 0, 2, 3), flipped",
            lambda d, W, p: _full(d, W[:, :, ::-1, ::-1], W.shape[2] - 1 - p)),
    _padded_by(lambda k, p: k - 1, "padding dout with k − 1 zeros gives the gradient of the "
               "padded input; the forward's padding p is then cropped, so pad with k − 1 − p"),
    _padded_by(lambda k, p: p, "dout is padded as the forward padded x; the padding that "
               "makes every output that x[j] fed reach it is k − 1 − p"),
    _padded_by(lambda k, p: 0, "dout is not padded: a pixel near the border fed fewer outputs, "
               "and the missing ones count as zeros; pad dout with k − 1 − p zeros"),
]

_SWAP = ("conv_forward could not multiply these shapes: dout has F channels and dx has C, so the "
         "kernel it needs is (C, F, k, k), W.transpose(1, 0, 2, 3), flipped ({message})")

conv_dx_full = _declare(
    "11-conv-dx-full", names=("conv_dx_full",), args=("dout", "W", "padding"),
    keep=("dout", "W"), cases=_dx_cases, reference=reference_conv_dx_full,
    where=lambda d, W, p: f"dout {d.shape}, W {W.shape}, padding {p}", mistakes=DX_MISTAKES,
    raised=[Raised("ValueError", _SWAP, "mismatch"), Raised("ValueError", _SWAP, "size of label")],
    hints=["dx[n, c, a, b] = Σ_{f,u,v} dout_pad[n, f, a + u, b + v]·W[f, c, k−1−u, k−1−v], "
           "dout padded with k − 1 − p zeros"],
    implemented_by=("coursekit.scratch.Conv2d.backward", "coursekit.scratch.conv.col2im"),
    passed="dx matches on {n} layers (k = 2 to 5, padding 0 to 2, F ≠ C)")
