"""Layers of the NumPy network: each one a small class with ``forward`` and ``backward``.

The contract every layer keeps:

- ``forward(x)`` returns the output and keeps what ``backward`` will need;
- ``backward(dout)`` takes dL/d(output), returns dL/d(input) and stores the gradient of every
  parameter in ``self.grads`` under the parameter's own name (``grads["W"]`` for ``params["W"]``).
  It *overwrites* the gradients: unlike PyTorch, nothing accumulates between steps.

Layers without parameters have empty ``params`` and ``grads`` dicts. ``training`` is True in
training mode; only :class:`Dropout` behaves differently when it is False.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from coursekit.seeding import RandomState, as_generator
from coursekit.validation import check_choice, check_int, check_number

__all__ = ["Layer", "Dense", "ReLU", "Sigmoid", "Tanh", "Softmax", "Dropout"]


class Layer:
    """Base class: a layer with (possibly empty) ``params`` and matching ``grads``, and
    ``buffers``: state that is saved with the model but not trained (BatchNorm's running
    statistics, PyTorch's buffers)."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True

    def forward(self, x: ArrayLike) -> np.ndarray:
        """Compute the output and keep what backward needs."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Return dL/dx from dL/d(output); store parameter gradients in ``self.grads``."""
        raise NotImplementedError

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return self.forward(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _saved(self, value: np.ndarray | None) -> np.ndarray:
        """What forward kept, or a clear error when backward comes first."""
        if value is None:
            raise RuntimeError(f"{self!r}: call forward before backward")
        return value


def _check_dout(layer: Layer, dout: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    dout = np.asarray(dout)
    if dout.shape != shape:
        raise ValueError(
            f"{layer!r}.backward: dout must have the shape of the output {shape}, "
            f"got {dout.shape}"
        )
    return dout


class Dense(Layer):
    """A fully connected layer: ``out = x @ W + b``.

    Parameters
    ----------
    n_in, n_out : int
        Number of input features and of output units.
    init : {"small", "he"}, default="small"
        ``"small"``: ``W = 0.01 * randn`` (the spiral lesson's choice, fine for one hidden layer);
        ``"he"``: ``W = randn * sqrt(2 / n_in)`` (He/Kaiming, keeps ReLU activations from
        shrinking layer after layer). Biases start at zero.
    random_state : int, numpy.random.Generator or None
        Seed or generator for the initial weights.

    Attributes
    ----------
    params : dict
        ``"W"`` of shape (n_in, n_out) and ``"b"`` of shape (n_out,), float64.
    grads : dict
        Same keys and shapes, filled by ``backward``.
    """

    def __init__(
        self, n_in: int, n_out: int, *, init: str = "small", random_state: RandomState = None
    ) -> None:
        super().__init__()
        self.n_in, self.n_out = check_int("n_in", n_in), check_int("n_out", n_out)
        self.init = check_choice("init", init, ("small", "he"))
        scale = 0.01 if init == "small" else float(np.sqrt(2.0 / self.n_in))
        rng = as_generator(random_state)
        self.params = {
            "W": scale * rng.standard_normal((self.n_in, self.n_out), dtype=np.float64),
            "b": np.zeros(self.n_out, dtype=np.float64),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._x: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, n_in) -> ndarray of shape (N, n_out)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(
                f"{self!r} expects input of shape (N, {self.n_in}), got {x.shape}"
            )
        self._x = x
        out = x @ self.params["W"]  # (N, n_in) @ (n_in, n_out)
        out += self.params["b"]  # in place: one pass less than out = x @ W + b
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout : ndarray of shape (N, n_out) -> dL/dx of shape (N, n_in)."""
        x = self._saved(self._x)
        dout = _check_dout(self, dout, (x.shape[0], self.n_out))
        self.grads["W"] = x.T @ dout  # (n_in, N) @ (N, n_out): one sum over the batch
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out})"


class ReLU(Layer):
    """``max(0, x)``, elementwise; its gradient is the 0/1 mask ``x > 0`` (0 at x = 0)."""

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of any shape -> same shape."""
        x = np.asarray(x)
        self._mask = x > 0
        return np.maximum(x, 0.0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        mask = self._saved(self._mask)
        dout = _check_dout(self, dout, mask.shape)
        return dout * mask  # the mask, never the input itself


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of a non-positive number."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``, elementwise and stable for large |x|; gradient ``s (1 - s)``."""

    def __init__(self) -> None:
        super().__init__()
        self._out: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of any shape -> same shape, values in [0, 1]."""
        self._out = _sigmoid(np.asarray(x))
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        s = self._saved(self._out)
        dout = _check_dout(self, dout, s.shape)
        return dout * s * (1.0 - s)


class Tanh(Layer):
    """``tanh(x)``, elementwise; gradient ``1 - tanh(x)**2``."""

    def __init__(self) -> None:
        super().__init__()
        self._out: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of any shape -> same shape, values in [-1, 1]."""
        self._out = np.tanh(np.asarray(x))
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        t = self._saved(self._out)
        dout = _check_dout(self, dout, t.shape)
        return dout * (1.0 - t * t)


def _row_max(x: np.ndarray) -> np.ndarray:
    """x : (N, C) -> the maximum of each row, as a column of shape (N, 1).

    Same as ``x.max(axis=1, keepdims=True)``, but NumPy reduces a short last axis slowly
    (about 10 µs for 300 rows of 3); along the first axis of the transposed copy it is one
    vectorised pass, several times faster.
    """
    return np.ascontiguousarray(x.T).max(axis=0)[:, None]


def _row_sum(x: np.ndarray) -> np.ndarray:
    """x : (N, C) -> the sum of each row, as a column of shape (N, 1); fast as _row_max."""
    return np.ascontiguousarray(x.T).sum(axis=0)[:, None]


def _softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax; subtracting the row maximum keeps exp from overflowing."""
    e = np.exp(x - _row_max(x))
    return e / _row_sum(e)


class Softmax(Layer):
    """Row-wise softmax: ``s_ij = exp(x_ij) / sum_k exp(x_ik)``.

    Its backward multiplies by the Jacobian ``diag(s) - s s^T`` of every row without building
    it: ``dx = s * (dout - sum(dout * s, axis=1))``, one line instead of a Python loop over
    samples. For training a classifier prefer the fused
    :class:`~coursekit.scratch.losses.SoftmaxCrossEntropy`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._out: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, C) -> probabilities of shape (N, C), rows summing to 1."""
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"Softmax expects input of shape (N, C), got {x.shape}")
        self._out = _softmax(x)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        s = self._saved(self._out)
        dout = _check_dout(self, dout, s.shape)
        return s * (dout - _row_sum(dout * s))


class Dropout(Layer):
    """Inverted dropout: in training mode zero each input with probability ``rate``.

    Kept inputs are scaled by ``1 / (1 - rate)`` so the expected output equals the input, and
    in evaluation mode (``training = False``) the layer is the identity.

    Parameters
    ----------
    rate : float in [0, 1)
        Probability of dropping an input (PyTorch's ``p``).
    random_state : int, numpy.random.Generator or None
        Seed or generator of the masks; the same seed gives the same sequence of masks.
    """

    def __init__(self, rate: float = 0.5, *, random_state: RandomState = None) -> None:
        super().__init__()
        self.rate = check_number("rate", rate, low=0.0, high=1.0, high_open=True)
        self.rng = as_generator(random_state)
        self.mask: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: ArrayLike, keep: ArrayLike | None = None) -> np.ndarray:
        """x : ndarray of any shape -> same shape.

        ``keep``, a boolean array of x's shape, replaces the drawn mask (True = kept) in
        training mode, e.g. to replay the mask another framework drew.
        """
        x = np.asarray(x)
        self._shape = x.shape
        if not self.training or self.rate == 0.0:
            self.mask = None
            return x
        if keep is None:
            keep = self.rng.random(x.shape) >= self.rate
        else:
            keep = np.asarray(keep)
            if keep.shape != x.shape or keep.dtype != np.bool_:
                raise ValueError(f"keep must be a boolean array of shape {x.shape}, "
                                 f"got {keep.dtype} of shape {keep.shape}")
        self.mask = keep / np.float64(1.0 - self.rate)
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError(f"{self!r}: call forward before backward")
        dout = _check_dout(self, dout, self._shape)
        return dout if self.mask is None else dout * self.mask

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"
