"""Checks for lesson 07, a classifier as an ``nn.Module``: its forward pass and its accuracy.

The lesson's module has two ``nn.Linear`` layers named ``hidden`` and ``output``; ``forward``
returns logits ``output(relu(hidden(x)))`` of shape (n_samples, 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coursekit import pytorch as torch_ref  # named only for implemented_by
from coursekit.checks._core import (
    Data,
    Exercise,
    close,
    describe,
    diagnose,
    expect_array,
    expect_scalar,
    fail,
    registry,
    value,
)
from coursekit.probes import lesson07 as probes

#: How close a student's number must be to the reference's (float32 tensors).
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def reference_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose predicted class (logit > 0) equals ``y``: a float in [0, 1].

    Parameters
    ----------
    logits : Tensor of shape (n_samples, 1)
    y : Tensor of shape (n_samples,) of 0/1 labels
    """
    predicted = (logits[:, 0] > 0).long()
    return (predicted == y.long()).float().mean().item()


def _malformed() -> Exception:
    return fail("the check received malformed data")


def _each(results: Data) -> list[Data]:
    """The per-case list a probe returned, or the failure it reported instead."""
    if isinstance(results, list):
        return results
    value(results)  # a probe that raised, or something not callable
    raise _malformed()


# ---- 07-forward ---------------------------------------------------------------------------------

_FORWARD_SHAPES = ((5, 9), (16, 40))  # (hidden units, points)


def _forward_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Two modules with drawn parameters (biases not zero, so a dropped bias shows) and points
    spread over the plane."""
    def normal(scale: float, *shape: int) -> np.ndarray:
        return (rng.normal(size=shape) * scale).astype(np.float32)

    return {"cases": [{"n_hidden": n_hidden, "seed": int(rng.integers(2**31)),
                       "hidden": {"weight": normal(1.0, n_hidden, 2),
                                  "bias": normal(0.5, n_hidden)},
                       "output": {"weight": normal(np.sqrt(1.0 / n_hidden), 1, n_hidden),
                                  "bias": normal(0.5, 1)},
                       "X": normal(1.5, n, 2)}
                      for n_hidden, n in _FORWARD_SHAPES]}


def _layer(case: Data, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor(np.asarray(case[name]["weight"], np.float32)),
            torch.tensor(np.asarray(case[name]["bias"], np.float32)))


def _judge_forward(inputs: Data, results: Data) -> str:
    for case, got in zip(inputs["cases"], _each(results), strict=True):
        if value(got["made"])["kind"] != "made":
            raise _malformed()
        n_hidden, n = case["n_hidden"], len(case["X"])
        for name in ("hidden", "output"):
            if got["linear"][name] is not True:
                raise fail(f"the module should keep an nn.Linear called `{name}` (set in "
                           "__init__, which is given)")
        want_shapes = {"hidden.weight": [n_hidden, 2], "hidden.bias": [n_hidden],
                       "output.weight": [1, n_hidden], "output.bias": [1]}
        if got["shapes"] != want_shapes:
            raise fail(f"with n_hidden={n_hidden} the layers should be nn.Linear(2, {n_hidden}) "
                       f"and nn.Linear({n_hidden}, 1) as the given __init__ makes them; got "
                       f"shapes {got['shapes']}")
        logits = value(got["logits"])
        if logits["kind"] == "array" and tuple(logits["shape"]) == (n,):
            raise fail(f"expected logits of shape ({n}, 1), got ({n},): keep the column; the "
                       "targets will be a column too")
        logits = expect_array(logits, (n, 1), f"logits for {n} points")
        X = torch.tensor(np.asarray(case["X"], np.float32))
        hidden = F.linear(X, *_layer(case, "hidden"))
        want = F.linear(torch.relu(hidden), *_layer(case, "output"))
        diagnose(logits, want.double().numpy(), {
            "apply no sigmoid in forward: BCEWithLogitsLoss takes logits and applies it itself, "
            "stably": torch.sigmoid(want).double().numpy(),
            "a ReLU on the output clips every negative logit to 0, so class 0 can never be "
            "predicted with confidence": torch.relu(want).double().numpy(),
            "the hidden layer needs its ReLU; without it the two layers collapse into one "
            "linear map, and no straight line separates two circles":
                F.linear(hidden, *_layer(case, "output")).double().numpy(),
        }, where=f"the logits for {n} points differ from output(relu(hidden(x)))", **TOLERANCE)
    return "logits of shape (n, 1) match output(relu(hidden(x)))"


# ---- 07-accuracy --------------------------------------------------------------------------------

def _accuracy_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Logits between 0 and 0.5 first (they tell a 0.5 threshold on logits from the right one),
    then 7, 50 and 3 drawn points."""
    cases = [{"logits": np.array([[0.2], [0.3], [-0.1], [0.4]], dtype=np.float32),
              "labels": np.array([1, 1, 0, 0], dtype=np.int64)}]
    for n in (7, 50, 3):
        cases.append({"logits": (rng.normal(size=(n, 1)) * 2.0).astype(np.float32),
                      "labels": (rng.random(n) < 0.5).astype(np.int64)})
    return {"cases": cases}


