"""07-forward: the lesson's module built by the probe, its parameters set to the case's, judged
on its logits and on whether they stay connected to the layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit import pytorch as torch_ref  # named only for implemented_by
from coursekit.checks.lesson07._shared import TOLERANCE, records
from coursekit.exercise import Exercise, Got, Rule, fail, rules, view
from coursekit.exercise.judging import Data, raised_message
from coursekit.exercise.mistakes import Mistake, match
from coursekit.probes import lesson07 as probes


class ReferenceClassifier(nn.Module):
    """The lesson's module: the given ``__init__``, and the forward the student writes."""

    def __init__(self, n_hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.hidden = nn.Linear(2, n_hidden)
        self.output = nn.Linear(n_hidden, 1)
        nn.init.kaiming_normal_(self.hidden.weight, nonlinearity="relu", generator=generator)
        nn.init.kaiming_normal_(self.output.weight, nonlinearity="linear", generator=generator)
        nn.init.zeros_(self.hidden.bias)
        nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(torch.relu(self.hidden(x)))


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


def _forward_arguments(case: Data) -> tuple[nn.Module, torch.Tensor]:
    """``(module, x)``: the lesson's module holding the case's parameters (no gradients: for
    the judge's own candidates), and the case's points."""
    model = ReferenceClassifier(int(case["n_hidden"]), torch.Generator().manual_seed(0))
    for name in ("hidden", "output"):
        layer = getattr(model, name)
        layer.weight.requires_grad_(False).copy_(torch.tensor(case[name]["weight"]))
        layer.bias.requires_grad_(False).copy_(torch.tensor(case[name]["bias"]))
    return model, torch.tensor(np.asarray(case["X"], dtype=np.float32))


def _forward_student(wrong: Callable[..., Any]) -> tuple[type[nn.Module]]:
    return (type("Classifier", (ReferenceClassifier,), {"forward": wrong}),)


def _column(self: nn.Module, x: torch.Tensor) -> str:
    return (f"expected logits of shape ({len(x)}, 1), got ({len(x)},): keep the column; the "
            "targets will be a column too")


FORWARD_MISTAKES = [
    Mistake("apply no sigmoid in forward: BCEWithLogitsLoss takes logits and applies it "
            "itself, stably",
            lambda self, x: torch.sigmoid(self.output(torch.relu(self.hidden(x))))),
    Mistake("a ReLU on the output clips every negative logit to 0, so class 0 can never be "
            "predicted with confidence",
            lambda self, x: torch.relu(self.output(torch.relu(self.hidden(x))))),
    Mistake("the hidden layer needs its ReLU; without it the two layers collapse into one "
            "linear map, and no straight line separates two circles",
            lambda self, x: self.output(self.hidden(x))),
    Mistake(_column, lambda self, x: self.output(torch.relu(self.hidden(x)))[:, 0]),
]


def _layers(inputs: Data, data: Data) -> None:
    for case, record in records(inputs, data):
        if view(record.get("made")).kind != "made":
            raise fail("the check received malformed data")
        n_hidden, linear = case["n_hidden"], record.get("linear")
        for name in ("hidden", "output"):
            if not isinstance(linear, dict) or linear.get(name) is not True:
                raise fail(f"the module should keep an nn.Linear called `{name}` (set in "
                           "__init__, which is given)")
        shapes = record.get("shapes")
        if shapes != {"hidden.weight": [n_hidden, 2], "hidden.bias": [n_hidden],
                      "output.weight": [1, n_hidden], "output.bias": [1]}:
            raise fail(f"with n_hidden={n_hidden} the layers should be nn.Linear(2, {n_hidden}) "
                       f"and nn.Linear({n_hidden}, 1) as the given __init__ makes them; got "
                       f"shapes {shapes}")


def _logits(inputs: Data, data: Data) -> None:
    for case, record in records(inputs, data):
        model, x = _forward_arguments(case)
        match(view(record.get("logits")), model(x), where=f"the logits for {len(x)} points",
              args=(model, x), mistakes=FORWARD_MISTAKES, tolerance=TOLERANCE,
              explain=lambda got, self, x: _column(self, x) if got.shape == (len(x),) else None)


_CONNECTED = ("forward must return a tensor connected to the layers, which training "
              "differentiates: no .detach(), no torch.no_grad(), no .numpy()")


def _connected(inputs: Data, data: Data) -> None:
    for _, record in records(inputs, data):
        graph = Got(record.get("graph") or {})
        if graph.kind == "raised":
            raise fail(f"{_CONNECTED}; with gradients on (as in training) "
                       f"{raised_message(graph.data)}")
        if graph.kind != "graph" or not isinstance(graph.get("requires_grad"), bool):
            raise fail("the check received malformed data")
        if view(record.get("logits")).type != "Tensor" or graph.type != "Tensor":
            raise fail(f"{_CONNECTED}: your forward returned a {graph.type}, not a Tensor")
        if not graph.get("requires_grad"):
            raise fail(f"{_CONNECTED}: with gradients on, your logits do not require grad, so "
                       "loss.backward() would fail")


module_forward = Exercise(
    "07-forward", _forward_cases, probes.forward_cases, rules(
        Rule("the given __init__ builds nn.Linear layers `hidden` and `output` of the lesson's "
             "shapes", _layers),
        Rule("the logits, of shape (n, 1), are output(relu(hidden(x)))", _logits),
        Rule("with gradients on, forward returns a tensor that requires grad", _connected),
        passed="logits of shape (n, 1) match output(relu(hidden(x)))"),
    implemented_by=(f"{torch_ref.__name__}.MLP",), names=("CircleClassifier",),
    mistakes=tuple(FORWARD_MISTAKES), student=_forward_student, arguments=_forward_arguments)

