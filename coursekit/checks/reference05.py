"""Reference solution of lesson 05's bare-tensor classifier: the one home of these functions.

``p = sigmoid(relu(X @ w_hidden + b_hidden) @ w_out + b_out)``, with the names and arguments
the lesson uses (``kind`` for the loss, ``seed`` for the initialisation): :class:`Coeffs`,
:func:`init_coeffs`, :func:`calc_logits`, :func:`calc_preds`, :func:`calc_loss`,
:func:`update_coeffs`, :func:`one_epoch`, :func:`train_model` and :func:`model_accuracy`.
The checks of :mod:`coursekit.checks.lesson05` compare the student's functions with these.
Lessons never call them (the grader replaces ``coursekit.checks`` while grading).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from coursekit.validation import check_choice, check_int

LossKind = Literal["bce", "mae"]


class Coeffs(NamedTuple):
    """Parameters of the one-hidden-layer classifier (iterate to visit them all).

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
    n_inputs: int, n_hidden: int, generator: torch.Generator, *,
    dtype: torch.dtype = torch.float32,
) -> Coeffs:
    """Kaiming-normal weights, zero biases, every tensor with ``requires_grad=True``.

    The hidden weights have standard deviation ``sqrt(2 / n_inputs)`` (ReLU halves the
    variance, the factor 2 restores it); the output weights ``sqrt(1 / n_hidden)``. Weights
    are drawn from ``generator``, hidden first, as the lesson does.
    """
    n_inputs, n_hidden = check_int("n_inputs", n_inputs), check_int("n_hidden", n_hidden)
    w_hidden = torch.randn(n_inputs, n_hidden, generator=generator, dtype=dtype)
    w_out = torch.randn(n_hidden, 1, generator=generator, dtype=dtype)
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
    """Scores before the sigmoid, X (n_samples, n_inputs) -> Tensor of shape (n_samples,)."""
    _check_rows(X, None, coeffs.w_hidden.shape[0])
    hidden = F.relu(X @ coeffs.w_hidden + coeffs.b_hidden)  # (n, n_hidden)
    return (hidden @ coeffs.w_out + coeffs.b_out).squeeze(1)  # (n, 1) -> (n,)


def calc_preds(coeffs: Coeffs, X: torch.Tensor) -> torch.Tensor:
    """Probability of class 1 for each row: Tensor of shape (n_samples,) in [0, 1]."""
    return torch.sigmoid(calc_logits(coeffs, X))


def calc_loss(coeffs: Coeffs, X: torch.Tensor, y: torch.Tensor, kind: LossKind = "bce"
              ) -> torch.Tensor:
    """Mean loss over the rows, a 0-d tensor: ``"bce"`` (from the logits) or ``"mae"``.

    ``X`` of shape (n_samples, n_inputs), ``y`` of shape (n_samples,) of 0.0/1.0.
    """
    _check_rows(X, y)
    check_choice("kind", kind, ("bce", "mae"))
    logits = calc_logits(coeffs, X)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, y)
    return (torch.sigmoid(logits) - y).abs().mean()


def update_coeffs(coeffs: Iterable[torch.Tensor], lr: float) -> None:
    """One gradient-descent step in place, then zero the gradients for the next step."""
    with torch.no_grad():  # the update itself must not become part of the graph
        for c in coeffs:
            if c.grad is None:
                raise ValueError("a coefficient has no gradient: call loss.backward() first")
            c -= lr * c.grad
            c.grad.zero_()


def one_epoch(coeffs: Coeffs, X: torch.Tensor, y: torch.Tensor, lr: float,
              kind: LossKind = "bce") -> float:
    """Loss, backward, update (one full-batch step); returns the loss before the step."""
    loss = calc_loss(coeffs, X, y, kind)
    loss.backward()
    update_coeffs(coeffs, lr)
    return loss.item()


def train_model(X: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float, n_hidden: int,
                kind: LossKind = "bce", seed: int = 0) -> tuple[Coeffs, list[float]]:
    """A fresh model (``init_coeffs`` from a generator seeded with ``seed``) trained
    full-batch; returns it and the loss of every epoch."""
    _check_rows(X, y)
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    coeffs = init_coeffs(X.shape[1], n_hidden, generator, dtype=X.dtype)
    losses = [one_epoch(coeffs, X, y, lr, kind) for _ in range(check_int("epochs", epochs))]
    return coeffs, losses


def model_accuracy(coeffs: Coeffs, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose predicted class (probability > 0.5) equals ``y``, a float."""
    _check_rows(X, y)
    with torch.no_grad():
        predicted = calc_logits(coeffs, X) > 0  # sigmoid(z) > 0.5 exactly when z > 0
    return (predicted == y.bool()).double().mean().item()
