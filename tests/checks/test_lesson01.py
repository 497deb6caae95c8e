"""Lesson 01 checks pass the reference and name the mistake in realistic wrong versions."""

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson01 as check
from coursekit.data import three_points
from tests.checks.wire import assert_judged_alike_on_fresh_inputs, assert_same_verdict_over_the_wire


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


# ---- 01-central-difference ----


def test_central_difference_passes_the_reference(capsys):
    check.central_difference(check.reference_numerical_gradient)
    assert capsys.readouterr().out.startswith("✔ 01-central-difference")


def test_reference_central_difference_is_exact_on_the_cost_and_close_on_a_cubic():
    x, y = three_points()
    assert check.reference_numerical_gradient(lambda t: check.reference_cost(t, x, y), 0.0) == \
        pytest.approx(-28 / 3, rel=1e-9)
    # on θ³ at θ = 1 the central difference is 3 + h², the forward one 3 + 3h + h²
    assert check.reference_numerical_gradient(lambda t: t**3, 1.0, 0.1) == pytest.approx(3.01)


def _forward(f, theta, h=1e-5):
    return (f(theta + h) - f(theta)) / h


def _backward(f, theta, h=1e-5):
    return (f(theta) - f(theta - h)) / h


def _over_h(f, theta, h=1e-5):
    return (f(theta + h) - f(theta - h)) / h


def _flipped_difference(f, theta, h=1e-5):
    return (f(theta - h) - f(theta + h)) / (2 * h)


def _fixed_step(f, theta, h=1e-5):
    step = 1e-5  # the step written in, whatever h the call passes
    return (f(theta + step) - f(theta - step)) / (2 * step)


def _precedence(f, theta, h=1e-5):
    return (f(theta + h) - f(theta - h)) / 2 * h


def _vectorised_call(f, theta, h=1e-5):
    ahead, behind = f(theta + np.array([h, -h]))
    return (ahead - behind) / (2 * h)


def _both_values(f, theta, h=1e-5):
    return f(theta + h), f(theta - h)


def _no_default_step(f, theta, h):
    return (f(theta + h) - f(theta - h)) / (2 * h)


DIFFERENCE_MISTAKES = [
    (_forward, r"that is the forward difference \(f\(θ \+ h\) − f\(θ\)\)/h"),
    (_backward, "that is the backward difference"),
    (_over_h, "twice the central difference: θ − h and θ \\+ h lie 2h apart"),
    (_flipped_difference, "check the sign"),
    (_fixed_step, r"with a step of 1e-05, not the h=0.1 this call passed"),
    (_precedence, r"multiplied by h: `/ 2 \* h`"),
    (_vectorised_call, "f takes one float θ, got an array of shape \\(2,\\)"),
    (_both_values, "got a pair: return the one estimate"),
    (_no_default_step, r"raised TypeError: .*missing 1 required positional argument: 'h'"),
]


@pytest.mark.parametrize(("wrong", "message"), DIFFERENCE_MISTAKES)
def test_central_difference_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.central_difference(wrong)


# ---- 01-max-learning-rate ----


def test_max_learning_rate_passes_the_reference(capsys):
    check.max_learning_rate(check.reference_max_learning_rate)
    assert capsys.readouterr().out.startswith("✔ 01-max-learning-rate")


def test_reference_bound_separates_converging_from_diverging_descent():
    x, y = three_points()
    bound = check.reference_max_learning_rate(x)
    assert bound == pytest.approx(3 / 14)
    for lr, converges in ((0.99 * bound, True), (1.01 * bound, False)):
        path = check.reference_descend(0.0, lr, 400, x, y)
        assert bool(abs(path[-1] - 1.0) < abs(path[0] - 1.0)) is converges


def _rate_is_curvature(x):
    return 2 * np.mean(x**2)  # J'' itself, not the bound


def _rate_one_step(x):
    return 1 / (2 * np.mean(x**2))  # 1/J'': the one-step rate, half the bound


def _rate_without_two(x):
    return 2 / np.mean(x**2)  # J'' without the factor 2 of the square


def _rate_from_sum(x):
    return 2 / (2 * np.sum(x**2))  # J'' as a sum


def _rate_mean_squared(x):
    return 2 / (2 * np.mean(x) ** 2)  # mean(x)² instead of mean(x²)


def _rate_three_points(x):
    return 2 / (2 / 3 * np.sum(x**2))  # m = 3 written in


def _rate_per_point(x):
    return 2 / (2 * x**2)  # one bound per point


def _rate_interval(x):
    return 0.0, 1 / np.mean(x**2)  # the whole interval 0 < α < 2/J''


