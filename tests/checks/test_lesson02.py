"""Lesson 02 checks: the references pass, valid versions written differently pass, and what no
declared mistake covers (a stub, a crash, an answer of the wrong shape, arguments changed in
place, the SGD epoch's behaviour) is named. Declared mistakes are tested in test_mistakes.py."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson02 as check
from coursekit.data import batches, linear_data
from coursekit.exercise.wire import round_trip
from tests.checks.test_lesson02_epoch import (
    _epoch_variant,
    _epoch_with,
    _own_choice_shuffle,
    _unchanged,
)
from tests.checks.wire import assert_same_verdict_over_the_wire

predict = check.reference_predict


def mse(X, y, w, b):
    return float(np.mean((predict(X, w, b) - y) ** 2))


def test_the_references_pass(capsys: pytest.CaptureFixture[str]) -> None:
    check.model_and_loss(check.reference_predict, check.reference_loss)
    check.gradient_steps(check.reference_gradient_steps)
    check.mse_gradient(check.reference_gradient)
    check.sgd_epoch(check.reference_sgd_epoch)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [f"✔ {key}" for key in check.EXERCISES]


def test_reference_gradient_matches_central_differences() -> None:
    X, y = linear_data(20, random_state=0)
    w, b, eps = np.array([0.3, -0.7]), 0.5, 1e-6
    dw, db = check.reference_gradient(X, y, w, b)
    for j in range(2):
        step = np.zeros(2)
        step[j] = eps
        numeric = (check.reference_loss(X, y, w + step, b)
                   - check.reference_loss(X, y, w - step, b)) / (2 * eps)
        assert dw[j] == pytest.approx(numeric, rel=1e-6)
    numeric_b = (check.reference_loss(X, y, w, b + eps)
                 - check.reference_loss(X, y, w, b - eps)) / (2 * eps)
    assert db == pytest.approx(numeric_b, rel=1e-6)


def test_reference_steps_agree_with_the_gradient() -> None:
    X, y = linear_data(20, random_state=0)
    w, b = np.array([0.3, -0.7]), 0.5
    dw_columns, dw_shape, dw, db = check.reference_gradient_steps(X, y, w, b)
    want_w, want_b = check.reference_gradient(X, y, w, b)
    assert dw_shape == (2,) and dw.shape == (2,)
    assert np.allclose(dw_columns, want_w, rtol=1e-12) and np.allclose(dw, want_w, rtol=1e-12)
    assert db == pytest.approx(want_b, rel=1e-12)


def test_reference_epoch_lowers_the_loss() -> None:
    X, y = linear_data(200, random_state=1)
    w, b = np.zeros(2), 0.0
    before = check.reference_loss(X, y, w, b)
    w, b, losses = check.reference_sgd_epoch(X, y, w, b, lr=0.05, batch_size=10,
                                             rng=np.random.default_rng(0))
    assert len(losses) == 20
    assert check.reference_loss(X, y, w, b) < before / 10


# ---- what no declared mistake covers: shapes, crashes, stubs, arguments changed in place ----


def _predict_scaling_X(X, w, b):
    X *= 1.0
    X[0] = 0.0  # written into the caller's X
    return X @ w + b


def _todo(*args):
    raise NotImplementedError


MODEL_MISTAKES = [
    ((lambda X, w, b: X @ w.reshape(-1, 1) + b, mse),
     r"predict for X of shape \(\d+, 2\): expected shape \(\d+,\), got \(\d+, 1\), a column.*"
     r"broadcast to a \(\d+, \d+\) matrix"),
    ((lambda X, w, b: X * w + b, mse), r"got \(\d+, 2\): X \* w multiplies each feature"),
    ((lambda X, w, b: np.sum(X * w, axis=0) + b, mse),
     r"got \(2,\): one number per feature, as if summed over the samples \(axis=0\)"),
    ((predict, lambda X, y, w, b: (predict(X, w, b) - y) ** 2),
     r"expected a float, got an array of shape \(\d+,\): one squared residual per sample"),
    ((predict, lambda X, y, w, b: (X @ w[:, None] + b - y) ** 2),
     r"got an array of shape \((\d+), \1\): predictions of shape"),
    ((predict, lambda X, y, w: float(np.mean((X @ w - y) ** 2))), "raised TypeError"),
    ((predict, _todo), "not implemented yet"),
    ((_predict_scaling_X, mse), "your function changed `X` in place"),
]


@pytest.mark.parametrize(("wrong", "message"), MODEL_MISTAKES)
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_model_and_loss_name_the_mistake(wrong, message: str, seed) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.model_and_loss.check(*wrong, **({} if seed is None else {"seed": seed}))


def _global_n(X, y, w, b):  # divides by the lesson's N = 1000, whatever the batch holds
    r = X @ w + b - y
    return 2 * X.T @ r / 1000, 2 * r.sum() / 1000


def _transposed(X, y, w, b):
    r = X @ w + b - y
    return (2 * X.T @ r / len(y)).reshape(1, -1), 2 * r.mean()


def _missing_x_own_db(X, y, w, b):  # dw without the features, beside a db of its own
    r = X @ w + b - y
    return np.full(X.shape[1], 2 * r.mean()), r.sum()


GRADIENT_MISTAKES = [
    (_global_n, r"as if divided by 1000 samples.*divide by the number of samples in this "
                r"call, len\(y\)"),
    (_transposed, r"dw: expected shape \(\d,\), got \(1, \d\)"),
    (_missing_x_own_db, "the features are missing"),
    (lambda X, y, w, b: (check.reference_gradient(X, y, w, b)[0], 0.0), "dw is right, db is not"),
    (lambda X, y, w, b: 2 * X.T @ (X @ w + b - y) / len(y), r"expected a tuple of 2 \(dw, db\)"),
    (lambda X, y, w, b: 1 / 0, "raised ZeroDivisionError"),
    (_todo, "not implemented yet"),
]


@pytest.mark.parametrize(("wrong", "message"), GRADIENT_MISTAKES)
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_gradient_names_the_mistake(wrong, message: str, seed) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.mse_gradient.check(wrong, **({} if seed is None else {"seed": seed}))


def _right(X, r):
    return 2 * X.T @ r / len(r)


def _steps_with(*, dw_columns=_right, dw=_right, shape=lambda X: X.shape[1:],
                db=lambda r: 2 * r.mean()):
    """The right steps, but with ``dw_columns(X, r)``, ``shape(X)``, ``dw(X, r)`` or ``db(r)``
    as given."""
    def steps(X, y, w, b):
        r = X @ w + b - y
        return dw_columns(X, r), shape(X), dw(X, r), db(r)
    return steps


_ALIGN = r"a matrix product whose shapes do not line up\. X is \(N, d\) and r is \(N,\)"
STEPS_MISTAKES = [
    (_steps_with(dw=lambda X, r: 2 * X @ r / len(r)),
     _ALIGN + r".*Xᵀ r, \(d, N\)·\(N,\) → \(d,\)"),
    (_steps_with(dw=lambda X, r: 2 * np.dot(X, r) / len(r)), _ALIGN + ".*not aligned"),
    (_steps_with(dw_columns=lambda X, r: 2 * (X * r).mean(axis=0)),
     r"X \* r multiplies X \(N, d\) by r \(N,\) entry by entry.*make r a column, r\[:, None\]"),
    (_steps_with(shape=lambda X: X.shape[1]), "dw_shape: a shape is a tuple of ints"),
    (_steps_with(dw=lambda X, r: 2 * X.T * r / len(r)),
     r"dw: got shape \(\d, \d+\), one term per feature and sample: add the terms over the "
     "samples"),
    (_steps_with(dw=lambda X, r: X.T @ r / len(r)), r"dw: ∂\(r_i²\)/∂r_i = 2r_i: the factor 2"),
    (_steps_with(dw_columns=lambda X, r: -_right(X, r)), "dw_columns: the residual is r = ŷ − y"),
    (_steps_with(dw=lambda X, r: 2 * X.T @ r), r"dw: L is the mean over the N=\d+ samples"),
    (_steps_with(db=lambda r: r), "db: that is one value per sample"),
    (_steps_with(db=lambda r: -2 * r.mean()), "db: the residual is r = ŷ − y"),
]


@pytest.mark.parametrize(("wrong", "message"), STEPS_MISTAKES)
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_gradient_steps_name_the_step_that_is_wrong(wrong, message: str, seed) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.gradient_steps.check(wrong, **({} if seed is None else {"seed": seed}))


# ---- valid versions written differently ----


def _gradient_residual_first(X, y, w, b):
    # no loop over samples, as the prompt asks: the residual times X, one product
    residual = X @ w + b - y
    dw = 2.0 * (residual @ X) / len(y)
    return [dw, np.float64(2.0 * residual.sum() / len(y))]  # a list, and a NumPy scalar


def _gradient_broadcast(X, y, w, b):
    residual = (X @ w + b - y)[:, None]  # (N, 1)
    return (2 * residual * X).mean(axis=0), np.array(2 * residual.mean())  # db 0-d


def _gradient_einsum(X, y, w, b):
    residual = np.einsum("nd,d->n", X, w) + b - y
    return 2 * np.einsum("nd,n->d", X, residual) / len(y), 2 * residual.sum() / len(y)


def _steps_per_column(X, y, w, b):
    residual = (predict(X, w, b) - y)[:, None]  # (N, 1): one column, lined up with X's rows
    dw_columns = 2 * (X * residual).mean(axis=0)  # every column's sum at once
    return dw_columns, X.shape[1:], 2 * (residual[:, 0] @ X) / len(y), 2 * residual.mean()


def _steps_comprehension(X, y, w, b):
    n = len(y)
    r = np.einsum("nd,d->n", X, w) + b - y
    dw_columns = np.array([2 / n * X[:, j] @ r for j in range(len(w))])
    return [dw_columns, (len(w),), np.dot(X.T, r) * 2 / n, np.float64(r.sum() * 2 / n)]


def _steps_by_einsum(X, y, w, b):
    r = X @ w + b - y
    dw = 2 * np.einsum("nd,n->d", X, r) / X.shape[0]
    columns = np.empty_like(w, dtype=float)
    for j, column in enumerate(X.T):
        columns[j] = np.mean(2 * column * r)
    return columns, dw.shape, dw, float(np.mean(2 * r))


def _epoch_own_permutation(X, y, w, b, *, lr, batch_size, rng):
    order = np.arange(len(y))
    rng.shuffle(order)  # the same order as rng.permutation, hence as data.batches
    w = w.copy()
    losses = np.zeros(-(-len(y) // batch_size))
    for k, start in enumerate(range(0, len(y), batch_size)):
        Xb, yb = X[order[start:start + batch_size]], y[order[start:start + batch_size]]
        losses[k] = np.mean((Xb @ w + b - yb) ** 2)
        dw, db = check.reference_gradient(Xb, yb, w, b)
        w -= lr * dw  # in place on the copy
        b -= lr * db
    return w, b, losses.tolist()  # w of shape (d,), losses a list, as the prompt says


def _predict_einsum(X, w, b):
    return np.einsum("nd,d->n", X, w) + b


def _mse_by_dot(X, y, w, b):
    residual = _predict_einsum(X, w, b) - y
    return residual @ residual / len(y)  # a NumPy float


def _predict_by_columns(X, w, b):
    # no loop over samples, as the prompt asks: each feature times its weight, summed per row
    return (X * w).sum(axis=1) + b


def _mse_target_first(X, y, w, b):
    return np.square(y - _predict_by_columns(X, w, b)).mean()  # y − ŷ squares the same


def _predict_transposed(X, w, b):
    return np.dot(w, X.T) + b  # (d,) @ (d, N) -> (N,)


def _mse_by_norm(X, y, w, b):
    return float(np.linalg.norm(_predict_transposed(X, w, b) - y) ** 2 / y.size)


def _epoch_in_place(X, y, w, b, *, lr, batch_size, rng):
    w, losses = np.array(w, dtype=float), []  # a copy, updated in place below
    for Xb, yb in batches(X, y, batch_size=batch_size, random_state=rng):
        residual = Xb @ w + b - yb
        losses.append(float(residual @ residual / len(yb)))
        w -= lr * 2 * Xb.T @ residual / len(yb)
        b -= lr * 2 * residual.mean()
    return w, float(b), losses


def _epoch_in_float32(X, y, w, b, *, lr, batch_size, rng):  # cast "for speed": accepted
    losses = []
    w = w.astype(np.float32)
    for Xb, yb in batches(X.astype(np.float32), y.astype(np.float32), batch_size=batch_size,
                          random_state=rng):
        residual = Xb @ w + np.float32(b) - yb
        losses.append(float(np.mean(residual**2)))
        w = w - np.float32(lr) * 2 * Xb.T @ residual / np.float32(len(yb))
        b = np.float32(b - lr * 2 * residual.mean())
    return w, b, losses


#: Every exercise of lesson 02 -> valid versions a student could write in its solution cell
#: (02-model-and-loss: a (predict, mse) pair, in the check call's order).
VALID_VERSIONS: dict[str, list[object]] = {
    "02-model-and-loss": [(_predict_einsum, _mse_by_dot), (_predict_by_columns, _mse_target_first),
                          (_predict_transposed, _mse_by_norm)],
    "02-gradient-steps": [_steps_per_column, _steps_comprehension, _steps_by_einsum],
    "02-mse-gradient": [_gradient_residual_first, _gradient_broadcast, _gradient_einsum],
    "02-sgd-epoch": [_epoch_with(), _epoch_own_permutation, _epoch_in_place, _epoch_in_float32],
}


@pytest.mark.parametrize("seed", [3, 4, 5, 6, 7, 8])
def test_float32_arithmetic_is_accepted_on_every_seed(seed, capsys) -> None:
    check.sgd_epoch.check(_epoch_in_float32, seed=seed)
    assert "✔ 02-sgd-epoch" in capsys.readouterr().out


# ---- the probes return plain data; the judges refuse odd data ----


@pytest.mark.parametrize(
    ("exercise_id", "student"),
    [("02-gradient-steps", fn) for fn in [check.reference_gradient_steps, _steps_by_einsum,
                                          STEPS_MISTAKES[0][0], STEPS_MISTAKES[3][0]]] +
    [("02-mse-gradient", fn) for fn in [check.reference_gradient, _transposed,
                                        lambda X, y, w, b: None, "not a function"]] +
    [("02-sgd-epoch", fn) for fn in [check.reference_sgd_epoch, _unchanged, _own_choice_shuffle,
                                     _epoch_variant("column losses")]])
def test_probe_data_survives_the_wire(exercise_id, student) -> None:
    assert_same_verdict_over_the_wire(check.EXERCISES[exercise_id], student)


@pytest.mark.parametrize("student", [(check.reference_predict, check.reference_loss),
                                     *VALID_VERSIONS["02-model-and-loss"],
                                     *(wrong for wrong, _ in MODEL_MISTAKES),
                                     (lambda X, w, b: None, mse), (predict, "not a function")])
def test_model_probe_data_survives_the_wire(student) -> None:
    inputs = round_trip(check.model_and_loss.inputs(np.random.default_rng(7)))
    data = check.model_and_loss.probe(inputs, *student)
    assert check.model_and_loss.verdict(inputs, round_trip(data)) == \
        check.model_and_loss.verdict(inputs, data)


def _hostile(data):
    """Odd versions of a probe's honest data: wrong lengths, kinds and shapes."""
    number = {"kind": "float", "type": "float", "value": 0.0}
    yield None
    yield {"kind": "float", "value": 1.0}
    yield data[:-1]
    yield [*data, data[-1]]
    yield [number] * len(data)
    yield [{"kind": "str", "value": "✔"}] * len(data)
    yield [{"kind": "list", "type": "tuple", "length": 2, "items": [number, number]}] * len(data)
    yield [{"kind": "array", "type": "ndarray", "dtype": "float64", "shape": [2],
            "value": np.zeros(3)}] * len(data)
    yield [{"nonsense": True}] * len(data)
    yield [[item] for item in data]
    yield {"kind": "raised", "type": "RuntimeError", "message": "boom", "frame": "",
           "stub": False, "below_raise": False}


def _judged_odd(exercise, honest, odd) -> None:
    inputs = round_trip(exercise.inputs(np.random.default_rng(7)))
    assert exercise.verdict(inputs, honest(inputs))[0]
    for data in odd(honest(inputs)):
        ok, message = exercise.verdict(inputs, data)
        assert not ok and message, data


@pytest.mark.parametrize(("exercise_id", "student"),
                         [("02-gradient-steps", check.reference_gradient_steps),
                          ("02-mse-gradient", check.reference_gradient),
                          ("02-sgd-epoch", check.reference_sgd_epoch)])
def test_judges_fail_odd_data(exercise_id, student) -> None:
    exercise = check.EXERCISES[exercise_id]
    _judged_odd(exercise, lambda inputs: round_trip(exercise.probe(inputs, student)), _hostile)


def test_model_judge_fails_odd_data() -> None:
    def odd(honest):
        yield from [{"predict": honest["predict"]}, {**honest, "extra": None}, honest["mse"]]
        for part in ("predict", "mse"):
            yield from ({**honest, part: data} for data in _hostile(honest[part]))

    _judged_odd(check.model_and_loss, lambda inputs: round_trip(check.model_and_loss.probe(
        inputs, check.reference_predict, check.reference_loss)), odd)
