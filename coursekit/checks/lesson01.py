"""Checks for lesson 01, gradient descent on three points.

The model is h(x) = θx and the cost is the mean squared error
J(θ) = (1/m) Σ (θx_i − y_i)², whose derivative is J'(θ) = (2/m) Σ (θx_i − y_i) x_i, checked
numerically by the central difference (J(θ + h) − J(θ − h)) / (2h).
The chain-rule exercise returns the nodes of that derivative one by one: the residuals
r = θx − y, ∂J/∂r = (2/m)·r, dr/dθ = x, and their products summed, J'(θ).
J' is linear in θ, so the curvature J'' = (2/m) Σ x_i² is a constant, and each descent step
multiplies the distance to the minimum by 1 − αJ'': descent converges for 0 < α < 2/J''.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from coursekit.checks.score import scorer
from coursekit.data import three_points
from coursekit.exercise import Got, Mistake, Raised, function, registry, same
from coursekit.probes import lesson01 as probes


def reference_cost(theta: float, x: np.ndarray, y: np.ndarray) -> float:
    """J(θ) = mean((θx − y)²); x, y (m,)."""
    return float(np.mean((theta * x - y) ** 2))


def reference_gradient(theta: float, x: np.ndarray, y: np.ndarray) -> float:
    """J'(θ) = (2/m) Σ (θx − y) x; x, y (m,)."""
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
    """2/J'' with J'' = (2/m) Σ x_i², x (m,): the largest learning rate for which descent
    converges."""
    return float(2.0 / (2.0 * np.mean(x**2)))


def _cases(rng: np.random.Generator, n: int = 5) -> list[dict[str, Any]]:
    """θ = 0 and 2.5 on the three points first (the numbers the lesson prints), then random
    cases of 2–7 points."""
    x3, y3 = three_points()
    cases = [{"theta": 0.0, "x": x3, "y": y3}, {"theta": 2.5, "x": x3, "y": y3}]
    for _ in range(n):
        m = int(rng.integers(2, 8))
        x = rng.normal(size=m)
        cases.append({"theta": float(rng.normal()), "x": x,
                      "y": 1.7 * x + rng.normal(scale=0.3, size=m)})
    return cases


_MSE = ("coursekit.scratch.MSE", "coursekit.scratch.losses.MSE")

mse_cost = function(
    "01-mse-cost", names=("cost",), args=("theta", "x", "y"), keep=("x", "y"), cases=_cases,
    reference=reference_cost, float64=True, implemented_by=_MSE,
    where=lambda theta, x, y: f"J(θ={theta:g}) on {len(x)} points",
    passed="J(θ) matches the mean squared error on {n} cases",
    mistakes=[
        Mistake("that is one squared error per point; average them into one number",
                lambda t, x, y: (t * x - y) ** 2),
        Mistake(lambda t, x, y: f"that is the sum; the mean divides by the number of points "
                                f"({len(x)})",
                lambda t, x, y: np.sum((t * x - y) ** 2)),
        Mistake("half the mean squared error; this lesson's J has no 1/2 factor",
                lambda t, x, y: np.mean((t * x - y) ** 2) / 2),
        Mistake("that is the mean absolute error; square the errors",
                lambda t, x, y: np.mean(np.abs(t * x - y))),
        Mistake(lambda t, x, y: f"3 is right only for three points; this case has {len(x)}, so "
                                "divide by len(x) (or take np.mean)",
                lambda t, x, y: np.sum((t * x - y) ** 2) / 3),
        Mistake("that is the square root of the mean squared error (the RMSE); J has no "
                "square root", lambda t, x, y: np.sqrt(np.mean((t * x - y) ** 2))),
    ])

#: The nodes of J'(θ): r, ∂J/∂r, dr/dθ (one per point) and J'(θ).
Nodes = tuple[np.ndarray, np.ndarray, np.ndarray, float]


def reference_chain_rule_steps(theta: float, x: np.ndarray, y: np.ndarray) -> Nodes:
    """``(r, dJ_dr, dr_dtheta, dJ_dtheta)``: J = mean(r²) with r = θx − y, differentiated
    node by node; x, y (m,)."""
    return _nodes(theta, x, y)


