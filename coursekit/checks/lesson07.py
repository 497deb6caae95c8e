"""Checks for lesson 07, a classifier as an ``nn.Module``: its forward pass and its accuracy.

The lesson's module has two ``nn.Linear`` layers named ``hidden`` and ``output``; ``forward``
returns logits ``output(relu(hidden(x)))`` of shape (n_samples, 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit.checks._legacy import call, describe, expect_array, fail, passed


def reference_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose predicted class (logit > 0) equals ``y``: a float in [0, 1].

    Parameters
    ----------
    logits : Tensor of shape (n_samples, 1)
    y : Tensor of shape (n_samples,) of 0/1 labels
    """
    predicted = (logits[:, 0] > 0).long()
    return (predicted == y.long()).float().mean().item()


def module_forward(model_class: Callable[..., nn.Module]) -> None:
    """Check ``model_class(n_hidden, generator)``'s forward: logits of shape (n, 1)."""
    exercise = "07-forward"
    for n_hidden, n in ((5, 9), (16, 40)):
        gen = torch.Generator().manual_seed(71 + n_hidden)
        model = call(exercise, model_class, n_hidden, gen)
        for name in ("hidden", "output"):
            if not isinstance(getattr(model, name, None), nn.Linear):
                raise fail(exercise, f"the module should keep an nn.Linear called `{name}` "
                           "(set in __init__, which is given)")
        with torch.no_grad():  # biases that are not zero, so a dropped bias shows
            model.hidden.bias.normal_(0.0, 0.5, generator=gen)
            model.output.bias.normal_(0.0, 0.5, generator=gen)
        X = torch.randn(n, 2, generator=gen) * 1.5
        with torch.no_grad():
            raw = call(exercise, model, X)
            hidden = model.hidden(X)
            want = model.output(torch.relu(hidden))
        if hasattr(raw, "shape") and tuple(raw.shape) == (n,):
            raise fail(exercise, f"expected logits of shape ({n}, 1), got ({n},): keep the "
                       "column; the targets will be a column too")
        got = expect_array(exercise, raw, (n, 1), f"logits for {n} points")
        want_np = want.double().numpy()
        if np.allclose(got, want_np, rtol=1e-5, atol=1e-6):
            continue
        where = f"the logits for {n} points differ from output(relu(hidden(x)))"
        with torch.no_grad():
            candidates = {
                "apply no sigmoid in forward: BCEWithLogitsLoss takes logits and applies "
                "it itself, stably": torch.sigmoid(want),
                "a ReLU on the output clips every negative logit to 0, so class 0 can never "
                "be predicted with confidence": torch.relu(want),
                "the hidden layer needs its ReLU; without it the two layers collapse into one "
                "linear map, and no straight line separates two circles": model.output(hidden),
            }
        for hint, candidate in candidates.items():
            if np.allclose(got, candidate.double().numpy(), rtol=1e-5, atol=1e-6):
                raise fail(exercise, f"{where}: {hint}")
        raise fail(exercise, where)
    passed(exercise, "logits of shape (n, 1) match output(relu(hidden(x)))")


def _accuracy_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(72)
    cases = []
    for n in (7, 50, 3):
        logits = torch.randn(n, 1, generator=gen) * 2.0
        labels = (torch.rand(n, generator=gen) < 0.5).long()
        cases.append((logits, labels))
    # logits between 0 and 0.5 tell a 0.5 threshold on logits from the right one
    cases.append((torch.tensor([[0.2], [0.3], [-0.1], [0.4]]), torch.tensor([1, 1, 0, 0])))
    return cases


def accuracy(accuracy_fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> None:
    """Check ``accuracy(logits, y)``: a float fraction, thresholded at logit 0."""
    exercise = "07-accuracy"
    cases = _accuracy_cases()
    for logits, labels in cases:
        n = len(labels)
        got = call(exercise, accuracy_fn, logits.clone(), labels.clone())
        if isinstance(got, torch.Tensor):
            raise fail(exercise, f"expected a Python float, got {describe(got)}: call .item()")
        if isinstance(got, bool) or not isinstance(got, int | float | np.floating | np.integer):
            raise fail(exercise, f"expected a float, got {describe(got)}")
        got = float(got)
        want = reference_accuracy(logits, labels)
        if abs(got - want) < 1e-6:
            continue
        where = f"on {n} points the accuracy should be {want:.4f}, got {got:.4f}"
        correct = int(round(want * n))
        if got == correct // n and want not in (0.0, 1.0):
            raise fail(exercise, f"{where}: integer division (correct // total) rounds the "
                       "fraction down to 0; divide with /, or take the mean of a float tensor")
        if got == (100 * correct) // n and want not in (0.0, 1.0):
            raise fail(exercise, f"{where}: that is a percentage with integer division "
                       "(100 * correct // total), which also floors it; return the fraction "
                       "correct / total, a float in [0, 1]")
        if abs(got - 100 * want) < 1e-4:
            raise fail(exercise, f"{where}: return a fraction in [0, 1], not a percentage")
        if abs(got - reference_accuracy(logits - 0.5, labels)) < 1e-6:
            raise fail(exercise, f"{where}: these are logits, not probabilities; p > 0.5 "
                       "exactly when the logit is > 0, so threshold at 0")
        broadcast = ((logits > 0).long() == labels.long()).float().mean().item()
        if abs(got - broadcast) < 1e-6:
            raise fail(exercise, f"{where}: comparing shape ({n}, 1) with ({n},) broadcasts to "
                       f"a ({n}, {n}) table; compare logits[:, 0] with y")
        raise fail(exercise, where)
    passed(exercise, f"accuracy matches on {len(cases)} cases, as a float fraction")
