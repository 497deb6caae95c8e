"""Plain data: what a probe may hand to a judge, and how it crosses a process boundary.

A probe runs next to the student's code, so nothing it returns can be trusted to behave: an
object may lie about equality, an array subclass may answer ``np.allclose`` with True. Probes
therefore return *plain data* only: ``None``, ``bool``, ``int``, ``float``, ``str``, lists and
dicts of these (string keys), and numeric NumPy arrays. :func:`describe_value` turns whatever
a student's function returned into such data, keeping what a judge needs to explain a mistake
(the type, the shape, the dtype), and :func:`attempt` does the same for a call that raised.

On the wire (grading) plain data travels as JSON with every array moved into a ``.npz``
archive (:func:`encode` / :func:`decode`), loaded with ``allow_pickle=False``. In a lesson the
same round trip runs in memory, so a judge sees identical data in both places.
"""

from __future__ import annotations

import copy
import inspect
import io
import json
import linecache
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

#: Limits on decoded data, so a hostile probe result cannot exhaust the grader's memory.
MAX_DEPTH = 12
MAX_ITEMS = 100_000
MAX_ARRAY_ELEMENTS = 5_000_000
MAX_STRING = 2_000
#: Array dtypes a judge may receive: booleans, integers, floats.
NUMERIC_KINDS = "biuf"


class PlainDataError(ValueError):
    """Data that is not plain (a type, a depth or a size the wire does not carry)."""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_STRING else text[: MAX_STRING - 1] + "…"


def plain_array(value: Any) -> np.ndarray | None:
    """A base-class copy of a numeric array (subclasses and their overrides dropped), or None."""
    try:
        array = np.asarray(value)
    except Exception:  # objects whose __array__ raises
        return None
    if array.dtype.kind not in NUMERIC_KINDS:
        return None
    return np.array(array.view(np.ndarray), dtype=array.dtype, copy=True, order="C")


def _tensor_array(value: Any) -> np.ndarray | None:
    try:
        return plain_array(value.detach().cpu().double().numpy()
                           if value.is_floating_point() else value.detach().cpu().numpy())
    except Exception:
        return None


def describe_value(value: Any, *, depth: int = 0) -> dict[str, Any]:
    """Plain data describing ``value``: ``{"kind": ..., ...}``.

    ============ ==================================================================
    kind         other keys
    ============ ==================================================================
    ``none``     (none)
    ``bool``     ``value``
    ``int``      ``value``, ``type`` (``int``, ``int64``, ...)
    ``float``    ``value``, ``type`` (``float``, ``float32``, ...)
    ``str``      ``value`` (clipped)
    ``array``    ``type`` (``ndarray``, ``Tensor``, ...), ``dtype``, ``shape``, ``value``
    ``list``     ``type`` (``list`` or ``tuple``), ``items``
    ``dict``     ``items`` (string keys)
    ``other``    ``type``
    ============ ==================================================================

    Tensors become float64 arrays (``dtype`` keeps the original); ``requires_grad`` is kept
    for tensors. Nesting deeper than :data:`MAX_DEPTH` becomes ``other``.
    """
    type_name = type(value).__name__
    if depth > MAX_DEPTH:
        return {"kind": "other", "type": type_name}
    if value is None:
        return {"kind": "none"}
    if isinstance(value, bool | np.bool_):
        return {"kind": "bool", "value": bool(value)}
    if isinstance(value, int | np.integer):
        return {"kind": "int", "type": type_name, "value": int(value)}
    if isinstance(value, float | np.floating):
        return {"kind": "float", "type": type_name, "value": float(value)}
    if isinstance(value, str):
        return {"kind": "str", "value": _clip(value)}
    if isinstance(value, np.ndarray):
        array = plain_array(value)
        if array is None:
            return {"kind": "other", "type": f"ndarray of {value.dtype}"}
        return {"kind": "array", "type": type_name, "dtype": str(value.dtype),
                "shape": list(array.shape), "value": array}
    if hasattr(value, "detach") and hasattr(value, "shape") and hasattr(value, "dtype"):
        array = _tensor_array(value)
        if array is None:
            return {"kind": "other", "type": type_name}
        return {"kind": "array", "type": type_name, "dtype": str(value.dtype).removeprefix(
            "torch."), "shape": list(array.shape), "value": array,
            "requires_grad": bool(getattr(value, "requires_grad", False))}
    if isinstance(value, list | tuple):
        items = [describe_value(item, depth=depth + 1) for item in list(value)[:1000]]
        return {"kind": "list", "type": "tuple" if isinstance(value, tuple) else "list",
                "length": len(value), "items": items}
    if isinstance(value, dict):
        return {"kind": "dict", "items": {str(key)[:100]: describe_value(item, depth=depth + 1)
                                          for key, item in list(value.items())[:1000]}}
    return {"kind": "other", "type": type_name}


