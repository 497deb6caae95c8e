"""Probes of lesson 03: call the student's backward passes on the given cases."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.probes.data import attempt, guarded


def _floats(value: Any) -> np.ndarray:
    return np.array(value, dtype=np.float64)


@guarded
def dense_cases(inputs: dict[str, Any], backward: Any) -> list[dict[str, Any]]:
    """``backward(x, W, dout)`` on every case (copies, so a mutation cannot leak)."""
    return [attempt(backward, _floats(case["x"]), _floats(case["W"]), _floats(case["dout"]))
            for case in inputs["cases"]]


@guarded
def relu_cases(inputs: dict[str, Any], backward: Any) -> list[dict[str, Any]]:
    """``backward(x, dout)`` on every case."""
    return [attempt(backward, _floats(case["x"]), _floats(case["dout"]))
            for case in inputs["cases"]]


@guarded
def softmax_ce_cases(inputs: dict[str, Any], gradient: Any) -> list[dict[str, Any]]:
    """``gradient(z, y)`` on every case, integer labels; an overflowing exp is not warned
    about here (the judge reports the nan or inf it leaves)."""
    with np.errstate(all="ignore"):
        return [attempt(gradient, _floats(case["z"]), np.array(case["y"], dtype=np.int64))
                for case in inputs["cases"]]
