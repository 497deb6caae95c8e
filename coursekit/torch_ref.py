"""Reference PyTorch pieces the lessons import: models, training loops, accuracy, devices.

Two groups live here.

* The **six small functions of lesson 05** (plus accuracy), a one-hidden-layer binary
  classifier written with bare tensors that have ``requires_grad``: :func:`init_coeffs`,
  :func:`calc_preds`, :func:`calc_loss`, :func:`update_coeffs`, :func:`one_epoch`,
  :func:`train_model` and :func:`model_accuracy`. Data is always passed in, never read from
  globals.
* **Module-level helpers** of lessons 06–08: :class:`MLP` (Kaiming initialisation),
  :func:`tensor_batches`, :func:`train_epoch`, :func:`fit`, :func:`predict_labels`,
  :func:`accuracy` and :func:`select_device`.

Randomness comes from a ``torch.Generator`` built by :func:`as_torch_generator`; nothing here
calls ``torch.manual_seed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

RandomState = int | np.random.Generator | torch.Generator | None
LossName = Literal["bce", "mae"]


def as_torch_generator(random_state: RandomState = None) -> torch.Generator:
    """A CPU ``torch.Generator`` from an int seed, a NumPy Generator, a torch Generator or None.

    An int gives a reproducible generator; a NumPy Generator is advanced once to seed it;
    ``None`` seeds from fresh entropy; a ``torch.Generator`` is returned unchanged.
    """
    if isinstance(random_state, torch.Generator):
        return random_state
    if isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(2**63 - 1))
    elif random_state is None:
        seed = int(np.random.default_rng().integers(2**63 - 1))
    elif isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        seed = int(random_state)
    else:
        raise ValueError("random_state must be an int, a numpy or torch Generator, or None, "
                         f"got {type(random_state).__name__}")
    return torch.Generator().manual_seed(seed)


def select_device() -> torch.device:
    """The CUDA device when one is available, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------------------------------------
# Lesson 05: a classifier from bare tensors
# ---------------------------------------------------------------------------------------------


class Coeffs(NamedTuple):
    """Parameters of the one-hidden-layer classifier of lesson 05 (iterate to visit them all).

    Attributes
    ----------
    w_hidden : Tensor of shape (n_inputs, n_hidden)
    b_hidden : Tensor of shape (n_hidden,)
    w_out : Tensor of shape (n_hidden, 1)
    b_out : Tensor of shape (1,)
    """

    w_hidden: torch.Tensor
    b_hidden: torch.Tensor
    w_out: torch.Tensor
    b_out: torch.Tensor


