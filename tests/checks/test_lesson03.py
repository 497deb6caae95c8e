"""Lesson 03's checks pass the reference and name each realistic mistake."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson03 as check
from coursekit.probes.data import round_trip


def _numerical(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + h
        plus = f()
        x.flat[i] = old - h
        minus = f()
        x.flat[i] = old
        grad.flat[i] = (plus - minus) / (2 * h)
    return grad


# ---- the references are right (central differences) ----


def test_reference_dense_backward_matches_central_differences() -> None:
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    dout = rng.normal(size=(4, 2))

    def scalar() -> float:
        return float(np.sum((x @ W + b) * dout))

    dx, dW, db = check.reference_dense_backward(x, W, dout)
    np.testing.assert_allclose(dx, _numerical(scalar, x), rtol=1e-6)
    np.testing.assert_allclose(dW, _numerical(scalar, W), rtol=1e-6)
    np.testing.assert_allclose(db, _numerical(scalar, b), rtol=1e-6)


def test_reference_softmax_ce_gradient_matches_central_differences() -> None:
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])

    def scalar() -> float:
        return float(-np.mean(np.log(check.reference_softmax(z)[np.arange(5), y])))

    np.testing.assert_allclose(check.reference_softmax_ce_gradient(z, y), _numerical(scalar, z),
                               rtol=1e-6, atol=1e-10)


def test_reference_softmax_is_finite_for_huge_logits() -> None:
    p = check.reference_softmax(np.array([[1000.0, 0.0, -1000.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0]])


# ---- 03-dense-backward ----


def test_dense_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.dense_backward(check.reference_dense_backward)
    assert capsys.readouterr().out.startswith("✔ 03-dense-backward:")


DENSE_MISTAKES = [
        (lambda x, W, d: (d @ W.T, d.T @ x, d.sum(0)), r"dW.*looks transposed"),
        (lambda x, W, d: (d @ W.T, x.T @ d, d), "sum dout over the batch axis"),
        (lambda x, W, d: (d @ W.T, x.T @ d / len(x), d.sum(0)), "dW is divided by N"),
        (lambda x, W, d: (d @ W.T, x.T @ d, d.mean(0)), "db is the mean"),
        (lambda x, W, d: (d @ W.T, x.T @ d, d.sum(0, keepdims=True)),
         "a missing reshape or keepdims"),
        (lambda x, W, d: (x @ W, x.T @ d, d.sum(0)), r"dx: expected shape"),
        (lambda x, W, d: (d @ W.T * 2, x.T @ d, d.sum(0)), "dx is wrong"),
        (lambda x, W, d: (x.T @ d, d.sum(0)), "expected a triple"),
        (lambda x, W, d: (x.T @ d, d @ W.T, d.sum(0)), r"the return order is \(dx, dW, db\)"),
]


@pytest.mark.parametrize(("wrong", "message"), DENSE_MISTAKES)
def test_dense_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.dense_backward(wrong)


# ---- 03-relu-backward ----


def test_relu_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.relu_backward(check.reference_relu_backward)
    check.relu_backward(lambda x, d: np.where(x > 0, d, 0.0))
    assert capsys.readouterr().out.count("✔ 03-relu-backward:") == 2


RELU_MISTAKES = [
        # the seed's bug: np.where(inputs > 0, inputs, 0) * dvalues
        (lambda x, d: np.where(x > 0, x, 0) * d, "multiply by the 0/1 mask"),
        (lambda x, d: (x > 0).astype(float), "the mask alone"),
        (lambda x, d: np.maximum(d, 0), "ReLU applied to dout"),
        (lambda x, d: d.copy(), "no gradient flows back"),
        (lambda x, d: d * (x >= 0), "at x = 0 exactly"),
        (lambda x, d: (d * (x > 0)).T, "looks transposed"),
]


@pytest.mark.parametrize(("wrong", "message"), RELU_MISTAKES)
def test_relu_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.relu_backward(wrong)


# ---- 03-softmax-ce-gradient ----


def test_softmax_ce_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.softmax_ce_gradient(check.reference_softmax_ce_gradient)
    assert capsys.readouterr().out.startswith("✔ 03-softmax-ce-gradient:")


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _naive_softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _softmax_axis0(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _onehot_from_batch(z, y):  # the seed's np.eye(len(np.unique(y)))[y]
    return (_softmax(z) - np.eye(len(np.unique(y)))[y]) / len(y)


SOFTMAX_CE_MISTAKES = [
        (lambda z, y: _softmax(z) - np.eye(z.shape[1])[y], "N=6 times too large"),
        (lambda z, y: (np.eye(z.shape[1])[y] - _softmax(z)) / len(y), "check the sign"),
        (lambda z, y: (z - np.eye(z.shape[1])[y]) / len(y), "you used the logits"),
        (lambda z, y: -np.eye(z.shape[1])[y] / (len(y) * _softmax(z)), "that is dL/dp"),
        (lambda z, y: (_softmax_axis0(z) - np.eye(z.shape[1])[y]) / len(y),
         "the rows of p must sum to 1"),
        (lambda z, y: (_softmax(z) - np.eye(z.shape[1])[y]) / 300,
         r"as if divided by 300: divide p − onehot by N = len\(y\) = 6"),
        (_onehot_from_batch, "z.shape.1. columns, not from the classes present in this batch"),
        (lambda z, y: (_naive_softmax(z) - np.eye(z.shape[1])[y]) / len(y),
         "Subtract each row's maximum"),
]


@pytest.mark.parametrize(("wrong", "message"), SOFTMAX_CE_MISTAKES)
def test_softmax_ce_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.softmax_ce_gradient(wrong)


def test_softmax_ce_explains_a_crash_on_a_batch_missing_classes() -> None:
    def classes_up_to_the_largest_label(z, y):  # np.eye(y.max() + 1): too narrow for [0, 1, 1, 0]
        return (_softmax(z) - np.eye(int(y.max()) + 1)[y]) / len(y)

    with pytest.raises(ExerciseFailed,
                       match=r"raised ValueError: operands could not be broadcast.*not from the "
                             "classes present"):
        check.softmax_ce_gradient(classes_up_to_the_largest_label)


# ---- valid versions written differently, on the lesson's inputs and on fresh ones ----


def _dense_by_einsum(x, W, dout):
    return (np.einsum("nj,ij->ni", dout, W), np.einsum("ni,nj->ij", x, dout),
            np.ones(len(x)) @ dout)


def _dense_as_list(x, W, dout):
    return [np.dot(dout, W.T), np.dot(x.T, dout), np.add.reduce(dout, axis=0)]


def _softmax_ce_per_row(z, y):  # a loop over rows is slow but right
    grad = np.empty_like(z)
    for i in range(len(y)):
        row = np.exp(z[i] - z[i].max())
        grad[i] = row / row.sum()
        grad[i, y[i]] -= 1.0
    return grad / len(y)


def _softmax_ce_log_space(z, y):
    shifted = z - z.max(axis=1, keepdims=True)
    p = np.exp(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
    p[np.arange(len(y)), y] -= 1
    return p / z.shape[0]


VALID = {
    "DENSE_BACKWARD": [check.reference_dense_backward, _dense_by_einsum, _dense_as_list],
    "RELU_BACKWARD": [check.reference_relu_backward, lambda x, d: np.where(x > 0, d, 0.0),
                      lambda x, d: d * np.heaviside(x, 0.0)],
    "SOFTMAX_CE_GRADIENT": [check.reference_softmax_ce_gradient, _softmax_ce_per_row,
                            _softmax_ce_log_space],
}


@pytest.mark.parametrize(("exercise", "student"),
                         [(name, fn) for name, fns in VALID.items() for fn in fns])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_valid_versions_pass_on_any_inputs(exercise, student, seed,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    exercise = getattr(check, exercise)
    if seed is None:
        exercise.check(student)
    else:
        exercise.check(student, seed=seed)
    assert capsys.readouterr().out.startswith(f"✔ {exercise.id}:")




# ---- the probes return plain data; the judges refuse odd data ----

WRONG = {
    "DENSE_BACKWARD": [lambda x, W, d: (x.T @ d, d @ W.T, d.sum(0)), lambda x, W, d: None,
                       lambda x, W, d: (x.T @ d, d.sum(0))],
    "RELU_BACKWARD": [lambda x, d: d.copy(), lambda x, d: [[1.0]], lambda x, d: {}],
    "SOFTMAX_CE_GRADIENT": [_onehot_from_batch, lambda z, y: (_naive_softmax(z) - 1) / len(y),
                            lambda z, y: (_softmax(z) - np.eye(int(y.max()) + 1)[y]) / len(y)],
}


def _inputs(exercise):
    return round_trip(exercise.inputs(np.random.default_rng(7)))


@pytest.mark.parametrize(("exercise", "student"),
                         [(name, fn) for name in VALID for fn in VALID[name][:1] + WRONG[name]])
def test_probe_data_survives_the_wire(exercise, student) -> None:
    exercise = getattr(check, exercise)
    inputs = _inputs(exercise)
    with np.errstate(all="ignore"):
        data = exercise.probe(inputs, student)
    assert exercise.verdict(inputs, round_trip(data)) == exercise.verdict(inputs, data)


def _hostile(data):
    """Odd versions of a probe's honest data: wrong lengths, kinds and shapes."""
    number = {"kind": "float", "type": "float", "value": 0.0}
    wrong_shape = {"kind": "array", "type": "ndarray", "dtype": "float64", "shape": [2, 2],
                   "value": np.zeros(3)}
    yield None
    yield data[:-1]
    yield [*data, data[-1]]
    yield [number] * len(data)
    yield [{"kind": "str", "value": "✔"}] * len(data)
    yield [wrong_shape] * len(data)
    yield [{"kind": "list", "type": "tuple", "length": 3, "items": [wrong_shape] * 3}] * len(data)
    yield [{"kind": "list", "type": "tuple", "length": 3, "items": [number]}] * len(data)
    yield [{"nonsense": True}] * len(data)
    yield [[item] for item in data]
    yield {"kind": "raised", "type": "RuntimeError", "message": "boom", "frame": "",
           "stub": False, "below_raise": False}


