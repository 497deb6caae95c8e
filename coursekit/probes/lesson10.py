"""Probes of lesson 10: call the student's init scale and batchnorm forward/backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt, attempt_keeping, guarded


@guarded
def init_cases(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(fan_in, fan_out, nonlinearity)`` on every case."""
    return [attempt(fn, int(case["fan_in"]), int(case["fan_out"]), str(case["nonlinearity"]))
            for case in inputs["cases"]]


@guarded
def forward_cases(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(x, gamma, beta, running_mean, running_var, training, momentum, eps)`` on every
    case (momentum and eps passed by keyword only when the case sets them); x, gamma and beta
    must come back unchanged (the lesson hands the same arrays to nn.BatchNorm1d after the
    call), the running statistics may be updated in place."""
    results = []
    for case in inputs["cases"]:
        arrays = [np.array(case[name], dtype=np.float64)
                  for name in ("x", "gamma", "beta", "running_mean", "running_var")]
        options = {name: float(case[name]) for name in ("momentum", "eps") if name in case}
        results.append(attempt_keeping(fn, (*arrays, bool(case["training"])),
                                       ("x", "gamma", "beta", "", "", ""), kwargs=options))
    return results


@guarded
def backward_cases(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(dout, x, gamma)`` (and ``eps=`` when the case sets it) on every case; gamma must
    come back unchanged (the lesson's next forward step uses it)."""
    results = []
    for case in inputs["cases"]:
        arrays = [np.array(case[name], dtype=np.float64) for name in ("dout", "x", "gamma")]
        options = {"eps": float(case["eps"])} if "eps" in case else {}
        results.append(attempt_keeping(fn, arrays, ("", "", "gamma"), kwargs=options))
    return results
