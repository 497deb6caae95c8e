"""Regularisation helpers: the L2 penalty behind ``weight_decay`` and early stopping.

The other two pieces live where they act: dropout is a layer
(:class:`coursekit.scratch.layers.Dropout`, inverted, with train and eval modes) and L2 weight
decay is an optimizer option (``SGD(..., weight_decay=lam)`` adds ``lam * param`` to every
gradient, as ``torch.optim`` does). This module adds the loss term whose gradient that is, and
the rule that picks an epoch from a validation curve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from coursekit.scratch.layers import Layer

__all__ = ["l2_penalty", "early_stopping_epoch"]


def l2_penalty(layers: Iterable[Layer], weight_decay: float) -> float:
    """``weight_decay / 2 * sum(param**2)`` over every parameter of ``layers``.

    This is the term that an optimizer's ``weight_decay`` adds to the loss: its gradient is
    ``weight_decay * param``. Like ``torch.optim`` it covers every parameter, biases included.
    Add it to the data loss to see the loss actually minimised.
    """
    if not np.isfinite(weight_decay) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
    total = 0.0
    for layer in layers:
        for param in layer.params.values():
            total += float(np.sum(param * param))
    return 0.5 * float(weight_decay) * total


def early_stopping_epoch(val_losses: Sequence[float] | np.ndarray, *, patience: int) -> int:
    """The index of the epoch early stopping keeps, read from a validation curve.

    Walk the curve in order, remembering the lowest loss so far; stop as soon as ``patience``
    epochs in a row fail to improve on it (strictly lower counts as improving) and return the
    index of that lowest loss. Epochs after the stop are never looked at, as in a real run.

    Parameters
    ----------
    val_losses : sequence of float of length n_epochs
        The validation loss after each epoch (index 0 = after the first epoch).
    patience : int >= 1
        Epochs without improvement tolerated before stopping.

    Returns
    -------
    int in [0, n_epochs)
    """
    curve = np.asarray(val_losses, dtype=np.float64)
    if curve.ndim != 1 or curve.size == 0:
        raise ValueError(f"val_losses must be a non-empty 1-d sequence, got shape {curve.shape}")
    if isinstance(patience, bool) or not isinstance(patience, int | np.integer) or patience < 1:
        raise ValueError(f"patience must be an int >= 1, got {patience!r}")
    best, waited = 0, 0
    for epoch in range(1, curve.size):
        if curve[epoch] < curve[best]:
            best, waited = epoch, 0
        else:
            waited += 1
            if waited == patience:
                break
    return best
