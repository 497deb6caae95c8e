"""Probes of lesson 10: call the student's init scale and batchnorm forward/backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.probes.data import attempt, guarded


@guarded
def init_cases(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(fan_in, fan_out, nonlinearity)`` on every case."""
    return [attempt(fn, int(case["fan_in"]), int(case["fan_out"]), str(case["nonlinearity"]))
            for case in inputs["cases"]]


@guarded
def forward_cases(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(x, gamma, beta, running_mean, running_var, training, momentum, eps)`` on every
    case (momentum and eps passed by keyword only when the case sets them)."""
    results = []
    for case in inputs["cases"]:
        arrays = [np.array(case[name], dtype=np.float64)
                  for name in ("x", "gamma", "beta", "running_mean", "running_var")]
        options = {name: float(case[name]) for name in ("momentum", "eps") if name in case}
        results.append(attempt(fn, *arrays, bool(case["training"]), **options))
    return results


@guarded
def backward_cases(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(dout, x, gamma)`` (and ``eps=`` when the case sets it) on every case."""
    results = []
    for case in inputs["cases"]:
        arrays = [np.array(case[name], dtype=np.float64) for name in ("dout", "x", "gamma")]
        options = {"eps": float(case["eps"])} if "eps" in case else {}
        results.append(attempt(fn, *arrays, **options))
    return results
