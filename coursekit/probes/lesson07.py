"""Probes of lesson 07: the student's classifier module, built and fed by the probe, the
accuracy function, on tensors rebuilt from plain arrays, and the whole-tensor batches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from coursekit.exercise.probing import attempt, describe_value, guarded, raised

_LAYERS = ("hidden", "output")


def _tensor(array: Any, dtype: Any = np.float32) -> torch.Tensor:
    return torch.tensor(np.array(array, dtype=dtype))


def _forward_case(model_class: Any, case: dict[str, Any]) -> dict[str, Any]:
    try:
        model = model_class(int(case["n_hidden"]), torch.Generator().manual_seed(case["seed"]))
    except Exception as exc:
        return {"made": raised(exc)}
    layers: dict[str, Any] = {name: getattr(model, name, None) for name in _LAYERS}
    result: dict[str, Any] = {
        "made": {"kind": "made"},
        "linear": {name: isinstance(layer, nn.Linear) for name, layer in layers.items()}}
    if not all(result["linear"].values()):
        return result
    result["shapes"] = {f"{name}.{p}": list(getattr(layer, p).shape)
                        for name, layer in layers.items() for p in ("weight", "bias")}
    try:  # the case's parameters, so the logits depend only on the inputs and forward
        with torch.no_grad():
            for name, layer in layers.items():
                layer.weight.copy_(_tensor(case[name]["weight"]))
                layer.bias.copy_(_tensor(case[name]["bias"]))
    except RuntimeError:  # shapes that do not fit: the judge names them
        return result
    with torch.no_grad():
        result["logits"] = attempt(model, _tensor(case["X"]))
    result["graph"] = _graph(model, case)
    return result


def _graph(model: Any, case: dict[str, Any]) -> dict[str, Any]:
    """What forward gives with gradients on, as in training: whether it is a tensor that
    requires grad (connected to the layers' parameters), or what it raised."""
    try:
        with torch.enable_grad():
            out = model(_tensor(case["X"]))
    except Exception as exc:
        return raised(exc)
    return {"kind": "graph", "type": type(out).__name__,
            "requires_grad": bool(isinstance(out, torch.Tensor) and out.requires_grad)}


@guarded
def forward_cases(inputs: dict[str, Any], model_class: Any) -> Any:
    """Per case: whether ``model_class(n_hidden, generator)`` could be built, whether its
    ``hidden`` and ``output`` are ``nn.Linear``, their shapes, the logits on the case's points
    once its parameters are set to the case's, and whether forward with gradients on returns a
    tensor that requires grad."""
    if not callable(model_class):
        return {"kind": "not_callable", "got": describe_value(model_class)}
    return [_forward_case(model_class, case) for case in inputs["cases"]]


@guarded
def accuracy_cases(inputs: dict[str, Any], accuracy: Any) -> list[dict[str, Any]]:
    """``accuracy(logits, y)`` on every case: logits float32 of shape (n, 1), labels int64."""
    return [attempt(accuracy, *accuracy_arguments(case)) for case in inputs["cases"]]


def accuracy_arguments(case: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """A case's ``(logits, y)`` as the lesson's tensors: float32 (n, 1) and int64 (n,)."""
    return _tensor(case["logits"]), _tensor(case["y"], np.int64)


#: Added to a row's number in ``y``, so that a y row is never mistaken for an X row.
Y_OFFSET = 1000.0


def _tensors_in(value: Any, depth: int = 0) -> int:
    """How many tensors ``value`` is or holds (in lists and tuples, two levels down)."""
    if isinstance(value, torch.Tensor):
        return 1
    if isinstance(value, list | tuple) and depth < 2:
        return sum(_tensors_in(item, depth + 1) for item in value)
    return 0


class _TensorTally(TorchFunctionMode):
    """Counts the tensors that go into and come out of torch calls: whole-tensor batching
    moves a few per batch (``X[index]``), batching row by row one or more per row (``X[i]``
    for each row, or ``list(X)`` and ``torch.stack``)."""

    def __init__(self) -> None:
        super().__init__()
        self.tensors = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        result = func(*args, **(kwargs or {}))
        self.tensors += _tensors_in(list(args)) + _tensors_in(list((kwargs or {}).values())) \
            + _tensors_in(result)
        return result


def batch_arguments(case: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, int,
                                                   torch.Generator]:
    """``(X, y, batch_size, generator)`` for a case: n rows that carry their own number (X row
    r is ``[r, -r]``, y row r is ``[r + Y_OFFSET]``), the generator seeded with the case's
    seed."""
    rows = torch.arange(int(case["n"]), dtype=torch.float32)
    return (torch.stack([rows, -rows], dim=1), (rows + Y_OFFSET)[:, None],
            int(case["batch_size"]), torch.Generator().manual_seed(int(case["seed"])))


def _batches_run(batches: Any, case: dict[str, Any]) -> dict[str, Any]:
    """``batches(*batch_arguments(case))``: every (X_batch, y_batch) it yields (at most n + 2
    of them), and how many tensors passed through torch calls meanwhile; or what went
    wrong."""
    n = int(case["n"])
    X, y, batch_size, generator = batch_arguments(case)
    tally = _TensorTally()
    try:
        with tally:
            out = batches(X, y, batch_size, generator)
    except Exception as exc:
        return raised(exc)
    try:
        iterator = iter(out)
    except TypeError:
        return {"kind": "not_iterable", "got": describe_value(out)}
    produced = []
    try:
        with tally:
            for item in iterator:
                produced.append(item)
                if len(produced) > n + 1:
                    break
        items = [describe_value(item) for item in produced]  # not counted
    except Exception as exc:
        return raised(exc)
    return {"kind": "batches", "items": items, "tensors": tally.tensors}


@guarded
def batch_cases(inputs: dict[str, Any], batches: Any) -> Any:
    """Per case, two runs with identically seeded generators (``"first"``, ``"second"``)."""
    if not callable(batches):
        return {"kind": "not_callable", "got": describe_value(batches)}
    return [{"first": _batches_run(batches, case), "second": _batches_run(batches, case)}
            for case in inputs["cases"]]
