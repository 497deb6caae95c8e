"""An embedding table: each integer index looks up a learned row of numbers.

``Embedding(V, D)`` holds ``W`` of shape (V, D); ``forward(ix)`` is the gather ``W[ix]``: the
same as multiplying a one-hot row of length V by ``W``, without building the one-hot matrix.
The backward pass is the matching scatter: row ``v`` of ``dW`` is the sum of the output
gradients at every position where ``ix == v``. ``np.add.at`` adds once per occurrence (this
layer computes the same sums with ``np.bincount``, faster);
``dW[ix] += dout`` would not (buffered fancy-index assignment keeps one write per repeated
index), so it loses gradient exactly when an index occurs twice in a batch. Same rules and
initialisation (standard normal) as PyTorch's ``nn.Embedding``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from coursekit.scratch.layers import Layer, _check_dout
from coursekit.seeding import RandomState, as_generator
from coursekit.validation import check_int

__all__ = ["Embedding"]


class Embedding(Layer):
    """A lookup table of ``num_embeddings`` rows of ``embedding_dim`` numbers.

    Parameters
    ----------
    num_embeddings : int
        V, how many indices there are (a vocabulary's size).
    embedding_dim : int
        D, the length of each row.
    random_state : int, numpy.random.Generator or None
        Seed or generator for the initial rows, drawn from the standard normal.

    Attributes
    ----------
    params : dict
        ``"W"`` of shape (V, D), float64.
    grads : dict
        ``"W"``, filled by ``backward``; rows of indices absent from the batch are 0.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *,
                 random_state: RandomState = None) -> None:
        super().__init__()
        self.num_embeddings = check_int("num_embeddings", num_embeddings)
        self.embedding_dim = check_int("embedding_dim", embedding_dim)
        rng = as_generator(random_state)
        self.params = {"W": rng.standard_normal((self.num_embeddings, self.embedding_dim),
                                                dtype=np.float64)}
        self.grads = {"W": np.zeros_like(self.params["W"])}
        self._ix: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : integer array of shape S, entries in [0, V) -> float64 array of shape S + (D,)."""
        ix = np.asarray(x)
        if ix.dtype.kind not in "iu":
            raise ValueError(f"{self!r} expects integer indices, got dtype {ix.dtype}")
        if ix.size and (ix.min() < 0 or ix.max() >= self.num_embeddings):
            raise ValueError(f"{self!r} expects indices in [0, {self.num_embeddings}), "
                             f"got {ix.min()}..{ix.max()}")
        self._ix = ix
        return self.params["W"][ix]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout : shape S + (D,) -> zeros of shape S (indices have no gradient).

        Fills ``grads["W"]`` (V, D) by scatter-adding each position's gradient into its row.
        """
        ix = self._saved(self._ix)
        d = self.embedding_dim
        dout = _check_dout(self, dout, (*ix.shape, d))
        # np.add.at(dW, ix, dout) as one bincount over the flat (row, column) positions: the
        # same sums in the same order (bitwise equal), a few times faster than np.add.at's
        # loop over rows
        flat = (ix.reshape(-1, 1) * d + np.arange(d)).reshape(-1)
        dW = np.bincount(flat, weights=np.asarray(dout, dtype=np.float64).reshape(-1),
                         minlength=self.num_embeddings * d)
        self.grads["W"] = dW.reshape(self.num_embeddings, d)
        return np.zeros(ix.shape, dtype=np.float64)

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"
