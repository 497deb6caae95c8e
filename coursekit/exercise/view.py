"""A typed view of one described value, so a judge reads ``got.shape``, not ``got["shape"]``.

:func:`coursekit.exercise.probing.describe_value` turns what a student's function returned into
plain data (``{"kind": "array", "shape": [3], ...}``); :func:`view` reads one such description,
failing first when the call raised, changed an argument it had to keep, or was handed
something that is not a function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coursekit.exercise.judging import Data, describe, value

#: Kinds that hold a single number.
NUMBER_KINDS = ("int", "float")


@dataclass(frozen=True)
class Got:
    """What the student's code gave, as the probe described it (never the object itself)."""

    data: dict[str, Any]

    @property
    def kind(self) -> str:
        """``none``, ``bool``, ``int``, ``float``, ``str``, ``array``, ``list``, ``dict``,
        ``other``."""
        return str(self.data.get("kind"))

    @property
    def type(self) -> str:
        """The Python type's name (``ndarray``, ``Tensor``, ``float32``, ``tuple``, ...)."""
        return str(self.data.get("type", self.kind))

    @property
    def dtype(self) -> str | None:
        """An array's dtype as the student's object had it (``float32``), else None."""
        dtype = self.data.get("dtype")
        return str(dtype) if dtype is not None else None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """An array's shape, ``()`` for a number, None for anything else."""
        if self.kind == "array":
            return tuple(int(n) for n in self.data["shape"])
        return () if self.kind in NUMBER_KINDS else None

    @property
    def is_number(self) -> bool:
        """A single number: an int, a float or an array of shape ()."""
        return self.kind in NUMBER_KINDS or (self.kind == "array" and self.shape == ())

    @property
    def number(self) -> float:
        """The number (see :attr:`is_number`)."""
        return float(self.data["value"])

    @property
    def array(self) -> np.ndarray:
        """An array's (or a number's) values, as float64."""
        return np.asarray(self.data["value"], dtype=np.float64)

    @property
    def raw(self) -> np.ndarray:
        """An array's values with the dtype they crossed the wire with (ints stay ints)."""
        return np.asarray(self.data["value"])

    @property
    def items(self) -> list[Got]:
        """A tuple's or a list's items (the first thousand)."""
        return [Got(item) for item in self.data.get("items", [])]

    @property
    def length(self) -> int:
        """A tuple's or a list's length."""
        return int(self.data.get("length", len(self.data.get("items", []))))

    @property
    def fields(self) -> dict[str, Got]:
        """A dict's entries."""
        return {key: Got(item) for key, item in self.data.get("items", {}).items()}

    @property
    def is_float32(self) -> bool:
        """Computed in float32 (or float16): what the float64 requirement refuses."""
        return (self.dtype or self.type) in ("float32", "float16", "bfloat16")

    @property
    def other_float(self) -> str | None:
        """The dtype of a floating number or array that is not float64 (``float32``,
        ``float128``, ...), else None: what the float64 requirement refuses."""
        if self.kind not in ("array", "float"):
            return None
        name = self.dtype or self.type
        if name in ("float", "float64", "double"):
            return None
        return name if name.startswith(("float", "bfloat")) or name == "longdouble" else None

    def get(self, key: str, default: Any = None) -> Any:
        """An extra key a probe recorded beside the description (``requires_grad``)."""
        return self.data.get(key, default)

    def describe(self) -> str:
        """``"an array of shape (3,)"``, ``"a number (0.5)"``, ...: for messages."""
        return describe(self.data)


def view(got: Data) -> Got:
    """The typed view of one described value; fails when the student's call raised, changed
    an argument it had to keep, or was not a function (:func:`~.judging.value`)."""
    return Got(value(got))

