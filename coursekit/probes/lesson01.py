"""Probes of lesson 01: call the student's cost, gradient, central difference, descent and
learning-rate bound on the given cases."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.probes.data import attempt, guarded


@guarded
def each_case(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(theta, x, y)`` on every case (copies of the arrays, so a mutation cannot leak)."""
    return [attempt(fn, float(case["theta"]), np.array(case["x"], dtype=np.float64),
                    np.array(case["y"], dtype=np.float64))
            for case in inputs["cases"]]


def _scalar_polynomial(coeffs: list[float]) -> Any:
    """f(θ) for one float θ: the polynomial with ``coeffs`` (highest power first)."""
    def f(theta: Any) -> float:
        if np.ndim(theta) != 0:
            raise TypeError(f"f takes one float θ, got an array of shape {np.shape(theta)}: "
                            "call f once at θ + h and once at θ − h")
        return float(np.polyval(coeffs, float(theta)))

    return f


@guarded
def difference_cases(inputs: dict[str, Any], numerical_gradient: Any) -> list[dict[str, Any]]:
    """``numerical_gradient(f, theta, h)`` for every case, without ``h`` where it is None."""
    results = []
    for case in inputs["cases"]:
        f = _scalar_polynomial([float(c) for c in case["coeffs"]])
        steps = () if case["h"] is None else (float(case["h"]),)
        results.append(attempt(numerical_gradient, f, float(case["theta"]), *steps))
    return results


@guarded
def descent_runs(inputs: dict[str, Any], descend: Any) -> list[dict[str, Any]]:
    """``descend(theta0, lr, n_steps, x, y)`` on every run."""
    x, y = (np.array(inputs[name], dtype=np.float64) for name in ("x", "y"))
    return [attempt(descend, float(run["theta0"]), float(run["lr"]), int(run["n_steps"]),
                    x.copy(), y.copy())
            for run in inputs["runs"]]


@guarded
def each_x(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(x)`` on every case (a copy of x, so a mutation cannot leak)."""
    return [attempt(fn, np.array(case["x"], dtype=np.float64)) for case in inputs["cases"]]
