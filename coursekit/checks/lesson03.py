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

from coursekit.checks._core import (
    Data,
    Exercise,
    close,
    expect_array,
    expect_tuple,
    fail,
    mistake,
    raised_message,
    registry,
    results,
    value,
)
from coursekit.probes import lesson03 as probes

#: How close a student's numbers must be to the reference's (the fused gradient's entries are
#: of order 1/N, hence the small atol).
TOLERANCE = {"rtol": 1e-6, "atol": 1e-10}


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
    onehot = np.zeros((n, n_classes), dtype=np.float64)
    onehot[np.arange(n), y] = 1.0
    return (reference_softmax(z) - onehot) / n


# ---- 03-dense-backward ----

#: (N, n_in, n_out) of the layers: all three different first, then a batch of one, then square.
_DENSE_SHAPES = [(5, 3, 4), (7, 2, 6), (1, 4, 3), (6, 6, 2)]


def _dense_cases(rng: np.random.Generator) -> dict[str, Any]:
    return {"cases": [{"x": rng.normal(size=(n, n_in)), "W": rng.normal(size=(n_in, n_out)),
                       "dout": rng.normal(size=(n, n_out))}
                      for n, n_in, n_out in _DENSE_SHAPES]}


def _array_of(got: Data, shape: tuple[int, ...]) -> np.ndarray | None:
    """The array ``got`` describes when it is one of ``shape``, else None (no failure)."""
    if isinstance(got, dict) and got.get("kind") == "array" and tuple(got["shape"]) == shape:
        return np.asarray(got["value"], dtype=np.float64)
    return None


def _judge_dense(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        x, W, dout = case["x"], case["W"], case["dout"]
        (n, n_in), n_out = x.shape, W.shape[1]
        where = f"x {x.shape}, W {W.shape}"
        dx, dW, db = expect_tuple(got, 3, "a triple (dx, dW, db)")
        want_dx, want_dW, want_db = reference_dense_backward(x, W, dout)
        first, second = _array_of(dx, want_dW.shape), _array_of(dW, want_dx.shape)
        if first is not None and second is not None and close(first, want_dW, **TOLERANCE) \
                and close(second, want_dx, **TOLERANCE):
            raise fail(f"{where}: your first array is dW and your second is dx: the return "
                       "order is (dx, dW, db)")
        if n > 1 and _array_of(db, (n, n_out)) is not None:
            raise fail(f"{where}: db has shape {(n, n_out)}, one row per sample; the bias is "
                       "shared by every sample, so sum dout over the batch axis (axis=0)")
        got_dx = expect_array(dx, (n, n_in), f"{where}: dx")
        got_dW = expect_array(dW, (n_in, n_out), f"{where}: dW")
        got_db = expect_array(db, (n_out,), f"{where}: db")
        if not close(got_dx, want_dx, **TOLERANCE):
            raise fail(f"{where}: dx is wrong: each input feeds every output through W, so "
                       "dx = dout @ W.T")
        if not close(got_dW, want_dW, **TOLERANCE):
            raise mistake(got_dW, {
                f"dW is divided by N={n}; the 1/N of the mean loss is already inside dout, so "
                "dW = x.T @ dout with no extra factor": want_dW / n if n > 1 else None,
            }, where=where, otherwise=f"{where}: dW is wrong: dW[i, j] = Σ_n x[n, i]·dout[n, j], "
               "i.e. x.T @ dout", **TOLERANCE)
        if not close(got_db, want_db, **TOLERANCE):
            raise mistake(got_db, {
                "db is the mean of dout over the batch; it is the sum (the 1/N is already "
                "inside dout)": want_db / n if n > 1 else None,
            }, where=where, otherwise=f"{where}: db should be dout summed over the batch axis",
                **TOLERANCE)
    return f"dx, dW and db match on {len(cases)} layer shapes"


# ---- 03-relu-backward ----


def _relu_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Three arrays, each with one entry exactly at the kink x = 0 (slope 0 there)."""
    cases = []
    for shape in [(4, 5), (3, 1), (6, 3)]:
        x = rng.normal(size=shape) * 2.0
        x[0, 0] = 0.0
        cases.append({"x": x, "dout": rng.normal(size=shape)})
    return {"cases": cases}


def _judge_relu(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        x, dout = case["x"], case["dout"]
        dx = expect_array(got, x.shape, f"dx for x of shape {x.shape}")
        if close(dx, reference_relu_backward(x, dout), **TOLERANCE):
            continue
        raise mistake(dx, {
            "dx is dout times the input: the slope of max(0, x) is 1 where x > 0 and 0 "
            "elsewhere, so multiply by the 0/1 mask (x > 0), not by x": dout * np.maximum(x, 0),
            "dx is the mask alone: multiply it by the upstream gradient dout":
                (x > 0).astype(np.float64),
            "that is ReLU applied to dout; the mask comes from the forward input x: "
            "dout * (x > 0)": np.maximum(dout, 0),
            "dx equals dout everywhere: where x <= 0 no gradient flows back (the output did "
            "not depend on x there)": dout,
            "at x = 0 exactly you let the gradient through; ReLU's convention (and PyTorch's) "
            "is slope 0 there: use x > 0": dout * (x >= 0),
        }, otherwise=f"dx for x of shape {x.shape} differs from dout * (x > 0)", **TOLERANCE)
    return f"dx = dout · [x > 0] on {len(cases)} arrays, the kink at x = 0 included"


# ---- 03-softmax-ce-gradient ----

_ONEHOT_WIDTH = "one-hot matrix with z.shape[1] columns, not from the classes present in this batch"


def _softmax_ce_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Three batches holding every class (the first of N = 6), a batch holding no sample of
    its last two classes, and logits around ±800, each row with one above 709, where an
    unshifted exp overflows."""
    cases = []
    for n, n_classes in [(6, 3), (5, 4), (8, 2)]:
        y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])
        cases.append({"note": "", "z": rng.normal(size=(n, n_classes)) * 2.0,
                      "y": rng.permutation(y).astype(np.int64), "missing_classes": False})
    cases.append({"note": " (a batch with no sample of classes 2 and 3)",
                  "z": rng.normal(size=(4, 4)), "y": np.array([0, 1, 1, 0], dtype=np.int64),
                  "missing_classes": True})
    huge = rng.normal(size=(3, 3)) * 800.0
    huge[np.arange(3), rng.permutation(3)] = rng.uniform(750.0, 850.0, size=3)  # exp overflows
    cases.append({"note": " (logits around ±800)", "z": huge,
                  "y": np.array([2, 0, 1], dtype=np.int64), "missing_classes": False})
    return {"cases": cases}


