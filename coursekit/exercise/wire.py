"""The wire: plain data, and how it crosses the sandbox's boundary.

A probe runs next to the student's code, so nothing it returns can be trusted to behave: an
object may lie about equality, an array subclass may answer ``np.allclose`` with True. Probes
therefore return *plain data* only: ``None``, ``bool``, ``int``, ``float``, ``str``, lists and
dicts of these (string keys), and numeric NumPy arrays.

On the wire (grading) plain data travels as JSON with every array moved into a ``.npz``
archive (:func:`encode` / :func:`decode`), loaded with ``allow_pickle=False``. In a lesson the
same round trip runs in memory (:func:`round_trip`), so a judge sees identical data in both
places.
"""

from __future__ import annotations

import io
import json
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


def clip(text: str) -> str:
    """``text``, cut to :data:`MAX_STRING` characters."""
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
        return clip(value)
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
