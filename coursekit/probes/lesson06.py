"""Probes of lesson 06: the student's DataLoader, training epoch and evaluation, on tensors and a
model the probe builds from plain arrays."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit.exercise.probing import attempt, copies_of, describe_value, guarded, kept, raised

#: At most this many batches are read from one pass over a loader.
MAX_BATCHES = 200
#: The arguments of ``make_loader`` the lesson uses again after the call (X, y: the training
#: data, read again by the evaluation loader and the last cells).
KEPT = ("X", "y", "", "")
#: The losses :func:`evaluate_runs` may be asked to use, by name.
LOSSES = {"MSELoss": nn.MSELoss, "L1Loss": nn.L1Loss}


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
    """Two passes over one loader, its ``len()``, one pass over a second loader made with a
    generator seeded the same, and one over a third made with another seed; X or y changed in
    place, while the loader was made or on its first pass, reported in ``made``."""
    X, y = _tensor(inputs["X"]), _tensor(inputs["y"])
    batch_size, seed = int(inputs["batch_size"]), int(inputs["seed"])

    def make() -> tuple[Any, dict[str, Any], Any]:
        """The loader, its description, and a check of X and y (:func:`kept`) to run later."""
        if not callable(make_loader):
            return None, {"kind": "not_callable", "got": describe_value(make_loader)}, None
        args = (X.clone(), y.clone(), batch_size, torch.Generator().manual_seed(seed))
        before = copies_of(args, KEPT)
        try:
            loader = make_loader(*args)
        except Exception as exc:
            return None, raised(exc), None
        return (loader, {"kind": "made", "got": describe_value(loader)},
                lambda got: kept(got, args, KEPT, before))

    loader, made, keeping = make()
    if made["kind"] != "made":
        return {"made": made}
    first = _one_pass(loader)  # a generator function's body runs here: then compare X, y
    made = keeping(made)
    second = _one_pass(loader)
    length = attempt(len, loader)
    again, made_again, _ = make()
    again_pass = _one_pass(again) if made_again["kind"] == "made" else made_again
    seed += 1
    other, made_other, _ = make()
    return {"made": made, "first": first, "second": second, "length": length,
            "again": again_pass,
            "other": _one_pass(other) if made_other["kind"] == "made" else made_other}


def regression_setup(inputs: dict[str, Any]) -> tuple[nn.Linear, DataLoader]:
    """A fresh ``nn.Linear(2, 1)`` holding ``inputs["weight"]`` and ``inputs["bias"]``, and a
    loader over ``inputs["X"]``, ``inputs["y"]`` in order, in batches of
    ``inputs["batch_size"]``."""
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(_tensor(inputs["weight"]))
        layer.bias.copy_(_tensor(inputs["bias"]))
    loader = DataLoader(TensorDataset(_tensor(inputs["X"]), _tensor(inputs["y"])),
                        batch_size=int(inputs["batch_size"]), shuffle=False)
    return layer, loader


def epoch_run(inputs: dict[str, Any], train_epoch: Any) -> dict[str, Any]:
    """``train_epoch(net, loader, loss_fn, optimizer)`` on a one-layer regression set up from
    the inputs, with the loss ``inputs["loss"]`` (a name in :data:`LOSSES`, MSELoss when
    absent): what it returned, the parameters after it and their gradients, and the mode and
    recording state of every forward pass (:class:`ModeSpy`)."""
    layer, loader = regression_setup(inputs)
    spy = ModeSpy()
    net = nn.Sequential(layer, spy)
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=float(inputs["lr"]))
    losses = attempt(train_epoch, net, loader, LOSSES[str(inputs.get("loss", "MSELoss"))](),
                     optimizer)
    return {"losses": losses,
            "params": describe_value(torch.cat([p.detach().reshape(-1)
                                                for p in net.parameters()])),
            "grads": [describe_value(p.grad) for p in net.parameters()],
            "calls": spy.calls}


@guarded
def epoch_runs(inputs: dict[str, Any], train_epoch: Any) -> list[dict[str, Any]]:
    """:func:`epoch_run` on every case."""
    return [epoch_run(case, train_epoch) for case in inputs["cases"]]


class ModeSpy(nn.Module):
    """Passes its input through, recording for every call ``[training, grad_enabled]``: whether
    the model was in training mode, and whether autograd was recording; and in ``modes`` every
    mode the model was switched to (``net.train()``, ``net.eval()``) since :meth:`watch`."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[bool]] = []
        self.modes: list[bool] = []

    def watch(self) -> None:
        """Forget the modes set so far (the probe's own ``net.train()``)."""
        self.modes = []

    def train(self, mode: bool = True) -> ModeSpy:
        if len(self.modes) < MAX_BATCHES:
            self.modes.append(bool(mode))
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.calls) < MAX_BATCHES:
            self.calls.append([bool(self.training), bool(torch.is_grad_enabled())])
        return x


def evaluation_setup(inputs: dict[str, Any]) -> tuple[nn.Sequential, DataLoader]:
    """:func:`regression_setup`'s layer followed by an ``nn.BatchNorm1d(1)`` holding the drawn
    running statistics and scale ``inputs["norm"]`` (mean, var, weight, bias): a model whose
    outputs in training mode (batch statistics) differ from those in evaluation mode (the
    running ones), as a model with batch normalisation or dropout does; in training mode."""
    layer, loader = regression_setup(inputs)
    norm = nn.BatchNorm1d(1)
    mean, var, weight, bias = (float(v) for v in inputs["norm"])
    norm.running_mean, norm.running_var = torch.tensor([mean]), torch.tensor([var])
    with torch.no_grad():
        norm.weight.fill_(weight)
        norm.bias.fill_(bias)
    net = nn.Sequential(layer, norm)
    net.train()
    return net, loader


class GradSpy(nn.Module):
    """Passes its input through, recording for every call whether autograd was recording.
    A copy of the model (``copy.deepcopy``) keeps this very spy, so its passes count too."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[bool] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> GradSpy:
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.recorded) < MAX_BATCHES:
            self.recorded.append(bool(torch.is_grad_enabled()))
        return x


@guarded
def evaluate_runs(inputs: dict[str, Any], evaluate: Any) -> Any:
    """On every case, ``evaluate(net, loader, loss_fn)`` with the model of
    :func:`evaluation_setup` in training mode (as training leaves it): what it returned; then
    the model's outputs on ``case["after"]`` in whatever mode ``evaluate`` left it, whether
    those outputs can be differentiated (autograd still on), and the outputs in evaluation
    mode after that (its running statistics and parameters as left); and whether autograd
    recorded each of ``evaluate``'s own forward passes.

    Only the last is an instrument in the kernel: the modes, the model left as found and
    autograd left on show in values."""
    if not callable(evaluate):
        return {"kind": "not_callable", "got": describe_value(evaluate)}
    results: list[dict[str, Any]] = []
    for case in inputs["cases"]:
        net, loader = evaluation_setup(case)
        spy = GradSpy()
        net.append(spy)
        result = attempt(evaluate, net, loader, LOSSES[str(case["loss"])]())
        recorded = list(spy.recorded)
        rows = _tensor(case["after"])
        try:
            out = net(rows)
            after, differentiable = describe_value(out.detach()), bool(out.requires_grad)
        except Exception as exc:  # the student's model, as left, cannot run
            after, differentiable = raised(exc), False
        net.eval()
        with torch.no_grad():
            after_eval = attempt(net, rows)
        results.append({"result": result, "after": after, "differentiable": differentiable,
                        "after_eval": after_eval, "recorded": recorded})
    return results
