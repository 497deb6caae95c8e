"""Data sets of the course, shaped like scikit-learn's generators and all seeded.

Every function that draws random numbers takes ``random_state``: an ``int`` seed, a
``numpy.random.Generator`` (which it advances), or ``None`` for fresh entropy
(:mod:`coursekit.seeding`). Nothing here touches NumPy's global random state, and every array
returned has an explicit dtype (float64 features, int64 labels), whatever ``nnfs.init()`` did
to NumPy's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np

from coursekit.names import IGNORE_INDEX, NamesSplit, Vocabulary, contexts, load_names, sequences
from coursekit.seeding import RandomState, as_generator, as_seed
from coursekit.validation import check_fraction, check_int, check_number, check_same_rows

__all__ = [
    "Split", "TRUE_WEIGHTS", "TRUE_BIAS", "three_points", "linear_data", "spiral",
    "spiral_bayes_predict", "circles", "standardise", "load_digits", "load_breast_cancer",
    "batches", "steps_per_epoch",
    # lessons 12-13's names live in coursekit.names; here so every data set has one address
    "load_names", "NamesSplit", "Vocabulary", "contexts", "sequences", "IGNORE_INDEX",
]

#: The true line of lessons 02 and 06: ``y = X @ TRUE_WEIGHTS + TRUE_BIAS + noise``.
TRUE_WEIGHTS: tuple[float, float] = (2.0, -3.4)
TRUE_BIAS: float = 4.2


class Split(NamedTuple):
    """A train/test split; unpacks like scikit-learn's ``train_test_split``."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def three_points() -> tuple[np.ndarray, np.ndarray]:
    """The three points of lesson 01: (1, 1), (2, 2), (3, 3).

    Returns
    -------
    x : ndarray of shape (3,)
    y : ndarray of shape (3,)
        ``y == x``: the best line through the origin has slope 1.
    """
    x = np.array([1.0, 2.0, 3.0], dtype=np.float64)
    return x, x.copy()


