"""11-conv-shape: predict a convolution's output shape from its input's and its weights'.

``conv_output_shape(x_shape, W_shape, stride, padding)`` returns ``(N, F, OH, OW)`` for an input
``(N, C, H, W)`` and weights ``(F, C, KH, KW)``, with ``OH = (H + 2·padding − KH) // stride + 1``
(and the same along W with KW).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from coursekit.checks.lesson11._shared import output_size
from coursekit.exercise import Mistake, function

Shape = tuple[int, ...]

#: (x_shape, W_shape, stride, padding): the lesson's two convolutions first (8×8 and 4×4
#: images, 3×3 kernels, padding 1), then strides that do not divide evenly, non-square images
#: and kernels, no padding, padding 2, and a batch whose size equals no other number.
_SHAPE_CASES: list[tuple[Shape, Shape, int, int]] = [
    ((32, 1, 8, 8), (16, 1, 3, 3), 1, 1), ((32, 16, 4, 4), (32, 16, 3, 3), 1, 1),
    ((5, 3, 9, 7), (6, 3, 3, 3), 2, 0), ((2, 4, 10, 11), (8, 4, 5, 2), 3, 2),
    ((7, 2, 28, 28), (9, 2, 4, 4), 2, 1), ((3, 6, 12, 5), (4, 6, 1, 3), 1, 0),
]


def reference_conv_output_shape(x_shape: Shape, W_shape: Shape, stride: int,
                                padding: int) -> tuple[int, int, int, int]:
    """(N, C, H, W) and (F, C, KH, KW) -> (N, F, OH, OW)."""
    return (int(x_shape[0]), int(W_shape[0]), output_size(x_shape[2], W_shape[2], stride, padding),
            output_size(x_shape[3], W_shape[3], stride, padding))


def _shape_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """The fixed layers above, then two drawn at random (odd strides, paddings up to 2)."""
    cases = [{"x_shape": x, "W_shape": w, "stride": s, "padding": p}
             for x, w, s, p in _SHAPE_CASES]
    for _ in range(2):
        c, kh, kw = (int(v) for v in rng.integers(1, 6, size=3))
        h, w = (int(v) for v in rng.integers(max(kh, kw) + 4, 30, size=2))
        cases.append({"x_shape": (int(rng.integers(1, 64)), c, h, w),
                      "W_shape": (int(rng.integers(1, 64)), c, kh, kw),
                      "stride": int(rng.integers(2, 4)), "padding": int(rng.integers(0, 3))})
    return cases


def _each_axis(size: Any) -> Any:
    """A wrong version that gets every size the same way: ``size(H, K, s, p)`` per axis."""

    def wrong(x: Shape, W: Shape, s: int, p: int) -> tuple[Any, ...]:
        return (x[0], W[0], size(x[2], W[2], s, p), size(x[3], W[3], s, p))

    return wrong


def _once_or_plus_one(s: int, p: int) -> str:
    """With stride 1 and padding 1, counting the padding once and leaving out the + 1 give the
    same size: one message names both."""
    return ("one size short: either the padding is counted once (it goes on both sides, "
            "H + 2·padding) or the + 1 is missing (a window that fits exactly still gives one "
            "output)") if (s, p) == (1, 1) else ""


SHAPE_MISTAKES = [
    Mistake("the output has F channels, one per filter (W_shape[0]), not the input's C",
            lambda x, W, s, p: (x[0], x[1], *reference_conv_output_shape(x, W, s, p)[2:])),
    Mistake("the channels are last; PyTorch's layout, and this lesson's, is (N, F, OH, OW)",
            lambda x, W, s, p: (x[0], *reference_conv_output_shape(x, W, s, p)[2:], W[0])),
    Mistake("the padding is missing: it adds `padding` zeros on both sides, H + 2·padding",
            _each_axis(lambda h, k, s, p: (h - k) // s + 1)),
    Mistake(lambda x, W, s, p: _once_or_plus_one(s, p) or "the padding is counted once; it goes "
            "on both sides of the image: H + 2·padding",
            _each_axis(lambda h, k, s, p: (h + p - k) // s + 1)),
    Mistake(lambda x, W, s, p: _once_or_plus_one(s, p) or "the + 1 is missing: a window that "
            "fits exactly (H + 2p = K) still gives one output",
            _each_axis(lambda h, k, s, p: (h + 2 * p - k) // s)),
    Mistake("the stride is ignored: the window moves `stride` pixels at a time, so divide by it",
            _each_axis(lambda h, k, s, p: h + 2 * p - k + 1)),
    Mistake("the division is rounded up; a window that would stick out past the padded edge is "
            "not taken: use floor division //",
            _each_axis(lambda h, k, s, p: math.ceil((h + 2 * p - k) / s) + 1)),
    Mistake("the size was divided by the stride before the kernel was taken off; the window's "
            "last start is H + 2p − K, and that is what the stride divides",
            _each_axis(lambda h, k, s, p: (h + 2 * p) // s - k + 1)),
    Mistake("KH and KW are swapped: W is (F, C, KH, KW), so OH uses W_shape[2] and OW W_shape[3]",
            lambda x, W, s, p: (x[0], W[0], output_size(x[2], W[3], s, p),
                                output_size(x[3], W[2], s, p))),
]

conv_output_shape = function(
    "11-conv-shape", names=("conv_output_shape",), args=("x_shape", "W_shape", "stride", "padding"),
    cases=_shape_cases, reference=reference_conv_output_shape,
    where=lambda x, W, s, p: f"x_shape {tuple(x)}, W_shape {tuple(W)}, stride {s}, padding {p}",
    mistakes=SHAPE_MISTAKES,
    passed="shapes right on {n} layers (strides that do not divide evenly, non-square kernels)")