def _judge_softmax_ce_case(case: Data, got: Data) -> None:
    z, y = case["z"], case["y"]
    n, n_classes = z.shape
    where = f"z of shape {z.shape}{case['note']}"
    if case["missing_classes"] and isinstance(got, dict) and got.get("kind") == "raised" \
            and got.get("type") in ("ValueError", "IndexError") and not got.get("stub"):
        raise fail(f"{where}: {raised_message(got)}. Build the {_ONEHOT_WIDTH}")
    got = value(got)
    if got["kind"] == "array" and len(got["shape"]) == 2 and got["shape"][0] == n \
            and got["shape"][1] < n_classes:
        raise fail(f"{where}: expected shape {z.shape}, got {tuple(got['shape'])}: "
                   f"build the {_ONEHOT_WIDTH}")
    grad = expect_array(got, (n, n_classes), f"gradient for {where}")
    if not np.all(np.isfinite(grad)):
        raise fail(f"{where}: the gradient contains nan or inf: exp overflowed. Subtract each "
                   "row's maximum from z before exp (softmax is unchanged)")
    want = reference_softmax_ce_gradient(z, y)
    if close(grad, want, **TOLERANCE):
        return
    p, onehot = reference_softmax(z), np.eye(n_classes, dtype=np.float64)[y]
    e0 = np.exp(z - z.max(axis=0, keepdims=True))
    p_columns = e0 / e0.sum(axis=0, keepdims=True)  # softmax over the batch axis
    ratio = float(np.sum(grad * want) / np.sum(want * want))
    raise mistake(grad, {
        f"this is N={n} times too large: the loss is a mean over the batch, so divide "
        "p − onehot by N": want * n,
        "check the sign: the gradient is p − onehot": -want,
        "you used the logits z where the softmax probabilities p = softmax(z) belong":
            [(z - onehot) / n, z - onehot],
        "your softmax normalises over axis 0, across the samples; the rows of p must sum to 1 "
        "(one distribution per sample): take the max and the sum over axis=1 with keepdims=True":
            [(p_columns - onehot) / n, p_columns - onehot],
        f"the right direction, {ratio:.4g} times too large, as if divided by {n / ratio:.4g}: "
        f"divide p − onehot by N = len(y) = {n}, the number of samples in this batch":
            ratio * want if ratio > 0 and not close(ratio, 1.0, **TOLERANCE) else None,
        "that is dL/dp, the gradient with respect to the probabilities; chain it through "
        "softmax to get (p − onehot) / N": -onehot / (n * np.clip(p, 1e-300, None)),
    }, where=where, otherwise=f"{where}: differs from (softmax(z) − onehot(y)) / N", **TOLERANCE)


def _judge_softmax_ce(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        _judge_softmax_ce_case(case, got)
    return (f"(p − onehot)/N matches on {len(cases)} batches, a batch missing classes and huge "
            "logits included")


DENSE_BACKWARD = Exercise("03-dense-backward", _dense_cases, probes.dense_cases, _judge_dense,
                          implemented_by=("coursekit.scratch.Dense.backward",))
RELU_BACKWARD = Exercise("03-relu-backward", _relu_cases, probes.relu_cases, _judge_relu,
                         implemented_by=("coursekit.scratch.ReLU.backward",))
SOFTMAX_CE_GRADIENT = Exercise("03-softmax-ce-gradient", _softmax_ce_cases,
                               probes.softmax_ce_cases, _judge_softmax_ce,
                               implemented_by=("coursekit.scratch.SoftmaxCrossEntropy.backward",))
EXERCISES = registry(DENSE_BACKWARD, RELU_BACKWARD, SOFTMAX_CE_GRADIENT)


def dense_backward(
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[Any, Any, Any]],
) -> None:
    """Check ``backward(x, W, dout)`` returns ``(dx, dW, db)`` of ``out = x @ W + b``."""
    DENSE_BACKWARD.check(backward)


def relu_backward(backward: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """Check ``backward(x, dout)`` returns dout masked by ``x > 0``."""
    RELU_BACKWARD.check(backward)


def softmax_ce_gradient(gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """Check ``gradient(z, y)`` returns (softmax(z) − onehot(y)) / N for logits z (N, C)."""
    SOFTMAX_CE_GRADIENT.check(gradient)
