"""PyTorch helpers of lessons 06–08: a seeded MLP, whole-tensor mini-batches, training loops.

:class:`MLP` (Kaiming initialisation), :func:`tensor_batches`, :func:`train_epoch`, :func:`fit`,
:func:`predict_labels`, :func:`accuracy` and :func:`select_device`. Randomness comes from a
local ``torch.Generator`` (:func:`coursekit.seeding.as_torch_generator`); nothing here calls
``torch.manual_seed``. Lesson 05's bare-tensor classifier has its reference next to its checks,
in :mod:`coursekit.checks.reference05`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from coursekit.data import slice_batches
from coursekit.seeding import TorchRandomState, as_torch_generator
from coursekit.validation import check_int, check_same_rows

__all__ = ["select_device", "MLP", "tensor_batches", "train_epoch", "fit", "predict_labels",
           "accuracy"]


def select_device() -> torch.device:
    """The CUDA device when one is available, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class MLP(nn.Module):
    """Fully connected layers with ReLU between them, returning logits.

    Parameters
    ----------
    sizes : sequence of int, e.g. (2, 16, 1)
        Input width, hidden widths, output width (at least two entries).
    random_state : int, Generator or None
        Seeds the Kaiming-normal initialisation: hidden layers get standard deviation
        ``sqrt(2 / fan_in)``, the output layer ``sqrt(1 / fan_in)``; biases start at 0.
    dtype : torch.dtype

    Input of shape (n_samples, sizes[0]); output of shape (n_samples, sizes[-1]).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        random_state: TorchRandomState = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes must be at least two positive ints, got {sizes!r}")
        sizes = [check_int(f"sizes[{i}]", size) for i, size in enumerate(sizes)]
        gen = as_torch_generator(random_state)
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            # skip_init: nn.Linear's own initialisation would draw from torch's global generator.
            linear = nn.utils.skip_init(nn.Linear, fan_in, fan_out, dtype=dtype)
            last = i == len(sizes) - 2
            nn.init.kaiming_normal_(linear.weight, nonlinearity="linear" if last else "relu",
                                    generator=gen)
            nn.init.zeros_(linear.bias)
            layers.append(linear)
            if not last:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def tensor_batches(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    shuffle: bool = True,
    random_state: TorchRandomState = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of mini-batches, sliced from whole tensors (no per-item ``Dataset``).

    The arguments are checked, and the order drawn, when ``tensor_batches`` is called, not at
    the first ``next()`` (the same contract as :func:`coursekit.data.batches`).

    Parameters
    ----------
    X : Tensor of shape (n_samples, ...)
    y : Tensor of shape (n_samples, ...)
    batch_size : int
        Rows per batch, at least 1; the last batch holds the remainder.
    shuffle : bool, default=True
        Visit rows in an order drawn from ``random_state`` (a CPU generator; the indices are
        moved to the tensors' device).
    random_state : int, numpy or torch Generator, or None, default=None

    Returns
    -------
    iterator of (X_batch, y_batch), tensors of shape (batch, ...)
    """
    n = check_same_rows(X, y)
    batch_size = check_int("batch_size", batch_size)
    if shuffle:
        order = torch.randperm(n, generator=as_torch_generator(random_state)).to(X.device)
    else:
        order = torch.arange(n, dtype=torch.int64, device=X.device)
    return slice_batches(X, y, order, batch_size)


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
) -> list[float]:
    """One pass over ``batches`` (a DataLoader or :func:`tensor_batches`); loss of every step."""
    model.train()
    losses: list[float] = []
    for X_batch, y_batch in batches:
        optimizer.zero_grad()  # gradients accumulate otherwise
        loss = loss_fn(model(X_batch), y_batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def fit(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    random_state: TorchRandomState = None,
) -> list[float]:
    """Train for ``epochs`` with shuffled whole-tensor mini-batches; the loss of every step.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_inputs)
    y : Tensor of shape (n_samples, ...) as ``loss_fn`` expects it
    random_state : int, Generator or None
        One generator drives the shuffling of every epoch.

    Returns
    -------
    list of float of length epochs * ceil(n_samples / batch_size)
    """
    epochs = check_int("epochs", epochs)
    gen = as_torch_generator(random_state)
    losses: list[float] = []
    for _ in range(epochs):
        batches = tensor_batches(X, y, batch_size=batch_size, random_state=gen)
        losses.extend(train_epoch(model, batches, loss_fn, optimizer))
    return losses


def predict_labels(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Class labels from a model that returns logits, without tracking gradients.

    One output column (or none) is a binary classifier: label 1 where the logit is > 0
    (probability > 0.5). Several columns: the index of the largest logit.

    Returns
    -------
    Tensor of shape (n_samples,), dtype int64
    """
    model.eval()
    with torch.no_grad():
        logits = model(X)
    if logits.ndim == 1 or logits.shape[1] == 1:
        return (logits.reshape(-1) > 0).long()
    return logits.argmax(dim=1)


def accuracy(predicted: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Fraction of labels that agree, as a float in [0, 1] (never integer division).

    Parameters
    ----------
    predicted : Tensor or ndarray of shape (n_samples,)
    y : Tensor or ndarray of shape (n_samples,) (a trailing column of 1 is accepted)
    """
    predicted_t, y_t = _labels(predicted), _labels(y)
    if predicted_t.ndim != 1 or predicted_t.shape != y_t.shape or len(y_t) == 0:
        raise ValueError(f"predicted and y must both have shape (n_samples,) with n >= 1, got "
                         f"{tuple(predicted_t.shape)} and {tuple(y_t.shape)}")
    return (predicted_t == y_t).double().mean().item()


def _labels(a: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Labels as an int64 CPU tensor; a single column (n, 1) becomes (n,)."""
    t = torch.as_tensor(a).detach().cpu()
    if t.ndim == 2 and t.shape[1] == 1:
        t = t.reshape(-1)
    return t.long()