def _student_frame(tb: Any) -> str:
    """``"line 4, in cost: return errors.mean() + z"``: the innermost frame outside coursekit."""
    shown = ""
    for frame in traceback.extract_tb(tb):
        if "coursekit" in frame.filename.replace("\\", "/").split("/"):
            continue
        line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
        shown = f"line {frame.lineno}, in {frame.name}: {line}"
    return _clip(shown)


def _code_below_raise(tb: Any) -> bool:
    """Whether the innermost frame raised from a line with code below it in its function."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return False
    try:
        lines, first = inspect.getsourcelines(last.tb_frame.f_code)
    except (OSError, TypeError):
        return False
    after = lines[last.tb_lineno - first + 1:]
    return any(line.strip() and not line.strip().startswith("#") for line in after)


def attempt(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call the student's ``fn`` and describe the result, or the exception it raised.

    An exception becomes ``{"kind": "raised", "type": ..., "message": ..., "frame": ...,
    "stub": bool, "below_raise": bool}``: ``stub`` when it is ``NotImplementedError``,
    ``below_raise`` when code follows the line that raised (the student wrote under the
    stub's ``raise``). Something not callable becomes ``{"kind": "not_callable", ...}``.
    """
    if not callable(fn):
        return {"kind": "not_callable", "got": describe_value(fn)}
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # the student's bug, reported as data
        return raised(exc)
    return describe_value(result)


def _unchanged(now: Any, before: Any) -> bool:
    """Whether an argument holds what its copy ``before`` holds (shape and every value)."""
    try:
        a, b = np.asarray(now), np.asarray(before)
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    except Exception:  # an argument the student turned into something else
        return False


def attempt_keeping(fn: Any, args: Sequence[Any], names: Sequence[str], *,
                    kwargs: Mapping[str, Any] | None = None,
                    may_become_result: Collection[str] = ()) -> dict[str, Any]:
    """:func:`attempt` on ``fn(*args, **kwargs)``, noticing arguments changed in place.

    ``names`` names each positional argument that a later cell of the lesson uses again after
    the call (``""`` for one the function may change). When the call returns but changed one
    of them (``x -= mean``, ``grad **= 2``, ``z[...] = ...``), the description is
    ``{"kind": "changed", "names": [...], "result": <what attempt gives>}``. An argument named
    in ``may_become_result`` may change when the function returns that very array (ReLU's
    backward computed in place in ``dout``).
    """
    if not callable(fn):
        return attempt(fn)
    before = copies_of(args, names)
    try:
        result = fn(*args, **(kwargs or {}))
    except Exception as exc:  # the student's bug, reported as data
        return raised(exc)
    return kept(describe_value(result), args, names, before, result=result,
                may_become_result=may_become_result)


def copies_of(args: Sequence[Any], names: Sequence[str]) -> dict[int, Any]:
    """Copies of the arguments ``names`` names (``""`` for one that may change), by position:
    what :func:`kept` compares them with after the call."""
    return {i: copy.deepcopy(arg) for i, (arg, name) in enumerate(zip(args, names, strict=True))
            if name}


def kept(got: dict[str, Any], args: Sequence[Any], names: Sequence[str],
         before: Mapping[int, Any], *, result: Any = None,
         may_become_result: Collection[str] = ()) -> dict[str, Any]:
    """``got`` (the description of a call's result), or ``{"kind": "changed", ...}`` as
    :func:`attempt_keeping` gives when the call changed in place an argument of ``before``
    (:func:`copies_of`). For a probe that needs the result object itself, not only its
    description (a loss to call ``backward()`` on, a loader to iterate)."""
    changed = [names[i] for i, old in before.items() if not _unchanged(args[i], old)
               and not (names[i] in may_become_result and result is args[i])]
    return {"kind": "changed", "names": changed, "result": got} if changed else got


def raised(exc: BaseException) -> dict[str, Any]:
    """Plain data describing an exception the student's code raised."""
    return {"kind": "raised", "type": type(exc).__name__, "message": _clip(str(exc)),
            "frame": _student_frame(exc.__traceback__),
            "stub": isinstance(exc, NotImplementedError),
            "below_raise": _code_below_raise(exc.__traceback__)}


