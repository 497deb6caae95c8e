"""Judging plain data: the helpers every judge shares, and the failure it raises.

A judge reads what a probe described (:func:`coursekit.exercise.probing.describe_value`)
through :class:`~coursekit.exercise.view.Got`, and raises :func:`fail` with a message that
names the mistake and where to look.
"""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np

#: Plain data as a probe returns it and a judge receives it.
Data = Any


class Tolerance(TypedDict):
    """How close a number must be to the reference: ``close(got, want, **TOLERANCE)``."""

    rtol: float
    atol: float


class Failure(Exception):
    """Raised by a judge: the student's answer is wrong; ``str()`` says what and where."""

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
            # Code below the raise: the student's, or the stub's own `return ...` (an
            # untouched stub has one too), so the message fits both.
            return ("your function still stops at `raise NotImplementedError`: delete that line "
                    "once your code is in place (code below it never runs), and run the cell "
                    "again")
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
    # NaN matches NaN only: no reference gives one, so an answer with NaN is never right, but a
    # known mistake that overflows (exp without its max taken off) can still be named.
    return bool(np.allclose(got.reshape(expected.shape), expected, rtol=rtol, atol=atol,
                            equal_nan=True))


#: What float32 arithmetic somewhere in the student's code leaves: right to about 1e-7
#: relative, so within these bounds but not within float64 rounding.
FLOAT32: Tolerance = {"rtol": 1e-4, "atol": 1e-5}
FLOAT32_HINT = ("close, but right only to about float32 precision: an array made float32 "
                "somewhere (astype(np.float32), dtype=np.float32), or a small constant the "
                "formula does not have (an extra + 1e-9): keep every array float64 and the "
                "formula exact")


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
