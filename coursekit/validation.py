"""Argument checks shared by coursekit: each raises a ``ValueError`` naming the argument,
the range it must lie in and the value it got."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["check_int", "check_number", "check_fraction", "check_same_rows", "check_choice"]


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` when it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a ``float`` when it is a finite real number in the given range.

    ``low``/``high`` are the bounds (None: unbounded); ``low_open``/``high_open`` exclude them.
    ``check_number("lr", lr, low=0, low_open=True)`` accepts exactly the positive numbers.
    """
    lower = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    upper = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    wanted = " and ".join(part for part in (lower, upper) if part)
    fail = ValueError(f"{name} must be a finite number{' ' + wanted if wanted else ''}, "
                      f"got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise fail
    number = float(value)
    if not math.isfinite(number):
        raise fail
    if low is not None and (number < low or (low_open and number == low)):
        raise fail
    if high is not None and (number > high or (high_open and number == high)):
        raise fail
    return number


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float strictly between 0 and 1 (a test size, a circle's factor)."""
    try:
        return check_number(name, value, low=0.0, high=1.0, low_open=True, high_open=True)
    except ValueError:
        raise ValueError(f"{name} must be in the open range (0, 1), got {value!r}") from None


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return str(value)


def check_same_rows(X: Any, y: Any) -> int:
    """The number of rows when ``X`` and ``y`` (arrays or tensors of ndim >= 1) have as many.

    Returns
    -------
    n_samples : int
    """
    x_shape, y_shape = tuple(np.shape(X)), tuple(np.shape(y))
    if not x_shape or not y_shape or x_shape[0] != y_shape[0]:
        raise ValueError(f"X and y need the same number of rows, got shapes {x_shape} and "
                         f"{y_shape}")
    return x_shape[0]
