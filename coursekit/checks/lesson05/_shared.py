"""What the checks of lesson 05 share: the tolerance, the classifier's cases, and mistakes run
the way the probe runs the student's code."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from coursekit.checks import reference05 as ref05
from coursekit.exercise import Mistake, Tolerance
from coursekit.exercise.judging import Data

#: How close a student's number must be to the reference's (float32 tensors in 05-predict).
TOLERANCE: Tolerance = {"rtol": 1e-5, "atol": 1e-6}
#: What PyTorch's refusal of an in-place change to a leaf that requires grad means; lesson 08's
#: weight copy reuses it.
#: The learning rate of the lesson's training cells (a global LR there): a rate written in.
LESSON_LR = 0.3
IN_PLACE_HINT = ("PyTorch refused an in-place change of a tensor that requires grad: wrap it in "
                 "`with torch.no_grad():`")


def dotted(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a coursekit function, for ``implemented_by``."""
    return f"{fn.__module__}.{fn.__qualname__}"


def through(mistakes: Sequence[Mistake], run: Callable[..., Any],
            arguments: Callable[..., tuple[Any, ...]] = lambda *a: a) -> list[Mistake]:
    """``mistakes`` judged on what their wrong versions do, not on what they return: each
    wrong version (the student's code, e.g. a ``backward(root)`` returning None) is run by
    ``run(wrong, *args)`` as the probe runs the student's (on a fresh graph, reading every
    gradient afterwards), and its message is written on ``arguments(*args)``, the arguments
    the student's function receives. For :func:`~coursekit.exercise.named`."""
    return [Mistake(lambda *a, m=m: m.says(*arguments(*a)),
                    lambda *a, m=m: run(m.wrong, *a), m.tolerance) for m in mistakes]


def classifier_arrays(rng: np.random.Generator, n_inputs: int, n_hidden: int
                      ) -> dict[str, np.ndarray]:
    """Kaiming-scaled weights and biases that are not zero, so a forgotten bias shows."""
    def normal(scale: float, *shape: int) -> np.ndarray:
        return (rng.normal(size=shape) * scale).astype(np.float32)

    return {"w_hidden": normal(math.sqrt(2.0 / n_inputs), n_inputs, n_hidden),
            "b_hidden": normal(0.5, n_hidden),
            "w_out": normal(math.sqrt(1.0 / n_hidden), n_hidden, 1),
            "b_out": normal(0.5, 1)}


def tensors(case: Data) -> tuple[ref05.Coeffs, torch.Tensor]:
    """The case's coefficients and X as float32 tensors (no gradients: for the judge's own
    candidates)."""
    coeffs = ref05.Coeffs(*(torch.tensor(np.asarray(case["coeffs"][name], dtype=np.float32))
                            for name in ref05.Coeffs._fields))
    return coeffs, torch.tensor(np.asarray(case["X"], dtype=np.float32))
