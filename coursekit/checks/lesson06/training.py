"""06-train-epoch and 06-evaluate: one epoch of SGD on a one-layer regression next to the
reference epoch, and the mean loss per row over a loader, in evaluation mode.

The epoch's mode and autograd's recording at every forward pass are what a spy in the model
saw. The evaluation's mode is judged by value: its model has batch normalisation, so a pass in
training mode gives another loss, and a model left in evaluation mode gives other outputs
afterwards; only its "without gradients" rests on an instrument (autograd's state at each
pass). A result that differs from the reference is compared with what each known wrong version
(:data:`EPOCH_MISTAKES`, :data:`EVALUATE_MISTAKES`, the code a student writes) gives on the
same case, run here, and named when one matches.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit import pytorch as torch_ref
from coursekit.checks.lesson06.common import (
    TOLERANCE,
    _line,
    _named_run,
    _on_case,
    _regression,
    _spied_calls,
    reference_evaluate,
    reference_train_epoch,
)
from coursekit.exercise import Exercise, Got, Mistake, Rule, fail, match, rules, view
from coursekit.exercise.judging import Data
from coursekit.exercise.mistakes import same
from coursekit.probes import lesson06 as probes

# ---- 06-train-epoch ----


def _epoch_case(rng: np.random.Generator) -> dict[str, Any]:
    """30 rows in batches of 8 (four steps), a drawn starting line, SGD with lr 0.05, trained
    with the squared error, then the same with the absolute error (whether the loss_fn passed
    in is used)."""
    case = {**_regression(rng, 30), "batch_size": 8, "lr": 0.05, **_line(rng)}
    return {"cases": [{**case, "loss": "MSELoss"}, {**case, "loss": "L1Loss"}]}


def _epoch(net: nn.Module, loader: Any, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, *,
           zero: bool = True, criterion: nn.Module | None = None,
           loss_after: bool = False) -> list[float]:
    """An epoch with one realistic mistake: the gradients never zeroed, a loss of its own, or
    each loss recorded after its step."""
    losses = []
    for X_batch, y_batch in loader:
        if zero:
            optimizer.zero_grad()
        loss = (criterion or loss_fn)(net(X_batch), y_batch)
        loss.backward()
        optimizer.step()
        losses.append((criterion or loss_fn)(net(X_batch), y_batch).item() if loss_after
                      else loss.item())
    return losses


EPOCH_MISTAKES = [
    Mistake("the parameters match a loop that never zeroes gradients: call "
            "optimizer.zero_grad() before each backward()", partial(_epoch, zero=False)),
    Mistake(lambda case: f"with loss_fn = nn.{case['loss']}() the parameters match training "
            "with nn.MSELoss(): use the loss_fn passed in (not the notebook's global loss_fn)",
            partial(_epoch, criterion=nn.MSELoss())),
    Mistake("each loss was recorded after its step, with the updated parameters: record each "
            "batch's loss as computed before its step", partial(_epoch, loss_after=True)),
]


def _epoch_record(case: Data, train_epoch: Callable[..., Any]) -> dict[str, Any]:
    """What ``train_epoch`` gives on the case: the parameters after it and its losses."""
    run = probes.epoch_run(case, train_epoch)
    losses = view(run["losses"])
    return {"params": view(run["params"]).array,
            "losses": [item.number for item in losses.items] if losses.kind == "list" else None}


_EPOCH_RUNS = [Mistake(m.message, partial(_epoch_record, train_epoch=m.wrong))
               for m in EPOCH_MISTAKES]


def _epoch_seen(case: Data, record: dict[str, Any]) -> Got:
    """The student's epoch as :func:`_epoch_record` gives one, after checking the record."""
    grads = record.get("grads")
    if not isinstance(grads, list) or len(grads) != 2 or not all(
            isinstance(g, dict) and g.get("kind") in ("none", "array") for g in grads):
        raise fail("the check received malformed data")
    _spied_calls(record)
    view(record.get("losses"))
    params = view(record.get("params"))
    if params.kind != "array" or params.shape != (3,):
        raise fail(f"the parameters: expected an array of shape (3,), got {params.describe()}")
    return Got({"kind": "dict", "items": {"params": record["params"],
                                          "losses": record["losses"]}})


