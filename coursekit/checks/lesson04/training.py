"""04-training-loop: small networks trained from their seeds next to the reference loop.

The student's loop must give the same batches (``coursekit.data.batches``, a new order every
epoch), the loss of every step and the same weights afterwards. A run that differs is compared
with the runs of the known wrong loops (:data:`LOOP_MISTAKES`, each the code a student writes),
trained the same way here, and named when one gives the same losses, weights and number of
steps. What a condition on the run itself tells, whatever else the loop does, is a rule: no
step, no backward, another number of steps, one loss per epoch, the first loss that differs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from coursekit import data
from coursekit.exercise import Exercise, Got, Mistake, Rule, fail, named, rules, view
from coursekit.exercise.judging import Data, changed_message, close, raised_message, results
from coursekit.exercise.mistakes import TOLERANCE, difference, same
from coursekit.exercise.probing import describe_value
from coursekit.probes import lesson04 as probes


def reference_train_loop(model: Any, loss_fn: Any, optimizer: Any, X: np.ndarray, y: np.ndarray,
                         *, n_epochs: int, batch_size: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Mini-batch training: per batch of ``data.batches`` (a new order every epoch), forward,
    loss, backward, step; returns the loss of every step, shape (n_epochs · steps_per_epoch,)."""
    losses = []
    for _ in range(n_epochs):
        for X_batch, y_batch in data.batches(X, y, batch_size=batch_size, random_state=rng):
            logits = model.forward(X_batch)
            losses.append(loss_fn.forward(logits, y_batch))
            model.backward(loss_fn.backward())
            optimizer.step()
    return np.array(losses, dtype=np.float64)


#: (n, batch_size, n_epochs, optimizer, lr, hidden): a last batch smaller than the others,
#: Adam (whose state follows the steps), and a batch larger than the data (one step an epoch).
_TRAINING_CASES = [(50, 16, 3, "SGD", 0.5, 8), (36, 12, 2, "Adam", 0.05, 6),
                   (20, 32, 2, "SGD", 0.2, 5)]


def _training_cases(rng: np.random.Generator) -> dict[str, Any]:
    return {"cases": [
        {"X": rng.normal(size=(n, 2)), "y": rng.integers(0, 3, n).astype(np.int64),
         "sizes": [2, hidden, 3], "init_seed": int(rng.integers(0, 2**31)),
         "shuffle_seed": int(rng.integers(0, 2**31)), "n_epochs": n_epochs,
         "batch_size": batch_size, "optimizer": optimizer, "lr": lr}
        for n, batch_size, n_epochs, optimizer, lr, hidden in _TRAINING_CASES]}


def _concat(*arrays: Any) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays])


def _outcome(case: Data, loop: Callable[..., Any]) -> dict[str, Any]:
    """What ``loop`` does on the case's fresh network: its losses, the weights after it (all
    concatenated) and the optimizer's steps, as :func:`_observed` reads the student's run."""
    model, loss_fn, optimizer = probes.build_network(case)
    arrays, keywords = probes.loop_arguments(case)
    losses = loop(model, loss_fn, optimizer, *arrays, **keywords)
    return {"losses": losses, "weights": _concat(*probes.parameters(model.layers)),
            "steps": optimizer.iterations}


