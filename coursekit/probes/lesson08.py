"""Probes of lesson 08 beyond the generic one: the student's layer copy (a ``scratch.Dense``
into an ``nn.Linear``, both built by the probe from plain arrays)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit import scratch
from coursekit.exercise.probing import attempt, describe_value, guarded, raised


def layers(case: Mapping[str, Any]) -> tuple[scratch.Dense, nn.Linear]:
    """A Dense layer holding the case's W and b, and a fresh float64 nn.Linear of its size,
    whose parameters start at fixed values (so what a copy leaves in them can be compared with
    what a known wrong copy leaves)."""
    W = np.array(case["W"], dtype=np.float64)
    n_in, n_out = W.shape
    dense = scratch.Dense(n_in, n_out, init="he", random_state=0)
    dense.params["W"][...] = W
    dense.params["b"][...] = np.array(case["b"], dtype=np.float64)
    linear = nn.Linear(n_in, n_out, dtype=torch.float64)
    with torch.no_grad():
        for p in linear.parameters():
            p.copy_(torch.linspace(-0.9, 0.7, p.numel(), dtype=torch.float64).reshape(p.shape))
    return dense, linear


def _copy(copy_layer: Any, case: dict[str, Any], *, no_grad: bool
          ) -> tuple[scratch.Dense, nn.Linear, torch.optim.Optimizer, dict[str, Any]]:
    dense, linear = layers(case)
    parameters = list(linear.parameters())
    optimizer = torch.optim.SGD(parameters, lr=1.0)  # made before the copy, as a loop holds one
    storage = [p.data_ptr() for p in parameters]
    values = [p.detach().clone() for p in parameters]
    try:
        if no_grad:
            with torch.no_grad():
                returned = copy_layer(dense, linear)
        else:
            returned = copy_layer(dense, linear)
    except Exception as exc:
        return dense, linear, optimizer, raised(exc)
    after = list(linear.parameters())
    # Whether a parameter's tensor was swapped (``.data = ...``) rather than written into: the
    # new tensor keeps its own device, not the model's (an instrument; a parameter replaced
    # altogether shows in values, when the optimizer's step no longer moves the Linear).
    replaced = [p.data_ptr() for p in after] != storage
    return dense, linear, optimizer, {
        "kind": "none", "replaced": replaced,
        "untouched": len(after) == len(values)
        and all(torch.equal(a.detach(), b) for a, b in zip(after, values, strict=True)),
        "returned": type(returned).__name__,
        "requires_grad": [bool(p.requires_grad) for p in after],
        "dense": {name: describe_value(dense.params.get(name)) for name in ("W", "b")}}


def _copy_case(copy_layer: Any, case: dict[str, Any]) -> dict[str, Any]:
    dense, linear, optimizer, call = _copy(copy_layer, case, no_grad=False)
    if call["kind"] == "raised":
        _, _, _, again = _copy(copy_layer, case, no_grad=True)
        return {"call": call, "fine_under_no_grad": again["kind"] != "raised"}
    X = np.array(case["X"], dtype=np.float64)
    result: dict[str, Any] = {
        "call": call,
        "dtypes": [str(p.dtype).removeprefix("torch.") for p in linear.parameters()],
        "weight": describe_value(linear.weight), "bias": describe_value(linear.bias)}
    with torch.no_grad():
        result["out"] = attempt(linear, torch.from_numpy(X))
    # Whether the copies are the Linear's own shows in values: a step of the optimizer made
    # before the copy must move the Linear (not parameters it replaced) and leave the Dense
    # layer alone; then moving the Dense layer's arrays must leave the Linear alone.
    result["stepped"] = attempt(_step, optimizer, float(case["step"]), linear, X)
    result["dense_after_step"] = attempt(dense.forward, X.copy())
    for p in dense.params.values():
        p += float(case["shift"])
    with torch.no_grad():
        result["moved"] = attempt(linear, torch.from_numpy(X))
    return result


def _step(optimizer: torch.optim.Optimizer, step: float, linear: nn.Linear,
          X: np.ndarray) -> torch.Tensor:
    """One SGD step (lr 1) of the optimizer made before the copy, on the gradients of
    ``step × sum(linear(X))`` computed by backward through the Linear as it now is (they land
    on its current parameters, as in training), then the Linear's output on ``X``."""
    optimizer.zero_grad()
    inputs = torch.from_numpy(X)
    (step * linear(inputs).sum()).backward()
    optimizer.step()
    with torch.no_grad():
        return linear(inputs)


@guarded
def copy_cases(inputs: dict[str, Any], copy_layer: Any) -> Any:
    """Per case: what ``copy_layer(dense, linear)`` raised (and whether the same call succeeds
    under ``torch.no_grad()``), or how the call went (the Linear's parameters replaced or left
    untouched, what it returned, requires_grad afterwards, the Dense layer's W and b
    afterwards) and the Linear afterwards: dtypes, weight, bias, its output on the case's X;
    its output after a step of an optimizer made before the copy, the Dense layer's output
    then, and the Linear's output once the Dense layer's arrays have moved."""
    if not callable(copy_layer):
        return {"kind": "not_callable", "got": describe_value(copy_layer)}
    return [_copy_case(copy_layer, case) for case in inputs["cases"]]
