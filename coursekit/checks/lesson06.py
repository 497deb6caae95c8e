"""Checks for lesson 06, PyTorch linear regression: the DataLoader, one training epoch and the
evaluation of a model on held-out data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit import pytorch as torch_ref  # the reference epoch and batches: only named here
from coursekit.checks._legacy import mistake
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    close,
    describe,
    expect_array,
    expect_scalar,
    fail,
    value,
)
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson06 as probes

#: How close a student's parameters and losses must be to the reference's (float32 tensors).
TOLERANCE: Tolerance = {"rtol": 1e-5, "atol": 1e-6}

# The reference epoch is the package's own: zero, forward, loss, backward, step.
reference_train_epoch = torch_ref.train_epoch
_IMPLEMENTED_BY = {"loader": (f"{torch_ref.__name__}.tensor_batches",),
                   "epoch": (f"{torch_ref.__name__}.train_epoch",
                             f"{torch_ref.__name__}.fit")}


def reference_make_loader(
    X: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> DataLoader:
    """Shuffled mini-batches of ``(X_batch, y_batch)`` pairs, the order drawn from ``generator``."""
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                      generator=generator)


def _regression(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` rows of 2 features and targets of shape (n, 1) from a drawn line, float32."""
    X = rng.normal(size=(n, 2)).astype(np.float32)
    w, b = rng.uniform(-4.0, 4.0, size=2), rng.uniform(-5.0, 5.0)
    return {"X": X, "y": (X.astype(np.float64) @ w + b).astype(np.float32).reshape(n, 1)}


# ---- 06-loader ----------------------------------------------------------------------------------

def _loader_case(rng: np.random.Generator) -> dict[str, Any]:
    """23 rows in batches of 5 (the last one holds 3), and the generator's seed."""
    return {**_regression(rng, 23), "batch_size": 5, "seed": int(rng.integers(2**31))}


def _batch_rows(batch: Data) -> int:
    """The number of rows of a batch's X, after checking it is an (X_batch, y_batch) pair."""
    if batch.get("kind") != "pair":
        raise fail("each batch should be a pair (X_batch, y_batch); got "
                   f"{describe(batch)}: did you build TensorDataset(X, y) with both tensors?")
    x = value(batch["x"])
    if x["kind"] != "array" or not x["shape"]:
        raise fail(f"X_batch should be a tensor of rows, got {describe(x)}")
    return int(x["shape"][0])


def _listed(values: list[int], shown: int = 8) -> str:
    """``[5, 5, 5, …] (200 values)`` for a long list, the whole list for a short one."""
    if len(values) <= shown:
        return str(values)
    return f"[{', '.join(str(v) for v in values[:shown])}, …] ({len(values)} batches)"


#: Which pass over which loader :func:`_one_epoch` reads, for its messages.
_PASSES = {"first": "the loader", "second": "the loader's second pass",
           "again": "a second loader made with the same seed",
           "other": "a loader made with another seed"}


