"""Checks for lesson 07, a classifier as an ``nn.Module``: its forward pass, its accuracy, and
whole-tensor mini-batches.

The lesson's module has two ``nn.Linear`` layers named ``hidden`` and ``output``; ``forward``
returns logits ``output(relu(hidden(x)))`` of shape (n_samples, 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from coursekit import pytorch as torch_ref  # named only for implemented_by
from coursekit.checks._legacy import diagnose
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    close,
    describe,
    expect_array,
    expect_scalar,
    fail,
    raised_message,
    value,
)
from coursekit.exercise.judging import results as per_case
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson07 as probes

#: How close a student's number must be to the reference's (float32 tensors).
TOLERANCE: Tolerance = {"rtol": 1e-5, "atol": 1e-6}


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


_CONNECTED = ("forward must return a tensor connected to the layers, which training "
              "differentiates: no .detach(), no torch.no_grad(), no .numpy()")


def _judge_graph(graph: Data, *, logits_type: str) -> None:
    """Forward's result with gradients on: a tensor that requires grad."""
    if not isinstance(graph, dict):
        raise _malformed()
    if graph.get("kind") == "raised":
        raise fail(f"{_CONNECTED}; with gradients on (as in training) {raised_message(graph)}")
    if graph.get("kind") != "graph" or not isinstance(graph.get("requires_grad"), bool):
        raise _malformed()
    if logits_type != "Tensor" or graph.get("type") != "Tensor":
        raise fail(f"{_CONNECTED}: your forward returned a {graph.get('type')}, not a Tensor")
    if not graph["requires_grad"]:
        raise fail(f"{_CONNECTED}: with gradients on, your logits do not require grad, so "
                   "loss.backward() would fail")


def _judge_forward(inputs: Data, results: Data) -> str:
    for case, got in zip(inputs["cases"], per_case(results, len(inputs["cases"])), strict=True):
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
        _judge_graph(got.get("graph"), logits_type=str(value(got["logits"]).get("type")))
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


def _other_total(number: float, correct: int, n: int) -> dict[str, float]:
    """The hint for ``correct / total`` with a total other than this call's ``n`` points (a
    global such as len(y_test))."""
    if correct == 0 or not 0.0 < number < 1.0:
        return {}
    total = correct / number
    if abs(total - round(total)) > 1e-6 * total or round(total) == n:
        return {}
    return {f"that is {correct} correct out of {round(total)}, but this call has {n} points: "
            "divide by len(y) of the y passed in, not of a global": number}


