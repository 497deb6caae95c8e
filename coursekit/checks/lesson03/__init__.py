"""Checks for lesson 03, layers from scratch.

The Dense layer's forward is ``out = x @ W + b``: (N, D) @ (D, H) + (H,) -> (N, H).

The numerical gradient is the central difference (f(x + h·e_k) − f(x − h·e_k)) / 2h for every
entry k of x, perturbed in place and restored; it is judged against the known gradients of a
few functions, entry by entry, so a tiny gradient next to large ones is judged as strictly
(:mod:`coursekit.checks.lesson03.numgrad`).

Backward passes take the upstream gradient ``dout`` = dL/d(output) and return dL/d(input):

- Dense, ``out = x @ W + b``: dx = dout @ Wᵀ, dW = xᵀ @ dout, db = Σ_batch dout;
- ReLU, ``out = max(0, x)``: dx = dout · [x > 0] (the 0/1 mask, never x itself);
- softmax followed by the mean categorical cross-entropy, derived step by step (softmax's
  Jacobian diag(p) − ppᵀ per row, dL/dp = −onehot / (N p), their chain Jᵀ dp;
  :mod:`coursekit.checks.lesson03.steps`), then fused: dL/dz = (p − onehot) / N.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.checks.lesson03._shared import _ONEHOT_WIDTH, _batch, _onehot, reference_softmax
from coursekit.checks.lesson03.numgrad import central_difference, exact_gradient, numerical_gradient
from coursekit.checks.lesson03.steps import reference_softmax_ce_steps, softmax_ce_steps
from coursekit.checks.score import scorer
from coursekit.exercise import Got, Mistake, Raised, function, registry
from coursekit.exercise.judging import Tolerance, close
from coursekit.exercise.mistakes import same
from coursekit.probes import lesson03 as probes

__all__ = ["EXERCISES", "central_difference", "dense_backward", "dense_forward",
           "exact_gradient", "numerical_gradient", "reference_dense_backward",
           "reference_dense_forward", "reference_relu_backward", "reference_softmax",
           "reference_softmax_ce_gradient", "reference_softmax_ce_steps", "relu_backward",
           "score", "softmax_ce_gradient", "softmax_ce_steps"]

#: How close a student's numbers must be to the reference's (the fused gradient's entries are
#: of order 1/N, hence the small atol).
TOLERANCE: Tolerance = {"rtol": 1e-6, "atol": 1e-10}
#: Float64 rounding: the lesson's gradient checks of the Dense layer (relative error 1e-7 with
#: h = 1e-5) and its fused-versus-chain comparison (1e-10) need a forward pass and a fused
#: gradient this precise; float32 arithmetic is off by about 1e-7 relative.
FLOAT64: Tolerance = {"rtol": 1e-9, "atol": 1e-12}


def reference_dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, D), W (D, H), b (H,) -> x @ W + b of shape (N, H)."""
    return x @ W + b


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