def _nodes(theta: float, x: np.ndarray, y: np.ndarray, *, flip: float = 1.0, two: float = 2.0,
           over: int | None = None, inner: str = "x", total: str = "sum") -> Nodes:
    """The nodes with one slip chosen by the keywords (the defaults are right): the residual
    flipped, the square's 2 dropped, another divisor than m, another dr/dθ, another last
    step."""
    r = flip * (theta * x - y)
    dJ_dr = two * r / (len(x) if over is None else over)
    dr_dtheta = {"x": x, "-x": -x, "1": np.ones_like(x), "theta": np.full_like(x, theta)}[inner]
    products = dJ_dr * dr_dtheta
    dJ: Any = {"sum": lambda: float(np.sum(products)), "mean": lambda: float(np.mean(products)),
               "each": lambda: products, "no x": lambda: float(np.sum(dJ_dr))}[total]()
    return r, dJ_dr, np.array(dr_dtheta, dtype=np.float64), dJ


def _slip(**slip: Any) -> Callable[..., Nodes]:
    return lambda theta, x, y: _nodes(theta, x, y, **slip)


_NODES = ("r", "dJ_dr", "dr_dtheta", "dJ_dtheta")


def _first_wrong_node(got: Got, theta: float, x: np.ndarray, y: np.ndarray) -> str | None:
    """The first node that differs from the reference, named by the slip of that node whose
    wrong version gives it (whatever the other nodes hold), or a number where the node holds
    one value per point."""
    if got.kind != "list" or got.length != 4 or len(got.items) != 4:
        return None
    want = reference_chain_rule_steps(theta, x, y)
    for k, (name, item) in enumerate(zip(_NODES, got.items, strict=True)):
        if same(item, want[k]):
            continue
        if k < 3 and item.is_number:
            return (f"{name}: expected one value per point, an array of shape ({len(x)},), got "
                    "a number: J depends on each residual r_i separately, and the points are "
                    "added up only in the last step")
        for mistake in chain_rule_steps.mistakes:
            said = mistake.says(theta, x, y)
            candidate = mistake.candidate(theta, x, y)
            if said.startswith(f"{name}:") and candidate is not None and \
                    same(item, candidate[k]):
                return said
        return None
    return None


chain_rule_steps = function(
    "01-chain-rule-steps", names=("chain_rule_steps",), args=("theta", "x", "y"),
    keep=("x", "y"), cases=_cases, reference=reference_chain_rule_steps, float64=True,
    parts=("r", "dJ_dr", "dr_dtheta", "dJ_dtheta"), explain=_first_wrong_node,
    implemented_by=_MSE, where=lambda theta, x, y: f"at θ={theta:g} on {len(x)} points",
    passed="r, ∂J/∂r, dr/dθ and J'(θ) match the chain rule, node by node, on {n} cases",
    mistakes=[
        Mistake("r: the residual is θx − y, prediction minus target, and it grows with θ at "
                "rate +x; taking y − θx with dr/dθ = +x flips the sign of J', which would send "
                "descent uphill", _slip(flip=-1.0)),
        Mistake("r: the residual is θx − y (prediction minus target), as in J; y − θx flips "
                "r, ∂J/∂r and dr/dθ, and the two flips cancel in J', but each node must be the "
                "one its step names", _slip(flip=-1.0, inner="-x")),
        Mistake("dJ_dr: d(r_i²)/dr_i = 2r_i: the factor 2 that the square brings down is "
                "missing", _slip(two=1.0)),
        Mistake(lambda t, x, y: f"dJ_dr: J is the mean (1/m)·Σ r_k², so ∂J/∂r_i keeps the 1/m "
                f"(here m={len(x)}): that is the derivative of the sum", _slip(over=1)),
        Mistake(lambda t, x, y: f"dJ_dr: 1/3 is right only for three points; this case has "
                f"{len(x)}: divide by len(x)", _slip(over=3)),
        Mistake("dr_dtheta: the inner derivative is missing: r_i = θx_i − y_i changes by x_i "
                "when θ grows by 1, so dr_i/dθ = x_i, not 1", _slip(inner="1")),
        Mistake("dr_dtheta: r_i = θx_i − y_i rises with θ at rate +x_i; the minus sign belongs "
                "to y_i, a constant whose derivative is 0", _slip(inner="-x")),
        Mistake("dr_dtheta: that is ∂r_i/∂x_i = θ; differentiate with respect to θ, holding the "
                "data x_i and y_i fixed", _slip(inner="theta")),
        Mistake("dJ_dtheta: the 1/m is already inside ∂J/∂r_i: add the m products up, don't "
                "average them again", _slip(total="mean")),
        Mistake("dJ_dtheta: θ reaches J through every residual, so add the m products "
                "∂J/∂r_i·dr_i/dθ into one number", _slip(total="each")),
        Mistake("dJ_dtheta: multiply each ∂J/∂r_i by its dr_i/dθ before adding: the factor x_i "
                "is missing from the sum", _slip(total="no x")),
    ])

