"""Lesson 03's numerical gradient, a behaviour exercise (f() reads the x it nudges): the wrong
versions its rules name, kept here, and its valid versions' sources."""

from __future__ import annotations

import re

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson03 as check
from coursekit.exercise.wire import round_trip
from coursekit.probes import lesson03 as probes


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


def _define(source: str, name: str):
    namespace = {"np": np}
    exec(source, namespace)
    return namespace[name]


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
    # CS231n's form: a multi-index iterator, the old value kept and assigned back (adding h
    # back would miss it by an ulp: the spec asks for exactly the old numbers)
    "nditer": ("def numerical_gradient(f, x, h=1e-5):\n"
               "    grad = np.empty(x.shape)\n"
               "    it = np.nditer(x, flags=['multi_index'], op_flags=[['readwrite']])\n"
               "    while not it.finished:\n"
               "        i = it.multi_index\n"
               "        old = x[i]\n"
               "        x[i] = old + h\n        plus = f()\n"
               "        x[i] = old - h\n        minus = f()\n"
               "        x[i] = old\n"
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



def _fixed_step(step: float):
    """A right central difference that ignores its h and steps by ``step``."""
    def gradient(f, x, h=1e-5):
        return _numgrad("right")(f, x, step)
    return gradient


def _todo(f, x, h=1e-5):
    raise NotImplementedError


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
    (_fixed_step(1e-4), "ignores its h argument"),
    (_fixed_step(1e-6), "ignores its h argument"),
    (_fixed_step(1e-7), "ignores its h argument"),
    (_fixed_step(1e-3), "a step of 0.001"),
    (lambda f, x: _numgrad("right")(f, x, 1e-5),
     "Keep the signature numerical_gradient"),
    (_todo, "not implemented yet"),
]


@pytest.mark.parametrize(("wrong", "message"), NUMGRAD_MISTAKES)
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_numerical_gradient_names_the_mistake(wrong, message, seed) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.numerical_gradient.check(wrong, **({} if seed is None else {"seed": seed}))


def test_numerical_gradient_judges_tiny_gradients_entry_by_entry() -> None:
    # right everywhere except where the gradient is tiny: a relative error over the whole
    # array would not see it, the entry-by-entry judge does
    reference = _define(NUMGRAD_VALID["flat"], "numerical_gradient")

    def sloppy_on_tiny(f, x, h=1e-5):
        grad = reference(f, x, h)
        grad[np.abs(grad) < 1e-6] = 0.0
        return grad

    inputs = round_trip(check.numerical_gradient.inputs(np.random.default_rng(0)))
    whole = check.exact_gradient(inputs["cases"][0])
    with pytest.raises(ExerciseFailed, match=r"entry 1 is 0, the exact gradient there is"):
        check.numerical_gradient(sloppy_on_tiny)
    assert np.max(np.abs(whole)) > 300 and np.min(np.abs(whole)) < 1e-6


def test_a_numerical_gradient_off_by_little_shows_enough_digits() -> None:
    # a step of 3e-3 is no named mistake: the message shows the difference, not two numbers
    # that print alike (1.58651 and 1.58651 with 6 digits)
    with pytest.raises(ExerciseFailed) as caught:
        check.numerical_gradient(_fixed_step(3e-3))
    found = re.search(r"entry .* is (\S+), the exact gradient there is (\S+) \(off by",
                      str(caught.value))
    assert found and found.group(1) != found.group(2)


def test_the_exact_gradients_match_central_differences() -> None:
    inputs = round_trip(check.numerical_gradient.inputs(np.random.default_rng(3)))
    for case in inputs["cases"]:
        x = np.array(case["x"])
        numeric = _numerical(lambda case=case, x=x: probes.evaluate(case, x), x, h=1e-5)
        np.testing.assert_allclose(numeric, check.exact_gradient(case), rtol=1e-7, atol=1e-9)


def test_numgrad_refuses_x_restored_by_arithmetic():
    """The spec: x holds exactly its old numbers afterwards; x += h, x -= 2h, x += h misses
    most entries by an ulp."""
    def by_arithmetic(f, x, h=1e-5):
        grad = np.zeros_like(x)
        for k in range(x.size):
            x.flat[k] += h
            ahead = f()
            x.flat[k] -= 2 * h
            behind = f()
            x.flat[k] += h
            grad.flat[k] = (ahead - behind) / (2 * h)
        return grad

    with pytest.raises(ExerciseFailed, match="x was not restored exactly: .* a rounding error"):
        check.numerical_gradient(by_arithmetic)


# ---- spec audit: "x (of any shape)" ----


def _vector_or_matrix(f, x, h=1e-5):
    """Written for the lesson's uses (b a vector, W a matrix): x[i, j] on a 3-D x is a row."""
    grad = np.zeros_like(x)
    if x.ndim == 1:
        for i in range(len(x)):
            old = x[i]
            x[i] = old + h
            plus = f()
            x[i] = old - h
            minus = f()
            x[i] = old
            grad[i] = (plus - minus) / (2 * h)
        return grad
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            old = x[i, j]
            x[i, j] = old + h
            plus = f()
            x[i, j] = old - h
            minus = f()
            x[i, j] = old
            grad[i, j] = (plus - minus) / (2 * h)
    return grad


def _two_indices(f, x, h=1e-5):
    """Entry k as (row, column) of a matrix, or k itself for a vector."""
    grad = np.zeros_like(x)
    for k in range(x.size):
        index = np.unravel_index(k, x.shape) if x.ndim == 2 else k
        old = x[index]
        x[index] = old + h
        plus = f()
        x[index] = old - h
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.parametrize("wrong", [_vector_or_matrix, _two_indices])
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_a_gradient_for_vectors_and_matrices_only_is_named(wrong, seed) -> None:
    with pytest.raises(ExerciseFailed, match=r"on x of shape \(2, 3, 2\) \(x may have any shape: "
                                             r"x\[i, j\] is a whole row of it, x\.flat\[k\] one "
                                             r"entry\)"):
        check.numerical_gradient.check(wrong, **({} if seed is None else {"seed": seed}))
