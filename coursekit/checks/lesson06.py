"""Checks for lesson 06, PyTorch linear regression: the DataLoader and one training epoch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit import torch_ref
from coursekit.checks._legacy import call, describe, fail, passed


def reference_make_loader(
    X: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> DataLoader:
    """Shuffled mini-batches of ``(X_batch, y_batch)`` pairs, the order drawn from ``generator``."""
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                      generator=generator)


# The reference epoch is the package's own: zero, forward, loss, backward, step.
reference_train_epoch = torch_ref.train_epoch


def _regression_data(n: int = 23, seed: int = 61) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=gen)
    y = X @ torch.tensor([[2.0], [-3.4]]) + 4.2
    return X, y


def _epoch_order(loader: Any, exercise: str, n: int, batch_size: int) -> list[torch.Tensor]:
    try:
        batches = list(loader)
    except TypeError:
        raise fail(exercise, f"expected something to loop over (a DataLoader), got "
                   f"{describe(loader)}") from None
    if not batches:
        raise fail(exercise, "one pass over the loader gave no batches")
    first = batches[0]
    if not isinstance(first, list | tuple) or len(first) != 2:
        raise fail(exercise, "each batch should be a pair (X_batch, y_batch); got "
                   f"{describe(first)}: did you build TensorDataset(X, y) with both tensors?")
    sizes = [len(b[0]) for b in batches]
    expected = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if sizes != expected:
        raise fail(exercise, f"{n} rows in batches of {batch_size} should give batch sizes "
                   f"{expected}, got {sizes}: pass batch_size to the DataLoader")
    for X_batch, y_batch in batches:
        if tuple(y_batch.shape[1:]) != (1,):
            raise fail(exercise, f"y batches should have shape (batch, 1) like the targets, "
                       f"got {tuple(y_batch.shape)}")
        if not torch.allclose(X_batch @ torch.tensor([2.0, -3.4]) + 4.2, y_batch[:, 0],
                              atol=1e-5):  # the targets are an exact function of the rows
            raise fail(exercise, "a y batch does not belong to its X batch: rows of X and "
                       "y must stay paired (one TensorDataset of both, not two loaders)")
    return [b[0] for b in batches]


def make_loader(
    make: Callable[[torch.Tensor, torch.Tensor, int, torch.Generator], Any],
) -> None:
    """Check ``make_loader(X, y, batch_size, generator)``: shuffled, paired, reproducible."""
    exercise = "06-loader"
    n, batch_size = 23, 5
    X, y = _regression_data(n)
    loader = call(exercise, make, X, y, batch_size, torch.Generator().manual_seed(0))
    first_epoch = torch.cat(_epoch_order(loader, exercise, n, batch_size))
    if sorted(first_epoch[:, 0].tolist()) != sorted(X[:, 0].tolist()):
        raise fail(exercise, "one epoch should visit every row exactly once")
    if torch.equal(first_epoch, X):
        raise fail(exercise, "the rows come in their original order: pass shuffle=True so every "
                   "epoch sees the batches in a fresh random order")
    second_epoch = torch.cat(_epoch_order(loader, exercise, n, batch_size))
    if torch.equal(first_epoch, second_epoch):
        raise fail(exercise, "two epochs visited the rows in the same order: shuffle anew each "
                   "epoch (shuffle=True, not a fixed permutation)")
    again = call(exercise, make, X, y, batch_size, torch.Generator().manual_seed(0))
    if not torch.equal(torch.cat(_epoch_order(again, exercise, n, batch_size)), first_epoch):
        raise fail(exercise, "the same seed gave a different order: pass the generator to the "
                   "DataLoader (generator=generator) so runs are reproducible")
    passed(exercise, f"{n} rows in shuffled, paired, reproducible batches of {batch_size}")


def _setup(seed: int = 62) -> tuple[nn.Module, DataLoader, nn.Module, torch.optim.Optimizer]:
    X, y = _regression_data(30, seed)
    net = nn.Sequential(nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.5, 0.1]]))
        net[0].bias.fill_(-0.3)
    loader = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=False)
    return net, loader, nn.MSELoss(), torch.optim.SGD(net.parameters(), lr=0.05)


def _params(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def _without_zero_grad(net: nn.Module, loader: DataLoader, loss_fn: nn.Module,
                       optimizer: torch.optim.Optimizer) -> None:
    for X_batch, y_batch in loader:
        loss_fn(net(X_batch), y_batch).backward()
        optimizer.step()


def train_epoch(
    train: Callable[[nn.Module, Any, Any, torch.optim.Optimizer], Any],
) -> None:
    """Check ``train_epoch(net, loader, loss_fn, optimizer)`` against the reference loop."""
    exercise = "06-train-epoch"
    net, loader, loss_fn, optimizer = _setup()
    start = _params(net)
    losses = call(exercise, train, net, loader, loss_fn, optimizer)
    after = _params(net)

    ref_net, ref_loader, ref_loss, ref_opt = _setup()
    want_losses = reference_train_epoch(ref_net, ref_loader, ref_loss, ref_opt)
    want = _params(ref_net)
    if torch.equal(after, start):
        if all(p.grad is None or not torch.any(p.grad) for p in net.parameters()):
            raise fail(exercise, "the parameters did not change and the gradients are empty: "
                       "optimizer.zero_grad() goes before loss.backward(), not between "
                       "backward() and step(), where it throws away the gradient step() needs")
        raise fail(exercise, "the parameters did not change: call optimizer.step() after "
                   "loss.backward()")
    if not torch.allclose(after, want, atol=1e-6):
        bug_net, bug_loader, bug_loss, bug_opt = _setup()
        _without_zero_grad(bug_net, bug_loader, bug_loss, bug_opt)
        if torch.allclose(after, _params(bug_net), atol=1e-6):
            raise fail(exercise, "the parameters match a loop that never zeroes gradients: "
                       "call optimizer.zero_grad() before each backward()")
        raise fail(exercise, f"after one epoch the parameters should be "
                   f"{want.numpy().round(4)}, got {after.numpy().round(4)}")
    if not isinstance(losses, list):
        raise fail(exercise, f"return a list with the loss of every step, got {describe(losses)}")
    if len(losses) != len(want_losses):
        raise fail(exercise, f"expected {len(want_losses)} losses (one per batch), got "
                   f"{len(losses)}")
    if any(isinstance(v, torch.Tensor) for v in losses):
        raise fail(exercise, "the losses are tensors: store loss.item(), a float; a tensor keeps "
                   "its whole graph alive")
    if not all(abs(float(a) - b) <= 1e-5 * max(1.0, abs(b))
               for a, b in zip(losses, want_losses, strict=True)):
        raise fail(exercise, f"the recorded losses should be {[round(v, 4) for v in want_losses]}"
                   f", got {[round(float(v), 4) for v in losses]}: record each batch's loss "
                   "as computed before its step")
    passed(exercise, f"{len(want_losses)} steps match the reference: parameters and losses")
