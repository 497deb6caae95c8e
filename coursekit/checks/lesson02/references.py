"""Lesson 02's right answers, and the SGD epoch with the mistakes its judge names."""

from __future__ import annotations

import numpy as np

from coursekit.data import batches


def reference_predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """ŷ = Xw + b of shape (N,) for X (N, d), w (d,)."""
    return X @ w + b


def reference_loss(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """L = mean((Xw + b − y)²) for X (N, d), y (N,), w (d,)."""
    return float(np.mean((X @ w + b - y) ** 2))


def reference_gradient(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float
) -> tuple[np.ndarray, float]:
    """(∂L/∂w of shape (d,), ∂L/∂b) of the mean squared error."""
    residual = X @ w + b - y
    return 2.0 * X.T @ residual / len(y), float(2.0 * residual.mean())


def reference_sgd_epoch(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, *, lr: float,
                       batch_size: int, rng: np.random.Generator
                       ) -> tuple[np.ndarray, float, list[float]]:
    """One epoch of mini-batch SGD over ``coursekit.data.batches(..., random_state=rng)``: the
    new w (d,), the new b, and each batch's loss before its update (ceil(N / batch_size))."""
    return _epoch(X, y, w, b, lr=lr, batch_size=batch_size, rng=rng)


def _epoch(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, *, lr: float, batch_size: int,
           rng: np.random.Generator, shuffle: bool = True, order: np.ndarray | None = None,
           direction: float = -1.0, full_gradient: bool = False
           ) -> tuple[np.ndarray, float, list[float]]:
    """The reference epoch, or a known mistake: no shuffling, another ``order`` of the rows,
    stepping up the gradient, the gradient of the full data instead of the batch's."""
    w = np.array(w, dtype=np.float64)
    visits = batches(X, y, batch_size=batch_size, shuffle=shuffle, random_state=rng) \
        if order is None else ((X[order[k:k + batch_size]], y[order[k:k + batch_size]])
                               for k in range(0, len(order), batch_size))
    losses = []
    for X_batch, y_batch in visits:
        losses.append(reference_loss(X_batch, y_batch, w, b))
        dw, db = reference_gradient(*((X, y) if full_gradient else (X_batch, y_batch)), w, b)
        w, b = w + direction * lr * dw, b + direction * lr * db
    return w, float(b), losses
