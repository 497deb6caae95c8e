"""Probes of lesson 11: call the student's convolution forward and backward and max-pool
backward on the given cases."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt_keeping, guarded


def _floats(value: Any) -> np.ndarray:
    return np.array(value, dtype=np.float64)


@guarded
def conv_forward_cases(inputs: dict[str, Any], forward: Any) -> list[dict[str, Any]]:
    """``forward(x, W, b, stride, padding)`` on every case (copies of the arrays); x, W and b
    must come back unchanged (the lesson compares the same arrays with coursekit and torch)."""
    return [attempt_keeping(forward, (_floats(case["x"]), _floats(case["W"]), _floats(case["b"]),
                                      int(case["stride"]), int(case["padding"])),
                            ("x", "W", "b", "", ""))
            for case in inputs["cases"]]


@guarded
def conv_backward_cases(inputs: dict[str, Any], backward: Any) -> list[dict[str, Any]]:
    """``backward(dout, x, W, stride, padding)`` on every case; dout and W must come back
    unchanged (the lesson's gradient check reuses them for the numerical gradient)."""
    return [attempt_keeping(backward, (_floats(case["dout"]), _floats(case["x"]),
                                       _floats(case["W"]), int(case["stride"]),
                                       int(case["padding"])),
                            ("dout", "", "W", "", ""))
            for case in inputs["cases"]]


@guarded
def maxpool_backward_cases(inputs: dict[str, Any], backward: Any) -> list[dict[str, Any]]:
    """``backward(dout, x, size)`` on every case; dout must come back unchanged (the lesson
    gives the same dout to coursekit and torch after the call)."""
    return [attempt_keeping(backward, (_floats(case["dout"]), _floats(case["x"]),
                                       int(case["size"])), ("dout", "", ""))
            for case in inputs["cases"]]
