"""The machinery of the exercise checks: an exercise is inputs + probe + judge.

- ``inputs(rng)`` draws the cases (plain data) from a Generator: a fixed seed in the lesson,
  a fresh one for every grading run.
- ``probe(inputs, *student_objects)`` lives in :mod:`coursekit.probes` and runs next to the
  student's code. It calls the student's function(s) on the inputs and returns plain data
  only (:mod:`coursekit.probes.data`).
- ``judge(inputs, data)`` lives here, in the lesson's check module. It compares the data with
  the reference and returns what passed, or raises :class:`Failure` with a message that
  names the mistake and where to look.

In a lesson, ``check.mse_cost(cost)`` runs all three in the student's kernel (the data still
makes the JSON round trip, so the judge sees exactly what grading would give it). In grading,
only the probe runs in the sandboxed kernel; the judge runs in the grader's own process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from coursekit.probes.data import consistent, round_trip

#: Plain data as a probe returns it and a judge receives it.
Data = Any
#: The fixed seed of an exercise's inputs in a lesson (grading draws a fresh one).
LESSON_SEED = 20_240_101


class Tolerance(TypedDict):
    """How close a number must be to the reference: ``close(got, want, **TOLERANCE)``."""

    rtol: float
    atol: float


class Failure(Exception):
    """Raised by a judge: the student's answer is wrong; ``str()`` says what and where."""


class ExerciseFailed(AssertionError):
    """What a check raises in a lesson: ``✘ <exercise>: <message>``."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback through coursekit's internals.
        return [str(self)]


@dataclass(frozen=True)
class Exercise:
    """One exercise's check.

    Parameters
    ----------
    id : str
        The exercise id (``"01-mse-cost"``).
    inputs : callable
        ``inputs(rng) -> plain data``: the cases.
    probe : callable
        ``probe(inputs, *student) -> plain data``, a function of ``coursekit.probes.lessonNN``.
    judge : callable
        ``judge(inputs, data) -> str``: what passed, or raises :class:`Failure`.
    implemented_by : tuple of str
        Dotted names of coursekit pieces that implement the same thing; a solution that uses
        one (or ``coursekit.checks``) is flagged for the instructor when graded.
    names : tuple of str
        The names the lesson gives the student's objects, in the order the check takes them
        (``("cost",)``): the score cell finds them in the student's namespace. A test keeps
        them in step with the lesson's check cell.
    """

    id: str
    inputs: Callable[[np.random.Generator], Data]
    probe: Callable[..., Data]
    judge: Callable[[Data, Data], str]
    implemented_by: tuple[str, ...] = field(default=())
    names: tuple[str, ...] = field(default=())

    def verdict(self, inputs: Data, data: Data) -> tuple[bool, str]:
        """``(passed, message)`` from the judge; a judge that crashes on odd data fails."""
        if isinstance(data, dict) and data.get("kind") == "raised":
            return False, raised_message(data)  # the probe itself was stopped or broke
        if not consistent(data):
            return False, ("the check received data that contradicts itself (an array not of "
                           "the shape it claims); was the notebook tampered with?")
        try:
            return True, self.judge(inputs, data)
        except Failure as exc:
            return False, str(exc)
        except Exception as exc:  # malformed data from a tampered probe
            return False, (f"the check could not read what your code produced "
                           f"({type(exc).__name__}); was the notebook tampered with?")

    def run(self, *student: Any, seed: int = LESSON_SEED) -> tuple[bool, str]:
        """Inputs, probe and judge, here: ``(passed, message)``. The data makes the JSON round
        trip, so the judge sees exactly what grading would give it."""
        inputs = round_trip(self.inputs(np.random.default_rng(seed)))
        data = round_trip(self.probe(inputs, *student))
        return self.verdict(inputs, data)

    def check(self, *student: Any, seed: int = LESSON_SEED) -> None:
        """Run inputs, probe and judge here; print ``✔`` or raise :class:`ExerciseFailed`."""
        ok, message = self.run(*student, seed=seed)
        if not ok:
            raise ExerciseFailed(f"✘ {self.id}: {message}")
        print(f"✔ {self.id}: {message}")


def registry(*exercises: Exercise) -> dict[str, Exercise]:
    """``{id: exercise}`` for a lesson module's ``EXERCISES``."""
    return {exercise.id: exercise for exercise in exercises}


# --- judging plain data ----------------------------------------------------------------------

