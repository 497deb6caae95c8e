"""03-numerical-gradient: central differences of ``f()``, a function of no argument that reads
the very array ``x`` the student nudges in place and restores; a behaviour (how f is called,
whether x comes back) judged by rules, then the values entry by entry."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise import Exercise, Got, Mistake, Rule, fail, rules, view
from coursekit.exercise.judging import Data, Tolerance, close, raised_message, results
from coursekit.exercise.mistakes import described, difference, named
from coursekit.probes import lesson03 as probes

#: How close a numerical gradient must be to the exact one, entry by entry: central differences
#: with h between 1e-6 and 1e-4 land within about 1e-9 on these functions (rounding eps·|f|/h,
#: truncation h²·f'''/6); a one-sided difference is off by about h·f''/2, near 1e-5.
FD_TOLERANCE: Tolerance = {"rtol": 1e-7, "atol": 1e-8}
#: The step the lesson's numerical_gradient uses by default (for naming mistakes).
FD_STEP = 1e-5
#: The step of the case that passes h explicitly: large enough that its central difference
#: differs from the exact gradient by about h²/6 = 4e-4 relative, far outside FD_TOLERANCE, so
#: a function that ignores h (and steps by a hard-coded 1e-4 or 1e-5) shows.
GIVEN_STEP = 0.05
#: Steps a student may hard-code that are too large for FD_TOLERANCE (for naming the mistake).
LARGE_STEPS = (1e-2, 1e-3)


def _numerical_gradient_cases(rng: np.random.Generator) -> dict[str, Any]:
    """A quadratic in 8 entries with two tiny gradients (about 1e-7, where the curvature makes
    a one-sided difference 100 times too large) next to two large ones (about 500), a sine on
    a 3×4 array with two entries where cos x is about 1e-7, a tanh layer's weights (3, 2), a
    sine called with an explicit step, and a sine on a 2×3×2 array (x may have any shape)."""
    x = rng.uniform(-1.0, 1.0, size=8)
    a, b = rng.uniform(0.5, 3.0, size=8), rng.normal(size=8)
    tiny = rng.choice([-1.0, 1.0], size=2) * rng.uniform(1e-7, 3e-7, size=2)
    b[[1, 5]] = -2.0 * a[[1, 5]] * x[[1, 5]] + tiny  # the gradient 2ax + b is tiny there
    x[[2, 6]] = rng.uniform(1e-3, 2e-3, size=2) * rng.choice([-1.0, 1.0], size=2)
    b[[2, 6]] = rng.uniform(400.0, 600.0, size=2) * rng.choice([-1.0, 1.0], size=2)
    quadratic = {"kind": "quadratic", "what": "f = Σ a·x² + b·x on x of shape (8,)",
                 "x": x, "a": a, "b": b}
    x = rng.uniform(-3.0, 3.0, size=(3, 4))
    x[0, 1], x[2, 3] = np.pi / 2 + rng.uniform(1e-7, 3e-7, size=2)  # cos x is about -2e-7
    sine = {"kind": "sine", "what": "f = Σ w·sin(x) on x of shape (3, 4)", "x": x,
            "w": rng.uniform(1.0, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))}
    tanh = {"kind": "tanh", "what": "f = Σ tanh(X @ W) ⊙ R on W of shape (3, 2)",
            "x": rng.normal(size=(3, 2)) * 0.5, "X": rng.normal(size=(5, 3)),
            "R": rng.normal(size=(5, 2))}
    given = {"kind": "sine", "what": f"f = Σ w·sin(x) on x of shape (6,), called with "
                                     f"h={GIVEN_STEP:g}",
             "x": rng.uniform(-3.0, 3.0, size=6), "h": GIVEN_STEP,
             "w": rng.uniform(1.0, 2.0, size=6) * rng.choice([-1.0, 1.0], size=6)}
    # "x (of any shape)": a vector and matrices above, and an array of three dimensions
    cube = {"kind": "sine", "what": "f = Σ w·sin(x) on x of shape (2, 3, 2) (x may have any "
                                    "shape: x[i, j] is a whole row of it, x.flat[k] one entry)",
            "x": rng.uniform(-3.0, 3.0, size=(2, 3, 2)),
            "w": rng.uniform(1.0, 2.0, size=(2, 3, 2)) * rng.choice([-1.0, 1.0], size=(2, 3, 2))}
    return {"cases": [quadratic, sine, tanh, given, cube]}


def exact_gradient(case: Data) -> np.ndarray:
    """The known gradient of a numerical-gradient case at its ``x``."""
    x = case["x"]
    if case["kind"] == "quadratic":
        return np.asarray(2.0 * case["a"] * x + case["b"], dtype=np.float64)
    if case["kind"] == "sine":
        return np.asarray(case["w"] * np.cos(x), dtype=np.float64)
    z = np.tanh(case["X"] @ x)
    return np.asarray(case["X"].T @ ((1.0 - z * z) * case["R"]), dtype=np.float64)


def central_difference(case: Data, h: float) -> np.ndarray:
    """(f(x + h·e_k) − f(x − h·e_k)) / 2h for every k: what a right answer called with step h
    gives."""
    x = np.array(case["x"], dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for k in range(x.size):
        old = x.flat[k]
        x.flat[k] = old + h
        plus = probes.evaluate(case, x)
        x.flat[k] = old - h
        minus = probes.evaluate(case, x)
        x.flat[k] = old
        grad.flat[k] = (plus - minus) / (2.0 * h)
    return grad


def _one_sided(case: Data, h: float) -> np.ndarray:
    """(f(x + h·e_k) − f(x)) / h for every k (h < 0 gives the backward difference)."""
    x = np.array(case["x"], dtype=np.float64)
    f0, grad = probes.evaluate(case, x), np.zeros(x.shape, dtype=np.float64)
    for k in range(x.size):
        moved = x.copy()
        moved.flat[k] += h
        grad.flat[k] = (probes.evaluate(case, moved) - f0) / h
    return grad


_ONE_SIDED = ("that is a one-sided difference (f(x + h) − f(x)) / h: its error is about h·f''/2, "
              "larger than the small gradients here; use the central difference "
              "(f(x + h) − f(x − h)) / (2h)")
#: What a wrong numerical gradient gives on a case with the default step, from the case.
_MISTAKES = [
    Mistake("twice the gradient: the central difference divides by 2h, the distance between "
            "x − h and x + h", lambda case: 2.0 * exact_gradient(case)),
    Mistake("the sign is flipped: (f(x + h) − f(x − h)) / 2h, the plus side first",
            lambda case: -exact_gradient(case)),
    Mistake(_ONE_SIDED, lambda case: _one_sided(case, FD_STEP)),
    Mistake(_ONE_SIDED, lambda case: _one_sided(case, -FD_STEP)),
    Mistake("about half the gradient: your minus side was evaluated at x, not at x − h (after "
            "x + h, subtract 2h, or set the entry to old − h)",
            lambda case: _one_sided(case, FD_STEP) / 2.0),
    Mistake("tiny everywhere: `/ 2 * h` divides by 2 and then multiplies by h; write / (2 * h)",
            lambda case: exact_gradient(case) * FD_STEP**2),
    *(Mistake(f"that is the central difference with a step of {step:g}, too large for this "
              "check (its error, about h² times the third derivative / 6, swamps the small "
              f"gradients): use the h argument, whose default is {FD_STEP:g}",
              lambda case, step=step: central_difference(case, step)) for step in LARGE_STEPS),
    Mistake("each row holds one repeated value: you nudged a whole row x[i] at once; nudge one "
            "entry at a time (loop over x.size with x.flat[k], or np.ndindex(x.shape))",
            lambda case: np.broadcast_to(exact_gradient(case).sum(axis=1, keepdims=True),
                                         case["x"].shape) if case["x"].ndim == 2 else None),
]
#: ... and on the case called with an explicit step.
_IGNORED_STEP = [
    Mistake(f"your function ignores its h argument: it used a step of {step:g}; nudge by the h "
            "passed in and divide by 2 * h", lambda case, step=step: central_difference(case, step))
    for step in LARGE_STEPS]


def _records(inputs: Data, data: Data) -> list[tuple[Data, Data]]:
    """Each case with its record: what the call gave, x after it, f's calls, f's arguments."""
    cases = inputs["cases"]
    found = list(zip(cases, results(data, len(cases)), strict=True))
    for _, got in found:
        if not isinstance(got, dict) or not isinstance(got.get("with_args"), bool) \
                or not isinstance(got.get("calls"), int) or isinstance(got.get("calls"), bool):
            raise fail("the check received malformed data")
    return found


def _f_takes_no_argument(inputs: Data, data: Data) -> None:
    for case, got in _records(inputs, data):
        where, result = case["what"], got["result"]
        if got["with_args"]:
            raise fail(f"{where}: you called f with an argument, as in lessons 01–02; here f() "
                       "takes none: it reads the array x itself, so nudge x in place "
                       "(x.flat[k] = old + h), call f(), and put the entry back")
        if "h" in case and isinstance(result, dict) and result.get("kind") == "raised" \
                and result.get("type") == "TypeError" and not got["calls"]:
            raise fail(f"{where}: {raised_message(result)}. Keep the signature "
                       "numerical_gradient(f, x, h=1e-5): the step is an argument")


def _array(got: Got, shape: tuple[int, ...], what: str) -> np.ndarray:
    if got.kind == "array" and got.shape == shape:
        return got.array
    raise fail(f"{what}: {difference(got, np.zeros(shape))}")


def _x_nudged_in_place_and_restored(inputs: Data, data: Data) -> None:
    for case, got in _records(inputs, data):
        x, where, result = case["x"], case["what"], got["result"]
        if isinstance(result, dict) and result.get("kind") == "raised" and not result.get("stub"):
            raise fail(f"{where}: {raised_message(result)}")  # which case: a shape, a step
        grad = _array(view(result), x.shape, f"{where}: the gradient")
        if got["calls"] == 0:
            raise fail(f"{where}: your function never called f(); each entry needs "
                       "f() with that entry at x + h and at x − h")
        after = _array(view(got["x_after"]), x.shape, f"{where}: x after your call")
        moved = after != x  # exactly its old numbers: the layer's next forward reads them
        if np.any(moved):
            k = int(np.flatnonzero(moved.ravel())[0])
            off = after.flat[k] - x.flat[k]
            if abs(off) <= 4 * np.spacing(abs(x.flat[k])):
                raise fail(f"{where}: x was not restored exactly: entry {k} (flat index) is off "
                           f"by {off:.3g}, a rounding error: stepping back by arithmetic (x += h, "
                           "x -= 2*h, x += h) does not land on the old number. Keep the original "
                           "value (old = x.flat[k]) and assign it back after the two calls of f()")
            raise fail(f"{where}: x was not restored: after your call, entry {k} (flat index) "
                       f"is off by {off:.3g}. Keep the original value "
                       "(old = x.flat[k]) and set it back after the two calls of f(), or every "
                       "later use of x (the layer's next forward) sees the wrong numbers")
        if not np.all(np.isfinite(grad)):
            raise fail(f"{where}: the gradient contains nan or inf")
        if np.all(grad == 0.0):
            raise fail(f"{where}: every entry is 0: f() never saw your nudges. f reads x "
                       "itself, so change x in place (x.flat[k] = old + h); x + h, x.copy() or "
                       "x.flatten() make a new array that f never reads")


def _central_differences(inputs: Data, data: Data) -> None:
    for case, got in _records(inputs, data):
        where, grad = case["what"], view(got["result"]).array
        if "h" in case:  # called with an explicit step: the central difference of that step
            h = float(case["h"])
            if close(grad, central_difference(case, h), **FD_TOLERANCE):
                continue
            if close(grad, exact_gradient(case), rtol=1e-6, atol=1e-8):
                raise fail(f"{where}: your function ignores its h argument: called with h={h:g} "
                           "it returned the central difference of a much smaller step. Nudge by "
                           "the h passed in (x.flat[k] = old + h, then old − h) and divide by "
                           "2 * h")
            message = named(described(grad), _IGNORED_STEP, (case,), FD_TOLERANCE)
            raise fail(f"{where}: {message}" if message else (
                f"{where}: differs from the central differences with that step, "
                "(f() with x_k + h − f() with x_k − h) / (2h)"))
        want = exact_gradient(case)
        if close(grad, want, **FD_TOLERANCE):
            continue
        message = named(described(grad), _MISTAKES, (case,), FD_TOLERANCE)
        if message:
            raise fail(f"{where}: {message}")
        excess = np.abs(grad - want) - FD_TOLERANCE["rtol"] * np.abs(want)
        worst = np.unravel_index(int(np.argmax(excess)), want.shape)
        index = worst[0] if want.ndim == 1 else tuple(int(i) for i in worst)
        raise fail(f"{where}: entry {index} is {grad[worst]:.10g}, the exact gradient there is "
                   f"{want[worst]:.10g} (off by {abs(grad[worst] - want[worst]):.2g}, more than "
                   f"{FD_TOLERANCE['rtol']:g} relative); each entry k is (f() with x_k + h − "
                   "f() with x_k − h) / (2h), every other entry unchanged")


numerical_gradient = Exercise(
    "03-numerical-gradient", _numerical_gradient_cases, probes.numerical_gradient_cases, rules(
        Rule("f is called without arguments, the step h is a parameter", _f_takes_no_argument),
        Rule("the gradient has x's shape, f() saw the nudges, x is restored",
             _x_nudged_in_place_and_restored),
        Rule("each entry is the central difference, within FD_TOLERANCE of the exact gradient",
             _central_differences),
        passed="central differences match the exact gradients of 3 functions entry by entry, "
               "tiny gradients next to large ones included, and x is restored"),
    implemented_by=("coursekit.scratch.numerical_gradient",), names=("numerical_gradient",))
