"""The old in-process check helpers, kept only until every lesson module is probe + judge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._core import ExerciseFailed


def fail(exercise: str, message: str) -> ExerciseFailed:
    """Build the exception a check raises: ``raise fail("01-mse-cost", "...")``."""
    return ExerciseFailed(f"✘ {exercise}: {message}")


def passed(exercise: str, what: str) -> None:
    """Print the one line a check prints when every case agrees with the reference."""
    print(f"✔ {exercise}: {what}")


def call(exercise: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's ``fn``, turning an exception into feedback that names the exercise."""
    if not callable(fn):
        raise fail(exercise, f"expected a function, got {describe(fn)}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise fail(exercise, "not implemented yet: write your code in the solution cell "
                   "and run it before this check") from None
    except Exception as exc:  # the student's bug, reported rather than re-raised bare
        raise fail(exercise, f"your function raised {type(exc).__name__}: {exc}") from exc


def describe(value: Any) -> str:
    """A short description of a value's type and shape, for messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, bool):
        return f"a bool ({value})"
    if isinstance(value, int | float | np.floating | np.integer):
        return f"a number ({value:.6g})"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # torch tensors and friends
        return f"a {type(value).__name__} of shape {tuple(value.shape)}"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of length {len(value)}"
    if value is None:
        return "None (did you forget to return?)"
    return f"a {type(value).__name__}"


def expect_scalar(exercise: str, value: Any, what: str) -> float:
    """Return ``value`` as a float, or fail if it is not a single number."""
    if isinstance(value, bool) or value is None:
        raise fail(exercise, f"{what}: expected a float, got {describe(value)}")
    if isinstance(value, int | float | np.floating | np.integer):
        return float(value)
    shape = getattr(value, "shape", None)
    if shape == ():  # a 0-d array or tensor holds one number
        return float(value)
    raise fail(exercise, f"{what}: expected a float, got {describe(value)}")


def expect_array(exercise: str, value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Return ``value`` as a float64 array of ``shape``, or fail naming both shapes."""
    if not isinstance(value, np.ndarray):
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        else:
            raise fail(exercise, f"{what}: expected an array of shape {shape}, "
                       f"got {describe(value)}")
    if value.shape != shape:
        hint = ""
        if value.shape == shape[::-1] and len(shape) == 2:
            hint = ": it looks transposed"
        elif value.size == int(np.prod(shape)):
            hint = ": right number of entries, wrong shape (a missing reshape or keepdims?)"
        raise fail(exercise, f"{what}: expected shape {shape}, got {value.shape}{hint}")
    return value.astype(np.float64)


def close(got: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Whether two numbers or arrays agree to the tolerance the checks use."""
    return bool(np.allclose(got, expected, rtol=rtol, atol=atol))