def _trained(case: Data, record: dict[str, Any]) -> None:
    _epoch_seen(case, record)
    start = np.concatenate([np.ravel(case["weight"]), np.ravel(case["bias"])])
    if not _spied_calls(record):
        raise fail("the model passed in was never called: compute net(X_batch) with the net "
                   "argument (not the notebook's global net)")
    if np.array_equal(Got(record["params"]).array, start):
        if all(Got(g).kind == "none" or not np.any(Got(g).array) for g in record["grads"]):
            raise fail("the parameters did not change and the gradients are empty: "
                       "optimizer.zero_grad() goes before loss.backward(), not between "
                       "backward() and step(), where it throws away the gradient step() needs")
        raise fail("the parameters did not change although their gradients were computed: "
                   "the optimizer passed in never stepped; call optimizer.step() on the "
                   "optimizer argument (not the notebook's global optimizer) after "
                   "loss.backward()")
    if not all(training for training, _ in _spied_calls(record)):
        raise fail("the forward passes ran with the model in evaluation mode (net.eval()): "
                   "training runs in training mode, where layers such as dropout work as "
                   "they should; don't call net.eval() in train_epoch (evaluate switches "
                   "back with net.train())")


def _epoch_mistake(case: Data, record: dict[str, Any]) -> None:
    _named_run(case, _epoch_seen(case, record), _epoch_record(case, reference_train_epoch),
               _EPOCH_RUNS, "")


