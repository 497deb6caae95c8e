"""Probes of lesson 06: the student's DataLoader and training epoch, on tensors and a model the
probe builds from plain arrays."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit.probes.data import attempt, describe_value, guarded, raised

#: At most this many batches are read from one pass over a loader.
MAX_BATCHES = 200


def _tensor(array: Any) -> torch.Tensor:
    return torch.tensor(np.array(array, dtype=np.float32))


def _describe_batch(batch: Any) -> dict[str, Any]:
    if isinstance(batch, list | tuple) and len(batch) == 2:
        return {"kind": "pair", "x": describe_value(batch[0]), "y": describe_value(batch[1])}
    return describe_value(batch)


def _one_pass(loader: Any) -> dict[str, Any]:
    """Every batch of one pass over ``loader``, or what went wrong."""
    try:
        batches = [_describe_batch(b) for b in itertools.islice(iter(loader), MAX_BATCHES)]
    except Exception as exc:
        return raised(exc)
    return {"kind": "pass", "batches": batches}


@guarded
def loader_passes(inputs: dict[str, Any], make_loader: Any) -> dict[str, Any]:
    """Two passes over one loader, its ``len()``, and one pass over a second loader made with a
    generator seeded the same."""
    X, y = _tensor(inputs["X"]), _tensor(inputs["y"])
    batch_size, seed = int(inputs["batch_size"]), int(inputs["seed"])

    def make() -> tuple[Any, dict[str, Any]]:
        if not callable(make_loader):
            return None, {"kind": "not_callable", "got": describe_value(make_loader)}
        try:
            loader = make_loader(X.clone(), y.clone(), batch_size,
                                 torch.Generator().manual_seed(seed))
        except Exception as exc:
            return None, raised(exc)
        return loader, {"kind": "made", "got": describe_value(loader)}

    loader, made = make()
    if made["kind"] != "made":
        return {"made": made}
    first, second = _one_pass(loader), _one_pass(loader)
    again, made_again = make()
    return {"made": made, "first": first, "second": second, "length": attempt(len, loader),
            "again": _one_pass(again) if made_again["kind"] == "made" else made_again}


@guarded
def epoch_run(inputs: dict[str, Any], train_epoch: Any) -> dict[str, Any]:
    """``train_epoch(net, loader, loss_fn, optimizer)`` on a one-layer regression set up from
    the inputs: what it returned, the parameters after it and their gradients."""
    layer = nn.Linear(2, 1)
    net = nn.Sequential(layer)
    with torch.no_grad():
        layer.weight.copy_(_tensor(inputs["weight"]))
        layer.bias.copy_(_tensor(inputs["bias"]))
    loader = DataLoader(TensorDataset(_tensor(inputs["X"]), _tensor(inputs["y"])),
                        batch_size=int(inputs["batch_size"]), shuffle=False)
    optimizer = torch.optim.SGD(net.parameters(), lr=float(inputs["lr"]))
    losses = attempt(train_epoch, net, loader, nn.MSELoss(), optimizer)
    return {"losses": losses,
            "params": describe_value(torch.cat([p.detach().reshape(-1)
                                                for p in net.parameters()])),
            "grads": [describe_value(p.grad) for p in net.parameters()]}