mse_gradient = function(
    "01-mse-gradient", names=("gradient",), args=("theta", "x", "y"), keep=("x", "y"),
    cases=_cases, reference=reference_gradient, float64=True, implemented_by=_MSE,
    where=lambda theta, x, y: f"gradient at θ={theta:g} on {len(x)} points",
    passed="J'(θ) matches (2/m)·Σ(θx − y)·x on {n} cases",
    mistakes=[
        Mistake("check the sign (the error is θx − y, not y − θx)",
                lambda t, x, y: 2 * np.mean((y - t * x) * x)),
        Mistake("missing the factor 2 from differentiating the square",
                lambda t, x, y: np.mean((t * x - y) * x)),
        Mistake("missing the factor x_i from the chain rule (d(θx)/dθ = x)",
                lambda t, x, y: 2 * np.mean(t * x - y)),
        Mistake(lambda t, x, y: f"that is the sum; divide by the number of points ({len(x)})",
                lambda t, x, y: 2 * np.sum((t * x - y) * x)),
        Mistake(lambda t, x, y: f"2/3 is right only for three points; this case has {len(x)}, "
                                "so divide by len(x): (2/m)·Σ(θx − y)·x",
                lambda t, x, y: 2 / 3 * np.sum((t * x - y) * x)),
        Mistake("that is one term per point; average them into one number",
                lambda t, x, y: 2 * (t * x - y) * x),
    ])


#: The step the lesson's numerical_gradient takes when it is given none.
DEFAULT_STEP = 1e-5


def _difference_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """The lesson's J on the three points at θ = 0 with the default step first, then random
    cubics and quartics with large steps, where the central difference differs visibly from a
    one-sided one and from a step other than the one given, and a cubic with the default step,
    where a default other than 1e-5 shows. A case without ``h`` calls without a step."""
    x, y = three_points()
    cost = [float(np.mean(x**2)), float(-2.0 * np.mean(x * y)), float(np.mean(y**2))]
    cases: list[dict[str, Any]] = [{"coeffs": cost, "theta": 0.0}]
    for degree, h in ((3, 0.1), (4, 0.5), (3, 0.25), (4, 0.05), (3, None)):
        coeffs = rng.normal(size=degree + 1)
        coeffs[0] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)  # a real leading term
        case = {"coeffs": [float(c) for c in coeffs],
                "theta": round(float(rng.uniform(-1.5, 1.5)), 3)}
        cases.append(case if h is None else {**case, "h": h})
    return cases


def _difference_arguments(case: Mapping[str, Any]) -> tuple[Any, ...]:
    f = probes.Polynomial([float(c) for c in case["coeffs"]])
    return (f, float(case["theta"])) + ((float(case["h"]),) if "h" in case else ())


def _difference_where(f: probes.Polynomial, theta: float, *h: float) -> str:
    step = f"h={h[0]:g}" if h else f"the default step h={DEFAULT_STEP:g}"
    return f"for f(θ) = {f} at θ={theta:g} with {step}"


def _default_step(got: Got, f: probes.Polynomial, theta: float, *h: float) -> str | None:
    """Called without h on a cubic aθ³ + …, the central difference with step s is
    f'(θ) + a·s²: the step taken, named when it is clearly not the default."""
    if h or len(f.coeffs) != 4 or not got.is_number:
        return None
    squared = (got.number - f.derivative(theta)) / f.coeffs[0]
    if not squared > (10 * DEFAULT_STEP) ** 2:
        return None
    return (f"called without h, your function stepped by h={np.sqrt(squared):.3g}: the default "
            f"step is h={DEFAULT_STEP:g}, as in the stub (def numerical_gradient(f, theta, "
            f"h={DEFAULT_STEP:g}))")