MAX_RATE_MISTAKES = [
    (_rate_is_curvature, r"should be 0.2143, got 9.3333: that is J'' itself"),
    (_rate_one_step, r"that is 1/J'', the rate that lands on the minimum in one step"),
    (_rate_without_two, "twice the bound: J'' keeps the factor 2"),
    (_rate_from_sum, "that uses the sum"),
    (_rate_mean_squared, "that squares the mean of x"),
    (_rate_three_points, r"3 is right only for three points.*len\(x\)"),
    (_rate_per_point, r"expected a float, got an array of shape \(3,\): one bound per point"),
    (_rate_interval, "got a pair: return only the upper end"),
    (lambda x: -1 / np.mean(x**2), "the bound is positive"),
]


@pytest.mark.parametrize(("wrong", "message"), MAX_RATE_MISTAKES)
def test_max_learning_rate_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.max_learning_rate(wrong)


# ---- valid versions written differently ----


def _cost_by_loop(theta, x, y):
    total = 0.0
    for xi, yi in zip(x, y, strict=True):
        total += (theta * xi - yi) ** 2
    return total / len(x)


def _cost_by_dot(theta, x, y):
    errors = theta * x - y
    return errors @ errors / len(x)  # a NumPy float


def _cost_by_square(theta, x, y):
    return np.square(y - theta * x).mean()  # y − θx squares the same


def _gradient_by_loop(theta, x, y):
    total = 0.0
    for xi, yi in zip(x, y, strict=True):
        total += 2 * (theta * xi - yi) * xi
    return total / len(x)


def _gradient_expanded(theta, x, y):
    return 2 * theta * np.mean(x * x) - 2 * np.mean(x * y)  # (2/m)(θΣx² − Σxy)


def _gradient_by_dot(theta, x, y):
    return np.float64(2 * np.dot(theta * x - y, x) / x.size)


def _difference_divided_twice(f, theta, h=1e-5):
    return (f(theta + h) - f(theta - h)) / h / 2


def _difference_mean_of_one_sided(f, theta, h=1e-5):
    forward, backward = (f(theta + h) - f(theta)) / h, (f(theta) - f(theta - h)) / h
    return (forward + backward) / 2  # equal to the central difference: f(θ) cancels


def _difference_by_signs(f, theta, h=1e-5):
    return sum(sign * f(theta + sign * h) for sign in (1, -1)) / (2 * h)


def _descend_preallocated(theta0, lr, n_steps, x, y):
    path = np.empty(n_steps + 1)
    path[0] = theta0
    for k in range(n_steps):
        path[k + 1] = path[k] - lr * 2 * np.mean((path[k] * x - y) * x)
    return path


def _descend_appending(theta0, lr, n_steps, x, y):
    path = np.array([theta0], dtype=float)
    theta = theta0
    for _ in range(n_steps):
        theta -= lr * _gradient_by_dot(theta, x, y)
        path = np.append(path, theta)
    return path


def _descend_as_array_of_list(theta0, lr, n_steps, x, y):
    thetas = [float(theta0)]
    while len(thetas) <= n_steps:
        thetas.append(thetas[-1] - lr * _gradient_expanded(thetas[-1], x, y))
    return np.asarray(thetas)


def _max_rate_simplified(x):
    return 1 / np.mean(x**2)  # 2 / (2·mean(x²)) simplified


def _max_rate_by_dot(x):
    return len(x) / np.dot(x, x)


def _max_rate_by_loop(x):
    curvature = 0.0
    for xi in x:
        curvature += 2 * xi * xi / len(x)
    return 2 / curvature


#: Every exercise of lesson 01 -> valid versions a student could write in its solution cell.
VALID_VERSIONS: dict[str, list[object]] = {
    "01-mse-cost": [_cost_by_loop, _cost_by_dot, _cost_by_square],
    "01-mse-gradient": [_gradient_by_loop, _gradient_expanded, _gradient_by_dot],
    "01-central-difference": [_difference_divided_twice, _difference_mean_of_one_sided,
                              _difference_by_signs],
    "01-descent-path": [_descend_preallocated, _descend_appending, _descend_as_array_of_list],
    "01-max-learning-rate": [_max_rate_simplified, _max_rate_by_dot, _max_rate_by_loop],
}


@pytest.mark.parametrize(("exercise_id", "student"),
                         [(key, fn) for key, fns in VALID_VERSIONS.items() for fn in fns])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_valid_versions_pass_on_any_inputs(exercise_id, student, seed, capsys):
    exercise = check.EXERCISES[exercise_id]
    if seed is None:
        exercise.check(student)
    else:
        exercise.check(student, seed=seed)
    assert f"✔ {exercise_id}:" in capsys.readouterr().out


# ---- the probes' data survives the wire; mistakes keep their message on fresh inputs ----


REFERENCES = {"01-mse-cost": check.reference_cost, "01-mse-gradient": check.reference_gradient,
              "01-central-difference": check.reference_numerical_gradient,
              "01-descent-path": check.reference_descend,
              "01-max-learning-rate": check.reference_max_learning_rate}