def _one_epoch(inputs: Data, got: Data, made: Data, which: str = "first") -> list[int]:
    """The order in which one pass visited the rows of X, after checking every batch."""
    X, y = np.asarray(inputs["X"], np.float64), np.asarray(inputs["y"], np.float64)
    n, batch_size = len(X), int(inputs["batch_size"])
    loader = made.get("got")
    made_type = str(loader.get("type")) if isinstance(loader, dict) and \
        loader.get("kind") == "other" else ""
    if got.get("kind") == "raised" and got.get("type") == "TypeError":
        raise fail(f"expected something to loop over (a DataLoader), got "
                   f"{describe(made.get('got'))}")
    batches = value(got)["batches"]
    if not batches:
        if which == "second":
            raise fail("the first pass over the loader gave batches, but a second pass (the "
                       "next epoch) gave none: a one-shot iterator (iter(DataLoader(...)), or a "
                       "function that yields batches) is spent after one epoch; return the "
                       "DataLoader itself, which can be iterated once per epoch")
        raise fail(f"one pass over {_PASSES.get(which, 'the loader')} gave no batches")
    if made_type.endswith("Dataset") and which == "first":
        raise fail(f"expected a DataLoader, got a {made_type}: a dataset serves one row at a "
                   "time; return a DataLoader over the TensorDataset (with batch_size and the "
                   "generator)")
    sizes = [_batch_rows(batch) for batch in batches]
    expected = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if sizes == expected[:-1] and n % batch_size:
        raise fail(f"{n} rows in batches of {batch_size} should give batch sizes {expected}, "
                   f"got {sizes}: the last, smaller batch is missing; leave drop_last=False "
                   "so every row is used in every epoch")
    if sum(sizes) != n:
        held = (f"{sum(sizes)} rows or more" if len(sizes) >= probes.MAX_BATCHES else
                f"{sum(sizes)} rows")
        raise fail(f"the X passed in has {n} rows, but one pass over the loader gave {held} "
                   f"(batch sizes {_listed(sizes)}): build the TensorDataset from the X and y "
                   "passed in, not the notebook's global X and y")
    if sizes != expected:
        raise fail(f"{n} rows in batches of {batch_size} should give batch sizes {expected}, "
                   f"got {_listed(sizes)}: pass batch_size to the DataLoader")
    where = {tuple(row): i for i, row in enumerate(X)}
    order: list[int] = []
    for batch, size in zip(batches, sizes, strict=True):
        y_batch = value(batch["y"])
        if y_batch["kind"] != "array" or tuple(y_batch["shape"]) != (size, 1):
            shown = tuple(y_batch["shape"]) if y_batch["kind"] == "array" else describe(y_batch)
            raise fail(f"y batches should have shape (batch, 1) like the targets, got {shown}")
        rows = [where.get(tuple(row), -1)
                for row in expect_array(batch["x"], (size, 2), "X_batch")]
        if -1 in rows:
            raise fail("a batch holds rows that are not rows of X: pass X itself to "
                       "TensorDataset")
        if not close(np.asarray(y_batch["value"], np.float64), y[rows], **TOLERANCE):
            raise fail("a y batch does not belong to its X batch: rows of X and y must stay "
                       "paired (one TensorDataset of both, not two loaders)")
        order += rows
    return order


