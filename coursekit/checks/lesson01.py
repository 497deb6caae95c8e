"""Checks for lesson 01, gradient descent on three points.

The model is h(x) = θx and the cost is the mean squared error
J(θ) = (1/m) Σ (θx_i − y_i)², whose derivative is J'(θ) = (2/m) Σ (θx_i − y_i) x_i.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from coursekit.checks._core import call, close, expect_array, expect_scalar, fail, passed

THREE_X = np.array([1.0, 2.0, 3.0])
THREE_Y = np.array([1.0, 2.0, 3.0])


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
    return np.array(path)


def _cases(seed: int, n: int = 5) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """θ = 0 on the three points first (the numbers the lesson prints), then random cases."""
    rng = np.random.default_rng(seed)
    cases = [(0.0, THREE_X, THREE_Y), (2.5, THREE_X, THREE_Y)]
    for _ in range(n):
        m = int(rng.integers(2, 8))
        x = rng.normal(size=m)
        cases.append((float(rng.normal()), x, 1.7 * x + rng.normal(scale=0.3, size=m)))
    return cases


def mse_cost(cost: Callable[[float, np.ndarray, np.ndarray], float]) -> None:
    """Check ``cost(theta, x, y)`` against J(θ) = mean((θx − y)²)."""
    exercise = "01-mse-cost"
    cases = _cases(seed=101)
    for theta, x, y in cases:
        got = call(exercise, cost, theta, x.copy(), y.copy())
        if isinstance(got, np.ndarray) and got.shape == x.shape:
            raise fail(exercise, f"expected a float, got an array of shape {got.shape}: "
                       "one squared error per point; average them into one number")
        got = expect_scalar(exercise, got, f"cost at θ={theta:g}")
        want = reference_cost(theta, x, y)
        if close(got, want):
            continue
        where = f"J(θ={theta:g}) on {len(x)} points should be {want:.4f}, got {got:.4f}"
        if close(got, want * len(x)):
            raise fail(exercise, f"{where}: that is the sum; the mean divides by the "
                       f"number of points ({len(x)})")
        if close(got, want / 2):
            raise fail(exercise, f"{where}: half the mean squared error; this lesson's J has "
                       "no 1/2 factor")
        if close(got, float(np.mean(np.abs(theta * x - y)))):
            raise fail(exercise, f"{where}: that is the mean absolute error; square the errors")
        raise fail(exercise, where)
    passed(exercise, f"J(θ) matches the mean squared error on {len(cases)} cases")


def mse_gradient(gradient: Callable[[float, np.ndarray, np.ndarray], float]) -> None:
    """Check ``gradient(theta, x, y)`` against J'(θ) = (2/m) Σ (θx − y) x."""
    exercise = "01-mse-gradient"
    cases = _cases(seed=102)
    for theta, x, y in cases:
        got = expect_scalar(exercise, call(exercise, gradient, theta, x.copy(), y.copy()),
                            f"gradient at θ={theta:g}")
        want = reference_gradient(theta, x, y)
        if close(got, want):
            continue
        where = f"gradient at θ={theta:g} should be {want:.4f}, got {got:.4f}"
        residual = theta * x - y
        if close(got, -want):
            raise fail(exercise, f"{where}: check the sign (the error is θx − y, not y − θx)")
        if close(got, want / 2):
            raise fail(exercise, f"{where}: missing the factor 2 from differentiating the "
                       "square")
        if close(got, 2.0 * np.mean(residual)):
            raise fail(exercise, f"{where}: missing the factor x_i from the chain rule "
                       "(d(θx)/dθ = x)")
        if close(got, want * len(x)):
            raise fail(exercise, f"{where}: that is the sum; divide by the number of points "
                       f"({len(x)})")
        if len(x) != 3 and close(got, 2.0 / 3.0 * np.sum(residual * x)):
            raise fail(exercise, f"{where}: 2/3 is right only for three points; this case has "
                       f"{len(x)}, so divide by len(x): (2/m)·Σ(θx − y)·x")
        raise fail(exercise, where)
    passed(exercise, f"J'(θ) matches (2/m)·Σ(θx − y)·x on {len(cases)} cases")


def descent_path(
    descend: Callable[[float, float, int, np.ndarray, np.ndarray], np.ndarray],
) -> None:
    """Check ``descend(theta0, lr, n_steps, x, y)`` returns θ before and after every step."""
    exercise = "01-descent-path"
    runs = [(0.0, 0.05, 10), (3.0, 0.01, 5), (-1.0, 0.1, 1)]
    for theta0, lr, n_steps in runs:
        raw = call(exercise, descend, theta0, lr, n_steps, THREE_X.copy(), THREE_Y.copy())
        if isinstance(raw, list | tuple):
            raw = np.asarray(raw, dtype=np.float64)
        if isinstance(raw, np.ndarray) and raw.shape == (n_steps,):
            raise fail(exercise, f"expected shape ({n_steps + 1},) for {n_steps} steps, got "
                       f"({n_steps},): put the starting θ first, then θ after each step")
        got = expect_array(exercise, raw, (n_steps + 1,), f"path for {n_steps} steps")
        want = reference_descend(theta0, lr, n_steps, THREE_X, THREE_Y)
        if close(got, want):
            continue
        if got[0] != theta0:
            raise fail(exercise, f"the path should start at θ0={theta0:g}, got {got[0]:g}")
        step = got[1] - got[0]
        if close(step, -(want[1] - want[0])):
            raise fail(exercise, f"the first step goes from {got[0]:g} to {got[1]:.4f}, away "
                       f"from the minimum at 1: subtract lr × gradient, don't add it")
        raise fail(exercise, f"with θ0={theta0:g}, lr={lr:g}: expected {np.round(want, 4)}, "
                   f"got {np.round(got, 4)}")
    passed(exercise, f"descent paths match on {len(runs)} runs")
