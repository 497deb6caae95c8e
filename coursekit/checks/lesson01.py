"""Checks for lesson 01, gradient descent on three points.

The model is h(x) = θx and the cost is the mean squared error
J(θ) = (1/m) Σ (θx_i − y_i)², whose derivative is J'(θ) = (2/m) Σ (θx_i − y_i) x_i, checked
numerically by the central difference (J(θ + h) − J(θ − h)) / (2h).
J' is linear in θ, so the curvature J'' = (2/m) Σ x_i² is a constant, and each descent step
multiplies the distance to the minimum by 1 − αJ'': descent converges for 0 < α < 2/J''.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._legacy import diagnose
from coursekit.checks.score import scorer
from coursekit.data import three_points
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    close,
    expect_array,
    expect_scalar,
    fail,
    value,
)
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson01 as probes

#: How close a student's number must be to the reference's.
TOLERANCE: Tolerance = {"rtol": 1e-6, "atol": 1e-8}


def reference_cost(theta: float, x: np.ndarray, y: np.ndarray) -> float:
    """J(θ) = mean((θx − y)²)."""
    return float(np.mean((theta * x - y) ** 2))


def reference_gradient(theta: float, x: np.ndarray, y: np.ndarray) -> float:
    """J'(θ) = (2/m) Σ (θx − y) x."""
    return float(2.0 * np.mean((theta * x - y) * x))


