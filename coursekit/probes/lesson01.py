"""Probes of lesson 01: call the student's cost, gradient, central difference, descent and
learning-rate bound on the given cases."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt, attempt_keeping, guarded


@guarded
def each_case(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(theta, x, y)`` on every case (copies of the arrays, so a mutation cannot leak); x
    and y must come back unchanged (the lesson's later cells use them again)."""
    return [attempt_keeping(fn, (float(case["theta"]), np.array(case["x"], dtype=np.float64),
                                 np.array(case["y"], dtype=np.float64)), ("", "x", "y"))
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
    """``descend(theta0=, lr=, n_steps=, x=, y=)`` on every run, with the keywords the lesson's
    later cells use; x and y must come back unchanged."""
    if not callable(descend):
        return [attempt(descend) for _ in inputs["runs"]]

    def by_keywords(run: dict[str, Any]) -> Any:
        return lambda x, y: descend(theta0=float(run["theta0"]), lr=float(run["lr"]),
                                    n_steps=int(run["n_steps"]), x=x, y=y)

    return [attempt_keeping(by_keywords(run), (np.array(run["x"], dtype=np.float64),
                                               np.array(run["y"], dtype=np.float64)),
                            ("x", "y"))
            for run in inputs["runs"]]


@guarded
def each_x(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(x)`` on every case (a copy of x, so a mutation cannot leak); x must come back
    unchanged (the lesson's later cells use it again)."""
    return [attempt_keeping(fn, (np.array(case["x"], dtype=np.float64),), ("x",))
            for case in inputs["cases"]]
