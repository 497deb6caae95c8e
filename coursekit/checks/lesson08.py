"""Checks for lesson 08, one network two ways: copying a layer across frameworks, the
confusion matrix, and the indices of the misclassified points.

A ``coursekit.scratch.Dense`` keeps ``W`` of shape (n_in, n_out) and computes ``x @ W + b``;
a ``torch.nn.Linear`` keeps ``weight`` of shape (n_out, n_in) and computes ``x @ weight.T +
bias``. So copying one into the other transposes ``W``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit import scratch
from coursekit.checks.lesson05 import IN_PLACE_HINT
from coursekit.checks.lesson07 import case_by_case
from coursekit.checks.score import scorer
from coursekit.exercise import Exercise, Got, Raised, Rule, fail, function, registry, rules, view
from coursekit.exercise.judging import Data, Tolerance, close, expect_array, raised_message
from coursekit.exercise.judging import results as per_case
from coursekit.exercise.mistakes import Mistake, named, same
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

def _layer_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Dense layers of three shapes (one square, where an untransposed copy fits silently) with
    He-scaled weights, a bias that matters, and 7 input rows each; the gradient of a step on
    the Linear afterwards and a shift of the Dense layer's arrays after that."""
    return {"cases": [{"W": rng.normal(scale=np.sqrt(2.0 / n_in), size=(n_in, n_out)),
                       "b": rng.normal(0.0, 0.5, n_out), "X": rng.normal(size=(7, n_in)),
                       "step": rng.uniform(0.1, 0.5), "shift": rng.uniform(0.5, 1.5)}
                      for n_in, n_out in ((3, 5), (4, 4), (6, 2))]}


_FLOAT32 = ("the values were rounded to float32 on the way; copy in float64 (torch.from_numpy "
            "keeps NumPy's float64)")
_UNTRANSPOSED = ("the Linear weight is W untransposed (or reshaped), which a square layer "
                 "accepts silently; Linear computes x @ weight.T, so copy W.T")
_NO_BIAS = "the bias was not copied"


def _untransposed(dense: scratch.Dense, linear: nn.Linear) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"]).reshape(linear.weight.shape))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _no_bias(dense: scratch.Dense, linear: nn.Linear) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"].T))


def _float32(dense: scratch.Dense, linear: nn.Linear) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(dense.params["W"].T, dtype=torch.float32))
        linear.bias.copy_(torch.tensor(dense.params["b"], dtype=torch.float32))


COPY_MISTAKES = [Mistake(_UNTRANSPOSED, _untransposed), Mistake(_NO_BIAS, _no_bias),
                 Mistake(_FLOAT32, _float32)]


def _left(mistake: Mistake) -> Mistake:
    """``mistake`` judged on what its wrong copy leaves in the Linear, [weight, bias] (a copy
    returns nothing)."""
    def leaves(dense: scratch.Dense, linear: nn.Linear) -> list[torch.Tensor]:
        mistake.wrong(dense, linear)
        return [linear.weight.detach(), linear.bias.detach()]
    return Mistake(mistake.message, leaves, mistake.tolerance)


def _copies(inputs: Data, data: Data) -> list[tuple[Data, Got, Got, str]]:
    """Each case, its record, the call's description, and where a failure on it happened."""
    cases = inputs["cases"]
    found = [(case, Got(record) if isinstance(record, dict) else Got({}))
             for case, record in zip(cases, per_case(data, len(cases)), strict=True)]
    return [(case, record, Got(record.get("call") or {}),
             "for Dense({}, {})".format(*np.shape(case["W"]))) for case, record in found]


