"""Lesson 01 checks: the references pass, valid versions written differently pass, and what
no declared mistake covers (a stub, a crash, renamed keywords, arguments changed in place, a
default step of its own) is named. Declared mistakes are tested in test_mistakes.py."""

import numpy as np
import pytest

from coursekit.checks import lesson01 as check
from coursekit.data import three_points
from coursekit.exercise import ExerciseFailed
from tests.checks.wire import assert_same_verdict_over_the_wire

REFERENCES = {"01-mse-cost": check.reference_cost,
              "01-chain-rule-steps": check.reference_chain_rule_steps,
              "01-mse-gradient": check.reference_gradient,
              "01-central-difference": check.reference_numerical_gradient,
              "01-descent-path": check.reference_descend,
              "01-max-learning-rate": check.reference_max_learning_rate}


def test_a_function_still_to_write_is_reported_as_such():
    def todo(theta, x, y):
        raise NotImplementedError("01-mse-gradient")

    with pytest.raises(ExerciseFailed, match="not implemented yet"):
        check.mse_gradient(todo)


def test_a_crash_in_student_code_is_reported_with_its_type():
    with pytest.raises(ExerciseFailed, match="raised ZeroDivisionError"):
        check.mse_gradient(lambda t, x, y: 1 / 0)


@pytest.mark.parametrize("exercise", [check.mse_cost, check.mse_gradient])
def test_a_float32_answer_is_refused_saying_why(exercise):
    """A float32 J or J' breaks the lesson's later numerical-gradient assertion."""
    def in_float32(theta, x, y):
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        errors = np.float32(theta) * x32 - y32
        return np.mean(errors**2) if exercise is check.mse_cost else 2 * np.mean(errors * x32)

    with pytest.raises(ExerciseFailed, match="your answer is float32; keep every array float64"):
        exercise(in_float32)


def test_reference_central_difference_is_exact_on_the_cost_and_close_on_a_cubic():
    x, y = three_points()
    assert check.reference_numerical_gradient(lambda t: check.reference_cost(t, x, y), 0.0) == \
        pytest.approx(-28 / 3, rel=1e-9)
    # on θ³ at θ = 1 the central difference is 3 + h², the forward one 3 + 3h + h²
    assert check.reference_numerical_gradient(lambda t: t**3, 1.0, 0.1) == pytest.approx(3.01)


def test_reference_bound_separates_converging_from_diverging_descent():
    x, y = three_points()
    bound = check.reference_max_learning_rate(x)
    assert bound == pytest.approx(3 / 14)
    for lr, converges in ((0.99 * bound, True), (1.01 * bound, False)):
        path = check.reference_descend(0.0, lr, 400, x, y)
        assert bool(abs(path[-1] - 1.0) < abs(path[0] - 1.0)) is converges


# ---- valid versions written differently ----


def _cost_by_average(theta, x, y):
    # vectorised, as the prompt asks ("not a Python loop"): np.average of the squared errors
    return np.average(np.square(theta * x - y))


def _cost_by_dot(theta, x, y):
    errors = theta * x - y
    return errors @ errors / len(x)  # a NumPy float


def _cost_by_square(theta, x, y):
    return np.square(y - theta * x).mean()  # y − θx squares the same


def _steps_by_dot(theta, x, y):
    r = theta * x - y
    dJ_dr = 2 * r / r.size
    return r, dJ_dr, x, dJ_dr @ x  # dr/dθ is x itself, handed back unchanged; J' a NumPy float


def _steps_as_a_list(theta, x, y):
    residuals = -(y - x * theta)
    outer = (2.0 / len(y)) * residuals
    inner = np.array(x, dtype=np.float64)  # a copy
    return [residuals, outer, inner, float((outer * inner).sum())]  # a list, not a tuple


def _steps_by_power_rule(theta, x, y):
    r = np.subtract(np.multiply(theta, x), y)
    dJ_dr = 2 * np.power(r, 1) / x.shape[0]  # d(r²)/dr = 2r¹, times the mean's 1/m
    dr_dtheta = np.ones_like(x) * x
    return r, dJ_dr, dr_dtheta, np.einsum("i,i->", dJ_dr, dr_dtheta)


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
    "01-mse-cost": [_cost_by_average, _cost_by_dot, _cost_by_square],
    "01-chain-rule-steps": [_steps_by_dot, _steps_as_a_list, _steps_by_power_rule],
    "01-mse-gradient": [_gradient_by_loop, _gradient_expanded, _gradient_by_dot],
    "01-central-difference": [_difference_divided_twice, _difference_mean_of_one_sided,
                              _difference_by_signs],
    "01-descent-path": [_descend_preallocated, _descend_appending, _descend_as_array_of_list],
    "01-max-learning-rate": [_max_rate_simplified, _max_rate_by_dot, _max_rate_by_loop],
}