def reference_descend(
    theta0: float, lr: float, n_steps: int, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """θ0, then θ after each of ``n_steps`` updates θ ← θ − lr·J'(θ): shape (n_steps + 1,)."""
    path = [float(theta0)]
    for _ in range(n_steps):
        path.append(path[-1] - lr * reference_gradient(path[-1], x, y))
    return np.array(path, dtype=np.float64)


def reference_numerical_gradient(f: Callable[[float], float], theta: float,
                                 h: float = 1e-5) -> float:
    """The central difference (f(θ + h) − f(θ − h)) / (2h), an estimate of f'(θ)."""
    return float((f(theta + h) - f(theta - h)) / (2.0 * h))


def reference_max_learning_rate(x: np.ndarray) -> float:
    """2/J'' with J'' = (2/m) Σ x_i²: the largest learning rate for which descent converges."""
    return float(2.0 / (2.0 * np.mean(x**2)))


def _cases(rng: np.random.Generator, n: int = 5) -> dict[str, Any]:
    """θ = 0 and 2.5 on the three points first (the numbers the lesson prints), then random
    cases of 2–7 points."""
    x3, y3 = three_points()
    cases = [{"theta": 0.0, "x": x3, "y": y3}, {"theta": 2.5, "x": x3, "y": y3}]
    for _ in range(n):
        m = int(rng.integers(2, 8))
        x = rng.normal(size=m)
        cases.append({"theta": float(rng.normal()), "x": x,
                      "y": 1.7 * x + rng.normal(scale=0.3, size=m)})
    return {"cases": cases}


def _judge_cost(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results, strict=True):
        theta, x, y = case["theta"], case["x"], case["y"]
        got = value(got)
        if got["kind"] == "array" and tuple(got["shape"]) == x.shape:
            raise fail(f"expected a float, got an array of shape {x.shape}: one squared error "
                       "per point; average them into one number")
        number = expect_scalar(got, f"cost at θ={theta:g}")
        want = reference_cost(theta, x, y)
        diagnose(number, want, {
            f"that is the sum; the mean divides by the number of points ({len(x)})":
                want * len(x),
            "half the mean squared error; this lesson's J has no 1/2 factor": want / 2,
            "that is the mean absolute error; square the errors":
                float(np.mean(np.abs(theta * x - y))),
            f"3 is right only for three points; this case has {len(x)}, so divide by len(x) "
            "(or take np.mean)": float(np.sum((theta * x - y) ** 2)) / 3 if len(x) != 3 else None,
            "that is the square root of the mean squared error (the RMSE); J has no square root":
                float(np.sqrt(want)),
        }, where=f"J(θ={theta:g}) on {len(x)} points should be {want:.4f}, got {number:.4f}",
            **TOLERANCE)
    return f"J(θ) matches the mean squared error on {len(cases)} cases"


def _judge_gradient(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results, strict=True):
        theta, x, y = case["theta"], case["x"], case["y"]
        number = expect_scalar(got, f"gradient at θ={theta:g}")
        want = reference_gradient(theta, x, y)
        residual = theta * x - y
        diagnose(number, want, {
            "check the sign (the error is θx − y, not y − θx)": -want,
            "missing the factor 2 from differentiating the square": want / 2,
            "missing the factor x_i from the chain rule (d(θx)/dθ = x)":
                2.0 * np.mean(residual),
            f"that is the sum; divide by the number of points ({len(x)})": want * len(x),
            f"2/3 is right only for three points; this case has {len(x)}, so divide by "
            "len(x): (2/m)·Σ(θx − y)·x":
                2.0 / 3.0 * np.sum(residual * x) if len(x) != 3 else None,
        }, where=f"gradient at θ={theta:g} should be {want:.4f}, got {number:.4f}",
            **TOLERANCE)
    return f"J'(θ) matches (2/m)·Σ(θx − y)·x on {len(cases)} cases"


def _runs(rng: np.random.Generator) -> dict[str, Any]:
    """Three runs on the three points (the middle one starts from a random θ0), then one on
    five other points, which shows whether descend uses the x and y it is given."""
    x, y = three_points()
    x5 = np.round(rng.uniform(0.5, 2.0, size=5), 3)
    y5 = np.round(-0.7 * x5 + rng.normal(scale=0.2, size=5), 3)
    return {"runs": [
        {"theta0": 0.0, "lr": 0.05, "n_steps": 10, "x": x, "y": y},
        {"theta0": round(float(rng.uniform(2.0, 4.0)), 3), "lr": 0.01, "n_steps": 5,
         "x": x, "y": y},
        {"theta0": -1.0, "lr": 0.1, "n_steps": 1, "x": x, "y": y},
        {"theta0": 0.5, "lr": 0.1, "n_steps": 4, "x": x5, "y": y5},
    ]}


#: How the lesson's later cells call descend: renamed parameters fail there.
DESCEND_CALL = "descend(theta0=..., lr=..., n_steps=..., x=..., y=...)"


def _renamed(got: Data, call: str) -> None:
    """Fail when a keyword call raised because the student renamed the stub's parameters."""
    if isinstance(got, dict) and got.get("kind") == "raised" and got.get("type") == "TypeError" \
            and "keyword argument" in str(got.get("message")):
        raise fail(f"the lesson calls {call} with these keywords, and yours raised "
                   f"TypeError: {got.get('message')}: keep the parameter names of the stub")


def _judge_descent(inputs: Data, results: Data) -> str:
    runs = inputs["runs"]
    for run, got in zip(runs, results, strict=True):
        theta0, lr, n_steps = run["theta0"], run["lr"], run["n_steps"]
        x, y = run["x"], run["y"]
        _renamed(got, DESCEND_CALL)
        got = value(got)
        if got["kind"] == "array" and tuple(got["shape"]) == (n_steps,):
            raise fail(f"expected shape ({n_steps + 1},) for {n_steps} steps, got "
                       f"({n_steps},): put the starting θ first, then θ after each step")
        path = expect_array(got, (n_steps + 1,), f"path for {n_steps} steps")
        want = reference_descend(theta0, lr, n_steps, x, y)
        if close(path, want, **TOLERANCE):
            continue
        x3, y3 = three_points()
        if len(x) != len(x3) and close(path, reference_descend(theta0, lr, n_steps, x3, y3),
                                       **TOLERANCE):
            raise fail(f"on {len(x)} other points the path is descent on the lesson's three "
                       "points: use the x and y passed to descend, not the notebook's x, y")
        if path[0] != theta0:
            raise fail(f"the path should start at θ0={theta0:g}, got {path[0]:g}")
        if np.isclose(path[1] - path[0], -(want[1] - want[0]), **TOLERANCE):
            raise fail(f"the first step goes from {path[0]:g} to {path[1]:.4f}, away from the "
                       "minimum at 1: subtract lr × gradient, don't add it")
        raise fail(f"with θ0={theta0:g}, lr={lr:g} on {len(x)} points: expected "
                   f"{np.round(want, 4)}, got {np.round(path, 4)}")
    return f"descent paths match on {len(runs)} runs"


#: The step the lesson's numerical_gradient takes when it is given none.
DEFAULT_STEP = 1e-5


def _difference_cases(rng: np.random.Generator) -> dict[str, Any]:
    """The lesson's J on the three points at θ = 0 with the default step first, then random
    cubics and quartics with large steps, where the central difference differs visibly from a
    one-sided one and from a step other than the one given, and a cubic with the default step,
where a default other than 1e-5 shows. ``h`` None: call without a step."""
    x, y = three_points()
    cost = [float(np.mean(x**2)), float(-2.0 * np.mean(x * y)), float(np.mean(y**2))]
    cases: list[dict[str, Any]] = [{"coeffs": cost, "theta": 0.0, "h": None}]
    for degree, h in ((3, 0.1), (4, 0.5), (3, 0.25), (4, 0.05), (3, None)):
        coeffs = rng.normal(size=degree + 1)
        coeffs[0] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)  # a real leading term
        cases.append({"coeffs": [float(c) for c in coeffs],
                      "theta": round(float(rng.uniform(-1.5, 1.5)), 3), "h": h})
    return {"cases": cases}