@pytest.mark.parametrize(
    ("exercise_id", "student"),
    [(key, fn) for key, fn in REFERENCES.items()] +
    [("01-max-learning-rate", wrong) for wrong, _ in MAX_RATE_MISTAKES] +
    [("01-central-difference", wrong) for wrong, _ in DIFFERENCE_MISTAKES] +
    [("01-descent-path", _only_last), ("01-mse-cost", lambda t, x, y: None),
     ("01-mse-gradient", lambda t, x, y: 1 / 0), ("01-max-learning-rate", "not a function")],
)
def test_probe_data_survives_the_wire(exercise_id, student):
    assert_same_verdict_over_the_wire(check.EXERCISES[exercise_id], student)


@pytest.mark.parametrize(("wrong", "message"), MAX_RATE_MISTAKES)
def test_max_rate_mistakes_are_named_on_fresh_inputs(wrong, message):
    message = message.replace("should be 0.2143, got 9.3333: ", "")  # the numbers change
    for seed in range(1, 6):
        with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
            check.MAX_LEARNING_RATE.check(wrong, seed=seed)
        assert_judged_alike_on_fresh_inputs(check.MAX_LEARNING_RATE,
                                            check.reference_max_learning_rate, wrong, seed)


@pytest.mark.parametrize(("wrong", "message"), DIFFERENCE_MISTAKES)
def test_central_difference_mistakes_are_named_on_fresh_inputs(wrong, message):
    for seed in range(1, 6):
        with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
            check.CENTRAL_DIFFERENCE.check(wrong, seed=seed)
        assert_judged_alike_on_fresh_inputs(check.CENTRAL_DIFFERENCE,
                                            check.reference_numerical_gradient, wrong, seed)


# ---- red-team cases (REDTEAM-A): wrong answers once accepted, messages that named nothing ----

_X3, _Y3 = three_points()


def _difference_default_too_large(f, theta, h=0.1):
    return (f(theta + h) - f(theta - h)) / (2 * h)


def _descend_on_the_notebooks_points(theta0, lr, n_steps, x, y):
    path = [theta0]
    for _ in range(n_steps):
        path.append(path[-1] - lr * check.reference_gradient(path[-1], _X3, _Y3))
    return np.array(path)


def _descend_renamed(theta0, alpha, steps, x, y):
    return check.reference_descend(theta0, alpha, steps, x, y)


def _descend_in_place(theta0, lr, n_steps, x, y):
    x[:], y[:] = x[::-1].copy(), y[::-1].copy()  # the points reversed, in the caller's arrays
    return check.reference_descend(theta0, lr, n_steps, x, y)


def _cost_divided_by_three(theta, x, y):
    return float(np.sum((theta * x - y) ** 2) / 3)


def _cost_root(theta, x, y):
    return float(np.sqrt(np.mean((theta * x - y) ** 2)))


def _cost_centring_x(theta, x, y):
    x -= 0.0  # a no-op
    x += 1.0  # ... and one that is not
    return float(np.mean((theta * (x - 1.0) - y) ** 2))


def test_a_default_step_other_than_the_stubs_is_named():
    with pytest.raises(ExerciseFailed, match=r"called without h, your function stepped by "
                                             r"h=0\.1: the default step is h=1e-05"):
        check.central_difference(_difference_default_too_large)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_default_step_other_than_the_stubs_is_named_on_fresh_inputs(seed):
    with pytest.raises(ExerciseFailed, match="the default step is h=1e-05"):
        check.CENTRAL_DIFFERENCE.check(_difference_default_too_large, seed=seed)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_descend_on_the_notebooks_points,
         "descent on the lesson's three points: use the x and y passed to descend"),
        (_descend_renamed, r"the lesson calls descend\(theta0=\.\.\., lr=\.\.\., n_steps=\.\.\., "
                           r"x=\.\.\., y=\.\.\.\).*unexpected keyword argument 'lr'.*keep the "
                           "parameter names of the stub"),
        (_descend_in_place, "your function changed `x` and `y` in place"),
    ],
)
def test_descent_path_names_the_red_team_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.descent_path(wrong)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_cost_divided_by_three, r"3 is right only for three points; this case has \d, so divide "
                                 r"by len\(x\)"),
        (_cost_root, "the square root of the mean squared error"),
        (_cost_centring_x, "your function changed `x` in place"),
    ],
)
def test_cost_names_the_red_team_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.mse_cost(wrong)


def test_max_learning_rate_refuses_an_x_changed_in_place():
    def squares_in_place(x):
        x **= 2
        return float(1.0 / np.mean(x))

    with pytest.raises(ExerciseFailed, match="your function changed `x` in place"):
        check.max_learning_rate(squares_in_place)
