"""Probes of lesson 07: the student's classifier module, built and fed by the probe, and the
accuracy function, on tensors rebuilt from plain arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit.probes.data import attempt, describe_value, guarded, raised

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
    return result


@guarded
def forward_cases(inputs: dict[str, Any], model_class: Any) -> Any:
    """Per case: whether ``model_class(n_hidden, generator)`` could be built, whether its
    ``hidden`` and ``output`` are ``nn.Linear``, their shapes, and the logits on the case's
    points once its parameters are set to the case's."""
    if not callable(model_class):
        return {"kind": "not_callable", "got": describe_value(model_class)}
    return [_forward_case(model_class, case) for case in inputs["cases"]]


@guarded
def accuracy_cases(inputs: dict[str, Any], accuracy: Any) -> list[dict[str, Any]]:
    """``accuracy(logits, y)`` on every case: logits float32 of shape (n, 1), labels int64."""
    return [attempt(accuracy, _tensor(case["logits"]), _tensor(case["labels"], np.int64))
            for case in inputs["cases"]]