def reference_softmax_ce_gradient(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dz of L = mean_i −log softmax(z_i)[y_i]: (softmax(z) − onehot(y)) / N, shape (N, C)."""
    n, n_classes = z.shape
    onehot = np.zeros((n, n_classes), dtype=np.float64)
    onehot[np.arange(n), y] = 1.0
    return (reference_softmax(z) - onehot) / n


# ---- 03-dense-forward ----

#: (N, D, H): all different, a batch of one, D = H (where x @ W.T runs), N = H (where b[:, None]
#: broadcasts).
_FORWARD_SHAPES = [(5, 3, 4), (1, 4, 3), (6, 3, 3), (4, 3, 4)]
_SHAPES_CHAIN = ("your function raised {type}: {message}. The shapes chain as (N, D) @ (D, H) "
                 "+ (H,): out = x @ W + b, with x on the left")

dense_forward = function(
    "03-dense-forward", names=("dense_forward",), args=("x", "W", "b"), keep=("x", "W", "b"),
    cases=lambda rng: [{"x": rng.normal(size=(n, d)), "W": rng.normal(size=(d, h)),
                        "b": rng.normal(size=h)} for n, d, h in _FORWARD_SHAPES],
    reference=reference_dense_forward, tolerance=FLOAT64, float64=True,
    implemented_by=("coursekit.scratch.Dense.forward",),
    where=lambda x, W, b: f"x {x.shape}, W {W.shape}, b {b.shape}",
    passed="x @ W + b matches on {n} shapes, a batch of one and D = H included",
    raised=[Raised(kind, _SHAPES_CHAIN.replace("{type}", kind)) for kind in ("ValueError",
                                                                              "TypeError")],
    mistakes=[
        Mistake("the bias is missing: out = x @ W + b", lambda x, W, b: x @ W),
        # (on the cases where it runs: elsewhere it raises, which `raised` explains)
        Mistake("that is x @ W.T; W already has shape (D, H) = (n_in, n_out), so out = x @ W + b",
                lambda x, W, b: x @ W.T + b if W.shape[0] == W.shape[1] else x @ W + b),
        Mistake("b is added down the rows (b[:, None] or b.reshape(-1, 1)); it has one entry per "
                "output unit, so it adds along each row: x @ W + b",
                lambda x, W, b: x @ W + b[:, None] if len(x) == len(b) else x @ W + b),
        Mistake("b is subtracted: out = x @ W + b", lambda x, W, b: x @ W - b),
    ])


# ---- 03-dense-backward ----

#: (N, n_in, n_out) of the layers: all three different first, then a batch of one, then square.
_DENSE_SHAPES = [(5, 3, 4), (7, 2, 6), (1, 4, 3), (6, 6, 2)]


def _db_per_sample(x: np.ndarray, W: np.ndarray, dout: np.ndarray) -> str:
    return (f"db has shape {dout.shape}, one row per sample; the bias is shared by every "
            "sample, so sum dout over the batch axis (axis=0)")


def _dense_parts(got: Got, x: np.ndarray, W: np.ndarray, dout: np.ndarray) -> str | None:
    """Which part is wrong, once (dx, dW, db) have their shapes: what each should be; and a
    db of one row per sample, whatever its values."""
    if got.kind != "list" or got.length != 3 or len(got.items) != 3:
        return None
    dx, dW, db = got.items
    if len(x) > 1 and db.kind == "array" and db.shape == dout.shape:
        return _db_per_sample(x, W, dout)
    want = reference_dense_backward(x, W, dout)
    if any(part.kind != "array" or part.shape != wanted.shape
           for part, wanted in zip(got.items, want, strict=True)):
        return None
    if not close(dx.array, want[0], **TOLERANCE):
        return "dx is wrong: each input feeds every output through W, so dx = dout @ W.T"
    if not close(dW.array, want[1], **TOLERANCE):
        return "dW is wrong: dW[i, j] = Σ_n x[n, i]·dout[n, j], i.e. x.T @ dout"
    return "db should be dout summed over the batch axis"


dense_backward = function(
    "03-dense-backward", names=("dense_backward",), args=("x", "W", "dout"),
    keep=("x", "W", "dout"), parts=("dx", "dW", "db"), tolerance=TOLERANCE,
    cases=lambda rng: [{"x": rng.normal(size=(n, n_in)), "W": rng.normal(size=(n_in, n_out)),
                        "dout": rng.normal(size=(n, n_out))} for n, n_in, n_out in _DENSE_SHAPES],
    reference=reference_dense_backward, explain=_dense_parts,
    implemented_by=("coursekit.scratch.Dense.backward",),
    where=lambda x, W, dout: f"x {x.shape}, W {W.shape}",
    passed="dx, dW and db match on {n} layer shapes",
    mistakes=[
        Mistake("your first array is dW and your second is dx: the return order is (dx, dW, db)",
                lambda x, W, d: (x.T @ d, d @ W.T, d.sum(axis=0))),
        Mistake(_db_per_sample, lambda x, W, d: (d @ W.T, x.T @ d, d) if len(x) > 1 else None),
        Mistake(lambda x, W, d: f"db summed dout over its columns (axis=1), giving one number "
                f"per sample, shape ({len(x)},); db has one entry per output unit: sum over the "
                f"batch, dout.sum(axis=0), shape ({d.shape[1]},)",
                lambda x, W, d: (d @ W.T, x.T @ d, d.sum(axis=1))),
        Mistake(lambda x, W, d: f"dW is divided by N={len(x)}; the 1/N of the mean loss is "
                "already inside dout, so dW = x.T @ dout with no extra factor",
                lambda x, W, d: (d @ W.T, x.T @ d / len(x), d.sum(axis=0))),
        Mistake("db is the mean of dout over the batch; it is the sum (the 1/N is already inside "
                "dout)", lambda x, W, d: (d @ W.T, x.T @ d, d.mean(axis=0))),
    ])


# ---- 03-relu-backward ----


def _relu_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Three arrays, each with one entry exactly at the kink x = 0 (slope 0 there)."""
    cases = []
    for shape in [(4, 5), (3, 1), (6, 3)]:
        x = rng.normal(size=shape) * 2.0
        x[0, 0] = 0.0
        cases.append({"x": x, "dout": rng.normal(size=shape)})
    return cases


def _selected(got: Got, x: np.ndarray, dout: np.ndarray) -> str | None:
    if got.kind == "array" and x.size > 1 and got.shape == (int(np.sum(x > 0)),):
        return (f"got shape {got.shape}, one entry per positive x: dout[x > 0] selects those "
                "entries and drops the rest; multiply by the mask instead to keep the shape, "
                "dout * (x > 0)")
    return None


relu_backward = function(
    "03-relu-backward", names=("relu_backward",), args=("x", "dout"), keep=("x", "dout"),
    may_become_result=("dout",), cases=_relu_cases, reference=reference_relu_backward,
    tolerance=TOLERANCE, explain=_selected, implemented_by=("coursekit.scratch.ReLU.backward",),
    where=lambda x, dout: f"dx for x of shape {x.shape}",
    passed="dx = dout · [x > 0] on {n} arrays, the kink at x = 0 included",
    mistakes=[
        Mistake("dx is dout times the input: the slope of max(0, x) is 1 where x > 0 and 0 "
                "elsewhere, so multiply by the 0/1 mask (x > 0), not by x",
                lambda x, d: d * np.maximum(x, 0)),
        Mistake("dx is the mask alone: multiply it by the upstream gradient dout",
                lambda x, d: (x > 0).astype(np.float64)),
        Mistake("that is ReLU applied to dout; the mask comes from the forward input x: "
                "dout * (x > 0)", lambda x, d: np.maximum(d, 0)),
        Mistake("dx equals dout everywhere: where x <= 0 no gradient flows back (the output did "
                "not depend on x there)", lambda x, d: d.copy()),
        Mistake("at x = 0 exactly you let the gradient through; ReLU's convention (and "
                "PyTorch's) is slope 0 there: use x > 0", lambda x, d: d * (x >= 0)),
    ])


# ---- 03-softmax-ce-gradient ----

def _softmax_ce_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Three batches holding every class (the first of N = 6), a batch holding no sample of
    its last two classes, and logits around ±800, each row with one above 709, where an
    unshifted exp overflows."""
    cases = []
    for n, n_classes in [(6, 3), (5, 4), (8, 2)]:
        y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])
        cases.append({"z": rng.normal(size=(n, n_classes)) * 2.0,
                      "y": rng.permutation(y).astype(np.int64)})
    cases.append({"z": rng.normal(size=(4, 4)), "y": np.array([0, 1, 1, 0], dtype=np.int64)})
    huge = rng.normal(size=(3, 3)) * 800.0
    huge[np.arange(3), rng.permutation(3)] = rng.uniform(750.0, 850.0, size=3)  # exp overflows
    cases.append({"z": huge, "y": np.array([2, 0, 1], dtype=np.int64)})
    return cases


def _softmax_ce_explained(got: Got, z: np.ndarray, y: np.ndarray) -> str | None:
    """A one-hot too narrow, an overflowed exp, the right direction scaled."""
    (n, n_classes), want = z.shape, reference_softmax_ce_gradient(z, y)
    if got.kind != "array" or got.shape is None:
        return None
    if len(got.shape) == 2 and got.shape[0] == n and got.shape[1] < n_classes:
        return f"expected shape {z.shape}, got {got.shape}: build the {_ONEHOT_WIDTH}"
    if got.shape != z.shape:
        return None
    if not np.all(np.isfinite(got.array)):
        return ("the gradient contains nan or inf: exp overflowed. Subtract each row's maximum "
                "from z before exp (softmax is unchanged)")
    ratio = float(np.sum(got.array * want) / np.sum(want * want))
    if ratio > 0 and not close(ratio, 1.0, **TOLERANCE) and same(got, ratio * want, TOLERANCE):
        how_far = f"{ratio:.4g} times too large" if ratio > 1 else \
            f"{1 / ratio:.4g} times too small"
        return (f"the right direction, {how_far}, as if divided by {n / ratio:.4g}: divide "
                f"p − onehot by N = len(y) = {n}, the number of samples in this batch")
    return None


def _softmax_columns(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


_LOGITS = "you used the logits z where the softmax probabilities p = softmax(z) belong"
_AXIS0 = ("your softmax normalises over axis 0, across the samples; the rows of p must sum to 1 "
          "(one distribution per sample): take the max and the sum over axis=1 with "
          "keepdims=True")

softmax_ce_gradient = function(
    "03-softmax-ce-gradient", names=("softmax_ce_gradient",), args=("z", "y"), keep=("y",),
    cases=_softmax_ce_cases, probe=probes.softmax_ce_cases, reference=reference_softmax_ce_gradient,
    tolerance=FLOAT64, float64=True, explain=_softmax_ce_explained, where=_batch,
    implemented_by=("coursekit.scratch.SoftmaxCrossEntropy.backward",),
    passed="(p − onehot)/N matches on {n} batches, a batch missing classes and huge logits "
           "included",
    raised=[Raised(kind, f"your function raised {kind}: {{message}}. Build the {_ONEHOT_WIDTH}")
            for kind in ("ValueError", "IndexError")],
    mistakes=[
        Mistake(lambda z, y: f"this is N={len(y)} times too large: the loss is a mean over the "
                "batch, so divide p − onehot by N",
                lambda z, y: reference_softmax_ce_gradient(z, y) * len(y)),
        Mistake("check the sign: the gradient is p − onehot",
                lambda z, y: -reference_softmax_ce_gradient(z, y)),
        Mistake(_LOGITS, lambda z, y: (z - _onehot(z, y)) / len(y)),
        Mistake(_LOGITS, lambda z, y: z - _onehot(z, y)),
        Mistake(_AXIS0, lambda z, y: (_softmax_columns(z) - _onehot(z, y)) / len(y)),
        Mistake(_AXIS0, lambda z, y: _softmax_columns(z) - _onehot(z, y)),
        Mistake("that is dL/dp, the gradient with respect to the probabilities; chain it through "
                "softmax to get (p − onehot) / N",
                lambda z, y: -_onehot(z, y) / (len(y) * np.clip(reference_softmax(z), 1e-300,
                                                                None))),
    ])

EXERCISES = registry(dense_forward, dense_backward, numerical_gradient, relu_backward,
                     softmax_ce_steps, softmax_ce_gradient)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)