def _returns(inputs: Data, data: Data) -> None:
    for _, record, call, where in _copies(inputs, data):
        if call.kind == "raised":
            if call.type == "RuntimeError" and record.get("fine_under_no_grad") is True:
                raise fail(f"{where}: {IN_PLACE_HINT}")
            if call.type == "TypeError":
                raise fail(f"{where}: assigning a plain tensor to .weight is refused; copy into "
                           "the existing parameter under torch.no_grad() with weight.copy_(...)")
            if call.type == "RuntimeError":
                raise fail(f"{where}: shapes do not fit ({call.get('message')}): Dense W is "
                           "(n_in, n_out), Linear.weight is (n_out, n_in); transpose W")
            raise fail(raised_message(call.data))
        if view(call.data).kind != "none":
            raise fail("the check received malformed data")


def _effects(inputs: Data, data: Data) -> None:
    for case, _, call, where in _copies(inputs, data):
        dense = call.get("dense")
        if not isinstance(dense, dict) or not isinstance(call.get("untouched"), bool) \
                or not isinstance(call.get("requires_grad"), list):
            raise fail("the check received malformed data")
        for name in ("W", "b"):
            want, got = np.asarray(case[name], dtype=np.float64), Got(dense.get(name) or {})
            if got.kind != "array" or got.shape != want.shape or \
                    not np.array_equal(got.array, want):
                shown = f"{got.describe()}, not {want.shape}" if got.kind else "changed"
                raise fail(f"{where}: your function changed the Dense layer's own {name} (it is "
                           f"now {shown}): the lesson uses that layer again; leave dense as it "
                           "is and give the Linear a transposed copy (dense.params[\"W\"].T)")
        if call.get("untouched") and call.get("returned") == "Linear":
            raise fail(f"{where}: you returned a new layer and left the Linear you were given "
                       "untouched: change the Linear you were given, in place (copy_ under "
                       "torch.no_grad()); a new layer is not seen by the model that holds "
                       "this one")
        if call.get("untouched"):
            raise fail(f"{where}: the Linear you were given is unchanged: copy W.T and b into "
                       "its weight and bias, in place")
        if call.get("requires_grad") != [True, True]:
            raise fail(f"{where}: the Linear's parameters no longer require grad "
                       "(requires_grad_(False)), so training it later fails ('element 0 of "
                       "tensors does not require grad'): leave requires_grad on and do the "
                       "copy under torch.no_grad()")


def _values(inputs: Data, data: Data) -> None:
    for case, record, _, where in _copies(inputs, data):
        W, b, X = (np.asarray(case[k], dtype=np.float64) for k in ("W", "b", "X"))
        n_in, n_out = W.shape
        dtypes = record.get("dtypes")
        if dtypes != ["float64", "float64"]:
            raise fail(f"{where}: the Linear's parameters are now "
                       f"{dtypes[0] if isinstance(dtypes, list) and dtypes else dtypes}, not "
                       "float64: copy in float64 (torch.from_numpy keeps NumPy's float64)")
        out = expect_array(record.get("out"), (len(X), n_out), f"Linear output {where}")
        weight = expect_array(record.get("weight"), (n_out, n_in), f"Linear weight {where}")
        bias = expect_array(record.get("bias"), (n_out,), f"Linear bias {where}")
        if close(out, X @ W + b, **TOLERANCE):
            continue
        left = Got({"kind": "list", "type": "list", "length": 2,
                    "items": [record.get("weight"), record.get("bias")]})
        message = named(left, [_left(m) for m in COPY_MISTAKES], probes.layers(case), TOLERANCE)
        if message is None and np.array_equal(weight, W.T.astype(np.float32).astype(np.float64)):
            message = _FLOAT32
        elif message is None and close(weight, W.reshape(weight.shape), **TOLERANCE):
            message = _UNTRANSPOSED
        elif message is None and not close(bias, b, **TOLERANCE):
            message = _NO_BIAS
        raise fail(f"{where}: {message or 'after copying, the two layers give different outputs'}")


_SHARED = ("the torch parameters share memory with the NumPy arrays (torch.from_numpy "
           "without a copy, or a tensor made over them): {}; copy the values into the "
           "parameters with copy_()")