def init_coeffs(
    n_inputs: int,
    n_hidden: int = 20,
    *,
    random_state: RandomState = None,
    dtype: torch.dtype = torch.float32,
) -> Coeffs:
    """Kaiming-normal weights, zero biases, every tensor with ``requires_grad=True``.

    The hidden weights have standard deviation ``sqrt(2 / n_inputs)`` (ReLU halves the
    variance, the factor 2 restores it); the output weights ``sqrt(1 / n_hidden)``.

    Returns
    -------
    Coeffs of w_hidden (n_inputs, n_hidden), b_hidden (n_hidden,), w_out (n_hidden, 1),
    b_out (1,)
    """
    for name, value in (("n_inputs", n_inputs), ("n_hidden", n_hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    gen = as_torch_generator(random_state)
    w_hidden = torch.randn(n_inputs, n_hidden, generator=gen, dtype=dtype)
    w_out = torch.randn(n_hidden, 1, generator=gen, dtype=dtype)
    coeffs = Coeffs(
        w_hidden * math.sqrt(2.0 / n_inputs),
        torch.zeros(n_hidden, dtype=dtype),
        w_out * math.sqrt(1.0 / n_hidden),
        torch.zeros(1, dtype=dtype),
    )
    return Coeffs(*(c.requires_grad_() for c in coeffs))


def _check_rows(X: torch.Tensor, y: torch.Tensor | None, n_inputs: int | None = None) -> None:
    if X.ndim != 2 or (n_inputs is not None and X.shape[1] != n_inputs):
        expected = "n_features" if n_inputs is None else str(n_inputs)
        raise ValueError(f"X must have shape (n_samples, {expected}), got {tuple(X.shape)}")
    if y is not None and tuple(y.shape) != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {tuple(y.shape)}")


def calc_logits(coeffs: Coeffs, X: torch.Tensor) -> torch.Tensor:
    """Scores before the sigmoid: ``relu(X @ w_hidden + b_hidden) @ w_out + b_out``.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_inputs)

    Returns
    -------
    Tensor of shape (n_samples,)
    """
    _check_rows(X, None, coeffs.w_hidden.shape[0])
    hidden = F.relu(X @ coeffs.w_hidden + coeffs.b_hidden)  # (n, n_hidden)
    return (hidden @ coeffs.w_out + coeffs.b_out).squeeze(1)  # (n, 1) -> (n,)


def calc_preds(coeffs: Coeffs, X: torch.Tensor) -> torch.Tensor:
    """Probability of class 1 for each row: Tensor of shape (n_samples,) in [0, 1]."""
    return torch.sigmoid(calc_logits(coeffs, X))


def calc_loss(
    coeffs: Coeffs, X: torch.Tensor, y: torch.Tensor, *, loss: LossName = "bce"
) -> torch.Tensor:
    """The mean loss over the rows, a 0-d tensor that can ``backward()``.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_inputs)
    y : Tensor of shape (n_samples,) of 0.0/1.0
    loss : "bce" or "mae"
        Binary cross-entropy computed from the logits (stable), or the mean absolute error
        between probability and label.
    """
    _check_rows(X, y)
    logits = calc_logits(coeffs, X)
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, y)
    if loss == "mae":
        return (torch.sigmoid(logits) - y).abs().mean()
    raise ValueError(f"loss must be 'bce' or 'mae', got {loss!r}")


def update_coeffs(coeffs: Iterable[torch.Tensor], lr: float) -> None:
    """One gradient-descent step in place, then zero the gradients for the next step."""
    with torch.no_grad():  # the update itself must not become part of the graph
        for c in coeffs:
            if c.grad is None:
                raise ValueError("a coefficient has no gradient: call loss.backward() first")
            c -= lr * c.grad
            c.grad.zero_()


def one_epoch(
    coeffs: Coeffs, X: torch.Tensor, y: torch.Tensor, *, lr: float, loss: LossName = "bce"
) -> float:
    """One full-batch step: loss, backward, update. Returns the loss before the step."""
    value = calc_loss(coeffs, X, y, loss=loss)
    value.backward()
    update_coeffs(coeffs, lr)
    return value.item()


def train_model(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 100,
    lr: float = 0.5,
    n_hidden: int = 20,
    loss: LossName = "bce",
    random_state: RandomState = 0,
) -> tuple[Coeffs, list[float]]:
    """Initialise and train; return the coefficients and the loss of every epoch.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_inputs)
    y : Tensor of shape (n_samples,) of 0.0/1.0
    """
    _check_rows(X, y)
    coeffs = init_coeffs(X.shape[1], n_hidden, random_state=random_state, dtype=X.dtype)
    losses = [one_epoch(coeffs, X, y, lr=lr, loss=loss) for _ in range(epochs)]
    return coeffs, losses


def model_accuracy(coeffs: Coeffs, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose predicted class (probability > 0.5) equals ``y``, a float."""
    _check_rows(X, y)
    with torch.no_grad():
        predicted = calc_logits(coeffs, X) > 0  # sigmoid(z) > 0.5 exactly when z > 0
    return (predicted == y.bool()).double().mean().item()


# ---------------------------------------------------------------------------------------------
# Lessons 06-08: modules and training loops
# ---------------------------------------------------------------------------------------------


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
        random_state: RandomState = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1
                                 for s in sizes):
            raise ValueError(f"sizes must be at least two positive ints, got {sizes!r}")
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
    random_state: RandomState = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield one epoch of mini-batches by slicing whole tensors (no per-item ``Dataset``).

    Parameters
    ----------
    X : Tensor of shape (n_samples, ...)
    y : Tensor of shape (n_samples, ...)
    batch_size : int
        Rows per batch; the last batch holds the remainder.
    shuffle : bool
        Visit rows in an order drawn from ``random_state`` (a CPU generator; the indices are
        moved to the tensors' device).
    """
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise ValueError(f"X and y need the same number of rows, got shapes "
                         f"{tuple(X.shape)} and {tuple(y.shape)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    n = len(X)
    if shuffle:
        order = torch.randperm(n, generator=as_torch_generator(random_state)).to(X.device)
    else:
        order = torch.arange(n, device=X.device)
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        yield X[rows], y[rows]


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
) -> list[float]:
    """One pass over ``batches`` (a DataLoader or :func:`tensor_batches`); loss of every step."""
    model.train()
    losses = []
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
    random_state: RandomState = None,
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
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
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
