"""Checks for lesson 08, one network two ways: copying a layer across frameworks, the
confusion matrix, and the indices of the misclassified points.

A ``coursekit.scratch.Dense`` keeps ``W`` of shape (n_in, n_out) and computes ``x @ W + b``;
a ``torch.nn.Linear`` keeps ``weight`` of shape (n_out, n_in) and computes ``x @ weight.T +
bias``. So copying one into the other transposes ``W``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit import scratch
from coursekit.checks.lesson05 import IN_PLACE_HINT
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    close,
    describe,
    expect_array,
    fail,
    raised_message,
    value,
)
from coursekit.exercise.judging import results as per_case
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson08 as probes

#: How close the copied layer's outputs must be to the Dense layer's (both float64).
TOLERANCE: Tolerance = {"rtol": 1e-10, "atol": 1e-12}


def reference_copy_layer(dense: scratch.Dense, linear: nn.Linear) -> None:
    """Copy one Dense layer's ``W`` (transposed) and ``b`` into an nn.Linear, in place."""
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"].T))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def reference_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray,
                               n_classes: int) -> np.ndarray:
    """Counts of shape (n_classes, n_classes): row = true class, column = predicted class."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def reference_misclassified(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """The positions i where y_pred[i] != y_true[i], increasing: int64, shape (n_wrong,)."""
    return np.flatnonzero(y_true != y_pred)


# ---- 08-copy-weights ----------------------------------------------------------------------------

def _layers(rng: np.random.Generator) -> dict[str, Any]:
    """Dense layers of three shapes (one square, where an untransposed copy fits silently) with
    He-scaled weights, a bias that matters, and 7 input rows each."""
    return {"cases": [{"W": rng.normal(scale=np.sqrt(2.0 / n_in), size=(n_in, n_out)),
                       "b": rng.normal(0.0, 0.5, n_out), "X": rng.normal(size=(7, n_in))}
                      for n_in, n_out in ((3, 5), (4, 4), (6, 2))]}


def _judge_copy_call(call: Data, fine_under_no_grad: Any, where: str) -> None:
    """Name what a copy that raised did wrong (keyed on the exception's type)."""
    if call.get("kind") != "raised":
        return
    if call.get("type") == "RuntimeError" and fine_under_no_grad is True:
        raise fail(f"{where}: {IN_PLACE_HINT}")
    if call.get("type") == "TypeError":
        raise fail(f"{where}: assigning a plain tensor to .weight is refused; copy into the "
                   "existing parameter under torch.no_grad() with weight.copy_(...)")
    if call.get("type") == "RuntimeError":
        raise fail(f"{where}: shapes do not fit ({call.get('message')}): Dense W is "
                   "(n_in, n_out), Linear.weight is (n_out, n_in); transpose W")
    raise fail(raised_message(call))


def _judge_copy_effects(call: Data, W: np.ndarray, b: np.ndarray, where: str) -> None:
    """What the call did besides the values: the Dense layer must come back unchanged, the
    Linear passed in must be changed, and its parameters must still require grad."""
    dense = call.get("dense")
    if not isinstance(dense, dict) or not isinstance(call.get("untouched"), bool) \
            or not isinstance(call.get("requires_grad"), list):
        raise fail("the check received malformed data")
    for name, want in (("W", W), ("b", b)):
        got = dense.get(name)
        if not isinstance(got, dict) or got.get("kind") != "array" \
                or tuple(got["shape"]) != want.shape \
                or not np.array_equal(np.asarray(got["value"], dtype=np.float64), want):
            shown = f"{describe(got)}, not {want.shape}" if isinstance(got, dict) else "changed"
            raise fail(f"{where}: your function changed the Dense layer's own {name} (it is now "
                       f"{shown}): the lesson uses that layer again; leave dense as it is and "
                       f"give the Linear a transposed copy (dense.params[\"W\"].T)")
    if call["untouched"]:
        if call.get("returned") == "Linear":
            raise fail(f"{where}: you returned a new layer and left the Linear you were given "
                       "untouched: change the Linear you were given, in place (copy_ under "
                       "torch.no_grad()); a new layer is not seen by the model that holds "
                       "this one")
        raise fail(f"{where}: the Linear you were given is unchanged: copy W.T and b into its "
                   "weight and bias, in place")
    if call["requires_grad"] != [True, True]:
        raise fail(f"{where}: the Linear's parameters no longer require grad "
                   "(requires_grad_(False)), so training it later fails ('element 0 of tensors "
                   "does not require grad'): leave requires_grad on and do the copy under "
                   "torch.no_grad()")


def _judge_copy(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, per_case(results, len(cases)), strict=True):
        W, b, X = (np.asarray(case[k], dtype=np.float64) for k in ("W", "b", "X"))
        n_in, n_out = W.shape
        where = f"for Dense({n_in}, {n_out})"
        _judge_copy_call(got["call"], got.get("fine_under_no_grad"), where)
        if value(got["call"])["kind"] != "none":
            raise fail("the check received malformed data")
        _judge_copy_effects(got["call"], W, b, where)
        if got["dtypes"] != ["float64", "float64"]:
            raise fail(f"{where}: the Linear's parameters are now {got['dtypes'][0]}, not "
                       "float64: copy in float64 (torch.from_numpy keeps NumPy's float64)")
        out = expect_array(got["out"], (len(X), n_out), f"Linear output {where}")
        weight = expect_array(got["weight"], (n_out, n_in), f"Linear weight {where}")
        bias = expect_array(got["bias"], (n_out,), f"Linear bias {where}")
        if not close(out, X @ W + b, **TOLERANCE):
            if np.array_equal(weight, W.T.astype(np.float32).astype(np.float64)) \
                    and not np.array_equal(weight, W.T):
                raise fail(f"{where}: the values were rounded to float32 on the way; copy in "
                           "float64 (torch.from_numpy keeps NumPy's float64)")
            if close(weight, W.reshape(weight.shape), **TOLERANCE):
                raise fail(f"{where}: the Linear weight is W untransposed (or reshaped), which "
                           "a square layer accepts silently; Linear computes x @ weight.T, so "
                           "copy W.T")
            if not close(bias, b, **TOLERANCE):
                raise fail(f"{where}: the bias was not copied")
            raise fail(f"{where}: after copying, the two layers give different outputs")
        if got["shares_memory"] is not False:
            raise fail("the torch parameters share memory with the NumPy arrays "
                       "(torch.from_numpy without a copy): an update to one model changes the "
                       "other; copy the values into the parameters with copy_()")
        if got["call"].get("new_parameters") is not False:
            raise fail(f"{where}: the Linear's parameters were replaced (`linear.weight = "
                       "nn.Parameter(...)`), not copied into: a new parameter lives on the "
                       "device it was made on (torch.tensor makes it on the CPU), so a model on "
                       "the GPU breaks, and an optimizer made before still holds the old ones; "
                       "copy into them with weight.copy_(...) under torch.no_grad()")
        if got["call"].get("replaced") is not False:
            raise fail(f"{where}: the parameters' tensors were swapped (`.data = ...`), not "
                       "copied into: a swapped-in tensor keeps its own device (torch.tensor "
                       "makes it on the CPU), so a model on the GPU breaks; copy into them with "
                       "weight.copy_(...) under torch.no_grad()")
    return f"outputs agree for {len(cases)} layers, and the copies are independent"


# ---- 08-confusion -------------------------------------------------------------------------------

def _label_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Two fixed cases (the second never shows classes 2 and 4), then three drawn ones."""
    def labels(*values: int) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    cases = [
        {"y_true": labels(0, 1, 2, 2, 1), "y_pred": labels(0, 2, 2, 1, 1), "n_classes": 3},
        {"y_true": labels(0, 0, 1, 3), "y_pred": labels(0, 1, 1, 3), "n_classes": 5},
    ]
    for _ in range(3):
        n, k = int(rng.integers(20, 60)), int(rng.integers(2, 11))
        cases.append({"y_true": rng.integers(0, k, n), "y_pred": rng.integers(0, k, n),
                      "n_classes": k})
    return {"cases": cases}


_FROM_LABELS = "take the number of classes from n_classes, not from the labels that happen to occur"


def _judge_confusion(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, per_case(results, len(cases)), strict=True):
        y_true, y_pred = (np.asarray(case[k], dtype=np.int64) for k in ("y_true", "y_pred"))
        k = int(case["n_classes"])
        if got.get("kind") == "raised" and got.get("type") == "IndexError":
            raise fail(f"for {k} classes your function raised IndexError (a label past the "
                       f"end of the matrix): {_FROM_LABELS}")
        got = value(got)
        if got["kind"] == "array" and len(got["shape"]) == 2 and tuple(got["shape"]) != (k, k):
            raise fail(f"expected shape ({k}, {k}) for {k} classes, got {tuple(got['shape'])}: "
                       f"{_FROM_LABELS}")
        counts = expect_array(got, (k, k), f"confusion matrix for {k} classes")
        if got["type"] != "ndarray" or np.dtype(got["dtype"]).kind not in "iu":
            raise fail(f"confusion matrix for {k} classes: expected a NumPy array of integers, "
                       f"got {describe(got)} of {got['dtype']}: count in an integer array "
                       "(np.zeros(..., dtype=int)); later cells print the counts as integers")
        want = reference_confusion_matrix(y_true, y_pred, k)
        if np.array_equal(counts, want):
            continue
        if np.array_equal(counts, want.T):
            raise fail("the matrix is transposed: row i should count the points whose true "
                       "class is i, column j those predicted as j")
        buffered = np.zeros((k, k), dtype=np.int64)
        buffered[y_true, y_pred] += 1  # what fancy-index += does with repeated pairs
        if np.array_equal(counts, buffered):
            raise fail(f"the counts add up to {counts.sum():g}, not {len(y_true)}: each cell "
                       "is 1 where at least one (true, predicted) pair fell, but it should "
                       "count how many did. In a loop, add 1 (counts[t, p] += 1), don't set it "
                       "to 1; vectorised, `counts[y_true, y_pred] += 1` adds 1 only once per "
                       "repeated (true, predicted) pair; use np.add.at(counts, (y_true, "
                       "y_pred), 1)")
        if counts.sum() != len(y_true):
            raise fail(f"the counts should add up to the {len(y_true)} points, got "
                       f"{counts.sum():g}")
        raise fail(f"for {k} classes expected\n{want}\ngot\n{counts.astype(int)}")
    return f"confusion matrices match on {len(cases)} cases"


# ---- 08-misclassified ---------------------------------------------------------------------------

def _prediction_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Three fixed cases (three mistakes, none, all), then three drawn ones where about one
    prediction in five is wrong."""
    def labels(*values: int) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    cases = [
        {"y_true": labels(3, 1, 4, 1, 5, 9, 2, 6), "y_pred": labels(3, 7, 4, 1, 5, 4, 2, 0)},
        {"y_true": labels(0, 1, 2, 3), "y_pred": labels(0, 1, 2, 3)},
        {"y_true": labels(2, 0, 1), "y_pred": labels(1, 2, 0)},
    ]
    for _ in range(3):
        n, k = int(rng.integers(20, 60)), int(rng.integers(3, 11))
        y_true = rng.integers(0, k, n)
        wrong = rng.uniform(size=n) < 0.2
        y_pred = np.where(wrong, (y_true + rng.integers(1, k, n)) % k, y_true)
        cases.append({"y_true": y_true, "y_pred": y_pred})
    return {"cases": cases}


def _judge_misclassified(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    got_cases = per_case(results, len(cases))
    for case, got in zip(cases, got_cases, strict=True):
        y_true, y_pred = (np.asarray(case[k], dtype=np.int64) for k in ("y_true", "y_pred"))
        want = reference_misclassified(y_true, y_pred)
        where = (f"with {len(y_true)} points of which {len(want)} misclassified "
                 f"(y_true {y_true[:8].tolist()}{'…' if len(y_true) > 8 else ''})")
        got = value(got)
        if got["kind"] == "list" and got.get("type") == "tuple" and got.get("length") == 1:
            raise fail(f"{where}: got a tuple holding one array; np.nonzero (and np.where with "
                       "one argument) returns one array per axis: take its [0], or use "
                       "np.flatnonzero")
        if got["kind"] == "array" and got.get("dtype") == "bool":
            raise fail(f"{where}: got a boolean mask (True where wrong); return the positions "
                       "where it is True: np.flatnonzero(mask)")
        if got["kind"] == "array" and tuple(got["shape"]) == (len(want), 1) and len(want) != 1:
            raise fail(f"{where}: expected shape ({len(want)},), got ({len(want)}, 1): "
                       "np.argwhere gives one row per hit; use np.flatnonzero")
        mask = (y_true != y_pred).astype(np.float64)
        if got["kind"] == "array" and tuple(got["shape"]) == y_true.shape \
                and not np.array_equal(mask, want) \
                and np.array_equal(np.asarray(got["value"], dtype=np.float64), mask):
            raise fail(f"{where}: got a 0/1 array, 1 where the prediction is wrong (as "
                       "np.where(mask, 1, 0) gives); return the positions of those points "
                       "(np.flatnonzero(mask)), not a 0/1 mask")
        right = np.flatnonzero(y_true == y_pred)
        if got["kind"] == "array" and tuple(got["shape"]) == right.shape and len(right) \
                and np.array_equal(np.asarray(got["value"]), right):
            raise fail(f"{where}: those are the correctly classified points; keep the "
                       "positions where y_true != y_pred")
        indices = expect_array(got, (len(want),), f"the indices {where}")
        if got.get("type") != "ndarray":
            raise fail(f"{where}: expected a NumPy array, got {describe(got)}: later cells "
                       "index NumPy arrays with it (np.flatnonzero returns one)")
        if len(want) and np.dtype(got["dtype"]).kind not in "iu":
            raise fail(f"{where}: expected integer indices, got {got['dtype']}: later cells "
                       "index arrays with them (build the array with dtype=int, or use "
                       "np.flatnonzero)")
        if np.array_equal(indices, want):
            continue
        if np.array_equal(np.sort(indices), want):
            raise fail(f"{where}: the right indices in the wrong order; return them in "
                       "increasing order")
        if np.array_equal(indices, y_true[want]) or np.array_equal(indices, y_pred[want]):
            raise fail(f"{where}: those are the labels of the misclassified points; return "
                       "their positions (indices) in the arrays")
        raise fail(f"{where}: expected indices {want.tolist()}, got "
                   f"{indices.astype(np.int64).tolist()}")
    return f"misclassified indices match on {len(cases)} cases"


COPY_WEIGHTS = Exercise("08-copy-weights", _layers, probes.copy_cases, _judge_copy,
                        names=("copy_layer",))
CONFUSION = Exercise("08-confusion", _label_cases, probes.confusion_cases, _judge_confusion,
                     names=("confusion_matrix",))
MISCLASSIFIED = Exercise("08-misclassified", _prediction_cases, probes.misclassified_cases,
                         _judge_misclassified,
                         names=("misclassified",))
EXERCISES = registry(COPY_WEIGHTS, CONFUSION, MISCLASSIFIED)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def copy_layer(copy: Callable[[scratch.Dense, nn.Linear], Any]) -> None:
    """Check ``copy_layer(dense, linear)``: same outputs afterwards, and no shared memory.

    The function receives a Dense layer (``params["W"]`` of shape (n_in, n_out), ``params["b"]``
    of shape (n_out,)) and an ``nn.Linear(n_in, n_out)`` in float64, and must change only the
    Linear, in place.
    """
    COPY_WEIGHTS.check(copy)


def confusion_matrix(confusion: Callable[[np.ndarray, np.ndarray, int], Any]) -> None:
    """Check ``confusion_matrix(y_true, y_pred, n_classes)``: rows true, columns predicted."""
    CONFUSION.check(confusion)


def misclassified(find: Callable[[np.ndarray, np.ndarray], Any]) -> None:
    """Check ``misclassified(y_true, y_pred)``: the positions of the wrong predictions,
    increasing, as an integer array of shape (n_wrong,)."""
    MISCLASSIFIED.check(find)
