"""Lesson 03 checks: the references pass, valid versions written differently pass (and run the
lesson's later cells), and what no declared mistake covers (stubs, crashes, shapes, arguments
changed in place, float32, the numerical gradient's behaviour) is named. Declared mistakes are
tested in test_mistakes.py."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson03 as check
from coursekit.exercise.wire import round_trip
from tests.checks._cells import run_lesson_with
from tests.checks.test_lesson03_numgrad import (
    NUMGRAD_MISTAKES,
    NUMGRAD_VALID,
    _define,
    _numerical,
    _numgrad,
)
from tests.checks.test_lesson03_steps import STEPS_MISTAKES, STEPS_VALID
from tests.checks.wire import assert_same_verdict_over_the_wire


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



FORWARD_VALID = {
    "matmul": "def dense_forward(x, W, b):\n    return x @ W + b\n",
    "dot": "def dense_forward(x, W, b):\n    return np.dot(x, W) + b.reshape(1, -1)\n",
    "einsum": "def dense_forward(x, W, b):\n"
              "    out = np.einsum('nd,dh->nh', x, W)\n    out += b\n    return out\n",
    "columns": "def dense_forward(x, W, b):\n"
               "    # one output unit at a time\n"
               "    return np.stack([x @ W[:, j] + b[j] for j in range(W.shape[1])], axis=1)\n",
}


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


def _softmax_ce_in_z(z, y):  # the whole gradient computed in the caller's logits
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    z[np.arange(len(y)), y] -= 1.0
    z /= len(y)
    return z


def _todo(*args):
    raise NotImplementedError


def _then_changes(function, index: int):
    """``function``'s right answer, after which argument ``index`` is changed in place."""
    def changed(*args):
        result = function(*args)
        args[index][...] = args[index] * 1.5 + 1.0
        return result
    return changed


REFERENCES = {"03-dense-forward": check.reference_dense_forward,
              "03-dense-backward": check.reference_dense_backward,
              "03-numerical-gradient": _numgrad("right"),
              "03-relu-backward": check.reference_relu_backward,
              "03-softmax-ce-steps": check.reference_softmax_ce_steps,
              "03-softmax-ce-gradient": check.reference_softmax_ce_gradient}


# ---- what no declared mistake covers ----