def _independent(inputs: Data, data: Data) -> None:
    """A step on the Linear moves it alone; a shift of the Dense layer leaves the Linear as the
    step left it (both shown by values); a tensor swapped in through ``.data`` (an
    instrument: the parameters' storage addresses)."""
    for case, record, call, where in _copies(inputs, data):
        W, b, X = (np.asarray(case[k], dtype=np.float64) for k in ("W", "b", "X"))
        step, shift = float(case["step"]), float(case["shift"])
        n_out = W.shape[1]
        dense = expect_array(record.get("dense_after_step"), (len(X), n_out),
                             f"Dense output after a step on the Linear {where}")
        if not close(dense, X @ W + b, **TOLERANCE):
            raise fail(f"{where}: " + _SHARED.format("one SGD step on the Linear changed what "
                                                     "the Dense layer computes"))
        stepped = expect_array(record.get("stepped"), (len(X), n_out),
                               f"Linear output after a step {where}")
        if close(stepped, X @ W + b, **TOLERANCE):
            raise fail(f"{where}: an optimizer made before the copy no longer moves the Linear: "
                       "its parameters were replaced (`linear.weight = nn.Parameter(...)`), not "
                       "copied into, so the optimizer still holds the old ones (and a new "
                       "parameter lives on the device it was made on): copy into them with "
                       "weight.copy_(...) under torch.no_grad()")
        # the gradients of step × sum(X @ W + b): step × (column sums of X) for every column
        # of W, step × (number of rows) for every bias entry
        W_next = W - step * X.sum(axis=0)[:, None]
        want = X @ W_next + (b - step * len(X))
        if not close(stepped, want, **TOLERANCE):
            raise fail(f"{where}: after one SGD step on the Linear its output is not what the "
                       "copied parameters give after that step: copy W.T and b into the "
                       "Linear's own weight and bias with copy_()")
        moved = expect_array(record.get("moved"), (len(X), n_out),
                             f"Linear output after the Dense layer changed {where}")
        if not close(moved, want, **TOLERANCE):
            raise fail(f"{where}: " + _SHARED.format(f"adding {shift:.3g} to the Dense layer's "
                                                     "W and b changed what the Linear computes"))
        if call.get("replaced") is not False:
            raise fail(f"{where}: the parameters' tensors were swapped (`.data = ...`), not "
                       "copied into: a swapped-in tensor keeps its own device (torch.tensor "
                       "makes it on the CPU), so a model on the GPU breaks; copy into them with "
                       "weight.copy_(...) under torch.no_grad()")


copy_layer = Exercise(
    "08-copy-weights", _layer_cases, probes.copy_cases, rules(
        Rule("the copy returns without raising", _returns),
        Rule("the Dense layer stays as it was; the Linear given is changed, and still "
             "requires grad", _effects),
        Rule("the Linear, float64, computes what the Dense layer computes", _values),
        Rule("the Linear's own parameters hold copies, not the NumPy arrays", _independent),
        passed="outputs agree for 3 layers, and the copies are independent"),
    names=("copy_layer",), mistakes=tuple(COPY_MISTAKES), student=lambda wrong: (wrong,),
    arguments=probes.layers)


# ---- 08-confusion -------------------------------------------------------------------------------

