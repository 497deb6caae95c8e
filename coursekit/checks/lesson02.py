"""Checks for lesson 02, linear regression from scratch in NumPy.

The model is ŷ = Xw + b and the loss the mean squared error L = (1/N) Σ (ŷ_i − y_i)².
With the residual r = ŷ − y its gradient is ∂L/∂w = (2/N) Xᵀr and ∂L/∂b = (2/N) Σ r_i.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._legacy import (
    call,
    close,
    describe,
    expect_array,
    expect_scalar,
    fail,
    passed,
)
from coursekit.data import batches, steps_per_epoch


def reference_loss(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """L = mean((Xw + b − y)²) for X (N, d), y (N,), w (d,)."""
    return float(np.mean((X @ w + b - y) ** 2))


def reference_gradient(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float
) -> tuple[np.ndarray, float]:
    """(∂L/∂w of shape (d,), ∂L/∂b) of the mean squared error."""
    residual = X @ w + b - y
    return 2.0 * X.T @ residual / len(y), float(2.0 * residual.mean())


def reference_sgd_epoch(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    b: float,
    *,
    lr: float,
    batch_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float, list[float]]:
    """One epoch of mini-batch SGD over ``coursekit.data.batches(..., random_state=rng)``.

    Returns the new w of shape (d,), the new b, and the loss of each batch measured before
    its update (``ceil(N / batch_size)`` values).
    """
    return _epoch(X, y, w, b, lr=lr, batch_size=batch_size, rng=rng)


def _epoch(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    b: float,
    *,
    lr: float,
    batch_size: int,
    rng: np.random.Generator,
    shuffle: bool = True,
    direction: float = -1.0,
    full_gradient: bool = False,
) -> tuple[np.ndarray, float, list[float]]:
    """The reference epoch, or a known mistake: no shuffling, stepping up the gradient, or
    taking the gradient on the full data instead of the batch."""
    w = np.array(w, dtype=np.float64)
    losses = []
    for X_batch, y_batch in batches(X, y, batch_size=batch_size, shuffle=shuffle,
                                    random_state=rng):
        losses.append(reference_loss(X_batch, y_batch, w, b))
        if full_gradient:
            dw, db = reference_gradient(X, y, w, b)
        else:
            dw, db = reference_gradient(X_batch, y_batch, w, b)
        w = w + direction * lr * dw
        b = b + direction * lr * db
    return w, float(b), losses


def _cases(seed: int, n: int = 5) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        n_samples, n_features = int(rng.integers(3, 12)), int(rng.integers(1, 5))
        X = rng.normal(size=(n_samples, n_features))
        y = X @ rng.normal(size=n_features) + rng.normal() + 0.1 * rng.normal(size=n_samples)
        cases.append((X, y, rng.normal(size=n_features), float(rng.normal())))
    return cases


def _pair(exercise: str, value: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise fail(exercise, f"{what}: expected a pair (dw, db), got {describe(value)}")
    return value[0], value[1]


def mse_gradient(
    gradient: Callable[[np.ndarray, np.ndarray, np.ndarray, float], tuple[np.ndarray, float]],
) -> None:
    """Check ``gradient(X, y, w, b)`` returns (∂L/∂w, ∂L/∂b) of the mean squared error."""
    exercise = "02-mse-gradient"
    cases = _cases(seed=201)
    for X, y, w, b in cases:
        n, d = X.shape
        dw, db = _pair(exercise, call(exercise, gradient, X.copy(), y.copy(), w.copy(), b),
                       f"for X of shape {X.shape}")
        got_w = expect_array(exercise, np.asarray(dw) if isinstance(dw, list) else dw, (d,),
                             f"dw for X of shape {X.shape}")
        got_b = expect_scalar(exercise, db, f"db for X of shape {X.shape}")
        want_w, want_b = reference_gradient(X, y, w, b)
        if close(got_w, want_w) and close(got_b, want_b):
            continue
        where = (f"for X of shape {X.shape}, dw should be {np.round(want_w, 4)} and db "
                 f"{want_b:.4f}, got {np.round(got_w, 4)} and {got_b:.4f}")
        residual = X @ w + b - y
        if close(got_w, -want_w) and close(got_b, -want_b):
            raise fail(exercise, f"{where}: check the sign (the residual is ŷ − y, not y − ŷ)")
        if close(got_w, want_w / 2) and close(got_b, want_b / 2):
            raise fail(exercise, f"{where}: missing the factor 2 from differentiating the "
                       "square")
        if close(got_w, want_w * n) and close(got_b, want_b * n):
            raise fail(exercise, f"{where}: that is the gradient of the sum; divide by the "
                       f"number of samples N={n} (the loss is a mean)")
        if close(got_w, np.full(d, 2.0 * residual.mean())):
            raise fail(exercise, f"{where}: every entry of dw equals db, so the features are "
                       "missing: ∂L/∂w = (2/N)·Xᵀ(ŷ − y)")
        if want_b != 0.0 and got_b / want_b > 0.0:
            factor = got_b / want_b
            if not close(factor, 1.0) and close(got_w, want_w * factor) \
                    and close(got_b, want_b * factor):
                raise fail(exercise, f"{where}: dw and db are both {factor:.4g} times the right "
                           f"values, as if divided by {n / factor:.4g} samples; this call has "
                           f"N={n}: divide by the number of samples in this call, len(y)")
        if close(got_w, want_w) and close(got_b, 2.0 * residual.sum()):
            raise fail(exercise, f"{where}: dw is right; db is the sum of 2·r, divide by N={n}")
        if close(got_w, want_w):
            raise fail(exercise, f"{where}: dw is right, db is not: ∂L/∂b = (2/N)·Σ(ŷ − y)")
        raise fail(exercise, where)
    passed(exercise, f"dw and db match (2/N)·Xᵀ(ŷ − y) and (2/N)·Σ(ŷ − y) on {len(cases)} "
           "cases")


def sgd_epoch(epoch: Callable[..., tuple[np.ndarray, float, list[float]]]) -> None:
    """Check ``epoch(X, y, w, b, lr=, batch_size=, rng=)`` runs one epoch of mini-batch SGD.

    The student's function must visit the batches of
    ``coursekit.data.batches(X, y, batch_size=batch_size, random_state=rng)`` in order, record
    each batch's loss before its update, and return ``(w, b, losses)``.
    """
    exercise = "02-sgd-epoch"
    runs = [(40, 10, 0.05), (37, 8, 0.1), (25, 25, 0.2), (12, 1, 0.02)]
    rng = np.random.default_rng(202)
    for n, batch_size, lr in runs:
        X = rng.normal(size=(n, 2))
        y = X @ np.array([2.0, -3.4]) + 4.2 + 0.01 * rng.normal(size=n)
        w0, b0 = rng.normal(size=2), float(rng.normal())
        seed = int(rng.integers(1_000_000))
        raw = call(exercise, epoch, X.copy(), y.copy(), w0.copy(), b0, lr=lr,
                   batch_size=batch_size, rng=np.random.default_rng(seed))
        if not isinstance(raw, tuple | list) or len(raw) != 3:
            raise fail(exercise, f"expected a triple (w, b, losses), got {describe(raw)}")
        w_new, b_new, losses = raw
        if isinstance(w_new, list):
            w_new = np.asarray(w_new)
        got_w = expect_array(exercise, w_new, (2,), "the returned w")
        got_b = expect_scalar(exercise, b_new, "the returned b")
        steps = steps_per_epoch(n, batch_size)
        run = f"with {n} samples, batch_size={batch_size}"
        if not isinstance(losses, list | tuple | np.ndarray) or len(losses) != steps:
            count = len(losses) if hasattr(losses, "__len__") else describe(losses)
            raise fail(exercise, f"{run} an epoch has {steps} steps (the last batch holds the "
                       f"remainder), so losses should hold {steps} values, got {count}")
        try:
            loss_shape = np.asarray(losses, dtype=np.float64).shape
        except (TypeError, ValueError):
            loss_shape = None
        if loss_shape != (steps,):
            got_shape = "entries of different sizes" if loss_shape is None else loss_shape
            raise fail(exercise, f"{run}: losses should be {steps} plain floats, shape "
                       f"({steps},), got {got_shape}: append float(loss), one number per batch")
        want_w, want_b, want_losses = reference_sgd_epoch(
            X, y, w0, b0, lr=lr, batch_size=batch_size, rng=np.random.default_rng(seed))
        if close(got_w, want_w) and close(got_b, want_b) and close(losses, want_losses):
            continue
        if close(got_w, w0) and close(got_b, b0):
            raise fail(exercise, f"{run}: w and b came back unchanged: return the updated "
                       "parameters")
        if close(got_w, want_w) and close(got_b, want_b):
            raise fail(exercise, f"{run}: w and b are right but the losses are not: record "
                       "each batch's loss before its update, on that batch")
        unshuffled = _epoch(X, y, w0, b0, lr=lr, batch_size=batch_size,
                            rng=np.random.default_rng(seed), shuffle=False)
        if close(got_w, unshuffled[0]) and close(got_b, unshuffled[1]):
            raise fail(exercise, f"{run}: these are the batches in the data's own order; "
                       "shuffle them with data.batches(..., random_state=rng)")
        uphill = _epoch(X, y, w0, b0, lr=lr, batch_size=batch_size,
                        rng=np.random.default_rng(seed), direction=1.0)
        if close(got_w, uphill[0]) and close(got_b, uphill[1]):
            raise fail(exercise, f"{run}: the parameters moved up the gradient; step against "
                       "it: w − lr·dw, b − lr·db")
        full = _epoch(X, y, w0, b0, lr=lr, batch_size=batch_size,
                      rng=np.random.default_rng(seed), full_gradient=True)
        if close(got_w, full[0]) and close(got_b, full[1]):
            raise fail(exercise, f"{run}: each step used the gradient of the full X, y; compute "
                       "it on the batch: mse_gradient(X_batch, y_batch, w, b)")
        if close(got_b, b0):
            raise fail(exercise, f"{run}: b never changed: update it with b − lr·db too")
        if batch_size < n:
            # Same rng seed twice, then another seed: a function that uses the rng it is given
            # repeats itself exactly in the first case and not in the second.
            again = call(exercise, epoch, X.copy(), y.copy(), w0.copy(), b0, lr=lr,
                         batch_size=batch_size, rng=np.random.default_rng(seed))
            other = call(exercise, epoch, X.copy(), y.copy(), w0.copy(), b0, lr=lr,
                         batch_size=batch_size, rng=np.random.default_rng(seed + 1))
            same_seed_differs = not close(np.asarray(again[0], dtype=np.float64), got_w)
            other_seed_equal = close(np.asarray(other[0], dtype=np.float64), got_w)
            if same_seed_differs or other_seed_equal:
                raise fail(exercise, f"{run}: your batches do not come from the rng argument "
                           "(the same rng gave " + ("different batches" if same_seed_differs
                                                    else "the same batches as another rng")
                           + "): pass random_state=rng to data.batches")
        raise fail(exercise, f"{run}, lr={lr:g}: expected w={np.round(want_w, 4)}, "
                   f"b={want_b:.4f}, got w={np.round(got_w, 4)}, b={got_b:.4f}")
    passed(exercise, f"one epoch of mini-batch SGD matches on {len(runs)} runs")