@pytest.mark.parametrize("name", list(VALID))
def test_judges_fail_odd_data(name) -> None:
    exercise = getattr(check, name)
    inputs = _inputs(exercise)
    honest = round_trip(exercise.probe(inputs, VALID[name][0]))
    assert exercise.verdict(inputs, honest)[0]
    for data in _hostile(honest):
        ok, message = exercise.verdict(inputs, data)
        assert not ok, data
        assert message


@pytest.mark.parametrize(
    ("exercise", "wrong", "message"),
    [(check.DENSE_BACKWARD, *case) for case in DENSE_MISTAKES] +
    [(check.RELU_BACKWARD, *case) for case in RELU_MISTAKES] +
    [(check.SOFTMAX_CE_GRADIENT, *case) for case in SOFTMAX_CE_MISTAKES] +
    [(check.SOFTMAX_CE_GRADIENT,
      lambda z, y: (_softmax(z) - np.eye(int(y.max()) + 1)[y]) / len(y),
      r"raised ValueError: .*not from the classes present")],
)
def test_mistakes_are_named_on_fresh_inputs(exercise, wrong, message: str) -> None:
    # grading draws fresh inputs: every mistake above keeps its message on them
    for seed in range(1, 6):
        with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
            exercise.check(wrong, seed=seed)

