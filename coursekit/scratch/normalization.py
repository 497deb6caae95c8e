"""Normalisation layers: batch normalisation (over the batch) and layer normalisation (over
the features of each sample).

Batch normalisation standardises every feature over the batch, then scales and shifts it.

In training mode each feature j of a batch x (N, D) is normalised with the batch's own mean
and (biased) variance, ``x_hat = (x - mean) / sqrt(var + eps)``, and the output is
``gamma * x_hat + beta``. Running averages of the mean and the (unbiased) variance are kept
for evaluation mode, which normalises with them instead, so a prediction no longer depends on
the other samples in its batch. The rules, defaults and running-statistics update are
PyTorch's ``nn.BatchNorm1d``.

Layer normalisation standardises each sample over its own last axis instead, so it needs no
batch, no running statistics and behaves the same in training and evaluation: what a language
model uses, where a batch mixes positions and sequences. Its rules are ``nn.LayerNorm``'s.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from coursekit.scratch.layers import Layer, _check_dout
from coursekit.validation import check_int, check_number

__all__ = ["BatchNorm1d", "LayerNorm"]


class BatchNorm1d(Layer):
    """Batch normalisation of (N, D) inputs, feature by feature.

    Parameters
    ----------
    n_features : int
        D, the number of features (columns) of the input.
    momentum : float in [0, 1]
        Weight of the new batch in the running averages:
        ``running = (1 - momentum) * running + momentum * batch_statistic``.
    eps : float > 0
        Added to the variance before the square root.

    Attributes
    ----------
    params : dict
        ``"gamma"`` (scale, starts at 1) and ``"beta"`` (shift, starts at 0), shape (D,).
    grads : dict
        Same keys and shapes, filled by ``backward``.
    running_mean, running_var : ndarray of shape (D,)
        Start at 0 and 1. The variance kept is the unbiased one (divided by N - 1), as
        PyTorch keeps it; the batch is normalised with the biased one (divided by N).
    """

    def __init__(self, n_features: int, *, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        if int(n_features) < 1:
            raise ValueError(f"BatchNorm1d needs n_features >= 1, got {n_features}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if not eps > 0.0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.n_features, self.momentum, self.eps = int(n_features), float(momentum), float(eps)
        self.params = {
            "gamma": np.ones(self.n_features, dtype=np.float64),
            "beta": np.zeros(self.n_features, dtype=np.float64),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.buffers = {"running_mean": np.zeros(self.n_features, dtype=np.float64),
                        "running_var": np.ones(self.n_features, dtype=np.float64)}
        # what backward needs: the normalised input, 1 / std, and the mode it was made in
        self._x_hat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None
        self._batch_stats = True

    @property
    def running_mean(self) -> np.ndarray:
        """The running mean, shape (D,): ``buffers["running_mean"]``."""
        return self.buffers["running_mean"]

    @running_mean.setter
    def running_mean(self, value: ArrayLike) -> None:
        self.buffers["running_mean"][...] = value

    @property
    def running_var(self) -> np.ndarray:
        """The running (unbiased) variance, shape (D,): ``buffers["running_var"]``."""
        return self.buffers["running_var"]

    @running_var.setter
    def running_var(self, value: ArrayLike) -> None:
        self.buffers["running_var"][...] = value

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, D) -> ndarray of shape (N, D).

        Training mode needs N >= 2 (one sample has no variance) and updates the running
        statistics; evaluation mode uses them and changes nothing.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"{self!r} expects input of shape (N, {self.n_features}), "
                             f"got {x.shape}")
        n = x.shape[0]
        if self.training:
            if n < 2:
                raise ValueError(f"{self!r} in training mode needs a batch of at least 2 "
                                 f"rows to estimate a variance, got {n}; use eval mode "
                                 "(model.eval()) to predict single samples")
            mean = x.mean(axis=0)  # (D,)
            centred = x - mean
            var = (centred * centred).mean(axis=0)  # biased: divides by N
            self.running_mean *= 1.0 - self.momentum
            self.running_mean += self.momentum * mean
            self.running_var *= 1.0 - self.momentum
            self.running_var += self.momentum * var * (n / (n - 1))  # unbiased
        else:
            centred = x - self.running_mean
            var = self.running_var
        inv_std = 1.0 / np.sqrt(var + self.eps)  # (D,)
        self._x_hat = centred * inv_std
        self._inv_std = inv_std
        self._batch_stats = self.training
        return self.params["gamma"] * self._x_hat + self.params["beta"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout : ndarray of shape (N, D) -> dL/dx of shape (N, D); fills grads.

        With batch statistics the mean and variance depend on every input, which adds two
        terms to the plain ``gamma / std`` scaling:
        ``dx = inv_std / N * (N * g - sum(g) - x_hat * sum(g * x_hat))`` with
        ``g = dout * gamma`` and the sums over the batch.
        """
        x_hat = self._saved(self._x_hat)
        inv_std = self._saved(self._inv_std)
        dout = np.asarray(dout, dtype=np.float64)
        if dout.shape != x_hat.shape:
            raise ValueError(f"{self!r}.backward: dout must have the shape of the output "
                             f"{x_hat.shape}, got {dout.shape}")
        self.grads["gamma"] = (dout * x_hat).sum(axis=0)
        self.grads["beta"] = dout.sum(axis=0)
        g = dout * self.params["gamma"]  # dL/dx_hat
        if not self._batch_stats:
            return g * inv_std  # running statistics are constants
        n = dout.shape[0]
        return (inv_std / n) * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))

    def __repr__(self) -> str:
        return f"BatchNorm1d({self.n_features})"