MISTAKES = [
    # dense forward: a crash explained, a shape, values no mistake names, float32
    ("03-dense-forward", lambda x, W, b: W @ x + b,
     r"raised ValueError.*x @ W \+ b, with x on the left"),
    ("03-dense-forward", lambda x, W, b: (x @ W + b).T, "looks transposed"),
    ("03-dense-forward", lambda x, W, b: x @ W + b.sum(), "entries differ|expected"),
    ("03-dense-forward", lambda x, W, b: (x.astype(np.float32) @ W.astype(np.float32) + b
                                          ).astype(np.float64),
     "right only to about float32 precision"),
    ("03-dense-forward", _todo, "not implemented yet"),
    # dense backward: which part is wrong, shapes, structure
    ("03-dense-backward", lambda x, W, d: (d @ W.T * 2, x.T @ d, d.sum(0)), "dx is wrong"),
    ("03-dense-backward", lambda x, W, d: (d @ W.T, x.T @ d * 2, d.sum(0)), "dW is wrong"),
    ("03-dense-backward", lambda x, W, d: (d @ W.T, x.T @ d, d.sum(0) + 1), "db should be dout"),
    ("03-dense-backward", lambda x, W, d: (d @ W.T, d.T @ x, d.sum(0)), r"dW.*looks transposed"),
    ("03-dense-backward", lambda x, W, d: (d @ W.T, x.T @ d, d.sum(0, keepdims=True)),
     "a missing reshape or keepdims"),
    ("03-dense-backward", lambda x, W, d: (d @ W.T, x.T @ d, 2 * d), "db has shape"),
    ("03-dense-backward", lambda x, W, d: (x @ W, x.T @ d, d.sum(0)), r"dx: expected shape"),
    ("03-dense-backward", lambda x, W, d: (x.T @ d, d.sum(0)), r"expected a tuple of 3"),
    # relu backward: shapes
    ("03-relu-backward", lambda x, d: (d * (x > 0)).T, "looks transposed"),
    ("03-relu-backward", lambda x, d: d[x > 0], r"dout\[x > 0\] selects those entries"),
    # softmax + cross-entropy: a scale, crashes explained, an overflow, float32, z changed
    ("03-softmax-ce-gradient", lambda z, y: (_softmax(z) - np.eye(z.shape[1])[y]) / 300,
     r"50 times too small, as if divided by 300"),
    ("03-softmax-ce-gradient", _onehot_from_batch,
     "z.shape.1. columns, not from the classes present in this batch"),
    ("03-softmax-ce-gradient",
     lambda z, y: (_softmax(z) - np.eye(int(y.max()) + 1)[y]) / len(y),
     r"raised ValueError: operands could not be broadcast.*not from the classes present"),
    ("03-softmax-ce-gradient", lambda z, y: (_naive_softmax(z) - np.eye(z.shape[1])[y]) / len(y),
     "Subtract each row's maximum"),
    ("03-softmax-ce-gradient", lambda z, y: (_softmax(z.astype(np.float32))
                                             - np.eye(z.shape[1])[y]) / len(y), "float32"),
    ("03-softmax-ce-gradient", _softmax_ce_in_z, r"changed `z` in place.*later cells use it"),
    *STEPS_MISTAKES,
    ("03-softmax-ce-steps", _todo, "not implemented yet"),
    ("03-softmax-ce-steps", _then_changes(check.reference_softmax_ce_steps, 0),
     r"changed `z` in place"),
]


@pytest.mark.parametrize(("exercise_id", "wrong", "message"), MISTAKES)
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_what_no_declared_mistake_covers_is_named(exercise_id, wrong, message, seed) -> None:
    with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
        check.EXERCISES[exercise_id].check(wrong, **({} if seed is None else {"seed": seed}))


# What the lesson's later cells read again after the call: a Dense layer keeps x, W and b (its
# backward and the gradient checks use them), the gradient checks reuse dout (and nudge the
# very x the ReLU layer kept, after its backward), cells c0e138bf and 41e0dd88 reuse z and y.
KEPT = [("03-dense-forward", check.reference_dense_forward, ("x", "W", "b")),
        ("03-dense-backward", check.reference_dense_backward, ("x", "W", "dout")),
        ("03-relu-backward", check.reference_relu_backward, ("x", "dout")),
        ("03-softmax-ce-steps", check.reference_softmax_ce_steps, ("z", "y")),
        ("03-softmax-ce-gradient", check.reference_softmax_ce_gradient, ("z", "y"))]


@pytest.mark.parametrize(("exercise_id", "reference", "names"), KEPT)
def test_changing_an_argument_a_later_cell_reads_is_refused(exercise_id, reference, names):
    for index, name in enumerate(names):
        with pytest.raises(ExerciseFailed, match=f"changed `{name}` in place"):
            check.EXERCISES[exercise_id].check(_then_changes(reference, index))


# ---- valid versions ----

# the lesson's own softmax, the label entries corrected in place (a solution cell's source)
SOFTMAX_CE_IN_PLACE = ("def softmax_ce_gradient(z, y):\n"
                       "    grad = softmax(z)\n"
                       "    grad[np.arange(len(y)), y] -= 1.0\n"
                       "    return grad / len(y)\n")


def _softmax_ce_shifting_z(z, y):
    """z -= z.max(...) in the caller's logits: a shift per row, the same softmax (valid)."""
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


#: Exercises whose solution sources call the lesson's softmax (and one_hot): run in the lesson.
_USES_THE_LESSONS_SOFTMAX = ("03-softmax-ce-steps", "03-softmax-ce-gradient")