def _labels(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _label_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Two fixed cases (the second never shows classes 2 and 4), then three drawn ones."""
    cases = [
        {"y_true": _labels(0, 1, 2, 2, 1), "y_pred": _labels(0, 2, 2, 1, 1), "n_classes": 3},
        {"y_true": _labels(0, 0, 1, 3), "y_pred": _labels(0, 1, 1, 3), "n_classes": 5},
    ]
    for _ in range(3):
        n, k = int(rng.integers(20, 60)), int(rng.integers(2, 11))
        cases.append({"y_true": rng.integers(0, k, n), "y_pred": rng.integers(0, k, n),
                      "n_classes": k})
    return cases


_FROM_LABELS = "take the number of classes from n_classes, not from the labels that happen to occur"


def _present(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return len(np.unique(np.concatenate([y_true, y_pred])))


def _from_present(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    k = _present(y_true, y_pred)
    counts = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        counts[t % k, p % k] += 1
    return counts


def _counted_once(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.zeros((n_classes, n_classes), dtype=int)
    counts[y_true, y_pred] += 1  # repeated pairs count once
    return counts


def _integer_counts(got: Got, y_true: np.ndarray, y_pred: np.ndarray, k: int) -> None:
    if got.kind == "array" and got.shape == (k, k) and \
            (got.type != "ndarray" or np.dtype(got.dtype or "float64").kind not in "iu"):
        raise fail(f"confusion matrix for {k} classes: expected a NumPy array of integers, got "
                   f"{got.describe()} of {got.dtype}: count in an integer array (np.zeros(..., "
                   "dtype=int)); later cells print the counts as integers")


def _counts_differ(got: Got, y_true: np.ndarray, y_pred: np.ndarray, k: int) -> str | None:
    if got.kind != "array" or len(got.shape or ()) != 2:
        return None
    if got.shape != (k, k):
        return f"expected shape ({k}, {k}), got {got.shape}: {_FROM_LABELS}"
    if got.array.sum() != len(y_true):
        return f"the counts should add up to the {len(y_true)} points, got {got.array.sum():g}"
    return (f"expected\n{reference_confusion_matrix(y_true, y_pred, k)}\n"
            f"got\n{got.array.astype(int)}")


confusion_matrix = case_by_case(function(
    "08-confusion", names=("confusion_matrix",), args=("y_true", "y_pred", "n_classes"),
    keep=("y_true", "y_pred"), cases=_label_cases, reference=reference_confusion_matrix,
    where=lambda y_true, y_pred, k: f"confusion matrix for {k} classes",
    passed="confusion matrices match on {n} cases", explain=_counts_differ,
    raised=[Raised("IndexError", says="your function raised IndexError (a label past the end "
                                      f"of the matrix): {_FROM_LABELS}")],
    mistakes=[
        Mistake("the matrix is transposed: row i should count the points whose true class is "
                "i, column j those predicted as j",
                lambda y_true, y_pred, k: reference_confusion_matrix(y_pred, y_true, k)),
        Mistake(lambda y_true, y_pred, k: f"expected shape ({k}, {k}), got "
                f"{(_present(y_true, y_pred),) * 2}: {_FROM_LABELS}", _from_present),
        Mistake(lambda y_true, y_pred, k: f"the counts add up to "
                f"{len(set(zip(y_true.tolist(), y_pred.tolist(), strict=True)))}, not "
                f"{len(y_true)}: each cell is 1 where at least one (true, predicted) pair fell, "
                "but it should count how many did. In a loop, add 1 (counts[t, p] += 1), don't "
                "set it to 1; vectorised, `counts[y_true, y_pred] += 1` adds 1 only once per "
                "repeated (true, predicted) pair; use np.add.at(counts, (y_true, y_pred), 1)",
                _counted_once),
    ]), first=_integer_counts)


# ---- 08-misclassified ---------------------------------------------------------------------------

def _prediction_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Three fixed cases (three mistakes, none, all), then three drawn ones where about one
    prediction in five is wrong."""
    cases = [
        {"y_true": _labels(3, 1, 4, 1, 5, 9, 2, 6), "y_pred": _labels(3, 7, 4, 1, 5, 4, 2, 0)},
        {"y_true": _labels(0, 1, 2, 3), "y_pred": _labels(0, 1, 2, 3)},
        {"y_true": _labels(2, 0, 1), "y_pred": _labels(1, 2, 0)},
    ]
    for _ in range(3):
        n, k = int(rng.integers(20, 60)), int(rng.integers(3, 11))
        y_true = rng.integers(0, k, n)
        wrong = rng.uniform(size=n) < 0.2
        y_pred = np.where(wrong, (y_true + rng.integers(1, k, n)) % k, y_true)
        cases.append({"y_true": y_true, "y_pred": y_pred})
    return cases


def _where_wrong(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    return (f"with {len(y_true)} points of which {int(np.sum(y_true != y_pred))} misclassified "
            f"(y_true {y_true[:8].tolist()}{'…' if len(y_true) > 8 else ''})")


def _integer_positions(got: Got, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    where, want = _where_wrong(y_true, y_pred), reference_misclassified(y_true, y_pred)
    if got.kind == "array" and got.dtype == "bool":
        raise fail(f"{where}: got a boolean mask (True where wrong); return the positions "
                   "where it is True: np.flatnonzero(mask)")
    if got.kind == "array" and got.type != "ndarray":
        raise fail(f"{where}: expected a NumPy array, got {got.describe()}: later cells index "
                   "NumPy arrays with it (np.flatnonzero returns one)")
    if len(want) and same(got, want) and np.dtype(got.dtype or "float64").kind not in "iu":
        raise fail(f"{where}: expected integer indices, got {got.dtype}: later cells index "
                   "arrays with them (build the array with dtype=int, or use np.flatnonzero)")


_ONE_PER_AXIS = ("got a tuple holding one array; np.nonzero (and np.where with one argument) "
                 "returns one array per axis: take its [0], or use np.flatnonzero")
_ORDER = "the right indices in the wrong order; return them in increasing order"
_LABELS = ("those are the labels of the misclassified points; return their positions (indices) "
           "in the arrays")


def _one_row_per_hit(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    wrong = int(np.sum(y_true != y_pred))
    return (f"expected shape ({wrong},), got ({wrong}, 1): np.argwhere gives one row per hit; "
            "use np.flatnonzero")


def _positions_differ(got: Got, y_true: np.ndarray, y_pred: np.ndarray) -> str | None:
    want = reference_misclassified(y_true, y_pred)
    if got.kind == "list" and got.type == "tuple" and got.length == 1:
        return _ONE_PER_AXIS
    if got.kind == "array" and got.shape == (len(want), 1) and len(want) != 1:
        return _one_row_per_hit(y_true, y_pred)
    if got.kind != "array" or got.shape != want.shape:
        return None
    if np.array_equal(np.sort(got.array), want):
        return _ORDER
    return f"expected indices {want.tolist()}, got {got.array.astype(np.int64).tolist()}"


misclassified = case_by_case(function(
    "08-misclassified", names=("misclassified",), args=("y_true", "y_pred"),
    keep=("y_true", "y_pred"), cases=_prediction_cases, reference=reference_misclassified,
    where=_where_wrong, passed="misclassified indices match on {n} cases",
    explain=_positions_differ,
    mistakes=[
        Mistake(_ONE_PER_AXIS, lambda y_true, y_pred: np.where(y_true != y_pred)),
        Mistake(_one_row_per_hit, lambda y_true, y_pred: np.argwhere(y_true != y_pred)),
        Mistake("got a 0/1 array, 1 where the prediction is wrong (as np.where(mask, 1, 0) "
                "gives); return the positions of those points (np.flatnonzero(mask)), not a "
                "0/1 mask", lambda y_true, y_pred: np.where(y_true != y_pred, 1, 0)),
        Mistake("those are the correctly classified points; keep the positions where y_true != "
                "y_pred", lambda y_true, y_pred: np.flatnonzero(y_true == y_pred)),
        Mistake(_LABELS, lambda y_true, y_pred: y_pred[y_true != y_pred]),
        Mistake(_LABELS, lambda y_true, y_pred: y_true[y_true != y_pred]),
        Mistake(_ORDER, lambda y_true, y_pred: np.flatnonzero(y_true != y_pred)[::-1]),
    ]), first=_integer_positions)

EXERCISES = registry(copy_layer, confusion_matrix, misclassified)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)

