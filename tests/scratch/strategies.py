"""Hypothesis strategies shared by the coursekit.scratch tests."""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Comparisons with PyTorch run in float64; each example is cheap but builds tensors.
torch_settings = settings(max_examples=40, deadline=None)

batch_sizes = st.integers(min_value=1, max_value=8)
widths = st.integers(min_value=1, max_value=7)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def float_arrays(shape: tuple[int, ...], bound: float = 5.0) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with finite values in [-bound, bound]."""
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=64)
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def matrices(draw: st.DrawFn, min_cols: int = 1, bound: float = 5.0) -> np.ndarray:
    """A float64 matrix of shape (N, D) with 1 <= N <= 8 and min_cols <= D <= 7."""
    n = draw(batch_sizes)
    d = draw(st.integers(min_value=min_cols, max_value=7))
    return draw(float_arrays((n, d), bound))


@st.composite
def away_from_zero(draw: st.DrawFn, bound: float = 5.0, gap: float = 1e-3) -> np.ndarray:
    """A matrix whose entries keep |x| >= gap: ReLU's kink is never inside a finite difference."""
    x = draw(matrices(bound=bound))
    return np.where(np.abs(x) < gap, np.where(x < 0, -gap, gap), x)


@st.composite
def logits_and_labels(draw: st.DrawFn, bound: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of shape (N, C) with C >= 2 and integer labels of shape (N,) in [0, C)."""
    z = draw(matrices(min_cols=2, bound=bound))
    n, c = z.shape
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return z, labels


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer labels of shape (N,) -> one-hot float64 rows of shape (N, n_classes)."""
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out
