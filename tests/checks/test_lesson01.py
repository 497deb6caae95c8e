"""Lesson 01 checks pass the reference and name the mistake in realistic wrong versions."""

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson01 as check


def test_cost_passes_the_reference(capsys):
    check.mse_cost(check.reference_cost)
    assert capsys.readouterr().out.startswith("✔ 01-mse-cost")


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda t, x, y: (t * x - y) ** 2, r"expected a float, got an array of shape \(3,\)"),
        (lambda t, x, y: float(np.sum((t * x - y) ** 2)), "that is the sum"),
        (lambda t, x, y: float(np.mean((t * x - y) ** 2)) / 2, "no 1/2 factor"),
        (lambda t, x, y: float(np.mean(np.abs(t * x - y))), "mean absolute error"),
    ],
)
def test_cost_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.mse_cost(wrong)


def test_gradient_passes_the_reference(capsys):
    check.mse_gradient(check.reference_gradient)
    assert "✔ 01-mse-gradient" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda t, x, y: 2 * np.mean((y - t * x) * x),
         r"gradient at θ=0 should be -9.3333, got 9.3333: check the sign"),
        (lambda t, x, y: np.mean((t * x - y) * x), "missing the factor 2"),
        (lambda t, x, y: 2 * np.mean(t * x - y), "missing the factor x_i"),
        (lambda t, x, y: 2 * np.sum((t * x - y) * x), "that is the sum"),
        (lambda t, x, y: 2 / 3 * np.sum((t * x - y) * x),
         r"2/3 is right only for three points.*divide by len\(x\)"),
        (lambda t, x, y: 2 * (t * x - y) * x, r"expected a float, got an array of shape \(3,\)"),
    ],
)
def test_gradient_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.mse_gradient(wrong)


def test_a_function_still_to_write_is_reported_as_such():
    def todo(theta, x, y):
        raise NotImplementedError("01-mse-gradient")

    with pytest.raises(ExerciseFailed, match="not implemented yet"):
        check.mse_gradient(todo)


def test_a_crash_in_student_code_is_reported_with_its_type():
    with pytest.raises(ExerciseFailed, match="raised ZeroDivisionError"):
        check.mse_gradient(lambda t, x, y: 1 / 0)


def test_descent_path_passes_the_reference(capsys):
    check.descent_path(check.reference_descend)
    assert "✔ 01-descent-path" in capsys.readouterr().out


def _without_start(theta0, lr, n_steps, x, y):
    return check.reference_descend(theta0, lr, n_steps, x, y)[1:]


def _ascent(theta0, lr, n_steps, x, y):
    path = [theta0]
    for _ in range(n_steps):
        path.append(path[-1] + lr * check.reference_gradient(path[-1], x, y))
    return np.array(path)


def _only_last(theta0, lr, n_steps, x, y):
    return check.reference_descend(theta0, lr, n_steps, x, y)[-1]


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_without_start, r"expected shape \(11,\) for 10 steps, got \(10,\): put the starting"),
        (_ascent, "away from the minimum"),
        (_only_last, r"expected an array of shape \(11,\), got a number"),
    ],
)
def test_descent_path_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.descent_path(wrong)
