"""Data sets of the course, shaped like scikit-learn's generators and all seeded.

Every function that draws random numbers takes ``random_state``: an ``int`` seed, a
``numpy.random.Generator`` (which it advances), or ``None`` for fresh entropy. Nothing here
touches NumPy's global random state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
from sklearn import datasets as _sk_datasets
from sklearn.model_selection import train_test_split

RandomState = int | np.random.Generator | None


class Split(NamedTuple):
    """A train/test split; unpacks like scikit-learn's ``train_test_split``."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def as_generator(random_state: RandomState) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for a seed, a Generator or ``None``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, int | np.integer) and not isinstance(random_state, bool)
    ):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        return np.random.default_rng(random_state)
    raise ValueError(
        "random_state must be an int, a numpy.random.Generator or None, "
        f"got {type(random_state).__name__}"
    )


def _seed_for_sklearn(random_state: RandomState) -> int:
    """scikit-learn wants an int or a RandomState; derive an int from our generator."""
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        as_generator(random_state)  # validates the seed
        return int(random_state)
    return int(as_generator(random_state).integers(2**31 - 1))


def _check_positive_int(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be in the open range (0, 1), got {value!r}")


def three_points() -> tuple[np.ndarray, np.ndarray]:
    """The three points of lesson 01: (1, 1), (2, 2), (3, 3).

    Returns
    -------
    x : ndarray of shape (3,)
    y : ndarray of shape (3,)
        ``y == x``: the best line through the origin has slope 1.
    """
    x = np.array([1.0, 2.0, 3.0])
    return x, x.copy()


def linear_data(
    n_samples: int = 1000,
    *,
    weights: Sequence[float] = (2.0, -3.4),
    bias: float = 4.2,
    noise: float = 0.01,
    random_state: RandomState = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``y = X @ weights + bias + noise`` with standard normal features.

    Parameters
    ----------
    n_samples : int
        Number of rows, at least 1.
    weights : sequence of float of length n_features
        The true weights.
    bias : float
        The true intercept.
    noise : float
        Standard deviation of the Gaussian noise added to ``y`` (>= 0).
    random_state : int, Generator or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    """
    _check_positive_int("n_samples", n_samples)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D sequence, got shape {w.shape}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = as_generator(random_state)
    X = rng.standard_normal((n_samples, w.size))
    y = X @ w + bias + noise * rng.standard_normal(n_samples)
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
    n_per_class : int
        Points per class, at least 2.
    n_classes : int
        Number of arms, at least 2.
    noise : float
        Standard deviation of the angle noise (>= 0); nnfs uses 0.2.
    random_state : int, Generator or None

    Returns
    -------
    X : ndarray of shape (n_per_class * n_classes, 2)
    y : ndarray of shape (n_per_class * n_classes,), dtype int64
        Class ``c`` occupies rows ``c * n_per_class`` to ``(c + 1) * n_per_class - 1``.
    """
    _check_positive_int("n_per_class", n_per_class, minimum=2)
    _check_positive_int("n_classes", n_classes, minimum=2)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = as_generator(random_state)
    radius = np.linspace(0.0, 1.0, n_per_class)
    X = np.empty((n_per_class * n_classes, 2))
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    for c in range(n_classes):
        t = np.linspace(4.0 * c, 4.0 * (c + 1), n_per_class)
        t = t + noise * rng.standard_normal(n_per_class)
        rows = slice(c * n_per_class, (c + 1) * n_per_class)
        X[rows, 0] = radius * np.sin(2.5 * t)
        X[rows, 1] = radius * np.cos(2.5 * t)
    return X, y


def circles(
    n_samples: int = 10_000,
    *,
    noise: float = 0.05,
    factor: float = 0.8,
    test_size: float = 0.33,
    random_state: int = 26,
) -> Split:
    """Two concentric circles (scikit-learn's ``make_circles``) with a seeded split.

    The defaults are the split lesson 07 uses: 10,000 points, noise 0.05, a third held out,
    both the data and the split seeded with 26.

    Returns
    -------
    Split of X_train (n_train, 2), X_test (n_test, 2), y_train (n_train,), y_test (n_test,)
        Labels are 0 (outer circle, radius 1) and 1 (inner circle, radius ``factor``).
    """
    _check_positive_int("n_samples", n_samples, minimum=4)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    _check_fraction("factor", factor)
    _check_fraction("test_size", test_size)
    seed = _seed_for_sklearn(random_state)
    X, y = _sk_datasets.make_circles(
        n_samples=n_samples, noise=noise, factor=factor, random_state=seed
    )
    return Split(*train_test_split(X, y, test_size=test_size, random_state=seed))


def _standardised_split(
    X: np.ndarray, y: np.ndarray, test_size: float, random_state: RandomState
) -> Split:
    _check_fraction("test_size", test_size)
    seed = _seed_for_sklearn(random_state)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    # Statistics of the training split only: the test set must not leak into training.
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0  # constant columns (digits' blank corner pixels) stay at 0
    return Split((X_train - mean) / std, (X_test - mean) / std, y_train, y_test)


def load_digits(*, test_size: float = 0.25, random_state: RandomState = 0) -> Split:
    """scikit-learn's bundled 8×8 handwritten digits, split (stratified) and standardised.

    Returns
    -------
    Split of X_train (n_train, 64), X_test (n_test, 64), y_train, y_test with labels 0..9
        Features are standardised with the mean and deviation of the training split.
    """
    X, y = _sk_datasets.load_digits(return_X_y=True)
    return _standardised_split(X.astype(np.float64), y.astype(np.int64), test_size, random_state)


def load_breast_cancer(*, test_size: float = 0.25, random_state: RandomState = 0) -> Split:
    """scikit-learn's bundled Wisconsin breast-cancer data, split (stratified) and standardised.

    Returns
    -------
    Split of X_train (n_train, 30), X_test (n_test, 30), y_train, y_test with labels 0/1
        1 is benign, 0 malignant (scikit-learn's coding).
    """
    X, y = _sk_datasets.load_breast_cancer(return_X_y=True)
    return _standardised_split(X.astype(np.float64), y.astype(np.int64), test_size, random_state)


def batches(
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool = True,
    random_state: RandomState = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield mini-batches covering every row once (one epoch).

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
    y : ndarray of shape (n_samples, ...)
    batch_size : int
        Rows per batch, at least 1; the last batch holds the remainder.
    shuffle : bool
        Visit rows in a random order drawn from ``random_state``.

    Yields
    ------
    X_batch : ndarray of shape (batch, ...)
    y_batch : ndarray of shape (batch, ...)
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise ValueError(
            f"X and y need the same number of rows, got shapes {X.shape} and {y.shape}"
        )
    _check_positive_int("batch_size", batch_size)
    order = as_generator(random_state).permutation(len(X)) if shuffle else np.arange(len(X))
    for start in range(0, len(X), batch_size):
        rows = order[start : start + batch_size]
        yield X[rows], y[rows]


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Number of mini-batches in one epoch: ``ceil(n_samples / batch_size)``."""
    _check_positive_int("n_samples", n_samples)
    _check_positive_int("batch_size", batch_size)
    return -(-n_samples // batch_size)