def _parameters(case: Data, record: dict[str, Any]) -> None:
    want = _epoch_record(case, reference_train_epoch)["params"]
    after, calls = Got(record["params"]).array, _spied_calls(record)
    n_batches = -(-len(case["X"]) // int(case["batch_size"]))
    if np.allclose(after, want, **TOLERANCE):
        return
    if len(calls) != n_batches:
        raise fail(f"the model was called {len(calls)} times, but the loader passed in has "
                   f"{n_batches} batches: loop once over the loader argument (not the "
                   "notebook's global loader)")
    raise fail(f"with nn.{case['loss']}(), after one epoch the parameters should be "
               f"{want.round(4)}, got {after.round(4)}")


def _losses(case: Data, record: dict[str, Any]) -> None:
    losses, want = view(record["losses"]), _epoch_record(case, reference_train_epoch)["losses"]
    if losses.kind != "list":
        raise fail(f"return a list with the loss of every step, got {losses.describe()}")
    if losses.length != len(want) or len(losses.items) != len(want):
        raise fail(f"expected {len(want)} losses (one per batch), got {losses.length}")
    if any(item.kind == "array" and item.type != "ndarray" for item in losses.items):
        raise fail("the losses are tensors: store loss.item(), a float; a tensor keeps its "
                   "whole graph alive")
    match(losses, want, where="the recorded losses", tolerance=TOLERANCE)


train_epoch = Exercise(
    "06-train-epoch", _epoch_case, probes.epoch_runs, rules(
        Rule("the net passed in is called in training mode and the optimizer passed in steps",
             _on_case(_trained)),
        Rule("an epoch that differs from the reference and equals a known wrong one is named",
             _on_case(_epoch_mistake)),
        Rule("the parameters after the epoch match the reference's", _on_case(_parameters)),
        Rule("the loss of every step, before its step, as floats in a list", _on_case(_losses)),
        passed="4 steps match the reference: parameters and losses", each_case=True),
    implemented_by=(f"{torch_ref.__name__}.train_epoch", f"{torch_ref.__name__}.fit"),
    names=("train_epoch",), mistakes=tuple(EPOCH_MISTAKES), student=lambda wrong: (wrong,),
    arguments=lambda case: (case,))


# ---- 06-evaluate ----


def _evaluate_cases(rng: np.random.Generator) -> dict[str, Any]:
    """23 rows in batches of 5 with the squared error, then 30 rows in batches of 8 with the
    absolute error: both last batches are short. The model is a drawn line followed by batch
    normalisation with drawn running statistics and scale (its outputs in training mode differ
    from those in evaluation mode), and 6 drawn rows to run it on after the evaluation."""
    return {"cases": [{**_regression(rng, n), "batch_size": batch_size, "loss": loss,
                       **_line(rng), "norm": _norm(rng),
                       "after": rng.normal(size=(6, 2)).astype(np.float32)}
                      for n, batch_size, loss in ((23, 5, "MSELoss"), (30, 8, "L1Loss"))]}


def _norm(rng: np.random.Generator) -> np.ndarray:
    """Running mean, running variance, weight and bias of the model's ``BatchNorm1d(1)``."""
    return np.array([rng.normal(scale=2.0), rng.uniform(0.5, 4.0), rng.uniform(0.5, 2.0),
                     rng.normal()], dtype=np.float32)


def _evaluation(*, weigh: bool = True, divide: str | None = "rows", at: str = "end",
                loss: nn.Module | None = None, mode: str = "eval") -> Callable[..., Any]:
    """An evaluation with one realistic mistake: batch means not weighted by their rows,
    divided by the batches or not at all, the first or last batch alone, a loss of its own;
    or the model never put in evaluation mode (``mode="train"``), or back in training mode
    after the first batch (``mode="inside"``)."""
    def evaluate(net: nn.Module, loader: Any, loss_fn: nn.Module) -> float:
        if mode != "train":
            net.eval()
        total, count, batches, batch_loss = 0.0, 0, 0, 0.0
        with torch.no_grad():
            for X_batch, y_batch in loader:
                batch_loss = (loss or loss_fn)(net(X_batch), y_batch).item()
                if mode == "inside":
                    net.train()
                if at == "first":
                    break
                total += batch_loss * (len(X_batch) if weigh else 1)
                count += len(X_batch)
                batches += 1
        net.train()
        if at != "end":
            return batch_loss
        return total if divide is None else total / (count if divide == "rows" else batches)
    return evaluate


def _rows(case: Data) -> tuple[int, int]:
    """(batches, rows in the last batch)."""
    n, batch_size = len(case["X"]), int(case["batch_size"])
    return -(-n // batch_size), n - (-(-n // batch_size) - 1) * batch_size


EVALUATE_MISTAKES = [
    Mistake(lambda case: f"that is the mean of the {_rows(case)[0]} batch losses, but the last "
            f"batch holds only {_rows(case)[1]} rows, so each of its rows counts more than the "
            "others: weight each batch's loss by its number of rows (len(X_batch)) and divide "
            "by the number of rows", _evaluation(weigh=False, divide="batches")),
    Mistake("that is the sum of the batch losses; weight each by its rows and divide by the "
            "number of rows", _evaluation(weigh=False, divide=None)),
    Mistake("that is the loss summed over all rows: divide by the number of rows, "
            "len(loader.dataset)", _evaluation(divide=None)),
    Mistake("that is divided by the number of batches (len(loader)); divide by the number of "
            "rows, len(loader.dataset)", _evaluation(divide="batches")),
    Mistake("that is the first batch's loss alone: return after the loop over every batch, "
            "not inside it", _evaluation(at="first")),
    Mistake("that is the last batch's loss alone: add up every batch's loss, weighted by its "
            "rows", _evaluation(at="last")),
    *(Mistake(f"that is the nn.{name}() of the predictions: use the loss_fn you are given",
              _evaluation(loss=probes.LOSSES[name]())) for name in probes.LOSSES),
]


def _evaluated(case: Data, evaluate: Callable[..., Any]) -> Any:
    """What ``evaluate`` returns on the case's model and loader."""
    net, loader = probes.evaluation_setup(case)
    return evaluate(net, loader, probes.LOSSES[str(case["loss"])]())


_IN_TRAINING = ("that is the loss of the model in training mode, where batch normalisation "
                "(this model has it) normalises each batch by its own statistics and dropout "
                "drops units: call net.eval() before the loop")
_EVALUATE_RUNS = [Mistake(m.message, partial(_evaluated, evaluate=m.wrong))
                  for m in EVALUATE_MISTAKES] + [
    Mistake(_IN_TRAINING, partial(_evaluated, evaluate=_evaluation(mode="train"))),
    Mistake("that is the loss with the model back in training mode after the first batch: "
            "call net.eval() before the loop over the batches and net.train() once, after it, "
            "not inside it", partial(_evaluated, evaluate=_evaluation(mode="inside"))),
]


def _where(case: Data) -> str:
    n, batch_size = len(case["X"]), int(case["batch_size"])
    return (f"evaluate on {n} rows in batches of {batch_size} (the last holds "
            f"{_rows(case)[1]}) with nn.{case['loss']}()")


def _per_row(got: Got, case: Data) -> str | None:
    want = _evaluated(case, reference_evaluate)
    return f"expected the mean loss per row in evaluation mode, {want:.6g}, got " \
        f"{got.number:.6g}" if got.is_number else None


def _value(case: Data, record: dict[str, Any]) -> None:
    result, where = view(record.get("result")), _where(case)
    if result.kind == "list":
        raise fail(f"{where}: expected one float for the whole loader, got {result.describe()}: "
                   "add up every batch's loss × its rows, then divide by the number of rows")
    if result.kind == "array" and result.type != "ndarray" and result.shape == ():
        raise fail(f"{where}: expected a float, got a 0-d tensor: call .item() on each "
                   "batch's loss, so the result is a plain number")
    match(result, _evaluated(case, reference_evaluate), where=where, args=(case,),
          mistakes=_EVALUATE_RUNS, tolerance=TOLERANCE, explain=_per_row)


def _outputs(case: Data, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The case's model, untouched, on its ``after`` rows, in training or evaluation mode;
    then (as the probe does) in evaluation mode."""
    net, _ = probes.evaluation_setup(case)
    rows = torch.tensor(np.asarray(case["after"], dtype=np.float32))
    net.train(training)
    with torch.no_grad():
        first = net(rows)
        net.eval()
        return first, net(rows)


def _left(case: Data, record: dict[str, Any]) -> None:
    """The model's outputs after the evaluation are its training-mode outputs, autograd still
    records them, and in evaluation mode it computes what it did before (running statistics
    and parameters as they were)."""
    after, where = view(record.get("after")), _where(case)
    if after.kind == "raised":
        raise fail(f"{where}: after evaluate returned, the model could not run: "
                   f"{after.describe()}: leave the model as you found it")
    training, then_eval = _outputs(case, True)
    if not same(after, training, TOLERANCE):
        if same(after, _outputs(case, False)[0], TOLERANCE):
            raise fail(f"{where}: the model was left in evaluation mode: call net.train() "
                       "before returning, since train_epoch does not switch it back and the "
                       "next epoch would train in evaluation mode")
        raise fail(f"{where}: after evaluate returned, the model gave other outputs than "
                   "before it: evaluate must leave the model's layers and parameters as it "
                   "found them, and in training mode")
    if record.get("differentiable") is not True:
        if record.get("differentiable") is not False:
            raise fail("the check received malformed data")
        raise fail(f"{where}: after evaluate returned, autograd was still switched off, so the "
                   "next loss.backward() fails: turn gradients off only inside "
                   "`with torch.no_grad():`, which switches them back on at its end (not "
                   "torch.set_grad_enabled(False) on its own line)")
    if not same(view(record.get("after_eval")), then_eval, TOLERANCE):
        raise fail(f"{where}: after evaluate returned, the model in evaluation mode computed "
                   "something else than before: its running statistics or parameters were "
                   "changed (a pass in training mode updates batch normalisation's running "
                   "averages); evaluate must leave the model as it found it")


def _recording(case: Data, record: dict[str, Any]) -> None:
    """What the probe's instrument saw: autograd off in every forward pass."""
    recorded = record.get("recorded")
    if not isinstance(recorded, list) or not all(isinstance(r, bool) for r in recorded):
        raise fail("the check received malformed data")
    if not recorded:
        raise fail(f"{_where(case)}: no forward pass went through the whole model: compute "
                   "net(X_batch) for every batch")
    if any(recorded):
        raise fail(f"{_where(case)}: the value is right, but autograd recorded the passes: put "
                   "them inside `with torch.no_grad():`, since evaluation needs no gradients "
                   "and a recorded graph only costs memory")


evaluate = Exercise(
    "06-evaluate", _evaluate_cases, probes.evaluate_runs, rules(
        Rule("one float: the mean loss per row over the whole loader, in evaluation mode",
             _on_case(_value)),
        Rule("the model back in training mode after, as it was, autograd on",
             _on_case(_left)),
        Rule("without gradients", _on_case(_recording)),
        passed="the mean loss per row on 2 loaders with a short last batch, in evaluation "
               "mode, without gradients, and back in training mode", each_case=True),
    names=("evaluate",), mistakes=tuple(EVALUATE_MISTAKES), student=lambda wrong: (wrong,),
    arguments=lambda case: (case,))