def _judge_accuracy(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    ambiguous = None
    for case, got in zip(cases, per_case(results, len(cases)), strict=True):
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
            "the logits have one column, so argmax(dim=1) is always class 0: with one logit "
            "per row the predicted class is logit > 0": (labels == 0).float().mean().item(),
            f"that is the number of correct predictions ({correct}); divide by the number of "
            "points, len(y)": float(correct) if n > 1 else None,
            "that is the error rate, 1 − accuracy: count the rows where the predicted class "
            "equals y": 1.0 - want,
            **_other_total(number, correct, n),
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


# ---- 07-batches ---------------------------------------------------------------------------------

#: The rows of the case where batching row by row shows: whole-tensor batching passes a few
#: tensors through torch per batch (about 40 for its 4 batches), row by row at least one per
#: row; the lesson's timing cell needs the whole-tensor kind.
ROW_BY_ROW_ROWS = 200

def reference_batches(X: torch.Tensor, y: torch.Tensor, batch_size: int,
                      generator: torch.Generator
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(X_batch, y_batch) slices of the rows in the order ``torch.randperm(n, generator)``;
    the last batch holds the remainder."""
    order = torch.randperm(len(X), generator=generator).to(X.device)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield X[index], y[index]


def _batch_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Five sizes: a remainder, an exact fit, a single short batch, a larger remainder, and
    200 rows in 4 batches, where batching row by row shows."""
    return {"cases": [{"n": n, "batch_size": size, "seed": int(rng.integers(2**31 - 1))}
                      for n, size in ((20, 6), (12, 4), (7, 10), (33, 8), (ROW_BY_ROW_ROWS, 50))]}


def _judge_batch_type(part: Data, what: str, name: str) -> None:
    """A batch of ``name`` (X or y, float32 tensors here) must be a tensor of that dtype."""
    if part.get("kind") != "array":
        return  # the shape checks name it
    if part.get("type") != "Tensor":
        raise fail(f"{what} is {describe(part)}, not a tensor: index the tensor {name} itself "
                   f"({name}[index]), which the model and the loss take")
    if part.get("dtype") != "float32":
        raise fail(f"{what} is a {part.get('dtype')} tensor, but {name} is float32: index "
                   f"{name} without converting it (no .long() or .double()); the "
                   "model's layers and BCEWithLogitsLoss take the dtypes the lesson's tensors "
                   "have")


def _batch_rows(got: Data, n: int, where: str) -> list[np.ndarray]:
    """The row numbers of each batch, after checking each is an (X_batch, y_batch) pair of the
    right shapes holding the same rows."""
    if not isinstance(got, dict):
        raise _malformed()
    if got.get("kind") == "not_iterable":
        raise fail(f"{where}: expected an iterable of (X_batch, y_batch) pairs (yield them "
                   f"one by one), got {describe(got.get('got'))}")
    got = value(got)
    if got.get("kind") != "batches" or not isinstance(got.get("items"), list):
        raise _malformed()
    items = got["items"]
    if len(items) > n + 1:
        raise fail(f"{where}: more than {n + 1} batches came out: the loop never stops")
    rows = []
    for k, item in enumerate(items):
        pair = item.get("items") if isinstance(item, dict) else None
        if isinstance(item, dict) and item.get("kind") == "array":
            raise fail(f"{where}: iterating over your result gave {describe(item)}, not a pair "
                       "(X_batch, y_batch): yield one pair per batch")
        if not (isinstance(item, dict) and item.get("kind") == "list"
                and isinstance(pair, list) and len(pair) == 2 and item.get("length") == 2):
            raise fail(f"{where}: batch {k} should be a pair (X_batch, y_batch), got "
                       f"{describe(item) if isinstance(item, dict) else 'something else'}")
        xb, yb = (value(part) for part in pair)
        if xb.get("kind") != "array" or len(xb["shape"]) != 2 or xb["shape"][1:] != [2]:
            raise fail(f"{where}: X_batch {k} should be a tensor of shape (batch, 2), got "
                       f"{describe(xb)}")
        for name, part in (("X", xb), ("y", yb)):
            _judge_batch_type(part, f"{where}: {name}_batch {k}", name)
        m = int(xb["shape"][0])
        yb_array = expect_array(yb, (m, 1), f"{where}: y_batch {k} (y has shape (n, 1))")
        xb_array = np.asarray(xb["value"], dtype=np.float64)
        from_x = xb_array[:, 0]
        if not np.array_equal(from_x, -xb_array[:, 1]) or \
                not np.array_equal(from_x, np.round(from_x)):
            raise _malformed()
        if not np.array_equal(yb_array[:, 0] - probes.Y_OFFSET, from_x):
            raise fail(f"{where}: X_batch {k} and y_batch {k} hold different rows: index both "
                       "with the same indices")
        rows.append(from_x.astype(np.int64))
    return rows


def _judge_batches(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    got_cases = per_case(results, len(cases))
    for case, got in zip(cases, got_cases, strict=True):
        if not isinstance(got, dict):
            raise _malformed()
        n, size = int(case["n"]), int(case["batch_size"])
        where = f"{n} rows in batches of {size}"
        first = _batch_rows(got.get("first"), n, where)
        second = _batch_rows(got.get("second"), n, where)
        sizes = [len(b) for b in first]
        want_sizes = [size] * (n // size) + ([n % size] if n % size else [])
        order = np.concatenate(first) if first else np.zeros(0, dtype=np.int64)
        if sizes != want_sizes:
            if sizes == [size] * (n // size) and n % size:
                raise fail(f"{where}: the last, shorter batch of {n % size} rows is missing: "
                           "slice up to the end, range(0, n, batch_size)")
            raise fail(f"{where}: expected batch sizes {want_sizes}, got {sizes}: each batch "
                       "takes the next batch_size rows of the order, the last the remainder")
        if sorted(order.tolist()) != list(range(n)):
            raise fail(f"{where}: every row should come exactly once per epoch; some are "
                       "repeated or missing: slice one permutation, don't draw a new one "
                       "per batch")
        if order.tolist() == list(range(n)):
            raise fail(f"{where}: the rows come in their original order: shuffle them with "
                       "torch.randperm(n, generator=generator)")
        if [b.tolist() for b in first] != [b.tolist() for b in second]:
            raise fail(f"{where}: two calls with identically seeded generators gave different "
                       "orders: pass generator=generator to torch.randperm, so the order "
                       "comes from the generator you were given")
        generator = torch.Generator().manual_seed(int(case["seed"]))
        want = torch.randperm(n, generator=generator).numpy()
        if not np.array_equal(order, want):
            raise fail(f"{where}: the order should be torch.randperm(n, generator=generator)'s, "
                       "drawn once per call (the order pytorch.tensor_batches uses, which the "
                       "lesson's results were computed with); the rows came in another order")
        tensors = got["first"].get("tensors")
        if not isinstance(tensors, int) or isinstance(tensors, bool) or tensors < 0:
            raise _malformed()
        if n >= ROW_BY_ROW_ROWS and tensors >= n:
            raise fail(f"{where}: the batches are built row by row ({tensors} tensors went "
                       f"through torch for {n} rows, at least one per row): index X and y once "
                       "per batch with a tensor of row numbers, X[index] and y[index]; the "
                       "lesson's timing cell needs your batches several times faster than "
                       "loading item by item")
    return f"batches match pytorch.tensor_batches' order on {len(cases)} cases, whole tensors"


FORWARD = Exercise("07-forward", _forward_cases, probes.forward_cases, _judge_forward,
                   implemented_by=(f"{torch_ref.__name__}.MLP",),
                   names=("CircleClassifier",))
ACCURACY = Exercise("07-accuracy", _accuracy_cases, probes.accuracy_cases, _judge_accuracy,
                    implemented_by=(f"{torch_ref.__name__}.accuracy",
                                    f"{torch_ref.__name__}.predict_labels",
                                    "coursekit.checks.reference05.model_accuracy"),
                    names=("accuracy",))
BATCHES = Exercise("07-batches", _batch_cases, probes.batch_cases, _judge_batches,
                   implemented_by=(f"{torch_ref.__name__}.tensor_batches",),
                   names=("batches",))
EXERCISES = registry(FORWARD, ACCURACY, BATCHES)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def module_forward(model_class: Callable[..., nn.Module]) -> None:
    """Check ``model_class(n_hidden, generator)``'s forward: logits of shape (n, 1)."""
    FORWARD.check(model_class)


def accuracy(accuracy_fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> None:
    """Check ``accuracy(logits, y)``: a float fraction, thresholded at logit 0."""
    ACCURACY.check(accuracy_fn)


def batches(batches_fn: Callable[..., Any]) -> None:
    """Check ``batches(X, y, batch_size, generator)``: (X_batch, y_batch) pairs sliced in the
    order ``torch.randperm(n, generator=generator)``, the last batch the remainder."""
    BATCHES.check(batches_fn)
