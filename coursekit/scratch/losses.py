"""Losses: ``forward(output, target)`` returns the mean loss, ``backward()`` dL/d(output).

Every loss is a mean over the batch, so its gradient carries the factor 1/N. Classification
losses also say how to score a prediction with ``accuracy(output, target)``; for a regression
loss it returns None.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from coursekit.scratch.layers import _row_max, _row_sum, _sigmoid

__all__ = [
    "Loss",
    "MSE",
    "BinaryCrossEntropy",
    "BinaryCrossEntropyWithLogits",
    "CategoricalCrossEntropy",
    "SoftmaxCrossEntropy",
]

#: Probabilities are clipped to [EPS, 1 - EPS] before a log, so log(0) never happens.
EPS = 1e-7


class Loss:
    """Base class of the losses."""

    def __init__(self) -> None:
        self._grad: np.ndarray | None = None

    def forward(self, output: ArrayLike, target: ArrayLike) -> float:
        """Return the mean loss and keep dL/d(output) for ``backward``."""
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        """dL/d(output) of the last ``forward``, with the shape of its ``output``."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}: call forward before backward")
        return self._grad

    def accuracy(self, output: ArrayLike, target: ArrayLike) -> float | None:
        """Fraction of correct predictions, or None for a regression loss."""
        return None

    def __call__(self, output: ArrayLike, target: ArrayLike) -> float:
        return self.forward(output, target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _same_shape(name: str, output: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    output, target = np.asarray(output), np.asarray(target)
    if output.shape != target.shape:
        raise ValueError(
            f"{name}: target must have the shape of the output {output.shape}, got "
            f"{target.shape} (a column (N, 1) against a vector (N,) would broadcast to (N, N))"
        )
    if output.size == 0:
        raise ValueError(f"{name}: empty batch")
    return output, target


class MSE(Loss):
    """Mean squared error ``mean((output - target)**2)`` over all elements (PyTorch's mean).

    ``output`` and ``target`` : ndarrays of the same shape, e.g. (N,) or (N, K).
    The gradient is ``2 (output - target) / output.size``.
    """

    def forward(self, output: ArrayLike, target: ArrayLike) -> float:
        output, target = _same_shape("MSE", output, target)
        diff = output - target
        self._grad = 2.0 * diff / diff.size
        return float(np.mean(diff * diff))


def _binary_target(name: str, output: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, ...]:
    output, target = _same_shape(name, output, target)
    if target.min() < 0 or target.max() > 1:
        raise ValueError(
            f"{name}: labels must lie in [0, 1], got values in "
            f"[{target.min()}, {target.max()}]"
        )
    return output, target


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy from probabilities, clipped to [EPS, 1 - EPS] so it stays finite.

    ``output`` : probabilities (after a sigmoid), ``target`` : 0/1 labels, same shape (N,) or
    (N, K). Loss ``-mean(t log p + (1 - t) log(1 - p))``; the gradient is taken at the clipped
    ``p``, so a confidently wrong prediction still gets a (large, finite) push. Prefer
    :class:`BinaryCrossEntropyWithLogits`, which never needs clipping.
    """

    def forward(self, output: ArrayLike, target: ArrayLike) -> float:
        p, t = _binary_target("BinaryCrossEntropy", output, target)
        p = np.clip(p, EPS, 1.0 - EPS)
        self._grad = -(t / p - (1.0 - t) / (1.0 - p)) / p.size
        return float(-np.mean(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)))

    def accuracy(self, output: ArrayLike, target: ArrayLike) -> float:
        return float(np.mean((np.asarray(output) > 0.5) == (np.asarray(target) > 0.5)))


class BinaryCrossEntropyWithLogits(Loss):
    """Binary cross-entropy from logits z (before the sigmoid), stable for any z.

    Uses ``log(1 + exp(-|z|)) + max(z, 0) - z t``, which equals the cross-entropy of
    ``sigmoid(z)`` without ever overflowing; the gradient is ``(sigmoid(z) - t) / z.size``.
    ``output`` : logits and ``target`` : 0/1 labels, same shape (N,) or (N, K).
    """

    def forward(self, output: ArrayLike, target: ArrayLike) -> float:
        z, t = _binary_target("BinaryCrossEntropyWithLogits", output, target)
        self._grad = (_sigmoid(z) - t) / z.size
        return float(np.mean(np.maximum(z, 0.0) - z * t + np.log1p(np.exp(-np.abs(z)))))

    def accuracy(self, output: ArrayLike, target: ArrayLike) -> float:
        return float(np.mean((np.asarray(output) > 0.0) == (np.asarray(target) > 0.5)))


def _class_target(name: str, output: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, ...]:
    """Check (N, C) scores against integer labels of shape (N,) or one-hot rows of shape (N, C).

    The number of classes C always comes from the output, never from the labels present in
    the batch: a batch may lack a class.
    """
    output, target = np.asarray(output), np.asarray(target)
    if output.ndim != 2:
        raise ValueError(f"{name}: output must have shape (N, C), got {output.shape}")
    n, n_classes = output.shape
    if target.ndim == 1:
        if target.shape[0] != n:
            raise ValueError(f"{name}: expected {n} labels of shape ({n},), got {target.shape}")
        if not np.issubdtype(target.dtype, np.integer):
            raise ValueError(
                f"{name}: labels of shape (N,) must be integers, got dtype {target.dtype} "
                "(use y.astype(int), or pass one-hot rows of shape (N, C))"
            )
        if n and (target.min() < 0 or target.max() >= n_classes):
            raise ValueError(
                f"{name}: labels must lie in [0, {n_classes - 1}] for {n_classes} classes, "
                f"got values in [{target.min()}, {target.max()}]"
            )
    elif target.shape != output.shape:
        raise ValueError(
            f"{name}: target must be labels of shape ({n},) or one-hot of shape "
            f"{output.shape}, got {target.shape}"
        )
    if n == 0:
        raise ValueError(f"{name}: empty batch")
    return output, target


def _labels(target: np.ndarray) -> np.ndarray:
    return target if target.ndim == 1 else target.argmax(axis=1)


class CategoricalCrossEntropy(Loss):
    """Categorical cross-entropy from probabilities (after a softmax), clipped to stay finite.

    ``output`` : probabilities of shape (N, C); ``target`` : integer labels of shape (N,) or
    one-hot rows of shape (N, C). Loss ``-mean(log p[i, y_i])`` with p clipped to
    [EPS, 1 - EPS]; the gradient ``-onehot / (N p)`` is taken at the clipped p.
    """

    def forward(self, output: ArrayLike, target: ArrayLike) -> float:
        p, t = _class_target("CategoricalCrossEntropy", output, target)
        n = p.shape[0]
        p = np.clip(p, EPS, 1.0 - EPS)
        if t.ndim == 1:
            rows = np.arange(n, dtype=np.int64)
            p_true = p[rows, t]
            self._grad = np.zeros_like(p)
            self._grad[rows, t] = -1.0 / (n * p_true)
            return float(-np.mean(np.log(p_true)))
        self._grad = -t / (n * p)
        return float(-np.sum(t * np.log(p)) / n)

    def accuracy(self, output: ArrayLike, target: ArrayLike) -> float:
        return float(np.mean(np.argmax(output, axis=1) == _labels(np.asarray(target))))


class SoftmaxCrossEntropy(Loss):
    """Softmax and categorical cross-entropy fused, from logits: stable and fast.

    ``output`` : logits of shape (N, C) (the network has no Softmax layer);
    ``target`` : integer labels of shape (N,) or one-hot rows of shape (N, C).
    The loss uses ``log softmax(z) = z - max - log sum exp(z - max)``, finite for any logits,
    and the gradient is simply ``(p - onehot) / N``. ``probs`` keeps the softmax of the last
    ``forward``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.probs: np.ndarray | None = None

    def forward(self, output: ArrayLike, target: ArrayLike) -> float:
        z, t = _class_target("SoftmaxCrossEntropy", output, target)
        n = z.shape[0]
        shifted = z - _row_max(z)  # every row's largest logit becomes 0: exp cannot overflow
        exp = np.exp(shifted)
        total = _row_sum(exp)  # (N, 1), at least 1
        self.probs = exp / total
        grad = self.probs.copy()
        if t.ndim == 1:
            rows = np.arange(n, dtype=np.int64)
            grad[rows, t] -= 1.0
            # -log p[i, y_i] = log(total_i) - shifted[i, y_i]
            loss = np.sum(np.log(total[:, 0]) - shifted[rows, t]) / n
        else:
            grad -= t
            loss = -np.sum(t * (shifted - np.log(total))) / n
        grad /= n
        self._grad = grad  # (p - onehot) / N
        return float(loss)

    def accuracy(self, output: ArrayLike, target: ArrayLike) -> float:
        return float(np.mean(np.argmax(output, axis=1) == _labels(np.asarray(target))))