def _judge_loader(inputs: Data, data: Data) -> str:
    n, batch_size = len(inputs["X"]), int(inputs["batch_size"])
    made = value(data["made"])
    if made["kind"] != "made":
        raise fail("the check received malformed data")
    first = _one_epoch(inputs, data["first"], made)
    if sorted(first) != list(range(n)):
        raise fail("one epoch should visit every row exactly once")
    if first == list(range(n)):
        raise fail("the rows come in their original order: pass shuffle=True so every epoch "
                   "sees the batches in a fresh random order")
    if _one_epoch(inputs, data["second"], made, "second") == first:
        raise fail("two epochs visited the rows in the same order: shuffle anew each epoch "
                   "(shuffle=True, not a fixed permutation)")
    if _one_epoch(inputs, data["again"], made, "again") != first:
        raise fail("the same seed gave a different order: pass the generator to the "
                   "DataLoader (generator=generator) so runs are reproducible")
    if _one_epoch(inputs, data["other"], made, "other") == first:
        raise fail("generators seeded differently gave the same order: the order must come "
                   "from the generator passed in (DataLoader(..., generator=generator)), not "
                   "from a generator or seed of your own")
    n_batches = -(-n // batch_size)
    length = data["length"]
    if length.get("kind") != "int" or length.get("value") != n_batches:
        shown = (f"{length.get('type')} from len()" if length.get("kind") == "raised" else
                 describe(length))
        raise fail(f"len(loader) should be the number of batches per epoch, {n_batches}; got "
                   f"{shown}: a DataLoader has it, and later cells use it")
    return f"{n} rows in shuffled, paired, reproducible batches of {batch_size}"


# ---- 06-train-epoch -----------------------------------------------------------------------------

def _epoch_case(rng: np.random.Generator) -> dict[str, Any]:
    """30 rows in batches of 8 (four steps), a drawn starting line, SGD with lr 0.05, trained
    with the squared error, then the same with the absolute error (whether the loss_fn passed
    in is used)."""
    case = {**_regression(rng, 30), "batch_size": 8, "lr": 0.05,
            "weight": rng.normal(scale=0.5, size=(1, 2)).astype(np.float32),
            "bias": rng.normal(scale=0.5, size=1).astype(np.float32)}
    return {"cases": [{**case, "loss": "MSELoss"}, {**case, "loss": "L1Loss"}]}


def _without_zero_grad(net: nn.Module, loader: DataLoader, loss_fn: nn.Module,
                       optimizer: torch.optim.Optimizer) -> None:
    for X_batch, y_batch in loader:
        loss_fn(net(X_batch), y_batch).backward()
        optimizer.step()


def _no_gradient(grad: Data) -> bool:
    return grad.get("kind") == "none" or (grad.get("kind") == "array"
                                          and not np.any(grad["value"]))


def _judge_epoch(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    if isinstance(data, dict):
        value(data)  # the probe itself failed
    if not isinstance(data, list) or len(data) != len(cases):
        raise fail("the check received malformed data")
    for case, got in zip(cases, data, strict=True):
        if not isinstance(got, dict):
            raise fail("the check received malformed data")
        message = _judge_epoch_case(case, got)
    return message


def _spied_calls(data: Data) -> list[list[bool]]:
    """What the mode spy saw: one ``[training, grad_enabled]`` pair per forward pass."""
    calls = data.get("calls")
    if not isinstance(calls, list) or not all(
            isinstance(c, list) and len(c) == 2 and all(isinstance(f, bool) for f in c)
            for c in calls):
        raise fail("the check received malformed data")
    return calls


def _judge_epoch_case(inputs: Data, data: Data) -> str:
    loss = str(inputs["loss"])
    losses = value(data["losses"])
    grads = data["grads"]
    if not isinstance(grads, list) or len(grads) != 2 or not all(
            isinstance(g, dict) and g.get("kind") in ("none", "array") for g in grads):
        raise fail("the check received malformed data")
    start = np.concatenate([np.ravel(inputs["weight"]), np.ravel(inputs["bias"])])
    after = expect_array(data["params"], start.shape, "the parameters")
    reference = probes.epoch_run(inputs, reference_train_epoch)
    want = np.asarray(reference["params"]["value"], dtype=np.float64)
    n_batches = len(reference["calls"])
    calls = _spied_calls(data)
    if not calls:
        raise fail("the model passed in was never called: compute net(X_batch) with the net "
                   "argument (not the notebook's global net)")
    if np.array_equal(after, start):
        if all(_no_gradient(g) for g in grads):
            raise fail("the parameters did not change and the gradients are empty: "
                       "optimizer.zero_grad() goes before loss.backward(), not between "
                       "backward() and step(), where it throws away the gradient step() needs")
        raise fail("the parameters did not change although their gradients were computed: "
                   "the optimizer passed in never stepped; call optimizer.step() on the "
                   "optimizer argument (not the notebook's global optimizer) after "
                   "loss.backward()")
    if not all(training for training, _ in calls):
        raise fail("the forward passes ran with the model in evaluation mode (net.eval()): "
                   "training runs in training mode, where layers such as dropout work as "
                   "they should; don't call net.eval() in train_epoch (evaluate switches "
                   "back with net.train())")
    if not close(after, want, **TOLERANCE):
        never_zeroed = probes.epoch_run(inputs, _without_zero_grad)["params"]["value"]
        if close(after, never_zeroed, **TOLERANCE):
            raise fail("the parameters match a loop that never zeroes gradients: call "
                       "optimizer.zero_grad() before each backward()")
        if len(calls) != n_batches:
            raise fail(f"the model was called {len(calls)} times, but the loader passed in has "
                       f"{n_batches} batches: loop once over the loader argument (not the "
                       "notebook's global loader)")
        if loss != "MSELoss":
            squared = probes.epoch_run({**inputs, "loss": "MSELoss"}, reference_train_epoch)
            if close(after, squared["params"]["value"], **TOLERANCE):
                raise fail(f"with loss_fn = nn.{loss}() the parameters match training with "
                           "nn.MSELoss(): use the loss_fn passed in (not the notebook's global "
                           "loss_fn)")
        raise fail(f"with nn.{loss}(), after one epoch the parameters should be "
                   f"{want.round(4)}, got {after.round(4)}")
    want_losses = [item["value"] for item in reference["losses"]["items"]]
    if losses["kind"] != "list":
        raise fail(f"return a list with the loss of every step, got {describe(losses)}")
    if losses["length"] != len(want_losses) or len(losses["items"]) != len(want_losses):
        raise fail(f"expected {len(want_losses)} losses (one per batch), got "
                   f"{losses['length']}")
    if any(item.get("kind") == "array" and item.get("type") != "ndarray"
           for item in losses["items"]):
        raise fail("the losses are tensors: store loss.item(), a float; a tensor keeps its "
                   "whole graph alive")
    got_losses = [expect_scalar(item, "a loss") for item in losses["items"]]
    if not close(got_losses, want_losses, **TOLERANCE):
        raise fail(f"the recorded losses should be {[round(v, 4) for v in want_losses]}, got "
                   f"{[round(v, 4) for v in got_losses]}: record each batch's loss as "
                   "computed before its step")
    return f"{len(want_losses)} steps match the reference: parameters and losses"


# ---- 06-evaluate --------------------------------------------------------------------------------

def reference_evaluate(net: nn.Module, loader: Any, loss_fn: Callable[..., torch.Tensor]
                       ) -> float:
    """The mean of ``loss_fn`` over every sample the loader serves: in evaluation mode, without
    recording, each batch's (mean) loss weighted by its rows; the model back in training mode."""
    net.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for X_batch, y_batch in loader:
            total += loss_fn(net(X_batch), y_batch).item() * len(X_batch)
            count += len(X_batch)
    net.train()
    return total / count


def _evaluate_cases(rng: np.random.Generator) -> dict[str, Any]:
    """23 rows in batches of 5 with the squared error, then 30 rows in batches of 8 with the
    absolute error: both last batches are short, and the model is a drawn line."""
    cases = []
    for n, batch_size, loss in ((23, 5, "MSELoss"), (30, 8, "L1Loss")):
        cases.append({**_regression(rng, n), "batch_size": batch_size, "loss": loss,
                      "weight": rng.normal(scale=0.5, size=(1, 2)).astype(np.float32),
                      "bias": rng.normal(scale=0.5, size=1).astype(np.float32)})
    return {"cases": cases}


def _batch_losses(case: Data, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Every batch's mean ``loss`` (a name in ``probes.LOSSES``) and its number of rows."""
    layer, loader = probes.regression_setup(case)
    loss_fn = probes.LOSSES[loss]()
    with torch.no_grad():
        pairs = [(loss_fn(layer(X_batch), y_batch).item(), len(X_batch))
                 for X_batch, y_batch in loader]
    return (np.array([m for m, _ in pairs], dtype=np.float64),
            np.array([k for _, k in pairs], dtype=np.float64))


def _judge_evaluate(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    if isinstance(results, dict):
        value(results)  # the probe itself failed, or evaluate is not a function
    if not isinstance(results, list) or len(results) != len(cases):
        raise fail("the check received malformed data")
    for case, got in zip(cases, results, strict=True):
        if not isinstance(got, dict):
            raise fail("the check received malformed data")
        n, batch_size, loss = len(case["X"]), int(case["batch_size"]), str(case["loss"])
        where = (f"evaluate on {n} rows in batches of {batch_size} (the last holds "
                 f"{n % batch_size}) with nn.{loss}()")
        result = value(got.get("result"))
        if result["kind"] == "list":
            raise fail(f"{where}: expected one float for the whole loader, got "
                       f"{describe(result)}: add up every batch's loss × its rows, then divide "
                       "by the number of rows")
        if result["kind"] == "array" and result.get("type") != "ndarray" \
                and tuple(result["shape"]) == ():
            raise fail(f"{where}: expected a float, got a 0-d tensor: call .item() on each "
                       "batch's loss, so the result is a plain number")
        mean = expect_scalar(result, where)
        means, rows = _batch_losses(case, loss)
        want = float(means @ rows / rows.sum())
        other = "L1Loss" if loss == "MSELoss" else "MSELoss"
        other_means, _ = _batch_losses(case, other)
        hints = {
            f"that is the mean of the {len(rows)} batch losses, but the last batch holds only "
            f"{int(rows[-1])} rows, so each of its rows counts more than the others: weight "
            "each batch's loss by its number of rows (len(X_batch)) and divide by the number "
            "of rows": means.mean(),
            "that is the sum of the batch losses; weight each by its rows and divide by the "
            "number of rows": means.sum(),
            "that is the loss summed over all rows: divide by the number of rows, "
            "len(loader.dataset)": float(means @ rows),
            "that is divided by the number of batches (len(loader)); divide by the number of "
            "rows, len(loader.dataset)": float(means @ rows) / len(rows),
            "that is the first batch's loss alone: return after the loop over every batch, "
            "not inside it": means[0],
            "that is the last batch's loss alone: add up every batch's loss, weighted by its "
            "rows": means[-1],
            f"that is the nn.{other}() of the predictions: use the loss_fn you are given":
                float(other_means @ rows / rows.sum()),
        }
        if not close(mean, want, **TOLERANCE):
            raise mistake(mean, hints, where=f"{where}, expected {want:.6g}, got {mean:.6g}",
                          otherwise=f"{where}: expected the mean loss per row, {want:.6g}, got "
                                    f"{mean:.6g}", **TOLERANCE)
        calls = _spied_calls(got)
        if not calls:
            raise fail(f"{where}: the model was never called: compute net(X_batch) for every "
                       "batch")
        modes = got.get("modes")
        if not isinstance(modes, list) or not all(isinstance(m, bool) for m in modes) or (
                False not in modes and not all(training for training, _ in calls)):
            raise fail("the check received malformed data")  # an eval pass needs a net.eval()
        back = sum(training for training, _ in calls)
        if back and False in modes and True in modes[modes.index(False):]:
            raise fail(f"{where}: the value is right, and net.eval() was called, but the model "
                       f"was back in training mode for {back} of the {len(calls)} batches: "
                       "call net.eval() before the loop over the batches and net.train() once, "
                       "after it, not inside it")
        if any(training for training, _ in calls):
            raise fail(f"{where}: the value is right, but the model was in training mode "
                       "during the passes: call net.eval() first, since layers such as dropout "
                       "and batch normalisation behave differently while training")
        if any(recording for _, recording in calls):
            raise fail(f"{where}: the value is right, but autograd recorded the passes: put "
                       "them inside `with torch.no_grad():`, since evaluation needs no "
                       "gradients and a recorded graph only costs memory")
        if got.get("training_after") is not True:
            raise fail(f"{where}: the value is right, but the model was left in evaluation "
                       "mode: call net.train() before returning, since train_epoch does not "
                       "switch it back and the next epoch would train in evaluation mode")
    return (f"the mean loss per row on {len(cases)} loaders with a short last batch, in "
            "evaluation mode, without gradients, and back in training mode")


LOADER = Exercise("06-loader", _loader_case, probes.loader_passes, _judge_loader,
                  implemented_by=_IMPLEMENTED_BY["loader"],
                  names=("make_loader",))
TRAIN_EPOCH = Exercise("06-train-epoch", _epoch_case, probes.epoch_runs, _judge_epoch,
                       implemented_by=_IMPLEMENTED_BY["epoch"],
                       names=("train_epoch",))
EVALUATE = Exercise("06-evaluate", _evaluate_cases, probes.evaluate_runs, _judge_evaluate,
                    names=("evaluate",))
EXERCISES = registry(LOADER, TRAIN_EPOCH, EVALUATE)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def make_loader(
    make: Callable[[torch.Tensor, torch.Tensor, int, torch.Generator], Any],
) -> None:
    """Check ``make_loader(X, y, batch_size, generator)``: shuffled, paired, reproducible."""
    LOADER.check(make)


def train_epoch(
    train: Callable[[nn.Module, Any, Any, torch.optim.Optimizer], Any],
) -> None:
    """Check ``train_epoch(net, loader, loss_fn, optimizer)`` against the reference loop."""
    TRAIN_EPOCH.check(train)


def evaluate(evaluate: Callable[[nn.Module, Any, Any], Any]) -> None:
    """Check ``evaluate(net, loader, loss_fn)``: the mean loss per row over the whole loader, in
    evaluation mode, without gradients, the model back in training mode afterwards."""
    EVALUATE.check(evaluate)