VALID_VERSIONS: dict[str, list[object]] = {
    "03-dense-forward": [FORWARD_VALID["dot"], FORWARD_VALID["einsum"],
                         FORWARD_VALID["columns"]],
    "03-dense-backward": [_dense_by_einsum, _dense_as_list, _dense_by_tensordot],
    "03-numerical-gradient": [NUMGRAD_VALID["nditer"], NUMGRAD_VALID["ndindex"],
                              NUMGRAD_VALID["view"]],
    "03-relu-backward": [lambda x, d: np.where(x > 0, d, 0.0),
                         lambda x, d: d * np.heaviside(x, 0.0), _relu_by_copy, _relu_in_place],
    "03-softmax-ce-steps": STEPS_VALID,
    "03-softmax-ce-gradient": [_softmax_ce_per_row, _softmax_ce_log_space, SOFTMAX_CE_IN_PLACE,
                               _softmax_ce_shifting_z],
}


@pytest.mark.parametrize(("exercise_id", "student"),
                         [(key, fn) for key, fns in VALID_VERSIONS.items() for fn in fns
                          if not isinstance(fn, str) or key not in _USES_THE_LESSONS_SOFTMAX])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_valid_versions_pass_on_any_inputs(exercise_id, student, seed, capsys) -> None:
    if isinstance(student, str):
        student = _define(student, student.split("(")[0].removeprefix("def "))
    check.EXERCISES[exercise_id].check(student, **({} if seed is None else {"seed": seed}))
    assert capsys.readouterr().out.startswith(f"✔ {exercise_id}:")


@pytest.mark.parametrize(("exercise_id", "source"),
                         [("03-dense-forward", FORWARD_VALID["matmul"]),
                          *(("03-numerical-gradient", source)
                            for source in NUMGRAD_VALID.values())])
def test_valid_versions_run_the_later_cells(exercise_id, source) -> None:
    namespace = run_lesson_with("03_layers_from_scratch.ipynb", {exercise_id: source},
                                until="55843b08")
    assert namespace["worst"] < 1e-7
    if exercise_id == "03-numerical-gradient":
        assert max(namespace["dense_errors"].values()) < 1e-7
        assert namespace["relu_errors"]["x"] < 1e-7 and namespace["ce_error"] < 1e-7


# ---- the probes return plain data; the judges refuse odd data ----


@pytest.mark.parametrize(("exercise_id", "student"),
                         [(key, fn) for key, fn in REFERENCES.items()] +
                         [(key, fn) for key, fn, _ in MISTAKES] +
                         [("03-numerical-gradient", fn) for fn, _ in NUMGRAD_MISTAKES] +
                         [("03-relu-backward", lambda x, d: [[1.0]]),
                          ("03-relu-backward", lambda x, d: {}),
                          ("03-dense-backward", lambda x, W, d: None),
                          ("03-dense-forward", "not a function")])
def test_probe_data_survives_the_wire(exercise_id, student) -> None:
    with np.errstate(all="ignore"):
        assert_same_verdict_over_the_wire(check.EXERCISES[exercise_id], student)


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


@pytest.mark.parametrize("exercise_id", list(REFERENCES))
def test_judges_fail_odd_data(exercise_id) -> None:
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(7)))
    honest = round_trip(exercise.probe(inputs, REFERENCES[exercise_id]))
    assert exercise.verdict(inputs, honest)[0]
    odd = list(_hostile(honest))
    if exercise_id == "03-numerical-gradient":  # each case's record: result, x after, calls
        odd += [[{**item, "calls": True} for item in honest],
                [{**item, "with_args": 1} for item in honest],
                [{**item, "x_after": item["result"]["value"]} for item in honest],
                [{k: v for k, v in item.items() if k != "x_after"} for item in honest],
                [{**item, "result": item["x_after"]} for item in honest]]
    for data in odd:
        ok, message = exercise.verdict(inputs, data)
        assert not ok and message, data
