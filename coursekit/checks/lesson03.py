"""Checks for lesson 03, layers from scratch.

Backward passes take the upstream gradient ``dout`` = dL/d(output) and return dL/d(input):

- Dense, ``out = x @ W + b``: dx = dout @ Wᵀ, dW = xᵀ @ dout, db = Σ_batch dout;
- ReLU, ``out = max(0, x)``: dx = dout · [x > 0] (the 0/1 mask, never x itself);
- softmax followed by the mean categorical cross-entropy, fused: dL/dz = (p − onehot) / N.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._legacy import (
    ExerciseFailed,
    call,
    close,
    describe,
    expect_array,
    fail,
    passed,
)


def reference_dense_backward(
    x: np.ndarray, W: np.ndarray, dout: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``x @ W + b``.

    x (N, n_in), W (n_in, n_out), dout (N, n_out) -> dx (N, n_in), dW (n_in, n_out), db (n_out,).
    """
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def reference_relu_backward(x: np.ndarray, dout: np.ndarray) -> np.ndarray:
    """x and dout of the same shape -> dx = dout where x > 0, else 0."""
    return dout * (x > 0)


def reference_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of z (N, C), shifted by the row maximum so exp never overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference_softmax_ce_gradient(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dz of L = mean_i −log softmax(z_i)[y_i]: (softmax(z) − onehot(y)) / N, shape (N, C)."""
    n, n_classes = z.shape
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    return (reference_softmax(z) - onehot) / n


# ---- 03-dense-backward ----


def _triple(exercise: str, value: Any, names: str) -> tuple[Any, Any, Any]:
    if not isinstance(value, tuple | list) or len(value) != 3:
        raise fail(exercise, f"expected a triple ({names}), got {describe(value)}")
    return value[0], value[1], value[2]


def dense_backward(
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[Any, Any, Any]],
) -> None:
    """Check ``backward(x, W, dout)`` returns ``(dx, dW, db)`` of ``out = x @ W + b``."""
    exercise = "03-dense-backward"
    rng = np.random.default_rng(301)
    shapes = [(5, 3, 4), (7, 2, 6), (1, 4, 3), (6, 6, 2)]  # (N, n_in, n_out), all distinct first
    for n, n_in, n_out in shapes:
        x = rng.normal(size=(n, n_in))
        W = rng.normal(size=(n_in, n_out))
        dout = rng.normal(size=(n, n_out))
        dx, dW, db = _triple(exercise, call(exercise, backward, x.copy(), W.copy(), dout.copy()),
                             "dx, dW, db")
        where = f"x {x.shape}, W {W.shape}"
        want_dx, want_dW, want_db = reference_dense_backward(x, W, dout)
        if isinstance(dx, np.ndarray) and isinstance(dW, np.ndarray) \
                and dx.shape == want_dW.shape and dW.shape == want_dx.shape \
                and close(dx, want_dW) and close(dW, want_dx):
            raise fail(exercise, f"{where}: your first array is dW and your second is dx: the "
                       "return order is (dx, dW, db)")
        if isinstance(db, np.ndarray) and db.shape == (n, n_out) and n > 1:
            raise fail(exercise, f"{where}: db has shape {db.shape}, one row per sample; the bias "
                       "is shared by every sample, so sum dout over the batch axis (axis=0)")
        got_dx = expect_array(exercise, dx, (n, n_in), f"{where}: dx")
        got_dW = expect_array(exercise, dW, (n_in, n_out), f"{where}: dW")
        got_db = expect_array(exercise, db, (n_out,), f"{where}: db")
        if not close(got_dx, want_dx):
            raise fail(exercise, f"{where}: dx is wrong: each input feeds every output through "
                       "W, so dx = dout @ W.T")
        if not close(got_dW, want_dW):
            if close(got_dW, want_dW / n) and n > 1:
                raise fail(exercise, f"{where}: dW is divided by N={n}; the 1/N of the mean loss "
                           "is already inside dout, so dW = x.T @ dout with no extra factor")
            raise fail(exercise, f"{where}: dW is wrong: dW[i, j] = Σ_n x[n, i]·dout[n, j], "
                       "i.e. x.T @ dout")
        if not close(got_db, want_db):
            if close(got_db, want_db / n) and n > 1:
                raise fail(exercise, f"{where}: db is the mean of dout over the batch; it is the "
                           "sum (the 1/N is already inside dout)")
            raise fail(exercise, f"{where}: db should be dout summed over the batch axis")
    passed(exercise, f"dx, dW and db match on {len(shapes)} layer shapes")


# ---- 03-relu-backward ----


def relu_backward(backward: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """Check ``backward(x, dout)`` returns dout masked by ``x > 0``."""
    exercise = "03-relu-backward"
    rng = np.random.default_rng(302)
    for shape in [(4, 5), (3, 1), (6, 3)]:
        x = rng.normal(size=shape) * 2.0
        x[0, 0] = 0.0  # exactly at the kink: ReLU's convention is slope 0 there
        dout = rng.normal(size=shape)
        got = expect_array(exercise, call(exercise, backward, x.copy(), dout.copy()), shape,
                           f"dx for x of shape {shape}")
        want = reference_relu_backward(x, dout)
        if close(got, want):
            continue
        positive = x > 0
        if close(got, dout * x * positive) or close(got, dout * np.maximum(x, 0)):
            raise fail(exercise, "dx is dout times the input: the slope of max(0, x) is 1 where "
                       "x > 0 and 0 elsewhere, so multiply by the 0/1 mask (x > 0), not by x")
        if close(got, positive.astype(float)):
            raise fail(exercise, "dx is the mask alone: multiply it by the upstream gradient dout")
        if close(got, np.maximum(dout, 0)):
            raise fail(exercise, "that is ReLU applied to dout; the mask comes from the forward "
                       "input x: dout * (x > 0)")
        if close(got, dout):
            raise fail(exercise, "dx equals dout everywhere: where x <= 0 no gradient flows back "
                       "(the output did not depend on x there)")
        if close(got, dout * (x >= 0)):
            raise fail(exercise, "at x = 0 exactly you let the gradient through; ReLU's convention "
                       "(and PyTorch's) is slope 0 there: use x > 0")
        raise fail(exercise, f"dx for x of shape {shape} differs from dout * (x > 0)")
    passed(exercise, "dx = dout · [x > 0] on 3 arrays, the kink at x = 0 included")


# ---- 03-softmax-ce-gradient ----


def softmax_ce_gradient(gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """Check ``gradient(z, y)`` returns (softmax(z) − onehot(y)) / N for logits z (N, C)."""
    exercise = "03-softmax-ce-gradient"
    rng = np.random.default_rng(303)
    cases = []
    for n, n_classes in [(6, 3), (5, 4), (8, 2)]:
        y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])
        cases.append(("", rng.normal(size=(n, n_classes)) * 2.0, rng.permutation(y)))
    # A mini-batch that happens to hold no sample of the last classes.
    cases.append((" (a batch with no sample of classes 2 and 3)", rng.normal(size=(4, 4)),
                  np.array([0, 1, 1, 0])))
    # Logits of a confident network: exp(800) overflows unless the row maximum is subtracted.
    cases.append((" (logits around ±800)", rng.normal(size=(3, 3)) * 800.0, np.array([2, 0, 1])))
    for note, z, y in cases:
        n, n_classes = z.shape
        where = f"z of shape {z.shape}{note}"
        with np.errstate(all="ignore"):  # an unstable softmax is reported below, not warned
            try:
                raw = call(exercise, gradient, z.copy(), y.copy())
            except ExerciseFailed as exc:
                cause = exc.__cause__
                if note.startswith(" (a batch") and cause is not None:
                    raise fail(exercise, f"{where}: your function raised "
                               f"{type(cause).__name__}: {cause}. Build the one-hot matrix with "
                               "z.shape[1] columns, not from the classes present in this "
                               "batch") from exc
                raise
        if isinstance(raw, np.ndarray) and raw.ndim == 2 and raw.shape[0] == n \
                and raw.shape[1] < n_classes:
            raise fail(exercise, f"{where}: expected shape {z.shape}, got {raw.shape}: build the "
                       "one-hot matrix with z.shape[1] columns, not from the classes present "
                       "in this batch")
        got = expect_array(exercise, raw, (n, n_classes), f"gradient for {where}")
        want = reference_softmax_ce_gradient(z, y)
        if not np.all(np.isfinite(got)):
            raise fail(exercise, f"{where}: the gradient contains nan or inf: exp overflowed. "
                       "Subtract each row's maximum from z before exp (softmax is unchanged)")
        if close(got, want, atol=1e-10):
            continue
        p = reference_softmax(z)
        onehot = np.eye(n_classes)[y]
        if close(got, want * n):
            raise fail(exercise, f"{where}: this is N={n} times too large: the loss is a mean "
                       "over the batch, so divide p − onehot by N")
        if close(got, -want):
            raise fail(exercise, f"{where}: check the sign: the gradient is p − onehot")
        if close(got, (z - onehot) / n) or close(got, z - onehot):
            raise fail(exercise, f"{where}: you used the logits z where the softmax "
                       "probabilities p = softmax(z) belong")
        e0 = np.exp(z - z.max(axis=0, keepdims=True))
        p_columns = e0 / e0.sum(axis=0, keepdims=True)  # softmax over the batch axis
        if close(got, (p_columns - onehot) / n) or close(got, p_columns - onehot):
            raise fail(exercise, f"{where}: your softmax normalises over axis 0, across the "
                       "samples; the rows of p must sum to 1 (one distribution per sample): "
                       "take the max and the sum over axis=1 with keepdims=True")
        ratio = np.sum(got * want) / np.sum(want * want)
        if ratio > 0 and not close(ratio, 1.0) and close(got, ratio * want):
            raise fail(exercise, f"{where}: the right direction, {ratio:.4g} times too large, as "
                       f"if divided by {n / ratio:.4g}: divide p − onehot by N = len(y) = {n}, "
                       "the number of samples in this batch")
        if close(got, -onehot / (n * np.clip(p, 1e-300, None))):
            raise fail(exercise, f"{where}: that is dL/dp, the gradient with respect to the "
                       "probabilities; chain it through softmax to get (p − onehot) / N")
        raise fail(exercise, f"{where}: differs from (softmax(z) − onehot(y)) / N")
    passed(exercise, f"(p − onehot)/N matches on {len(cases)} batches, a batch missing classes "
           "and huge logits included")
