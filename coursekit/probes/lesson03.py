"""Probes of lesson 03 beyond the generic one: the softmax exercises (the derivation's steps and
the fused gradient) may shift z by a constant per row, and the numerical gradient is handed an
f() that reads the x it nudges."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt, attempt_keeping, describe_value, guarded


def _floats(value: Any) -> np.ndarray:
    return np.array(value, dtype=np.float64)


@guarded
def softmax_ce_cases(inputs: dict[str, Any], gradient: Any) -> list[dict[str, Any]]:
    """``gradient(z, y)`` on every case, integer labels: the fused gradient, or the
    derivation's steps. An overflowing exp is not warned about here (the judge reports the nan
    or inf it leaves). y must come back unchanged, and z too up to a constant per row
    (``z -= z.max(axis=1, keepdims=True)`` in place is fine): the lesson takes the softmax of
    the same logits again, after the call, and compares."""
    described = []
    for case in inputs["cases"]:
        z, y = _floats(case["z"]), np.array(case["y"], dtype=np.int64)
        before = z.copy()
        with np.errstate(all="ignore"):
            got = attempt_keeping(gradient, (z, y), ("", "y"))
        if not _same_softmax(z, before):
            names = got["names"] if got.get("kind") == "changed" else []
            got = {"kind": "changed", "names": ["z", *names],
                   "result": got["result"] if got.get("kind") == "changed" else got}
        described.append(got)
    return described


def _same_softmax(now: Any, before: np.ndarray) -> bool:
    """Whether ``now`` is ``before`` shifted by a constant per row (the same softmax)."""
    if not isinstance(now, np.ndarray) or now.shape != before.shape or now.ndim != 2:
        return False
    with np.errstate(all="ignore"):
        shift = now - before
        spread = np.max(shift, axis=1) - np.min(shift, axis=1)
        return bool(np.all(np.isfinite(shift))
                    and np.all(spread <= 1e-12 * (1.0 + np.abs(before).max())))


def evaluate(case: dict[str, Any], x: np.ndarray) -> float:
    """The scalar function of a numerical-gradient case at the point ``x``.

    ``"quadratic"``: Σ a·x² + b·x; ``"sine"``: Σ w·sin(x); ``"tanh"``: Σ tanh(X @ x) ⊙ R.
    """
    kind = case["kind"]
    if kind == "quadratic":
        return float(np.sum(case["a"] * x * x + case["b"] * x))
    if kind == "sine":
        return float(np.sum(case["w"] * np.sin(x)))
    if kind == "tanh":
        return float(np.sum(np.tanh(case["X"] @ x) * case["R"]))
    raise ValueError(f"unknown case kind {kind!r}")


def _numerical_gradient_case(case: dict[str, Any], numerical_gradient: Any) -> dict[str, Any]:
    x = _floats(case["x"])
    seen = {"calls": 0, "with_args": False}

    def f(*args: Any, **kwargs: Any) -> float:
        if args or kwargs:
            seen["with_args"] = True
            raise TypeError("f() takes no arguments: it reads the array you perturb")
        seen["calls"] += 1
        return evaluate(case, x)

    # A case with a step calls with it (the third argument, as the lesson's signature has it),
    # so a function that ignores its h shows; the others use the default.
    steps = (float(case["h"]),) if "h" in case else ()
    result = attempt(numerical_gradient, f, x, *steps)
    return {"result": result, "x_after": describe_value(x), "calls": int(seen["calls"]),
            "with_args": bool(seen["with_args"])}


@guarded
def numerical_gradient_cases(inputs: dict[str, Any], numerical_gradient: Any) -> list[Any]:
    """``numerical_gradient(f, x)`` on every case (``numerical_gradient(f, x, h)`` on a case
    with a step ``h``), where ``f()`` takes no argument and reads the very array ``x`` the
    student perturbs. Returns, per case, what the call gave, ``x``
    after the call, how many times ``f`` ran, and whether it was called with arguments."""
    return [_numerical_gradient_case(case, numerical_gradient) for case in inputs["cases"]]
