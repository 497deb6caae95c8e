"""07-accuracy: ``accuracy(logits, y)`` on tensors the probe rebuilds, a Python float."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from coursekit import pytorch as torch_ref  # named only for implemented_by
from coursekit.checks.lesson07._shared import TOLERANCE, case_by_case
from coursekit.exercise import Got, fail, function
from coursekit.exercise.mistakes import Mistake, named
from coursekit.probes import lesson07 as probes


def reference_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose predicted class (logit > 0) equals ``y``: a float in [0, 1].

    Parameters
    ----------
    logits : Tensor of shape (n_samples, 1)
    y : Tensor of shape (n_samples,) of 0/1 labels
    """
    predicted = (logits[:, 0] > 0).long()
    return (predicted == y.long()).float().mean().item()



def _accuracy_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Logits between 0 and 0.5 first (they tell a 0.5 threshold on logits from the right one),
    then 7, 50 and 3 drawn points, then logits of exactly 0, which are class 0 (the spec's
    "logit > 0"; σ(0) = 0.5 is not > 0.5)."""
    cases = [{"logits": np.array([[0.2], [0.3], [-0.1], [0.4]], dtype=np.float32),
              "y": np.array([1, 1, 0, 0], dtype=np.int64)}]
    for n in (7, 50, 3):
        cases.append({"logits": (rng.normal(size=(n, 1)) * 2.0).astype(np.float32),
                      "y": (rng.random(n) < 0.5).astype(np.int64)})
    cases.append({"logits": np.array([[0.0], [0.9], [-0.6], [0.0], [-0.3], [0.7], [0.0], [1.5],
                                      [-1.1]], dtype=np.float32),
                  "y": np.array([0, 1, 0, 0, 1, 0, 0, 1, 0], dtype=np.int64)})
    return cases


def _correct(logits: torch.Tensor, y: torch.Tensor) -> int:
    return int(((logits[:, 0] > 0).long() == y.long()).sum())


def _other_total(got: Got, logits: torch.Tensor, y: torch.Tensor) -> str | None:
    """``correct / total`` with a total other than this call's points (a global such as
    len(y_test)), named."""
    correct, n = _correct(logits, y), len(y)
    if not got.is_number or correct == 0 or not 0.0 < got.number < 1.0:
        return None
    total = correct / got.number
    if abs(total - round(total)) > 1e-6 * total or round(total) == n:
        return None
    return (f"that is {correct} correct out of {round(total)}, but this call has {n} points: "
            "divide by len(y) of the y passed in, not of a global")


ACCURACY_MISTAKES = [
    Mistake("integer division (correct // total) rounds the fraction down to 0; divide with /, "
            "or take the mean of a float tensor", lambda logits, y: _correct(logits, y) // len(y)),
    Mistake("that is a percentage with integer division (100 * correct // total), which also "
            "floors it; return the fraction correct / total, a float in [0, 1]",
            lambda logits, y: 100 * _correct(logits, y) // len(y)),
    Mistake("return a fraction in [0, 1], not a percentage",
            lambda logits, y: 100 * reference_accuracy(logits, y)),
    Mistake("these are logits, not probabilities; p > 0.5 exactly when the logit is > 0, so "
            "threshold at 0", lambda logits, y: reference_accuracy(logits - 0.5, y)),
    Mistake(lambda logits, y: f"comparing shape ({len(y)}, 1) with ({len(y)},) broadcasts to a "
                              f"({len(y)}, {len(y)}) table; compare logits[:, 0] with y",
            lambda logits, y: ((logits > 0).long() == y).float().mean().item()),
    Mistake("the logits have one column, so argmax(dim=1) is always class 0: with one logit "
            "per row the predicted class is logit > 0",
            lambda logits, y: (logits.argmax(dim=1) == y).float().mean().item()),
    Mistake(lambda logits, y: f"that is the number of correct predictions "
                              f"({_correct(logits, y)}); divide by the number of points, len(y)",
            lambda logits, y: float(_correct(logits, y))),
    Mistake("that is the error rate, 1 − accuracy: count the rows where the predicted class "
            "equals y", lambda logits, y: ((logits[:, 0] > 0).long() != y).float().mean().item()),
    Mistake("a logit of exactly 0 is class 0 (σ(0) = 0.5 is not > 0.5): the predicted class is "
            "logit > 0, not logit >= 0",
            lambda logits, y: ((logits[:, 0] >= 0).long() == y).float().mean().item()),
]


def _a_python_float(got: Got, logits: torch.Tensor, y: torch.Tensor) -> None:
    if got.kind == "array" and got.type != "ndarray":
        raise fail(f"the accuracy on {len(y)} points: expected a Python float, got "
                   f"{got.describe()}: call .item()")
    if got.kind == "array":
        raise fail(f"the accuracy on {len(y)} points: expected a float, got {got.describe()}")


def _fitting(got: Got, logits: torch.Tensor, y: torch.Tensor) -> int:
    return sum(named(got, [mistake], (logits, y), TOLERANCE) is not None
               for mistake in ACCURACY_MISTAKES) + (_other_total(got, logits, y) is not None)


accuracy = case_by_case(function(
    "07-accuracy", names=("accuracy",), args=("logits", "y"), cases=_accuracy_cases,
    probe=probes.accuracy_cases, arguments=probes.accuracy_arguments,
    reference=reference_accuracy, tolerance=TOLERANCE, mistakes=ACCURACY_MISTAKES,
    explain=_other_total, where=lambda logits, y: f"the accuracy on {len(y)} points",
    passed="accuracy matches on {n} cases, as a float fraction",
    implemented_by=(f"{torch_ref.__name__}.accuracy", f"{torch_ref.__name__}.predict_labels",
                    "coursekit.checks.reference05.model_accuracy")),
    first=_a_python_float, fitting=_fitting)