def guarded(probe: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a probe so that an exception inside it (a student object misbehaving while the
    probe inspects it) is returned as data rather than raised."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return probe(*args, **kwargs)
        except Exception as exc:
            return {"kind": "raised", **{k: v for k, v in raised(exc).items() if k != "kind"}}

    run.__name__ = probe.__name__
    run.__qualname__ = probe.__qualname__
    run.__doc__ = probe.__doc__
    run.__module__ = probe.__module__
    return run


# --- the wire: plain data <-> JSON + npz ------------------------------------------------------

def _flatten(value: Any, arrays: dict[str, np.ndarray], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise PlainDataError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        array = plain_array(value)
        if array is None:
            raise PlainDataError(f"array of dtype {value.dtype} is not numeric")
        name = f"a{len(arrays)}"
        arrays[name] = array
        return {"$array": name}
    if isinstance(value, list | tuple):
        return [_flatten(item, arrays, depth + 1) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise PlainDataError("dict keys must be strings")
        if "$array" in value:
            raise PlainDataError("'$array' is a reserved key")
        return {key: _flatten(item, arrays, depth + 1) for key, item in value.items()}
    raise PlainDataError(f"{type(value).__name__} is not plain data")


def encode(value: Any) -> tuple[str, bytes]:
    """``(json_text, npz_bytes)`` for plain data ``value``; raises :class:`PlainDataError`."""
    arrays: dict[str, np.ndarray] = {}
    text = json.dumps(_flatten(value, arrays, 0), allow_nan=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return text, buffer.getvalue()


class _Budget:
    def __init__(self) -> None:
        self.items = 0
        self.elements = 0


def _restore(value: Any, arrays: Any, depth: int, budget: _Budget) -> Any:
    budget.items += 1
    if budget.items > MAX_ITEMS:
        raise PlainDataError(f"more than {MAX_ITEMS} items")
    if depth > MAX_DEPTH:
        raise PlainDataError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, list):
        return [_restore(item, arrays, depth + 1, budget) for item in value]
    if isinstance(value, dict):
        if set(value) == {"$array"}:
            name = value["$array"]
            if not isinstance(name, str) or name not in arrays.files:
                raise PlainDataError(f"missing array {name!r}")
            array = arrays[name]
            if not isinstance(array, np.ndarray) or array.dtype.kind not in NUMERIC_KINDS:
                raise PlainDataError(f"array {name!r} is not numeric")
            budget.elements += array.size
            if budget.elements > MAX_ARRAY_ELEMENTS:
                raise PlainDataError(f"more than {MAX_ARRAY_ELEMENTS} array elements")
            return np.array(array, copy=True)
        return {str(key): _restore(item, arrays, depth + 1, budget)
                for key, item in value.items()}
    raise PlainDataError(f"unexpected JSON value of type {type(value).__name__}")


def decode(text: str, npz: bytes) -> Any:
    """The plain data :func:`encode` produced, validated (never unpickles anything).

    Raises
    ------
    PlainDataError
        When the JSON or the archive is malformed, an array is not numeric, or the data is
        deeper or larger than this module's limits.
    """
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PlainDataError(f"not JSON: {type(exc).__name__}") from None
    try:
        with np.load(io.BytesIO(npz), allow_pickle=False) as arrays:
            return _restore(tree, arrays, 0, _Budget())
    except PlainDataError:
        raise
    except Exception as exc:  # a corrupt archive, an object array refused, ...
        raise PlainDataError(f"bad array archive: {type(exc).__name__}: {exc}") from None


def round_trip(value: Any) -> Any:
    """``decode(*encode(value))``: what the judge would receive over the wire."""
    return decode(*encode(value))


def consistent(value: Any, *, depth: int = 0) -> bool:
    """Whether every described value in ``value`` (``{"kind": ...}`` dicts) is what it claims:
    an ``array`` holds an ndarray of exactly its ``shape``, a number is a number, a list's
    items are its ``items``. Judges read claims such as ``shape``; a tampered probe must not
    make a claim its data does not keep."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(consistent(item, depth=depth + 1) for item in value)
    if not isinstance(value, dict):
        return True
    kind = value.get("kind")
    if kind == "array":
        array, shape = value.get("value"), value.get("shape")
        if not isinstance(array, np.ndarray) or not isinstance(shape, list):
            return False
        return list(array.shape) == shape
    if kind in ("int", "float"):
        number = value.get("value")
        return isinstance(number, int | float) and not isinstance(number, bool)
    if kind == "bool":
        return isinstance(value.get("value"), bool)
    if kind == "list":
        items = value.get("items")
        return isinstance(items, list) and consistent(items, depth=depth + 1)
    return all(consistent(item, depth=depth + 1) for item in value.values())
