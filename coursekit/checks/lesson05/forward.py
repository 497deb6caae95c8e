"""05-predict: the classifier's forward pass, ``calc_logits(coeffs, X)`` (when given) and
``calc_preds(coeffs, X)``, each one number per row, judged against the reference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from coursekit.checks import reference05 as ref05
from coursekit.checks.lesson05._shared import (
    TOLERANCE,
    classifier_arrays,
    dotted,
    tensors,
)
from coursekit.exercise import Exercise, Mistake, Rule, fail, match, rules, view
from coursekit.exercise.judging import Data, expect_array, results
from coursekit.probes import lesson05 as probes

_FORWARD_SHAPES = ((7, 4, 5), (12, 30, 10), (1, 3, 2))  # (rows, inputs, hidden units)

_RELU = "the hidden layer needs its ReLU, or the network is just a linear model"
_BIAS = "add the biases b_hidden and b_out"


def _linear(c: ref05.Coeffs, X: torch.Tensor) -> torch.Tensor:
    return ((X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out)[:, 0]


def _no_bias(c: ref05.Coeffs, X: torch.Tensor) -> torch.Tensor:
    return (torch.relu(X @ c.w_hidden) @ c.w_out)[:, 0]


#: Wrong calc_preds, tried in order.
MISTAKES = [
    Mistake("these are the logits; apply torch.sigmoid to get probabilities", ref05.calc_logits),
    Mistake(_RELU, lambda c, X: torch.sigmoid(_linear(c, X))),
    Mistake(_BIAS, lambda c, X: torch.sigmoid(_no_bias(c, X))),
]
#: Wrong calc_logits, tried in order (the check takes calc_preds first: tests hand these with
#: the reference's calc_preds).
LOGIT_MISTAKES = [
    Mistake("these are probabilities; calc_logits returns the scores before the sigmoid",
            ref05.calc_preds),
    Mistake(_RELU, _linear),
    Mistake(_BIAS, _no_bias),
]


def _per_row(raw: Data, case: Data, what: str, where: str, reference: Any,
             mistakes: Sequence[Mistake], *, connected: bool = False) -> None:
    """One number per row, as ``reference`` gives, or a failure naming the mistake."""
    n = len(case["X"])
    got = view(raw)
    if got.kind == "array" and got.shape == (n, 1) and n > 1:
        raise fail(f"{what}: expected shape ({n},), got ({n}, 1): one number per row; drop the "
                   "last axis (squeeze(1) or [:, 0])")
    if got.kind == "array" and got.shape == () and n == 1:
        raise fail(f"{what}: expected shape (1,), got (): squeeze() also drops the row axis "
                   "when there is one row; use squeeze(1) or [:, 0]")
    expect_array(raw, (n,), what)
    if connected and (got.type != "Tensor" or got.get("requires_grad") is not True):
        raise fail(f"{what} returned {got.describe()} that is not connected to the coefficients "
                   "(requires_grad is False): calc_loss and its backward() need the graph, so "
                   "return a tensor computed from the coefficients (no torch.no_grad(), no "
                   ".detach(), no .numpy())")
    args = tensors(case)
    with torch.no_grad():
        want = reference(*args).double().numpy()
    match(got, want, where=where, args=args, mistakes=mistakes, tolerance=TOLERANCE)


def _logits(inputs: Data, data: Data) -> None:
    if "logits" not in view(data).data:
        raise fail("the check received malformed data")
    cases, given = inputs["cases"], view(data).get("logits")
    if given is None:
        return
    for case, raw in zip(cases, results(given, len(cases)), strict=True):
        n, n_hidden = len(case["X"]), len(case["coeffs"]["b_hidden"])
        _per_row(raw, case, f"calc_logits on {n} rows",
                 f"calc_logits on {n} rows with {n_hidden} hidden units differs",
                 ref05.calc_logits, LOGIT_MISTAKES, connected=True)


def _probabilities(inputs: Data, data: Data) -> None:
    cases = inputs["cases"]
    for case, raw in zip(cases, results(view(data).get("preds"), len(cases)), strict=True):
        n, n_hidden = len(case["X"]), len(case["coeffs"]["b_hidden"])
        _per_row(raw, case, f"probabilities for {n} rows",
                 f"on {n} rows with {n_hidden} hidden units the probabilities differ",
                 ref05.calc_preds, MISTAKES)


_RULES = rules(
    Rule("calc_logits, when given: one number per row, connected to the coefficients, the "
         "reference's logits; each known mistake named", _logits),
    Rule("calc_preds: one number per row, the reference's probabilities; each known mistake "
         "named", _probabilities),
    passed="")


def _judge(inputs: Data, data: Data) -> str:
    _RULES(inputs, data)
    what = "probabilities" if view(data).get("logits") is None else "logits and probabilities"
    return f"{what} match the reference on {len(inputs['cases'])} cases"


def forward_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Three cases of fixed shapes (7, 12 and 1 rows) with drawn values."""
    return {"cases": [{"coeffs": classifier_arrays(rng, n_inputs, n_hidden),
                       "X": rng.normal(size=(n, n_inputs)).astype(np.float32)}
                      for n, n_inputs, n_hidden in _FORWARD_SHAPES]}


predict = Exercise(
    "05-predict", forward_cases, probes.forward_cases, _judge,
    implemented_by=(dotted(ref05.calc_preds), dotted(ref05.calc_logits)),
    names=("calc_preds", "calc_logits"), mistakes=tuple(MISTAKES),
    student=lambda wrong: (wrong,), arguments=tensors)