def fail(message: str) -> Failure:
    """``raise fail("...")`` in a judge."""
    return Failure(message)


def describe(got: Data) -> str:
    """A short description of described data (its type and shape), for messages."""
    kind = got.get("kind") if isinstance(got, dict) else None
    if kind == "array":
        shape = tuple(got["shape"])
        return f"an array of shape {shape}" if got.get("type") == "ndarray" else \
            f"a {got.get('type')} of shape {shape}"
    if kind == "bool":
        return f"a bool ({got['value']})"
    if kind in ("int", "float"):
        return f"a number ({got['value']:.6g})"
    if kind == "list":
        return f"a {got.get('type', 'list')} of length {got.get('length', len(got['items']))}"
    if kind == "none":
        return "None (did you forget to return?)"
    if kind == "str":
        return "a str"
    if kind == "dict":
        return "a dict"
    if kind == "other":
        return f"a {got.get('type')}"
    return "something unexpected"


def raised_message(got: Data) -> str:
    """The feedback for a call that raised (``got["kind"] == "raised"``)."""
    if got.get("stub"):
        if got.get("below_raise"):
            return ("your function still stops at `raise NotImplementedError`: your code is "
                    "below that line; delete the raise line and run the cell again")
        return ("not implemented yet: your function still raises NotImplementedError; replace "
                "the `raise` line with your code and run the cell before this check")
    if got.get("type") == "CellTimeout":  # the grader stopped the check
        return str(got.get("message"))
    frame = f" at {got['frame']}" if got.get("frame") else ""
    return f"your function raised {got.get('type')}: {got.get('message')}{frame}"


def changed_message(got: Data) -> str:
    """The feedback for a call that changed, in place, arguments a later cell uses again
    (``got["kind"] == "changed"``, from :func:`coursekit.probes.data.attempt_keeping`)."""
    names = got.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.isidentifier()
                                                            for n in names):
        return "the check received malformed data"
    listed, first = " and ".join(f"`{name}`" for name in names), names[0]
    them = "it" if len(names) == 1 else "them"
    return (f"your function changed {listed} in place (`{first} -= ...`, `{first} *= ...` and "
            f"`{first}[...] = ...` write into the caller's array): the lesson's later cells "
            f"use {them} again after the call; compute into a new array "
            f"({first} = {first} - ...) or work on {first}.copy()")


def value(got: Data) -> Data:
    """``got`` itself, unless the student's call raised, was not a function or changed an
    argument the lesson uses again: then fail."""
    if not isinstance(got, dict):
        raise fail("the check received malformed data")
    if got.get("kind") == "raised":
        raise fail(raised_message(got))
    if got.get("kind") == "changed":
        raise fail(changed_message(got))
    if got.get("kind") == "not_callable":
        raise fail(f"expected a function, got {describe(got.get('got'))}")
    return got


def expect_scalar(got: Data, what: str) -> float:
    """The number ``got`` describes, or fail when it is not a single number."""
    got = value(got)
    if got["kind"] in ("int", "float"):
        return float(got["value"])
    if got["kind"] == "array" and tuple(got["shape"]) == ():
        return float(got["value"])
    raise fail(f"{what}: expected a float, got {describe(got)}")