# ---- red-team cases (REDTEAM-A): wrong answers once accepted, messages that named nothing ----

_X3, _Y3 = three_points()


def _difference_default_too_large(f, theta, h=0.1):
    return (f(theta + h) - f(theta - h)) / (2 * h)


def _descend_renamed(theta0, alpha, steps, x, y):
    return check.reference_descend(theta0, alpha, steps, x, y)


def _descend_in_place(theta0, lr, n_steps, x, y):
    x[:], y[:] = x[::-1].copy(), y[::-1].copy()  # the points reversed, in the caller's arrays
    return check.reference_descend(theta0, lr, n_steps, x, y)


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
        check.central_difference.check(_difference_default_too_large, seed=seed)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
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


@pytest.mark.parametrize(
    ("exercise_id", "student"),
    list(REFERENCES.items()) +
    [("01-mse-cost", lambda t, x, y: None), ("01-mse-gradient", lambda t, x, y: 1 / 0),
     ("01-max-learning-rate", "not a function"), ("01-descent-path", _descend_renamed)],
)
def test_probe_data_survives_the_wire(exercise_id, student):
    assert_same_verdict_over_the_wire(check.EXERCISES[exercise_id], student)


# ---- spec audit: "f takes one float and returns one float" ----


def _difference_vectorised(f, theta, h=1e-5):
    values = f(np.array([theta + h, theta - h]))  # both points in one call, "vectorised"
    return (values[0] - values[1]) / (2 * h)


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_calling_f_on_an_array_is_named(seed):
    """The prompt: f takes one float; the check's f refuses an array, naming the fix."""
    with pytest.raises(ExerciseFailed, match=r"raised TypeError: f takes one float θ, got an "
                                             r"array of shape \(2,\): call f once at θ \+ h and "
                                             r"once at θ − h"):
        check.central_difference.check(_difference_vectorised,
                                       **({} if seed is None else {"seed": seed}))


# ---- 01-chain-rule-steps: the nodes agree with J', and a slip is named at its node ----


@pytest.mark.parametrize("theta", [0.0, 2.5, -1.3])
def test_the_reference_nodes_multiply_out_to_the_gradient(theta):
    x, y = three_points()
    r, dJ_dr, dr_dtheta, slope = check.reference_chain_rule_steps(theta, x, y)
    assert np.allclose(r, theta * x - y) and np.allclose(dr_dtheta, x)
    assert slope == pytest.approx(check.reference_gradient(theta, x, y), rel=1e-12)
    assert slope == pytest.approx(check.reference_numerical_gradient(
        lambda t: check.reference_cost(t, x, y), theta), rel=1e-8)
    assert np.allclose(dJ_dr, [check.reference_numerical_gradient(
        lambda v, i=i: np.mean(np.where(np.arange(3) == i, v, r) ** 2), r[i]) for i in range(3)])


def _half_outer_only(theta, x, y):  # the 2 dropped in dJ_dr, J' computed right on its own
    r = theta * x - y
    return r, r / len(x), x, float(2 * np.mean(r * x))


def _outer_as_one_number(theta, x, y):
    r = theta * x - y
    return r, 2 * np.mean(r), x, float(2 * np.mean(r * x))


def _inner_in_place(theta, x, y):
    dr_dtheta = x
    dr_dtheta *= 1.0  # a write into the caller's x
    r = theta * x - y
    return r, 2 * r / len(x), dr_dtheta, float(2 * np.mean(r * x))


def _last_node_halved(theta, x, y):  # every node right but the last
    r = theta * x - y
    return r, 2 * r / len(x), x, float(np.mean(r * x))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_half_outer_only, r"dJ_dr: d\(r_i²\)/dr_i = 2r_i: the factor 2 that the square brings "
                           "down is missing"),
        (_outer_as_one_number, r"dJ_dr: expected one value per point, an array of shape \(3,\), "
                               "got a number"),
        (_inner_in_place, "your function changed `x` in place"),
        (_last_node_halved, r"dJ_dtheta: expected -9\.33333, got -4\.66667"),
    ],
)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_chain_rule_steps_name_the_node_that_is_wrong(wrong, message, seed):
    with pytest.raises(ExerciseFailed, match=message if seed is None else message.split(":")[0]):
        check.chain_rule_steps.check(wrong, **({} if seed is None else {"seed": seed}))
