"""Known mistakes, declared once as the wrong code a student writes, and the one matcher.

``Mistake("that is the sum; divide by m", lambda theta, x, y: np.sum((theta * x - y) ** 2))``
is both the diagnosis and the test of it: the judge runs the wrong version on the case (in its
own process, on the instructor's inputs) and names the mistake when the student's answer
equals what it gives; one generic test hands every declared wrong version to its check and
asserts that its message comes back.

:func:`match` is how every judge compares an answer with the reference: the answer itself, then
each known mistake, then float32 precision where float64 is required, then the type and shape,
then the values, each failure prefixed with where it happened.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coursekit.exercise.judging import FLOAT32, FLOAT32_HINT, Tolerance, close, fail
from coursekit.exercise.probing import describe_value
from coursekit.exercise.view import Got

#: How close an answer must be, unless an exercise says otherwise.
TOLERANCE: Tolerance = {"rtol": 1e-6, "atol": 1e-8}


@dataclass(frozen=True)
class Mistake:
    """A wrong version a student writes, and what to tell them when theirs gives the same.

    Parameters
    ----------
    message : str or callable
        The diagnosis, or ``message(*args) -> str`` on the case's arguments (to name a size).
    wrong : callable
        Takes what the student's function takes (the case's arguments) and returns what that
        mistake returns. When it raises, or returns None, on a case, it is not that case's
        candidate.
    tolerance : Tolerance, optional
        How close the answer must be to the wrong version's (default: the exercise's).
    """

    message: str | Callable[..., str]
    wrong: Callable[..., Any]
    tolerance: Tolerance | None = None

    def says(self, *args: Any) -> str:
        """The message for a case with arguments ``args``."""
        return self.message(*args) if callable(self.message) else self.message

    def candidate(self, *args: Any) -> Any:
        """What the wrong version returns on copies of ``args`` (None when it raises)."""
        try:
            with np.errstate(all="ignore"):
                return self.wrong(*copy.deepcopy(args))
        except Exception:  # the mistake does not apply to this case
            return None


def same(got: Got, want: Any, tolerance: Tolerance = TOLERANCE) -> bool:
    """Whether ``got`` has ``want``'s structure and values: a number (int, float or a
    shape-() array) for a number, an array of exactly its shape for an array, a tuple or list
    of as many matching items for a tuple or list, the same bool, None for None."""
    if want is None:
        return got.kind == "none"
    if isinstance(want, bool | np.bool_):
        return got.kind == "bool" and got.data.get("value") is bool(want)
    if isinstance(want, tuple | list):
        return got.kind == "list" and got.length == len(want) and len(got.items) == len(want) \
            and all(same(item, part, tolerance) for item, part in zip(got.items, want, strict=True))
    if isinstance(want, dict):
        fields = got.fields
        return got.kind == "dict" and set(fields) == set(want) and \
            all(same(fields[key], part, tolerance) for key, part in want.items())
    array = _numeric(want)
    if array is None:
        return False
    if array.ndim == 0:
        return got.is_number and close(got.number, float(array), **tolerance)
    return got.kind == "array" and got.shape == array.shape and close(got.array, array,
                                                                      **tolerance)


def _numeric(want: Any) -> np.ndarray | None:
    try:
        array = np.asarray(want)
    except Exception:
        return None
    return array if array.dtype.kind in "biuf" else None


def named(got: Got, mistakes: Iterable[Mistake], args: Sequence[Any] = (),
          tolerance: Tolerance = TOLERANCE) -> str | None:
    """The message of the first mistake whose wrong version, run on ``args``, gives ``got``."""
    for mistake in mistakes:
        candidate = mistake.candidate(*args)
        if candidate is not None and same(got, candidate, mistake.tolerance or tolerance):
            return mistake.says(*args)
    return None


def expected(want: Any) -> str:
    """``"a float"``, ``"an array of shape (3, 4)"``, ``"a tuple of 2"``: for messages."""
    if isinstance(want, bool | np.bool_):
        return "a bool"
    if isinstance(want, tuple | list):
        return f"a {type(want).__name__} of {len(want)}"
    if isinstance(want, dict):
        return "a dict"
    array = np.asarray(want)
    if array.ndim == 0:
        return "an int" if array.dtype.kind in "iu" else "a float"
    return f"an array of shape {array.shape}"


def match(got: Got, want: Any, *, where: str, args: Sequence[Any] = (),
          mistakes: Sequence[Mistake] = (), tolerance: Tolerance = TOLERANCE,
          float64: bool = False, parts: Sequence[str] = (),
          explain: Callable[..., str | None] | None = None, strict: bool = False) -> None:
    """Return when ``got`` is ``want``; otherwise fail with ``"<where>: <why>"``.

    In order: a known mistake whose wrong version (run on ``args``) gives ``got``; when
    ``float64`` is required, an answer computed in float32 or right only to float32 precision;
    a wrong type or shape; then the values. ``parts`` names the items of a tuple ``want``
    (``("dx", "dW", "db")``) for the messages; ``explain(got, *args)``, tried after the
    known mistakes, names a mistake that needs the answer itself (a step size it reveals).
    With ``strict``, first the types that equal values hide (:func:`type_problem`).
    """
    if float64:
        dtype = _other_float(got)
        if dtype in ("float32", "float16", "bfloat16"):
            raise fail(f"{where}: your answer is {dtype}; {_WHY_FLOAT64}")
        if dtype is not None:
            raise fail(f"{where}: your answer is {dtype}, not float64: return float64 arrays "
                       f"(no np.longdouble); later cells hand them to PyTorch "
                       f"(torch.from_numpy), which has no {dtype}")
    problem = type_problem(got, want, parts) if strict else None
    if problem is not None:
        raise fail(f"{where}: {problem}")
    if same(got, want, tolerance):
        return
    message = named(got, mistakes, args, tolerance)
    if message is None and explain is not None:
        message = explain(got, *args)
    if message is not None:
        raise fail(f"{where}: {message}")
    if float64 and same(got, want, FLOAT32):
        raise fail(f"{where}: {FLOAT32_HINT}")
    raise fail(f"{where}: {difference(got, want, parts)}")


def type_problem(got: Got, want: Any, parts: Sequence[str] = ()) -> str | None:
    """What is wrong with the type of ``got`` where its values may be right: a tensor where
    ``want`` is a NumPy array or a plain number (later cells use it with NumPy, or print and
    compare it), a float where ``want`` is an int or an integer array (later cells index
    with it). None when the types fit, or when the structure differs (:func:`difference`)."""
    if isinstance(want, tuple | list):
        if got.kind != "list" or got.length != len(want) or len(got.items) != len(want):
            return None
        for k, (item, part) in enumerate(zip(got.items, want, strict=True)):
            problem = type_problem(item, part)
            if problem is not None:
                return f"{parts[k] if k < len(parts) else f'item {k}'}: {problem}"
        return None
    array = None if isinstance(want, bool | np.bool_ | dict) or want is None else _numeric(want)
    if array is None or not (got.is_number or got.kind == "array"):
        return None
    integer = array.dtype.kind in "iu"
    if got.kind == "array" and got.type != "ndarray":
        if array.ndim == 0 and not isinstance(want, np.ndarray):
            return f"expected {expected(want)}, got {got.describe()}: take its value, .item()"
        return f"expected a NumPy array, got {got.describe()}: later cells use it with NumPy"
    found = got.raw.dtype.kind if got.kind == "array" else ("i" if got.kind == "int" else "f")
    if integer and found not in "iub":
        if array.ndim == 0 and not isinstance(want, np.ndarray):
            return f"expected an int, got {got.describe()}: later cells index with it"
        return (f"expected an integer array, got one of dtype {got.dtype}: later cells index "
                "with it (np.array of an empty list is float64: give dtype=int)")
    return None


_WHY_FLOAT64 = ("keep every array float64 (no astype(np.float32), no dtype=np.float32, no "
                "dtype taken from a float32 input): the "
                "lesson's later cells compare to float64 rounding, which float32 misses by "
                "about 1e-7 relative")


def _other_float(got: Got) -> str | None:
    """The first floating dtype in ``got`` (items of a tuple included) other than float64."""
    if got.kind == "list":
        return next((dtype for dtype in map(_other_float, got.items) if dtype), None)
    return got.other_float


def difference(got: Got, want: Any, parts: Sequence[str] = ()) -> str:
    """What differs between ``got`` and ``want`` (which :func:`same` found unequal): the type,
    the shape, an item of a tuple, or the values."""
    if isinstance(want, tuple | list):
        if got.kind != "list" or got.length != len(want):
            names = f" ({', '.join(parts)})" if len(parts) == len(want) else ""
            return f"expected {expected(want)}{names}, got {got.describe()}"
        for k, (item, part) in enumerate(zip(got.items, want, strict=True)):
            if not same(item, part):
                name = parts[k] if k < len(parts) else f"item {k}"
                return f"{name}: {difference(item, part)}"
        return "the items differ"
    array = _numeric(want)
    if array is None or isinstance(want, dict | bool | np.bool_):
        return f"expected {expected(want)}, got {got.describe()}"
    if array.ndim == 0:
        if not got.is_number:
            return f"expected {expected(want)}, got {got.describe()}"
        return f"expected {float(array):.6g}, got {got.number:.6g}"
    if got.kind == "list":
        return (f"expected an array of shape {array.shape}, got {got.describe()}: return a "
                "NumPy array (np.array(...)), which later cells compute with")
    if got.kind != "array":
        return f"expected an array of shape {array.shape}, got {got.describe()}"
    if got.shape != array.shape:
        return f"expected shape {array.shape}, got {got.shape}{_shape_hint(got.shape, array.shape)}"
    return _values(got.array, array.astype(np.float64))


def _shape_hint(found: tuple[int, ...] | None, shape: tuple[int, ...]) -> str:
    if found is None:
        return ""
    if len(shape) == 2 and found == shape[::-1]:
        return ": it looks transposed"
    if int(np.prod(found)) == int(np.prod(shape)):
        return ": right number of entries, wrong shape (a missing reshape or keepdims?)"
    return ""


def _values(got: np.ndarray, want: np.ndarray) -> str:
    if want.size <= 8:
        return f"expected {np.round(want, 4).tolist()}, got {np.round(got, 4).tolist()}"
    if not np.all(np.isfinite(got)):
        return f"{int(np.sum(~np.isfinite(got)))} of {got.size} entries are nan or inf"
    index = np.unravel_index(int(np.argmax(np.abs(got - want))), want.shape)
    wrong = int(np.sum(~np.isclose(got, want, **TOLERANCE)))
    return (f"{wrong} of {want.size} entries differ; the largest at index "
            f"{tuple(int(i) for i in index)}: expected {want[index]:.6g}, got {got[index]:.6g}")


def described(value: Any) -> Got:
    """A trusted value seen as a probe would describe it (for judges that build candidates)."""
    return Got(describe_value(value))
