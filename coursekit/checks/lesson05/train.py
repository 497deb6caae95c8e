"""05-train-mlp: full-batch gradient descent with the student's engine, judged on the losses it
returns and the parameters it leaves."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.autograd import Value
from coursekit.checks.lesson05._shared import LESSON_LR, TOLERANCE, through
from coursekit.exercise import Exercise, Got, Mistake, Raised, Rule, fail, named, rules, view
from coursekit.exercise.judging import Data, close, expect_array, results
from coursekit.exercise.mistakes import described
from coursekit.probes import lesson05 as probes


def reference_train_mlp(params: list[Value], model: Callable[[list[float]], Value],
                        X: list[list[float]], y: list[float], steps: int, lr: float
                        ) -> list[float]:
    """Full-batch gradient descent on the mean squared error of ``model``: forward, zero the
    gradients, backward, step; returns the loss before each step."""
    return _train(params, model, X, y, steps, lr)


def _train(params: list[Value], model: Callable[[list[float]], Value], X: list[list[float]],
           y: list[float], steps: int, lr: float, *, zero: str = "before", sign: float = 1.0,
           mean: bool = True, record: str = "before") -> list[float]:
    """The reference loop, or one with a realistic mistake: gradients never zeroed
    (``zero="never"``) or zeroed between backward and step (``"between"``), a step up the
    gradient (``sign=-1``), the summed loss (``mean=False``), the loss recorded after the
    step (``record="after"``)."""
    def cost() -> Value:
        total = sum(((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)), Value(0.0))
        return total / len(X) if mean else total

    losses = []
    for _ in range(steps):
        loss = cost()
        if zero == "before":
            for p in params:
                p.grad = 0.0
        loss.backward()
        if zero == "between":
            for p in params:
                p.grad = 0.0
        for p in params:
            p.data -= sign * lr * p.grad
        losses.append(loss.data if record == "before" else cost().data)
    return losses


def _rebinding(params: list[Value], model: Callable[[list[float]], Value],
               X: list[list[float]], y: list[float], steps: int, lr: float) -> list[float]:
    losses = []
    for _ in range(steps):
        loss = sum(((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)), Value(0.0)) / len(X)
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p = Value(p.data - lr * p.grad)  # noqa: PLW2901 - the mistake
        losses.append(loss.data)
    return losses


def _built_once(params: list[Value], model: Callable[[list[float]], Value],
                X: list[list[float]], y: list[float], steps: int, lr: float) -> list[float]:
    loss = sum(((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)), Value(0.0)) / len(X)
    losses = []
    for _ in range(steps):  # the mistake: one graph, built before the loop, for every step
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses


_NOT_CHANGED = ("the parameters never changed: either the gradients were zeroed between "
                "backward and the step (zero them before backward), or the step rebound a name "
                "instead of changing p.data in place (p.data -= lr * p.grad)")

def _variant(**mistake: Any) -> Callable[..., list[float]]:
    def train(params: list[Value], model: Callable[[list[float]], Value],
              X: list[list[float]], y: list[float], steps: int, lr: float) -> list[float]:
        return _train(params, model, X, y, steps, lr, **mistake)

    return train


def _lessons_rate(params: list[Value], model: Callable[[list[float]], Value],
                  X: list[list[float]], y: list[float], steps: int, lr: float) -> list[float]:
    return _train(params, model, X, y, steps, LESSON_LR)


MISTAKES = [
    Mistake("the gradients were never zeroed, so each step used the sum of all earlier "
            "gradients: set every p.grad = 0.0 before backward", _variant(zero="never")),
    Mistake("every step recorded the same loss: the loss was built once, before the loop, so "
            "its graph holds the first step's numbers; build L anew (the forward pass) inside "
            "every step", _built_once),
    Mistake(_NOT_CHANGED, _variant(zero="between")),
    Mistake(_NOT_CHANGED, _rebinding),
    Mistake("the step went up the gradient: subtract lr × p.grad", _variant(sign=-1.0)),
    Mistake("that is the summed squared error; the loss is its mean, divided by len(X)",
            _variant(mean=False)),
    Mistake("each loss was recorded after its step: record loss.data of the forward pass that "
            "the step used", _variant(record="after")),
    Mistake(lambda *a: f"the steps used lr={LESSON_LR:g} (the notebook's LR?), not the "
                       f"lr={a[5]:g} passed in: use the lr argument", _lessons_rate),
]


def train_arguments(case: Data) -> tuple[Any, ...]:
    """``(params, model, X, y, steps, lr)`` as the probe builds them from a case."""
    params, model = probes.build_mlp(case)
    return (params, model, [[float(v) for v in row] for row in case["X"]],
            [float(v) for v in case["y"]], int(case["steps"]), float(case["lr"]))


def run_training(train: Callable[..., Any], case: Data) -> tuple[np.ndarray, np.ndarray]:
    """The losses ``train`` returns on fresh parameters, and the parameters it leaves."""
    arguments = train_arguments(case)
    losses = train(*arguments)
    return (np.array(losses, dtype=np.float64),
            np.array([p.data for p in arguments[0]], dtype=np.float64))


_LOSSES = through(MISTAKES, lambda wrong, case: run_training(wrong, case)[0],
                  train_arguments)
#: Both, for mistakes whose losses agree (the same loss every step: a graph built once, or
#: parameters that never changed), told apart by the parameters.
_BOTH = through(MISTAKES, lambda wrong, case: np.concatenate(run_training(wrong, case)),
                train_arguments)
_PARAMS = through(MISTAKES, lambda wrong, case: run_training(wrong, case)[1],
                  train_arguments)
_RENAMED = Raised("TypeError", contains="keyword argument",
                  says="the lesson calls train_mlp(params, model, X, y, steps=..., lr=...) with "
                       "these keywords, and yours raised TypeError: {message}: keep the "
                       "parameter names of the stub")


def _losses(got: Got, steps: int, where: str) -> np.ndarray:
    """The losses returned: a list (or an array) of ``steps`` floats."""
    if got.kind == "array" and got.type == "ndarray" and got.shape == (steps,):
        return got.array
    if got.kind != "list":
        raise fail(f"{where}: expected the list of the {steps} losses (floats), got "
                   f"{got.describe()}")
    if got.length != steps or len(got.items) != steps:
        raise fail(f"{where}: expected {steps} losses, one per step, got {got.length}")
    if any(item.type == "Value" for item in got.items):
        raise fail(f"{where}: the losses should be floats, got Values: append loss.data")
    for item in got.items:
        if not item.is_number:
            raise fail(f"{where}: a loss: expected a float, got {item.describe()}")
    return np.array([item.number for item in got.items], dtype=np.float64)


def _each_network(inputs: Data, data: Data) -> None:
    cases = inputs["cases"]
    for case, raw in zip(cases, results(data, len(cases)), strict=True):
        steps, hidden = int(case["steps"]), len(case["layers"][0][1])
        where = f"training a 2-{hidden}-1 network for {steps} steps"
        result = view(raw)
        renamed = _RENAMED.explains(result.get("losses"))
        if renamed is not None:
            raise fail(renamed)
        losses = _losses(view(result.get("losses")), steps, where)
        want = run_training(reference_train_mlp, case)
        params = expect_array(result.get("params"), want[1].shape, f"{where}: the parameters")
        if not close(losses, want[0], **TOLERANCE):
            message = named(described(np.concatenate([losses, params])), _BOTH, (case,),
                            TOLERANCE) or named(described(losses), _LOSSES, (case,), TOLERANCE)
            raise fail(f"{where}, the losses differ: {message}" if message else
                       f"{where}: expected losses {want[0].round(5).tolist()}, got "
                       f"{losses.round(5).tolist()}: forward, zero the gradients, backward, "
                       "step, and record loss.data")
        if not close(params, want[1], **TOLERANCE):
            message = named(described(params), _PARAMS, (case,), TOLERANCE)
            raise fail(f"{where}, the losses match but the final parameters differ: {message}"
                       if message else f"{where}: the losses match but the parameters after "
                       "the last step differ: take every step, including the last")


def train_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Two small tanh networks (2-3-1 and 2-4-1) on points of two classes (targets ±1), a few
    steps each."""
    cases = []
    for hidden, n, steps, lr in ((3, 6, 5, 0.1), (4, 8, 8, 0.05)):
        layers = [[rng.normal(size=(2, hidden)) / math.sqrt(2), rng.normal(size=hidden) * 0.1],
                  [rng.normal(size=(hidden, 1)) / math.sqrt(hidden), rng.normal(size=1) * 0.1]]
        X = rng.normal(size=(n, 2))
        y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
        cases.append({"layers": [[np.round(W, 3), np.round(b, 3)] for W, b in layers],
                      "X": np.round(X, 3), "y": y, "steps": steps, "lr": lr})
    return {"cases": cases}


train_mlp = Exercise(
    "05-train-mlp", train_cases, probes.train_runs,
    rules(Rule("the losses, then the final parameters, match the reference loop's; each known "
               "mistake named", _each_network),
          passed="losses and parameters match the reference loop on 2 networks"),
    names=("train_mlp",), mistakes=tuple(MISTAKES), student=lambda wrong: (wrong,),
    arguments=train_arguments)