def _judge_accuracy(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    ambiguous = None
    for case, got in zip(cases, _each(results), strict=True):
        got = value(got)
        if got["kind"] == "array" and got.get("type") != "ndarray":
            raise fail(f"expected a Python float, got {describe(got)}: call .item()")
        if got["kind"] not in ("int", "float"):
            raise fail(f"expected a float, got {describe(got)}")
        number = expect_scalar(got, "the accuracy")
        logits = torch.tensor(np.asarray(case["logits"], np.float32))
        labels = torch.tensor(np.asarray(case["labels"], np.int64))
        n, want = len(labels), reference_accuracy(logits, labels)
        correct = int(round(want * n))
        # Integer division: an int, where the fraction lies strictly between 0 and 1.
        floored = got["kind"] == "int" and want not in (0.0, 1.0)
        hints = {
            "integer division (correct // total) rounds the fraction down to 0; divide with /, "
            "or take the mean of a float tensor": correct // n if floored else None,
            "that is a percentage with integer division (100 * correct // total), which also "
            "floors it; return the fraction correct / total, a float in [0, 1]":
                (100 * correct) // n if floored else None,
            "return a fraction in [0, 1], not a percentage": 100 * want,
            "these are logits, not probabilities; p > 0.5 exactly when the logit is > 0, so "
            "threshold at 0": reference_accuracy(logits - 0.5, labels),
            f"comparing shape ({n}, 1) with ({n},) broadcasts to a ({n}, {n}) table; compare "
            "logits[:, 0] with y": ((logits > 0).long() == labels).float().mean().item(),
        }
        if close(number, want, **TOLERANCE):
            continue
        where = f"on {n} points the accuracy should be {want:.4f}, got {number:.4f}"
        named = [hint for hint, candidate in hints.items()
                 if candidate is not None and close(number, candidate, **TOLERANCE)]
        if len(named) > 1:  # several mistakes fit this case: a later case may decide
            ambiguous = ambiguous or f"{where}: {named[0]}"
            continue
        raise fail(f"{where}: {named[0]}" if named else where)
    if ambiguous is not None:
        raise fail(ambiguous)
    return f"accuracy matches on {len(cases)} cases, as a float fraction"


FORWARD = Exercise("07-forward", _forward_cases, probes.forward_cases, _judge_forward,
                   implemented_by=(f"{torch_ref.__name__}.MLP",))
ACCURACY = Exercise("07-accuracy", _accuracy_cases, probes.accuracy_cases, _judge_accuracy,
                    implemented_by=(f"{torch_ref.__name__}.accuracy",
                                    f"{torch_ref.__name__}.predict_labels",
                                    "coursekit.checks.reference05.model_accuracy"))
EXERCISES = registry(FORWARD, ACCURACY)


def module_forward(model_class: Callable[..., nn.Module]) -> None:
    """Check ``model_class(n_hidden, generator)``'s forward: logits of shape (n, 1)."""
    FORWARD.check(model_class)


def accuracy(accuracy_fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> None:
    """Check ``accuracy(logits, y)``: a float fraction, thresholded at logit 0."""
    ACCURACY.check(accuracy_fn)