def _polynomial(coeffs: list[float]) -> str:
    """'0.5θ³ − 1.2θ + 0.3' for the coefficients [0.5, 0, −1.2, 0.3] (highest power first)."""
    powers = "⁰¹²³⁴⁵⁶⁷⁸⁹"
    terms = []
    for k, c in enumerate(coeffs):
        power = len(coeffs) - 1 - k
        if c == 0.0:
            continue
        base = "" if power == 0 else "θ" if power == 1 else "θ" + powers[power]
        terms.append(("− " if c < 0 else "+ ") + f"{abs(c):.3g}{base}")
    text = " ".join(terms) or "0"
    return text[2:] if text.startswith("+ ") else "−" + text[2:]


def _default_step_hint(coeffs: list[float], theta: float, got: float,
                       f: Callable[[float], float]) -> dict[str, float]:
    """On a cubic aθ³ + …, the central difference with step h is f'(θ) + a·h²: the step a call
    without h took, named when it is clearly not the lesson's default."""
    if len(coeffs) != 4 or coeffs[0] == 0.0:
        return {}
    exact = float(np.polyval(np.polyder(coeffs), theta))
    squared = (got - exact) / coeffs[0]
    if not squared > (10 * DEFAULT_STEP) ** 2:
        return {}
    step = float(np.sqrt(squared))
    return {f"called without h, your function stepped by h={step:.3g}: the default step is "
            f"h={DEFAULT_STEP:g}, as in the stub (def numerical_gradient(f, theta, "
            f"h={DEFAULT_STEP:g}))": reference_numerical_gradient(f, theta, step)}


def _judge_difference(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results, strict=True):
        coeffs, theta, given = case["coeffs"], case["theta"], case["h"]
        h = DEFAULT_STEP if given is None else given
        got = value(got)
        if got["kind"] == "list" and got.get("length") == 2:
            raise fail("expected a float, got a pair: return the one estimate "
                       "(f(θ + h) − f(θ − h))/(2h), not the two values of f")
        where = (f"for f(θ) = {_polynomial(coeffs)} at θ={theta:g} with "
                 f"{'the default step ' if given is None else ''}h={h:g}")
        number = expect_scalar(got, where)

        def f(t: float, coeffs: list[float] = coeffs) -> float:
            return float(np.polyval(coeffs, t))

        want = reference_numerical_gradient(f, theta, h)
        diagnose(number, want, {
            "that is the forward difference (f(θ + h) − f(θ))/h, whose error is about h; "
            "the central difference steps to both sides: (f(θ + h) − f(θ − h))/(2h)":
                (f(theta + h) - f(theta)) / h,
            "that is the backward difference (f(θ) − f(θ − h))/h; the central difference "
            "steps to both sides: (f(θ + h) − f(θ − h))/(2h)": (f(theta) - f(theta - h)) / h,
            "twice the central difference: θ − h and θ + h lie 2h apart, so divide by 2h":
                2.0 * want,
            "that is multiplied by h: `/ 2 * h` means (…/2)·h; divide by (2 * h)":
                (f(theta + h) - f(theta - h)) / 2.0 * h,
            "half the central difference: divide by 2h, not by 4h": want / 2.0,
            "check the sign: the value ahead minus the value behind, f(θ + h) − f(θ − h)":
                -want,
            f"that is the central difference with a step of {DEFAULT_STEP:g}, not the h={h:g} "
            "this call passed: use the h argument rather than a fixed step":
                reference_numerical_gradient(f, theta) if given is not None else None,
            **(_default_step_hint(coeffs, theta, number, f) if given is None else {}),
        }, where=f"{where}: expected {want:.6f}, got {number:.6f}", **TOLERANCE)
    return f"(f(θ + h) − f(θ − h))/(2h) matches on {len(cases)} functions and steps"


def _inputs_x(rng: np.random.Generator) -> dict[str, Any]:
    """The three points' x first (the bound the lesson prints), then random x of 2, 5, 7 and 4
    points, one of them spread wider than the rest."""
    x3, _ = three_points()
    cases = [{"x": x3}]
    for m, scale in ((2, 1.0), (5, 1.0), (7, 3.0), (4, 0.5)):
        cases.append({"x": rng.normal(scale=scale, size=m)})
    return {"cases": cases}