central_difference = function(
    "01-central-difference", names=("numerical_gradient",), args=("f", "theta", "h"),
    cases=_difference_cases, probe=probes.difference_cases, arguments=_difference_arguments,
    reference=reference_numerical_gradient, where=_difference_where, explain=_default_step,
    implemented_by=("coursekit.scratch.numerical_gradient",),
    passed="(f(θ + h) − f(θ − h))/(2h) matches on {n} functions and steps",
    mistakes=[
        Mistake("that is the forward difference (f(θ + h) − f(θ))/h, whose error is about h; "
                "the central difference steps to both sides: (f(θ + h) − f(θ − h))/(2h)",
                lambda f, t, h=DEFAULT_STEP: (f(t + h) - f(t)) / h),
        Mistake("that is the backward difference (f(θ) − f(θ − h))/h; the central difference "
                "steps to both sides: (f(θ + h) − f(θ − h))/(2h)",
                lambda f, t, h=DEFAULT_STEP: (f(t) - f(t - h)) / h),
        Mistake("twice the central difference: θ − h and θ + h lie 2h apart, so divide by 2h",
                lambda f, t, h=DEFAULT_STEP: (f(t + h) - f(t - h)) / h),
        Mistake("that is multiplied by h: `/ 2 * h` means (…/2)·h; divide by (2 * h)",
                lambda f, t, h=DEFAULT_STEP: (f(t + h) - f(t - h)) / 2 * h),
        Mistake("half the central difference: divide by 2h, not by 4h",
                lambda f, t, h=DEFAULT_STEP: (f(t + h) - f(t - h)) / (4 * h)),
        Mistake("check the sign: the value ahead minus the value behind, f(θ + h) − f(θ − h)",
                lambda f, t, h=DEFAULT_STEP: (f(t - h) - f(t + h)) / (2 * h)),
        Mistake(lambda f, t, h=DEFAULT_STEP: f"that is the central difference with a step of "
                f"{DEFAULT_STEP:g}, not the h={h:g} this call passed: use the h argument rather "
                "than a fixed step",
                lambda f, t, h=DEFAULT_STEP: (f(t + 1e-5) - f(t - 1e-5)) / 2e-5),
        Mistake("that is a pair: return the one estimate (f(θ + h) − f(θ − h))/(2h), not the "
                "two values of f", lambda f, t, h=DEFAULT_STEP: (f(t + h), f(t - h))),
    ])