class LayerNorm(Layer):
    """Layer normalisation over the last axis of an input of any shape (..., D).

    Each vector ``x[..., :]`` of length D is standardised with its own mean and (biased)
    variance, ``x_hat = (x - mean) / sqrt(var + eps)``, then scaled and shifted:
    ``out = gamma * x_hat + beta``. Nothing depends on the other samples, and training and
    evaluation mode are alike. Equal to ``torch.nn.LayerNorm(D, eps=eps)`` (its ``weight`` is
    ``gamma``, its ``bias`` is ``beta``).

    Parameters
    ----------
    normalized_shape : int
        D, the length of the last axis.
    eps : float > 0
        Added to the variance before the square root.

    Attributes
    ----------
    params : dict
        ``"gamma"`` (scale, starts at 1) and ``"beta"`` (shift, starts at 0), shape (D,),
        float64.
    grads : dict
        Same keys and shapes, filled by ``backward`` (summed over every leading axis).
    """

    def __init__(self, normalized_shape: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.normalized_shape = check_int("normalized_shape", normalized_shape)
        self.eps = check_number("eps", eps, low=0.0, low_open=True)
        self.params = {
            "gamma": np.ones(self.normalized_shape, dtype=np.float64),
            "beta": np.zeros(self.normalized_shape, dtype=np.float64),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._x_hat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (..., D) -> ndarray of shape (..., D)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 1 or x.shape[-1] != self.normalized_shape:
            raise ValueError(f"{self!r} expects input of shape (..., {self.normalized_shape}), "
                             f"got {x.shape}")
        mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
        centred = x - mean
        var = (centred * centred).mean(axis=-1, keepdims=True)  # biased: divides by D
        inv_std = 1.0 / np.sqrt(var + self.eps)  # (..., 1)
        self._x_hat = centred * inv_std
        self._inv_std = inv_std
        return self.params["gamma"] * self._x_hat + self.params["beta"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout : ndarray of shape (..., D) -> dL/dx of shape (..., D); fills grads.

        BatchNorm's formula with the sums taken along the last axis instead of the batch:
        ``dx = inv_std / D * (D * g - sum(g) - x_hat * sum(g * x_hat))`` with
        ``g = dout * gamma``; the two sums carry the gradient through the mean and the variance.
        """
        x_hat = self._saved(self._x_hat)
        inv_std = self._saved(self._inv_std)
        dout = _check_dout(self, np.asarray(dout, dtype=np.float64), x_hat.shape)
        rows = dout.reshape(-1, self.normalized_shape)
        self.grads["gamma"] = (rows * x_hat.reshape(rows.shape)).sum(axis=0)
        self.grads["beta"] = rows.sum(axis=0)
        g = dout * self.params["gamma"]  # dL/dx_hat
        d = self.normalized_shape
        return (inv_std / d) * (d * g - g.sum(axis=-1, keepdims=True)
                                - x_hat * (g * x_hat).sum(axis=-1, keepdims=True))

    def __repr__(self) -> str:
        return f"LayerNorm({self.normalized_shape})"
