"""Lesson 06's references, cases and what its three judges share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit import pytorch as torch_ref  # the reference epoch and batches: only named here
from coursekit.exercise import Got, Mistake, fail, named
from coursekit.exercise.judging import Data, Tolerance
from coursekit.exercise.mistakes import same

#: How close a student's parameters and losses must be to the reference's (float32 tensors).
TOLERANCE: Tolerance = {"rtol": 1e-5, "atol": 1e-6}

# The reference epoch is the package's own: zero, forward, loss, backward, step.
reference_train_epoch = torch_ref.train_epoch


def reference_make_loader(
    X: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> DataLoader:
    """Shuffled mini-batches of ``(X_batch, y_batch)`` pairs, the order drawn from ``generator``."""
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                      generator=generator)


def reference_evaluate(net: nn.Module, loader: Any, loss_fn: Callable[..., torch.Tensor]
                       ) -> float:
    """The mean of ``loss_fn`` over every sample the loader serves: in evaluation mode, without
    recording, each batch's (mean) loss weighted by its rows; the model back in training mode."""
    net.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for X_batch, y_batch in loader:
            total += loss_fn(net(X_batch), y_batch).item() * len(X_batch)
            count += len(X_batch)
    net.train()
    return total / count


def _regression(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` rows of 2 features and targets of shape (n, 1) from a drawn line, float32."""
    X = rng.normal(size=(n, 2)).astype(np.float32)
    w, b = rng.uniform(-4.0, 4.0, size=2), rng.uniform(-5.0, 5.0)
    return {"X": X, "y": (X.astype(np.float64) @ w + b).astype(np.float32).reshape(n, 1)}


def _line(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A drawn starting line: the weight (1, 2) and bias (1,) of ``nn.Linear(2, 1)``."""
    return {"weight": rng.normal(scale=0.5, size=(1, 2)).astype(np.float32),
            "bias": rng.normal(scale=0.5, size=1).astype(np.float32)}


def _on_case(test: Callable[[Data, dict[str, Any]], None]) -> Callable[[Data, Data], None]:
    """A rule's ``test(case, record)`` for the one case ``rules(..., each_case=True)`` hands it."""
    def rule(inputs: Data, data: Data) -> None:
        test(inputs["cases"][0], data[0])
    return rule


def _spied_calls(record: dict[str, Any]) -> list[list[bool]]:
    """What the mode spy saw: one ``[training, grad_enabled]`` pair per forward pass."""
    calls = record.get("calls")
    if not isinstance(calls, list) or not all(
            isinstance(c, list) and len(c) == 2 and all(isinstance(f, bool) for f in c)
            for c in calls):
        raise fail("the check received malformed data")
    return calls


def _named_run(case: Data, got: Got, want: Any, mistakes: list[Mistake], where: str) -> None:
    """Fail naming the mistake whose run on ``case`` gives ``got``, when it is not ``want``."""
    if not same(got, want, TOLERANCE):
        message = named(got, mistakes, (case,), TOLERANCE)
        if message is not None:
            raise fail(f"{where}{message}")