def _runs(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Three runs on the three points (the middle one starts from a random θ0), then one on
    five other points, which shows whether descend uses the x and y it is given."""
    x, y = three_points()
    x5 = np.round(rng.uniform(0.5, 2.0, size=5), 3)
    y5 = np.round(-0.7 * x5 + rng.normal(scale=0.2, size=5), 3)
    return [
        {"theta0": 0.0, "lr": 0.05, "n_steps": 10, "x": x, "y": y},
        {"theta0": round(float(rng.uniform(2.0, 4.0)), 3), "lr": 0.01, "n_steps": 5,
         "x": x, "y": y},
        {"theta0": -1, "lr": 0.1, "n_steps": 3, "x": x, "y": y},  # an int θ0, as descend(-1, ...)
        {"theta0": 0.5, "lr": 0.1, "n_steps": 4, "x": x5, "y": y5},
    ]


def _ascend(theta0: float, lr: float, n_steps: int, x: np.ndarray,
            y: np.ndarray) -> np.ndarray:
    return reference_descend(theta0, -lr, n_steps, x, y)


def _in_the_type_of_theta0(theta0: float, lr: float, n_steps: int, x: np.ndarray,
                           y: np.ndarray) -> np.ndarray:
    path = np.full(n_steps + 1, theta0)  # an int θ0 makes an int array
    for i in range(n_steps):
        path[i + 1] = path[i] - lr * reference_gradient(float(path[i]), x, y)
    return path


def _start(got: Got, theta0: float, *_: Any) -> str | None:
    if got.kind == "array" and got.shape and got.array[0] != theta0:
        return f"the path should start at θ0={theta0:g}, got {got.array[0]:g}"
    return None


descent_path = function(
    "01-descent-path", names=("descend",), args=("theta0", "lr", "n_steps", "x", "y"),
    keep=("x", "y"), keywords=True, cases=_runs, reference=reference_descend,
    where=lambda t0, lr, n, x, y: f"with θ0={t0:g}, lr={lr:g}, {n} steps on {len(x)} points",
    passed="descent paths match on {n} runs", explain=_start,
    raised=[Raised("TypeError", contains="keyword argument",
                   says="the lesson calls descend(theta0=..., lr=..., n_steps=..., x=..., y=...) "
                        "with these keywords, and yours raised TypeError: {message}: keep the "
                        "parameter names of the stub")],
    mistakes=[
        Mistake("put the starting θ first, then θ after each step",
                lambda theta0, lr, n_steps, x, y: reference_descend(theta0, lr, n_steps, x,
                                                                    y)[1:]),
        Mistake("that is only the last θ: return the whole path, θ0 first",
                lambda theta0, lr, n_steps, x, y: reference_descend(theta0, lr, n_steps, x,
                                                                    y)[-1]),
        Mistake("the path is descent on the lesson's three points: use the x and y passed to "
                "descend, not the notebook's x, y",
                lambda theta0, lr, n_steps, x, y: reference_descend(theta0, lr, n_steps,
                                                                    *three_points())),
        Mistake("each step goes away from the minimum: subtract lr × gradient, don't add it",
                _ascend),
        Mistake("called with an int θ0, the path became an integer array and every θ was "
                "rounded: build it from float(theta0) (or dtype=float)", _in_the_type_of_theta0),
    ])


def _inputs_x(rng: np.random.Generator) -> list[dict[str, Any]]:
    """The three points' x first (the bound the lesson prints), then random x of 2, 5, 7 and 4
    points, one of them spread wider than the rest."""
    x3, _ = three_points()
    return [{"x": x3}] + [{"x": rng.normal(scale=scale, size=m)}
                          for m, scale in ((2, 1.0), (5, 1.0), (7, 3.0), (4, 0.5))]


max_learning_rate = function(
    "01-max-learning-rate", names=("max_learning_rate",), args=("x",), keep=("x",),
    cases=_inputs_x, reference=reference_max_learning_rate,
    where=lambda x: f"for {len(x)} points (J'' = {2 * np.mean(x**2):.4f})",
    passed="2/J'' with J'' = (2/m)·Σx_i² on {n} cases",
    mistakes=[
        Mistake("that is J'' itself; descent converges while |1 − αJ''| < 1, that is for "
                "α < 2/J''", lambda x: 2 * np.mean(x**2)),
        Mistake("that is 1/J'', the rate that lands on the minimum in one step (1 − αJ'' = 0); "
                "the factor 1 − αJ'' may go down to −1, so the bound is 2/J''",
                lambda x: 1 / (2 * np.mean(x**2))),
        Mistake("twice the bound: J'' keeps the factor 2 from differentiating the square, "
                "J'' = (2/m)·Σx_i²", lambda x: 2 / np.mean(x**2)),
        Mistake(lambda x: f"that uses the sum; J'' = (2/m)·Σx_i² averages over the m={len(x)} "
                          "points", lambda x: 1 / np.sum(x**2)),
        Mistake("that squares the mean of x; J'' averages the squares: (2/m)·Σx_i²",
                lambda x: 1 / np.mean(x) ** 2),
        Mistake(lambda x: f"3 is right only for three points; this case has {len(x)}, so average "
                          "with len(x): J'' = (2/m)·Σx_i²",
                lambda x: 3 / np.sum(x**2)),
        Mistake("that is one bound per point; J'' averages over all the points, so there is a "
                "single bound", lambda x: 1 / x**2),
        Mistake("that is a pair: return only the upper end of 0 < α < 2/J''",
                lambda x: (0.0, 1 / np.mean(x**2))),
        Mistake("the bound is positive: descent needs 0 < α < 2/J''",
                lambda x: -1 / np.mean(x**2)),
    ])

EXERCISES = registry(mse_cost, chain_rule_steps, mse_gradient, central_difference, descent_path,
                     max_learning_rate)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)