def _judge_max_rate(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results, strict=True):
        x = case["x"]
        m = len(x)
        got = value(got)
        if got["kind"] == "array" and tuple(got["shape"]) == x.shape:
            raise fail(f"expected a float, got an array of shape {x.shape}: one bound per point; "
                       "J'' averages over all the points, so there is a single bound")
        if got["kind"] == "list" and got.get("length") == 2:
            raise fail("expected a float, got a pair: return only the upper end of "
                       "0 < α < 2/J''")
        number = expect_scalar(got, f"bound for {m} points")
        curvature = 2.0 * np.mean(x**2)
        want = reference_max_learning_rate(x)
        diagnose(number, want, {
            "that is J'' itself; descent converges while |1 − αJ''| < 1, that is for "
            "α < 2/J''": curvature,
            "that is 1/J'', the rate that lands on the minimum in one step (1 − αJ'' = 0); "
            "the factor 1 − αJ'' may go down to −1, so the bound is 2/J''": 1.0 / curvature,
            "twice the bound: J'' keeps the factor 2 from differentiating the square, "
            "J'' = (2/m)·Σx_i²": 2.0 / np.mean(x**2),
            f"that uses the sum; J'' = (2/m)·Σx_i² averages over the m={m} points":
                1.0 / np.sum(x**2),
            "that squares the mean of x; J'' averages the squares: (2/m)·Σx_i²":
                1.0 / np.mean(x) ** 2,
            f"3 is right only for three points; this case has {m}, so average with len(x): "
            "J'' = (2/m)·Σx_i²": 3.0 / np.sum(x**2) if m != 3 else None,
            "the bound is positive: descent needs 0 < α < 2/J''": -want,
        }, where=f"for {m} points (J'' = {curvature:.4f}) the bound should be {want:.4f}, got "
                 f"{number:.4f}", **TOLERANCE)
    return f"2/J'' with J'' = (2/m)·Σx_i² on {len(cases)} cases"


#: coursekit's own mean squared error: a cost or gradient built on it is flagged.
_MSE = ("coursekit.scratch.MSE", "coursekit.scratch.losses.MSE")
MSE_COST = Exercise("01-mse-cost", _cases, probes.each_case, _judge_cost, implemented_by=_MSE,
                    names=("cost",))
MSE_GRADIENT = Exercise("01-mse-gradient", _cases, probes.each_case, _judge_gradient,
                        implemented_by=_MSE,
                        names=("gradient",))
CENTRAL_DIFFERENCE = Exercise("01-central-difference", _difference_cases,
                              probes.difference_cases, _judge_difference,
                              implemented_by=("coursekit.scratch.numerical_gradient",),
                              names=("numerical_gradient",))
DESCENT_PATH = Exercise("01-descent-path", _runs, probes.descent_runs, _judge_descent,
                        names=("descend",))
MAX_LEARNING_RATE = Exercise("01-max-learning-rate", _inputs_x, probes.each_x,
                             _judge_max_rate,
                             names=("max_learning_rate",))
EXERCISES = registry(MSE_COST, MSE_GRADIENT, CENTRAL_DIFFERENCE, DESCENT_PATH,
                     MAX_LEARNING_RATE)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def mse_cost(cost: Callable[[float, np.ndarray, np.ndarray], float]) -> None:
    """Check ``cost(theta, x, y)`` against J(θ) = mean((θx − y)²)."""
    MSE_COST.check(cost)


def mse_gradient(gradient: Callable[[float, np.ndarray, np.ndarray], float]) -> None:
    """Check ``gradient(theta, x, y)`` against J'(θ) = (2/m) Σ (θx − y) x."""
    MSE_GRADIENT.check(gradient)


def central_difference(numerical_gradient: Callable[..., float]) -> None:
    """Check ``numerical_gradient(f, theta, h=1e-5)`` returns (f(θ + h) − f(θ − h)) / (2h)."""
    CENTRAL_DIFFERENCE.check(numerical_gradient)


def descent_path(
    descend: Callable[[float, float, int, np.ndarray, np.ndarray], np.ndarray],
) -> None:
    """Check ``descend(theta0, lr, n_steps, x, y)`` returns θ before and after every step."""
    DESCENT_PATH.check(descend)


def max_learning_rate(max_rate: Callable[[np.ndarray], float]) -> None:
    """Check ``max_rate(x)`` returns 2/J'', the largest learning rate for which descent
    converges."""
    MAX_LEARNING_RATE.check(max_rate)