def expect_array(got: Data, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The float64 array ``got`` describes, of ``shape``; fail naming both shapes otherwise."""
    got = value(got)
    if got["kind"] == "list":
        raise fail(f"{what}: expected an array of shape {shape}, got {describe(got)}: "
                   "return a NumPy array (np.array(...)), which later cells compute with")
    if got["kind"] != "array":
        raise fail(f"{what}: expected an array of shape {shape}, got {describe(got)}")
    found = tuple(got["shape"])
    if found != shape:
        hint = ""
        if found == shape[::-1] and len(shape) == 2:
            hint = ": it looks transposed"
        elif int(np.prod(found)) == int(np.prod(shape)):
            hint = ": right number of entries, wrong shape (a missing reshape or keepdims?)"
        raise fail(f"{what}: expected shape {shape}, got {found}{hint}")
    return np.asarray(got["value"], dtype=np.float64)


def close(got: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Whether two numbers or arrays (plain, never the student's objects) agree, entry by
    entry: the same number of entries (never broadcast; an empty array matches nothing but an
    empty array), and each within tolerance."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.size != expected.size:
        return False
    return bool(np.allclose(got.reshape(expected.shape), expected, rtol=rtol, atol=atol))


#: What float32 arithmetic somewhere in the student's code leaves: right to about 1e-7
#: relative, so within these bounds but not within float64 rounding.
FLOAT32: Tolerance = {"rtol": 1e-4, "atol": 1e-5}
FLOAT32_HINT = ("right to about float32 precision only: keep every array float64 (no "
                "astype(np.float32), no dtype=np.float32)")


def refuse_float32(got: Any, want: Any, what: str, *, rtol: float, atol: float) -> None:
    """Fail with :data:`FLOAT32_HINT` when ``got`` misses ``want`` at ``rtol``/``atol`` (float64
    rounding, what the lesson's later cells compare to) but matches it to float32 precision."""
    if not close(got, want, rtol=rtol, atol=atol) and close(got, want, **FLOAT32):
        raise fail(f"{what} is {FLOAT32_HINT}")


def diagnose(got: Any, want: Any, hints: Mapping[str, Any], *, where: str,
             rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Return when ``got`` matches ``want``; otherwise fail with the first hint whose
    candidate (what that mistake would produce) matches ``got``, or with ``where`` alone.

    ``hints`` maps a message to a candidate value (None to skip it):
    ``{"that is the sum; divide by m": want * m}``.
    """
    if close(got, want, rtol=rtol, atol=atol):
        return
    for hint, candidate in hints.items():
        if candidate is not None and close(got, candidate, rtol=rtol, atol=atol):
            raise fail(f"{where}: {hint}")
    raise fail(where)


def diagnose_float64(got: Any, want: Any, hints: Mapping[str, Any], *, where: str, what: str,
                     precise: Tolerance, rtol: float, atol: float) -> None:
    """:func:`diagnose` (hints at ``rtol``/``atol``) for a result the lesson's later cells
    compare to float64 rounding (``precise``): a named mistake first, then a result right only
    to float32 precision (:data:`FLOAT32_HINT`, naming ``what``), then ``where``. Some named
    mistakes (an eps in the wrong place) lie within float32 precision of ``want``."""
    if close(got, want, **precise):
        return
    if not any(candidate is not None and close(got, candidate, rtol=rtol, atol=atol)
               for candidate in hints.values()):
        refuse_float32(got, want, what, **precise)
    diagnose(got, want, hints, where=where, rtol=rtol, atol=atol)


# --- shared by the judges: per-case results, tuples, naming a mistake --------------------------

def results(data: Data, count: int) -> list[Data]:
    """The probe's per-case results: a list of ``count`` items.

    A probe that raised as a whole (a student object misbehaving while it was inspected) fails
    with that exception, and one handed something not callable says so; anything else that is
    not such a list fails as malformed.
    """
    if isinstance(data, dict):
        value(data)  # raised, or not callable: fails with what happened
    if not isinstance(data, list) or len(data) != count:
        raise fail("the check received malformed data")
    return data


def expect_tuple(got: Data, length: int, expected: str, *, what: str = "") -> list[Data]:
    """The items of the tuple or list ``got`` describes when it holds ``length`` of them;
    otherwise fail with ``"[what: ]expected <expected>, got <what it was>"``
    (``expected`` reads like ``"a pair (dw, db)"``)."""
    got = value(got)
    items = got.get("items")
    if got["kind"] == "list" and got.get("length") == length and isinstance(items, list) \
            and len(items) == length:
        return items
    prefix = f"{what}: " if what else ""
    raise fail(f"{prefix}expected {expected}, got {describe(got)}")


def mistake(got: Any, hints: Mapping[str, Any], *, otherwise: str, where: str = "",
            rtol: float = 1e-6, atol: float = 1e-8) -> Failure:
    """The failure for a wrong ``got``: ``"where: hint"`` for the first hint whose candidate
    matches it, else ``otherwise`` as it stands. Use it as ``raise mistake(...)``.

    Like :func:`diagnose`'s table, a candidate is what that mistake would produce (None skips
    it), or a Python ``list`` of such values when several forms of one mistake share a message;
    a candidate may reuse the student's own values where the mistake leaves them free.
    """
    prefix = f"{where}: " if where else ""
    for hint, candidate in hints.items():
        forms = candidate if isinstance(candidate, list) else [candidate]
        if any(form is not None and close(got, form, rtol=rtol, atol=atol) for form in forms):
            return fail(prefix + hint)
    return fail(otherwise)
