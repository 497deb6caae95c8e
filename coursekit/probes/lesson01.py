"""Probes of lesson 01: call the student's cost, gradient, descent and learning-rate bound on
the given cases."""

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
