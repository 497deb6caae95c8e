"""Lesson 03's checks pass the reference and name each realistic mistake."""

from __future__ import annotations

import re

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson03 as check
from coursekit.exercise.wire import round_trip
from coursekit.probes import lesson03 as probes
from tests.checks._cells import run_lesson_with
from tests.checks.wire import assert_same_verdict_over_the_wire


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


def _dense_by_tensordot(x, W, dout):
    return (np.tensordot(dout, W, axes=(1, 1)), np.tensordot(x, dout, axes=(0, 0)),
            np.sum(dout, axis=0))


def _relu_by_copy(x, dout):  # copy dout, zero where the input was not positive
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def _relu_in_place(x, dout):  # CS231n's form: dx = dout, zeroed in place, is returned
    dx = dout
    dx[x <= 0] = 0
    return dx


VALID = {
    "DENSE_BACKWARD": [check.reference_dense_backward, _dense_by_einsum, _dense_as_list,
                       _dense_by_tensordot],
    "RELU_BACKWARD": [check.reference_relu_backward, lambda x, d: np.where(x > 0, d, 0.0),
                      lambda x, d: d * np.heaviside(x, 0.0), _relu_by_copy, _relu_in_place],
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
    assert_same_verdict_over_the_wire(getattr(check, exercise), student)


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
    yield [{"kind": "changed", "names": ["z"], "result": item} for item in data]
    yield [{"kind": "changed", "names": names, "result": item} for item in data
           for names in ([], ["not a name"], [1], "z")]
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



# ---- 03-dense-forward and 03-numerical-gradient ----

def _define(source: str, name: str):
    namespace = {"np": np}
    exec(source, namespace)
    return namespace[name]


FORWARD_VALID = {
    "matmul": "def dense_forward(x, W, b):\n    return x @ W + b\n",
    "dot": "def dense_forward(x, W, b):\n    return np.dot(x, W) + b.reshape(1, -1)\n",
    "einsum": "def dense_forward(x, W, b):\n"
              "    out = np.einsum('nd,dh->nh', x, W)\n    out += b\n    return out\n",
    "columns": "def dense_forward(x, W, b):\n"
               "    # one output unit at a time\n"
               "    return np.stack([x @ W[:, j] + b[j] for j in range(W.shape[1])], axis=1)\n",
}


@pytest.mark.parametrize("name", list(FORWARD_VALID))
def test_dense_forward_accepts_valid_versions_that_run_the_later_cells(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    forward = _define(FORWARD_VALID[name], "dense_forward")
    for seed in (None, 1, 2):
        check.DENSE_FORWARD.check(forward, **({} if seed is None else {"seed": seed}))
    assert capsys.readouterr().out.count("✔ 03-dense-forward") == 3
    # every Dense layer of the lesson runs through it, up to the whole-network gradient check
    namespace = run_lesson_with("03_layers_from_scratch.ipynb",
                                {"03-dense-forward": FORWARD_VALID[name]}, until="55843b08")
    assert namespace["worst"] < 1e-7


FORWARD_MISTAKES = [
    (lambda x, W, b: x @ W, "the bias is missing"),
    (lambda x, W, b: x @ W.T + b, r"that is x @ W.T|raised ValueError.*x on the left"),
    (lambda x, W, b: x @ W + b[:, None], r"b is added down the rows|raised ValueError"),
    (lambda x, W, b: W @ x + b, r"raised ValueError.*x @ W \+ b, with x on the left"),
    (lambda x, W, b: (x @ W + b).T, "looks transposed"),
    (lambda x, W, b: x @ W - b, "b is subtracted"),
    (lambda x, W, b: x @ W + b.sum(), "out differs from x @ W"),
]


@pytest.mark.parametrize(("wrong", "message"), FORWARD_MISTAKES)
def test_dense_forward_names_the_mistake(wrong, message: str) -> None:
    for seed in range(4):
        with pytest.raises(ExerciseFailed, match=message):
            check.DENSE_FORWARD.check(wrong, seed=seed)


def test_dense_forward_names_the_square_case_mistakes() -> None:
    with pytest.raises(ExerciseFailed, match=r"x \(6, 3\), W \(3, 3\).*that is x @ W.T"):
        check.dense_forward(lambda x, W, b: x @ W.T + b if W.shape[0] == W.shape[1]
                            else x @ W + b)
    with pytest.raises(ExerciseFailed, match=r"x \(4, 3\), W \(3, 4\).*b is added down the rows"):
        check.dense_forward(lambda x, W, b: x @ W + b[:, None] if len(x) == len(b)
                            else x @ W + b)


NUMGRAD_VALID = {
    "flat": ("def numerical_gradient(f, x, h=1e-5):\n"
             "    grad = np.zeros_like(x)\n"
             "    for k in range(x.size):\n"
             "        old = x.flat[k]\n"
             "        x.flat[k] = old + h\n        plus = f()\n"
             "        x.flat[k] = old - h\n        minus = f()\n"
             "        x.flat[k] = old\n"
             "        grad.flat[k] = (plus - minus) / (2 * h)\n"
             "    return grad\n"),
    # CS231n's form: a multi-index iterator, nudges by += and -=, restored by adding h back
    "nditer": ("def numerical_gradient(f, x, h=1e-5):\n"
               "    grad = np.empty(x.shape)\n"
               "    it = np.nditer(x, flags=['multi_index'], op_flags=[['readwrite']])\n"
               "    while not it.finished:\n"
               "        i = it.multi_index\n"
               "        x[i] += h\n        plus = f()\n"
               "        x[i] -= 2 * h\n        minus = f()\n"
               "        x[i] += h\n"
               "        grad[i] = 0.5 * (plus - minus) / h\n"
               "        it.iternext()\n"
               "    return grad\n"),
    "ndindex": ("def numerical_gradient(f, x, h=1e-5):\n"
                "    values = []\n"
                "    for index in np.ndindex(*x.shape):\n"
                "        saved = x[index].copy()\n"
                "        x[index] = saved + h\n        up = f()\n"
                "        x[index] = saved - h\n        down = f()\n"
                "        x[index] = saved\n"
                "        values.append((up - down) / h / 2)\n"
                "    return np.array(values).reshape(x.shape)\n"),
    "view": ("def numerical_gradient(f, x, h=1e-5):\n"
             "    flat = x.reshape(-1)  # a view of a contiguous x: writing it writes x\n"
             "    grad = np.zeros(flat.size)\n"
             "    for k, old in enumerate(flat.copy()):\n"
             "        flat[k] = old + h\n        plus = f()\n"
             "        flat[k] = old - h\n        minus = f()\n"
             "        flat[k] = old\n"
             "        grad[k] = (plus - minus) / (2 * h)\n"
             "    return grad.reshape(x.shape)\n"),
}


@pytest.mark.parametrize("name", list(NUMGRAD_VALID))
def test_numerical_gradient_accepts_valid_versions_that_run_the_later_cells(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    gradient = _define(NUMGRAD_VALID[name], "numerical_gradient")
    for seed in (None, 1, 2, 3):
        check.NUMERICAL_GRADIENT.check(gradient, **({} if seed is None else {"seed": seed}))
    assert capsys.readouterr().out.count("✔ 03-numerical-gradient") == 4
    # the lesson's gradient checks of Dense, ReLU, Softmax, CrossEntropy and the whole network
    namespace = run_lesson_with("03_layers_from_scratch.ipynb",
                                {"03-numerical-gradient": NUMGRAD_VALID[name]}, until="55843b08")
    assert max(namespace["dense_errors"].values()) < 1e-7
    assert namespace["relu_errors"]["x"] < 1e-7 and namespace["ce_error"] < 1e-7
    assert namespace["worst"] < 1e-7


def _numgrad(kind: str):
    """Realistic wrong numerical gradients."""
    def gradient(f, x, h=1e-5):
        grad = np.zeros_like(x)
        f0 = f()
        for k in range(x.size):
            old = x.flat[k]
            x.flat[k] = old + h
            plus = f()
            x.flat[k] = old if kind == "half" else old - h
            minus = f()
            if kind != "unrestored":
                x.flat[k] = old
            grad.flat[k] = {"forward": (plus - f0) / h, "over h": (plus - minus) / h,
                            "swapped": (minus - plus) / (2 * h),
                            "precedence": (plus - minus) / 2 * h}.get(kind,
                                                                      (plus - minus) / (2 * h))
        return grad
    return gradient


def _on_a_copy(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for k in range(x.size):
        nudged = x.copy()
        nudged.flat[k] += h
        plus = f()
        nudged.flat[k] -= 2 * h
        minus = f()
        grad.flat[k] = (plus - minus) / (2 * h)
    return grad


def _rows(f, x, h=1e-5):  # lesson 01-02's loop over len(x), on a 2-D x nudges whole rows
    grad = np.zeros_like(x)
    for i in range(len(x)):
        old = x[i].copy()
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def _with_argument(f, x, h=1e-5):  # lessons 01-02 called f(theta ± h)
    grad = np.zeros_like(x)
    for k in range(x.size):
        step = np.zeros_like(x)
        step.flat[k] = h
        grad.flat[k] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


NUMGRAD_MISTAKES = [
    (_numgrad("forward"), "one-sided difference"),
    (_numgrad("half"), "minus side was evaluated at x"),
    (_numgrad("over h"), "divides by 2h"),
    (_numgrad("swapped"), "the sign is flipped"),
    (_numgrad("precedence"), r"/ 2 \* h` divides by 2"),
    (_numgrad("unrestored"), "x was not restored"),
    (_on_a_copy, "f\\(\\) never saw your nudges"),
    (_rows, "nudged a whole row"),
    (_with_argument, "you called f with an argument"),
    (lambda f, x, h=1e-5: [0.0] * x.size, r"return a NumPy array"),
    (lambda f, x, h=1e-5: _numgrad("right")(f, x, h).ravel(),
     r"expected shape \(3, 4\), got \(12,\): right number of entries"),
    (lambda f, x, h=1e-5: np.zeros(x.shape), "never called f"),
]


@pytest.mark.parametrize(("wrong", "message"), NUMGRAD_MISTAKES)
def test_numerical_gradient_names_the_mistake(wrong, message: str) -> None:
    for seed in range(5):
        with pytest.raises(ExerciseFailed, match=message):
            check.NUMERICAL_GRADIENT.check(wrong, seed=seed)


def test_numerical_gradient_judges_tiny_gradients_entry_by_entry() -> None:
    # right everywhere except where the gradient is tiny: a relative error over the whole
    # array would not see it, the entry-by-entry judge does
    reference = _define(NUMGRAD_VALID["flat"], "numerical_gradient")

    def sloppy_on_tiny(f, x, h=1e-5):
        grad = reference(f, x, h)
        grad[np.abs(grad) < 1e-6] = 0.0
        return grad

    inputs = round_trip(check.NUMERICAL_GRADIENT.inputs(np.random.default_rng(0)))
    whole = check.exact_gradient(inputs["cases"][0])
    with pytest.raises(ExerciseFailed, match=r"entry 1 is 0, the exact gradient there is"):
        check.numerical_gradient(sloppy_on_tiny)
    # the tiny entries sit next to large ones
    assert np.max(np.abs(whole)) > 300 and np.min(np.abs(whole)) < 1e-6


def test_the_exact_gradients_match_central_differences() -> None:
    inputs = round_trip(check.NUMERICAL_GRADIENT.inputs(np.random.default_rng(3)))
    for case in inputs["cases"]:
        x = np.array(case["x"])
        numeric = _numerical(lambda case=case, x=x: probes.evaluate(case, x), x, h=1e-5)
        np.testing.assert_allclose(numeric, check.exact_gradient(case), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("exercise", ["DENSE_FORWARD", "NUMERICAL_GRADIENT"])
def test_new_judges_fail_odd_data(exercise: str) -> None:
    exercise = getattr(check, exercise)
    inputs = _inputs(exercise)
    valid = (check.reference_dense_forward if exercise is check.DENSE_FORWARD
             else _define(NUMGRAD_VALID["flat"], "numerical_gradient"))
    honest = round_trip(exercise.probe(inputs, valid))
    assert exercise.verdict(inputs, honest)[0]
    odd = list(_hostile(honest))
    if exercise is check.NUMERICAL_GRADIENT:  # each case's record: result, x after, calls
        odd += [[{**item, "calls": True} for item in honest],
                [{**item, "with_args": 1} for item in honest],
                [{**item, "x_after": item["result"]["value"]} for item in honest],
                [{k: v for k, v in item.items() if k != "x_after"} for item in honest],
                [{**item, "result": item["x_after"]} for item in honest]]
    for data in odd:
        ok, message = exercise.verdict(inputs, data)
        assert not ok, data
        assert message


@pytest.mark.parametrize(
    ("exercise", "student"),
    [(check.DENSE_FORWARD, fn) for fn in [check.reference_dense_forward,
                                          *(wrong for wrong, _ in FORWARD_MISTAKES)]] +
    [(check.NUMERICAL_GRADIENT, fn) for fn in [_numgrad("right"),
                                               *(wrong for wrong, _ in NUMGRAD_MISTAKES)]],
)
def test_new_probes_data_survives_the_wire(exercise, student) -> None:
    inputs = _inputs(exercise)
    data = exercise.probe(inputs, student)
    assert exercise.verdict(inputs, round_trip(data)) == exercise.verdict(inputs, data)


# ---- every exercise's valid versions, for tests/checks/test_valid_versions.py ----

# the lesson's own softmax, the label entries corrected in place (a solution cell's source)
SOFTMAX_CE_IN_PLACE = ("def softmax_ce_gradient(z, y):\n"
                       "    grad = softmax(z)\n"
                       "    grad[np.arange(len(y)), y] -= 1.0\n"
                       "    return grad / len(y)\n")

# written differently from the notebook's solutions (VALID[...][0] are the references)
def _softmax_ce_shifting_z(z, y):
    """z -= z.max(...) in the caller's logits: a shift per row, the same softmax (valid)."""
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


VALID_VERSIONS: dict[str, list[object]] = {
    "03-dense-forward": [FORWARD_VALID["dot"], FORWARD_VALID["einsum"],
                         FORWARD_VALID["columns"]],
    "03-dense-backward": VALID["DENSE_BACKWARD"][1:],
    "03-numerical-gradient": [NUMGRAD_VALID["nditer"], NUMGRAD_VALID["ndindex"],
                              NUMGRAD_VALID["view"]],
    "03-relu-backward": VALID["RELU_BACKWARD"][1:],
    "03-softmax-ce-gradient": [*VALID["SOFTMAX_CE_GRADIENT"][1:], SOFTMAX_CE_IN_PLACE,
                               _softmax_ce_shifting_z],
}


# ---- accepted once, then a later cell of the lesson failed: refused now ----


def _softmax_ce_in_z(z, y):  # the whole gradient computed in the caller's logits
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    z[np.arange(len(y)), y] -= 1.0
    z /= len(y)
    return z


def _softmax_ce_float32(z, y):
    p = _softmax(z.astype(np.float32))
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def _dense_forward_float32(x, W, b):
    return (x.astype(np.float32) @ W.astype(np.float32) + b).astype(np.float64)


LATER_CELL_MISTAKES = [
    # cell 41e0dd88 compares the fused gradient with a chain that reads z_all again
    (check.SOFTMAX_CE_GRADIENT, _softmax_ce_in_z,
     r"changed `z` in place.*later cells use it again"),
    # the same cell compares to 1e-10
    (check.SOFTMAX_CE_GRADIENT, _softmax_ce_float32, "the gradient is right to about float32 "
                                                     "precision only"),
    # cell 8e589205's gradient check of Dense (1e-7) needs a float64 forward pass
    (check.DENSE_FORWARD, _dense_forward_float32, "out is right to about float32 precision only"),
]


@pytest.mark.parametrize(("exercise", "wrong", "message"), LATER_CELL_MISTAKES)
def test_answers_a_later_cell_cannot_use_are_refused(exercise, wrong, message) -> None:
    for seed in (None, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            exercise.check(wrong, **({} if seed is None else {"seed": seed}))


def _then_changes(function, index: int):
    """``function``'s right answer, after which argument ``index`` is changed in place."""
    def changed(*args):
        result = function(*args)
        args[index][...] = args[index] * 1.5 + 1.0
        return result
    return changed


# What the lesson's later cells read again after the call: a Dense layer keeps x, W and b (its
# backward and the gradient checks use them), the gradient checks reuse dout (and nudge the
# very x the ReLU layer kept, after its backward), cell 41e0dd88 reuses z and y.
KEPT = [(check.DENSE_FORWARD, check.reference_dense_forward, ("x", "W", "b")),
        (check.DENSE_BACKWARD, check.reference_dense_backward, ("x", "W", "dout")),
        (check.RELU_BACKWARD, check.reference_relu_backward, ("x", "dout")),
        (check.SOFTMAX_CE_GRADIENT, check.reference_softmax_ce_gradient, ("z", "y"))]


@pytest.mark.parametrize(("exercise", "reference", "names"), KEPT,
                         ids=[exercise.id for exercise, _, _ in KEPT])
def test_changing_an_argument_a_later_cell_reads_is_refused(exercise, reference, names) -> None:
    for index, name in enumerate(names):
        if name is not None:
            with pytest.raises(ExerciseFailed, match=f"changed `{name}` in place"):
                exercise.check(_then_changes(reference, index))


def test_relu_backward_may_not_change_its_x() -> None:
    # the gradient check (cell 98402685) nudges the x the ReLU layer kept, after its backward:
    # an x turned into its own mask (x[x > 0] = 1; x[x <= 0] = 0) makes that check fail
    with pytest.raises(ExerciseFailed, match="changed `x` in place"):
        check.relu_backward(_then_changes(check.reference_relu_backward, 0))


def test_relu_backward_may_compute_dx_in_place_in_dout(capsys) -> None:
    # the lesson's gradient check reads dout after the call, and finds it equal to dx
    check.relu_backward(_relu_in_place)
    assert "✔ 03-relu-backward" in capsys.readouterr().out


# ---- an independent review's answers (accepted, or named wrongly, before) ----


def _relu_mask_in_x(x, dout):  # turns the layer's kept input into the mask
    x[x > 0] = 1
    x[x <= 0] = 0
    return dout * x


def _fixed_step(step: float):
    """A right central difference that ignores its h and steps by ``step``."""
    def gradient(f, x, h=1e-5):
        return _numgrad("right")(f, x, step)
    return gradient


def _no_h(f, x):  # the step hard-coded, no h parameter at all
    return _numgrad("right")(f, x, 1e-5)


def _sce_divided_by_all(z, y):  # the spiral's 300 points, not the batch's N
    p = _softmax(z)
    p[np.arange(len(y)), y] -= 1.0
    return p / 300


REVIEW_MISTAKES = [
    (check.RELU_BACKWARD, _relu_mask_in_x, "changed `x` in place"),
    (check.RELU_BACKWARD, lambda x, d: d[x > 0], r"dout\[x > 0\] selects those entries"),
    (check.DENSE_BACKWARD, lambda x, W, d: (d @ W.T, x.T @ d, d.sum(axis=1)),
     r"db summed dout over its columns \(axis=1\)"),
    # the lesson's CrossEntropy check (cell 0bf9a02c, ce_error < 1e-7) needs the h it passes
    (check.NUMERICAL_GRADIENT, _fixed_step(1e-4), "ignores its h argument"),
    (check.NUMERICAL_GRADIENT, _fixed_step(1e-6), "ignores its h argument"),
    (check.NUMERICAL_GRADIENT, _fixed_step(1e-7), "ignores its h argument"),
    (check.NUMERICAL_GRADIENT, _fixed_step(1e-3), "a step of 0.001"),
    (check.NUMERICAL_GRADIENT, _no_h, "Keep the signature numerical_gradient"),
    (check.SOFTMAX_CE_GRADIENT, _sce_divided_by_all, r"50 times too small, as if divided by 300"),
]


@pytest.mark.parametrize(("exercise", "wrong", "message"), REVIEW_MISTAKES)
def test_the_reviews_answers_are_named(exercise, wrong, message: str) -> None:
    for seed in (None, 1, 2, 3):
        with pytest.raises(ExerciseFailed, match=message):
            exercise.check(wrong, **({} if seed is None else {"seed": seed}))


def test_a_numerical_gradient_off_by_little_shows_enough_digits() -> None:
    # a step of 3e-3 is no named mistake: the message shows the difference, not two numbers
    # that print alike (1.58651 and 1.58651 with 6 digits)
    with pytest.raises(ExerciseFailed) as caught:
        check.numerical_gradient(_fixed_step(3e-3))
    found = re.search(r"entry .* is (\S+), the exact gradient there is (\S+) \(off by",
                      str(caught.value))
    assert found and found.group(1) != found.group(2)


def test_a_numerical_gradient_that_uses_its_h_passes(capsys) -> None:
    for source in NUMGRAD_VALID.values():
        check.numerical_gradient(_define(source, "numerical_gradient"))
    assert capsys.readouterr().out.count("✔ 03-numerical-gradient") == len(NUMGRAD_VALID)