def linear_data(
    n_samples: int = 1000,
    *,
    weights: Sequence[float] = TRUE_WEIGHTS,
    bias: float = TRUE_BIAS,
    noise: float = 0.01,
    random_state: RandomState = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``y = X @ weights + bias + noise`` with standard normal features.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows, at least 1.
    weights : sequence of float of length n_features, default=(2.0, -3.4)
        The true weights (:data:`TRUE_WEIGHTS`).
    bias : float, default=4.2
        The true intercept (:data:`TRUE_BIAS`).
    noise : float, default=0.01
        Standard deviation of the Gaussian noise added to ``y`` (>= 0).
    random_state : int, Generator or None, default=None
        Seed or generator of the features and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    """
    n_samples = check_int("n_samples", n_samples)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D sequence, got shape {w.shape}")
    bias = check_number("bias", bias)
    noise = check_number("noise", noise, low=0.0)
    rng = as_generator(random_state)
    X = rng.standard_normal((n_samples, w.size), dtype=np.float64)
    y = X @ w + bias + noise * rng.standard_normal(n_samples, dtype=np.float64)
    return X, y


def spiral(
    n_per_class: int = 100,
    *,
    n_classes: int = 3,
    noise: float = 0.2,
    random_state: RandomState = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class, with the geometry of ``nnfs.datasets.spiral_data``.

    Along arm ``c`` the radius grows evenly from 0 to 1 while the angle parameter runs from
    ``4c`` to ``4(c + 1)`` plus Gaussian noise of standard deviation ``noise``; a point is
    ``r * (sin(2.5 t), cos(2.5 t))``. Unlike nnfs, the noise comes from a seeded Generator
    and no global state is touched.

    Parameters
    ----------
    n_per_class : int, default=100
        Points per class, at least 2.
    n_classes : int, default=3
        Number of arms, at least 2.
    noise : float, default=0.2
        Standard deviation of the angle noise (>= 0); nnfs uses 0.2.
    random_state : int, Generator or None, default=None
        Seed or generator of the noise.

    Returns
    -------
    X : ndarray of shape (n_per_class * n_classes, 2)
    y : ndarray of shape (n_per_class * n_classes,), dtype int64
        Class ``c`` occupies rows ``c * n_per_class`` to ``(c + 1) * n_per_class - 1``.
    """
    n_per_class = check_int("n_per_class", n_per_class, minimum=2)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    noise = check_number("noise", noise, low=0.0)
    rng = as_generator(random_state)
    radius = np.linspace(0.0, 1.0, n_per_class, dtype=np.float64)
    X = np.empty((n_per_class * n_classes, 2), dtype=np.float64)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    for c in range(n_classes):
        t = np.linspace(4.0 * c, 4.0 * (c + 1), n_per_class, dtype=np.float64)
        t = t + noise * rng.standard_normal(n_per_class, dtype=np.float64)
        rows = slice(c * n_per_class, (c + 1) * n_per_class)
        X[rows, 0] = radius * np.sin(2.5 * t)
        X[rows, 1] = radius * np.cos(2.5 * t)
    return X, y


def spiral_bayes_predict(
    X: np.ndarray, *, n_classes: int = 3, noise: float = 0.2
) -> np.ndarray:
    """The Bayes-optimal class of each point under :func:`spiral`'s generating process.

    A point ``r * (sin 2.5t, cos 2.5t)`` of arm ``c`` has ``t = 4c + 4r + noise * N(0, 1)``.
    From the point's radius ``r`` and angle ``phi``, every ``t`` with ``2.5 t = phi (mod 2π)``
    could have produced it; the likelihood of arm ``c`` sums the Gaussian density of each such
    ``t`` around ``4c + 4r``, and the most likely arm wins. Its accuracy is the ceiling no
    classifier can beat on spiral data.

    Parameters
    ----------
    X : ndarray of shape (n_points, 2)
    n_classes : int, default=3
    noise : float, default=0.2
        The ``noise`` the data were drawn with (> 0).

    Returns
    -------
    ndarray of shape (n_points,), dtype int64
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n_points, 2), got {X.shape}")
    n_classes = check_int("n_classes", n_classes, minimum=2)
    noise = check_number("noise", noise, low=0.0, low_open=True)
    radius = np.hypot(X[:, 0], X[:, 1])
    angle = np.arctan2(X[:, 0], X[:, 1])  # points are r * (sin 2.5t, cos 2.5t)
    # Turns of 2π enough to reach every t within 8 standard deviations of an arm.
    t_low, t_high = -8.0 * noise, 4.0 * n_classes + 8.0 * noise
    turns = np.arange(np.floor((2.5 * t_low - np.pi) / (2 * np.pi)),
                      np.ceil((2.5 * t_high + np.pi) / (2 * np.pi)) + 1, dtype=np.float64)
    t = (angle[:, None] + 2 * np.pi * turns[None, :]) / 2.5  # (n_points, turns) candidates
    likelihood = np.stack([
        np.exp(-0.5 * ((t - 4 * c - 4 * radius[:, None]) / noise) ** 2).sum(axis=1)
        for c in range(n_classes)], axis=1)
    return likelihood.argmax(axis=1).astype(np.int64)


def circles(
    n_samples: int = 10_000,
    *,
    noise: float = 0.05,
    factor: float = 0.8,
    test_size: float = 0.33,
    random_state: RandomState = None,
) -> Split:
    """Two concentric circles (scikit-learn's ``make_circles``), split into train and test.

    Parameters
    ----------
    n_samples : int, default=10_000
        Points in total, at least 4; half on each circle.
    noise : float, default=0.05
        Standard deviation of the Gaussian noise added to every coordinate (>= 0).
    factor : float, default=0.8
        Radius of the inner circle, in the open range (0, 1); the outer one has radius 1.
    test_size : float, default=0.33
        Fraction of the points held out, in the open range (0, 1).
    random_state : int, Generator or None, default=None
        Seeds both the points and the split: an int seed is passed to scikit-learn as it is
        (``random_state=26`` is lesson 07's data); a Generator or None is drawn from once.

    Returns
    -------
    Split of X_train (n_train, 2), X_test (n_test, 2), y_train (n_train,), y_test (n_test,)
        Features float64; labels int64, 0 (outer circle) and 1 (inner circle).
    """
    n_samples = check_int("n_samples", n_samples, minimum=4)
    noise = check_number("noise", noise, low=0.0)
    factor = check_fraction("factor", factor)
    test_size = check_fraction("test_size", test_size)
    seed = as_seed(random_state)
    from sklearn import datasets as _sk_datasets  # scikit-learn loads in 1.5 s: only here
    from sklearn.model_selection import train_test_split

    X, y = _sk_datasets.make_circles(
        n_samples=n_samples, noise=noise, factor=factor, random_state=seed
    )
    X, y = X.astype(np.float64, copy=False), y.astype(np.int64, copy=False)
    return Split(*train_test_split(X, y, test_size=test_size, random_state=seed))


def standardise(X_fit: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Standardise every column with the mean and deviation of ``X_fit`` alone.

    Parameters
    ----------
    X_fit : ndarray of shape (n_fit, n_features)
        The rows the statistics are computed from: the rows a model is fitted on, never the
        ones it is validated or tested on.
    *others : ndarray of shape (n_rows, n_features)
        Further rows (validation, test) scaled with ``X_fit``'s statistics.

    Returns
    -------
    tuple of ndarray, float64
        ``X_fit`` standardised, then each of ``others`` in order. A column constant in
        ``X_fit`` (the digits' blank corner pixels) is only centred: its deviation counts as 1.
    """
    fit = np.asarray(X_fit, dtype=np.float64)
    if fit.ndim != 2 or len(fit) == 0:
        raise ValueError(f"X_fit must have shape (n_fit, n_features) with n_fit >= 1, "
                         f"got {fit.shape}")
    rest = [np.asarray(X, dtype=np.float64) for X in others]
    for k, X in enumerate(rest):
        if X.ndim != 2 or X.shape[1] != fit.shape[1]:
            raise ValueError(f"others[{k}] must have shape (n_rows, {fit.shape[1]}) like "
                             f"X_fit, got {X.shape}")
    mean = fit.mean(axis=0)
    std = fit.std(axis=0)
    std[std == 0.0] = 1.0
    return tuple((X - mean) / std for X in (fit, *rest))


def _standardised_split(
    X: np.ndarray, y: np.ndarray, test_size: float, random_state: RandomState, raw: bool
) -> Split:
    check_fraction("test_size", test_size)
    seed = as_seed(random_state)
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    if raw:
        return Split(X_train, X_test, y_train, y_test)
    # Statistics of the training split only: the test set must not leak into training.
    X_train, X_test = standardise(X_train, X_test)
    return Split(X_train, X_test, y_train, y_test)


def load_digits(
    *, test_size: float = 0.25, random_state: RandomState = 0, raw: bool = False
) -> Split:
    """scikit-learn's bundled 8×8 handwritten digits, split (stratified) and standardised.

    Parameters
    ----------
    test_size : float, default=0.25
        Fraction held out, in the open range (0, 1).
    random_state : int, Generator or None, default=0
        Seed or generator of the split.
    raw : bool, default=False
        Return the grey levels (0 to 16) through the same split, unstandardised: for pictures,
        or to standardise a part of the training split with :func:`standardise`.

    Returns
    -------
    Split of X_train (n_train, 64), X_test (n_test, 64), y_train, y_test with labels 0..9
        Features are standardised with the mean and deviation of the training split (unless
        ``raw``).
    """
    from sklearn import datasets as _sk_datasets

    X, y = _sk_datasets.load_digits(return_X_y=True)
    return _standardised_split(X.astype(np.float64), y.astype(np.int64), test_size, random_state,
                               raw)


def load_breast_cancer(*, test_size: float = 0.25, random_state: RandomState = 0) -> Split:
    """scikit-learn's bundled Wisconsin breast-cancer data, split (stratified) and standardised.

    Parameters
    ----------
    test_size : float, default=0.25
        Fraction held out, in the open range (0, 1).
    random_state : int, Generator or None, default=0
        Seed or generator of the split.

    Returns
    -------
    Split of X_train (n_train, 30), X_test (n_test, 30), y_train, y_test with labels 0/1
        1 is benign, 0 malignant (scikit-learn's coding).
    """
    from sklearn import datasets as _sk_datasets

    X, y = _sk_datasets.load_breast_cancer(return_X_y=True)
    return _standardised_split(X.astype(np.float64), y.astype(np.int64), test_size, random_state,
                               raw=False)


def batches(
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool = True,
    random_state: RandomState = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Mini-batches covering every row once (one epoch), as an iterator.

    The arguments are checked, and the order drawn, when ``batches`` is called, not at the
    first ``next()``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
    y : ndarray of shape (n_samples, ...)
    batch_size : int
        Rows per batch, at least 1; the last batch holds the remainder.
    shuffle : bool, default=True
        Visit rows in a random order drawn from ``random_state``.
    random_state : int, Generator or None, default=None
        Seed or generator of the order.

    Yields
    ------
    X_batch : ndarray of shape (batch, ...)
    y_batch : ndarray of shape (batch, ...)
    """
    X = np.asarray(X)
    y = np.asarray(y)
    n = check_same_rows(X, y)
    batch_size = check_int("batch_size", batch_size)
    order = as_generator(random_state).permutation(n) if shuffle else np.arange(n, dtype=np.int64)
    return slice_batches(X, y, order, batch_size)


class SupportsRows(Protocol):
    """An array indexed by an array of row numbers: a NumPy array or a torch tensor."""

    def __getitem__(self, rows: Any, /) -> Any: ...


ArrayT = TypeVar("ArrayT", bound=SupportsRows)


def slice_batches(
    X: ArrayT, y: ArrayT, order: Any, batch_size: int
) -> Iterator[tuple[ArrayT, ArrayT]]:
    """The rows of ``X`` and ``y`` in ``order`` (a 1-D array of row numbers), ``batch_size``
    at a time, the last batch holding the remainder: the one loop behind :func:`batches` and
    :func:`coursekit.pytorch.tensor_batches` (NumPy arrays or tensors alike)."""
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        yield X[rows], y[rows]


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Number of mini-batches in one epoch: ``ceil(n_samples / batch_size)``."""
    n_samples = check_int("n_samples", n_samples)
    batch_size = check_int("batch_size", batch_size)
    return -(-n_samples // batch_size)