def _sizes(case: Data) -> tuple[int, int, int, int]:
    """(n, batch_size, n_epochs, mini-batches per epoch)."""
    n, batch_size = len(case["X"]), int(case["batch_size"])
    return n, batch_size, int(case["n_epochs"]), -(-n // batch_size)


def _where(case: Data) -> str:
    n, batch_size, n_epochs, _ = _sizes(case)
    return f"{n} samples, batch_size={batch_size}, n_epochs={n_epochs}, {case['optimizer']}"


def _loop(kind: str) -> Callable[..., Any]:
    """A training loop that draws its batches wrongly (``kind``), or steps before backward, or
    records each loss after its step."""
    def train_loop(model: Any, loss_fn: Any, optimizer: Any, X: np.ndarray, y: np.ndarray, *,
                   n_epochs: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        losses = []
        fixed = rng.permutation(len(X))
        for _ in range(n_epochs):
            rows = {"no shuffle": np.arange(len(X)), "fixed order": fixed,
                    "choice": rng.choice(len(X), size=len(X), replace=False)}.get(kind)
            batches = data.batches(X, y, batch_size=batch_size, random_state=rng) \
                if rows is None else [(X[rows[i:i + batch_size]], y[rows[i:i + batch_size]])
                                      for i in range(0, len(X), batch_size)]
            for X_batch, y_batch in batches:
                losses.append(loss_fn.forward(model.forward(X_batch), y_batch))
                if kind == "step first":
                    optimizer.step()
                model.backward(loss_fn.backward())
                if kind != "step first":
                    optimizer.step()
                if kind == "loss after step":
                    losses[-1] = loss_fn.forward(model.forward(X_batch), y_batch)
        return np.array(losses)
    return train_loop


_THE_BATCHES = "data.batches(X, y, batch_size=batch_size, random_state=rng)"
LOOP_MISTAKES = [
    Mistake("optimizer.step() ran before model.backward: each step used the previous batch's "
            "gradients; per batch: forward, loss, backward, then step", _loop("step first")),
    Mistake("the batches follow the rows' stored order: the order must be data.batches' (a new "
            f"rng.permutation of the rows every epoch); call {_THE_BATCHES} with the rng you "
            "were given", _loop("no shuffle")),
    Mistake("every epoch visits the batches in the same order: draw a new order each epoch by "
            f"calling {_THE_BATCHES} inside the epoch loop", _loop("fixed order")),
    Mistake("the first mini-batch is not data.batches' first: the order must come from "
            f"{_THE_BATCHES}, not from rng.choice or a shuffle of your own", _loop("choice")),
    Mistake("each loss was computed after its step, with the updated weights; record "
            "loss_fn.forward(logits, y_batch) from the forward pass that backward and the step "
            "use, before the step", _loop("loss after step")),
]
#: The same mistakes, each as the run its loop gives on a case (what :func:`named` compares).
_RUNS = [Mistake(m.message, partial(_outcome, loop=m.wrong), m.tolerance) for m in LOOP_MISTAKES]


def _observed(case: Data, got: Data) -> Got:
    """The student's run as :func:`_outcome` gives a loop's: losses, weights, steps."""
    steps, weights = (got.get("steps"), got.get("weights")) if isinstance(got, dict) else (0, 0)
    shapes = [w.shape for w in probes.parameters(probes.build_network(case)[0].layers)]
    if not isinstance(steps, int) or isinstance(steps, bool) or not isinstance(weights, list) \
            or len(weights) != len(shapes):
        raise fail("the check received malformed data")
    arrays = [view(w) for w in weights]
    if any(w.shape != shape for w, shape in zip(arrays, shapes, strict=True)):
        raise fail("the check received malformed data")
    return Got({"kind": "dict", "items": {
        "losses": got["result"], "weights": describe_value(_concat(*(w.array for w in arrays))),
        "steps": describe_value(steps)}})


def _each(test: Callable[[Data, Got, dict[str, Any]], None]) -> Callable[[Data, Data], None]:
    """A rule's test, ``test(case, run, reference run)``, applied to every case."""
    def on_every_case(inputs: Data, data_: Data) -> None:
        cases = inputs["cases"]
        for case, got in zip(cases, results(data_, len(cases)), strict=True):
            test(case, _observed(case, got), _outcome(case, reference_train_loop))
    return on_every_case


def _ran(case: Data, got: Data) -> None:
    result = got.get("result") if isinstance(got, dict) else None
    if isinstance(result, dict) and result.get("kind") == "raised" and not result.get("stub") \
            and result.get("type") == "KeyError":
        raise fail(f"{_where(case)}: {raised_message(result)}. optimizer.step() reads every "
                   "layer's grads, which model.backward(loss_fn.backward()) fills: per batch, "
                   "forward, loss, backward, then step")
    if isinstance(result, dict) and result.get("kind") == "changed":
        raise fail(f"{_where(case)}: {changed_message(result)}")
    view(result)


def _known_mistake(case: Data, run: Got, reference: dict[str, Any]) -> None:
    if not same(run, reference):
        message = named(run, _RUNS, (case,))
        if message is not None:
            raise fail(f"{_where(case)}: {message}")


def _steps(case: Data, run: Got, reference: dict[str, Any]) -> None:
    n, batch_size, n_epochs, per_epoch = _sizes(case)
    ran, expected, where = int(run.fields["steps"].number), int(reference["steps"]), _where(case)
    initial = _concat(*probes.parameters(probes.build_network(case)[0].layers))
    unmoved = close(run.fields["weights"].array, initial, rtol=0.0, atol=0.0)
    if ran == 0 and not unmoved:
        raise fail(f"{where}: the weights changed, but the optimizer passed in never stepped: "
                   "use the `optimizer` argument (optimizer.step() for every mini-batch), not "
                   "an optimizer of your own; the lesson hands in its own (SGD or Adam, with "
                   "its learning rate and state)")
    if ran == 0:
        raise fail(f"{where}: the weights never changed: call optimizer.step() after "
                   "model.backward(loss_fn.backward()) for every mini-batch")
    if unmoved:
        raise fail(f"{where}: optimizer.step() ran {ran} times but the weights never moved: "
                   "its gradients were all zero: call model.backward(loss_fn.backward()) "
                   "before each step, which fills every layer's grads")
    if ran == expected:
        return
    hint = {n_epochs: f"one step per epoch: that is full-batch training; loop over "
                      f"{_THE_BATCHES} inside each epoch",
            per_epoch: "only one epoch's steps: repeat the pass over the data n_epochs times",
            n_epochs * (n // batch_size): "the last, smaller batch of each epoch was skipped: "
                                          "data.batches keeps the remainder "
                                          f"({n % batch_size} samples here)"}
    hint.setdefault(2 * expected, "two optimizer steps per mini-batch: call optimizer.step() "
                                  "once per batch")
    hint.setdefault((n_epochs - 1) * per_epoch, f"{n_epochs - 1} epochs instead of {n_epochs}: "
                                                "for _ in range(n_epochs) runs n_epochs times")
    if ran % n_epochs == 0 and ran // n_epochs > per_epoch:
        hint.setdefault(ran, f"{ran // n_epochs} mini-batches per epoch, but {n} samples in "
                             f"batches of {batch_size} make {per_epoch}: batch the X and y "
                             "passed in, not the notebook's X_train and y_train")
    raise fail(f"{where}: the optimizer took {ran} steps, expected {expected} ({n_epochs} "
               f"epochs × {per_epoch} mini-batches)" + (f": {hint[ran]}" if ran in hint else ""))


def _losses(case: Data, run: Got, reference: dict[str, Any]) -> None:
    losses, want, (_, _, n_epochs, _) = run.fields["losses"], reference["losses"], _sizes(case)
    if losses.shape == (n_epochs,) and len(want) != n_epochs:
        raise fail(f"{_where(case)}: you returned {n_epochs} losses, one per epoch; return the "
                   f"loss of every step, {len(want)} in all (later cells plot each step)")
    if losses.kind != "array" or losses.shape != want.shape:
        raise fail(f"{_where(case)}: the losses: {difference(losses, want)}")
    if not close(losses.array, want, **TOLERANCE):
        k = int(np.argmax(~np.isclose(losses.array, want, **TOLERANCE)))
        first = (" The very first loss is off: the first mini-batch is not data.batches' first "
                 f"(the order must come from {_THE_BATCHES}, not from rng.choice or a shuffle "
                 "of your own), or the loss is not loss_fn.forward(model.forward(X_batch), "
                 "y_batch)")
        raise fail(f"{_where(case)}: the loss of step {k} is {losses.array[k]:.6g}, expected "
                   f"{want[k]:.6g}: record loss_fn.forward(logits, y_batch) of each mini-batch, "
                   "before its step, with the batches in data.batches' order."
                   + ("" if k else first))


def _weights(case: Data, run: Got, reference: dict[str, Any]) -> None:
    if not same(run.fields["weights"], reference["weights"]):
        raise fail(f"{_where(case)}: the losses match but the weights after training differ: "
                   "per batch, model.backward(loss_fn.backward()) and then one optimizer.step()")


def _every_run(test: Callable[[Data, Data], None]) -> Callable[[Data, Data], None]:
    def on_every_case(inputs: Data, data_: Data) -> None:
        cases = inputs["cases"]
        for case, got in zip(cases, results(data_, len(cases)), strict=True):
            test(case, got)
    return on_every_case


training_loop = Exercise(
    "04-training-loop", _training_cases, probes.training_runs, rules(
        Rule("the loop returns without raising", _every_run(_ran)),
        Rule("a run that differs from the reference loop's and equals a known wrong loop's is "
             "named", _each(_known_mistake)),
        Rule("the optimizer passed in takes one step per mini-batch and moves the weights",
             _each(_steps)),
        Rule("the loss of every step, before its step, in an array", _each(_losses)),
        Rule("the weights after training match the reference loop's", _each(_weights)),
        passed=f"the losses of every step and the final weights match the reference loop on "
               f"{len(_TRAINING_CASES)} runs (SGD and Adam, a smaller last batch, a batch larger "
               "than the data)", each_case=True),
    implemented_by=("coursekit.scratch.Sequential.fit",), names=("train_loop",),
    mistakes=tuple(LOOP_MISTAKES), student=lambda wrong: (wrong,), arguments=lambda case: (case,))
