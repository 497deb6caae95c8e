"""Checks for lesson 03, layers from scratch.

The Dense layer's forward is ``out = x @ W + b``: (N, D) @ (D, H) + (H,) -> (N, H).

The numerical gradient is the central difference (f(x + h·e_k) − f(x − h·e_k)) / 2h for every
entry k of x, perturbed in place and restored; it is judged against the known gradients of a
few functions, entry by entry, so a tiny gradient next to large ones is judged as strictly.

Backward passes take the upstream gradient ``dout`` = dL/d(output) and return dL/d(input):

- Dense, ``out = x @ W + b``: dx = dout @ Wᵀ, dW = xᵀ @ dout, db = Σ_batch dout;
- ReLU, ``out = max(0, x)``: dx = dout · [x > 0] (the 0/1 mask, never x itself);
- softmax followed by the mean categorical cross-entropy, fused: dL/dz = (p − onehot) / N.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._legacy import mistake, refuse_float32
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    close,
    expect_array,
    expect_tuple,
    fail,
    raised_message,
    results,
    value,
)
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson03 as probes

#: How close a student's numbers must be to the reference's (the fused gradient's entries are
#: of order 1/N, hence the small atol).
TOLERANCE: Tolerance = {"rtol": 1e-6, "atol": 1e-10}
#: Float64 rounding: the lesson's gradient checks of the Dense layer (relative error 1e-7 with
#: h = 1e-5) and its fused-versus-chain comparison (1e-10) need a forward pass and a fused
#: gradient this precise; float32 arithmetic is off by about 1e-7 relative.
FLOAT64: Tolerance = {"rtol": 1e-9, "atol": 1e-12}


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


# ---- 03-dense-forward ----

#: (N, D, H): all different, a batch of one, D = H (where x @ W.T runs), N = H (where b[:, None]
#: broadcasts).
_FORWARD_SHAPES = [(5, 3, 4), (1, 4, 3), (6, 3, 3), (4, 3, 4)]


def reference_dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, D), W (D, H), b (H,) -> x @ W + b of shape (N, H)."""
    return x @ W + b


def _dense_forward_cases(rng: np.random.Generator) -> dict[str, Any]:
    return {"cases": [{"x": rng.normal(size=(n, d)), "W": rng.normal(size=(d, h)),
                       "b": rng.normal(size=h)} for n, d, h in _FORWARD_SHAPES]}


def _judge_dense_forward(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        x, W, b = case["x"], case["W"], case["b"]
        (n, d), h = x.shape, W.shape[1]
        where = f"x {x.shape}, W {W.shape}, b {b.shape}"
        if isinstance(got, dict) and got.get("kind") == "raised" and not got.get("stub") \
                and got.get("type") in ("ValueError", "TypeError"):
            raise fail(f"{where}: {raised_message(got)}. The shapes chain as (N, D) @ (D, H) "
                       "+ (H,): out = x @ W + b, with x on the left")
        out = expect_array(got, (n, h), f"{where}: out")
        want = reference_dense_forward(x, W, b)
        refuse_float32(out, want, f"{where}: out", **FLOAT64)
        if close(out, want, **TOLERANCE):
            continue
        raise mistake(out, {
            "the bias is missing: out = x @ W + b": x @ W,
            "that is x @ W.T; W already has shape (D, H) = (n_in, n_out), so out = x @ W + b":
                x @ W.T + b if d == h else None,
            "b is added down the rows (b[:, None] or b.reshape(-1, 1)); it has one entry per "
            "output unit, so it adds along each row: x @ W + b": x @ W + b[:, None]
                if n == h else None,
            "b is subtracted: out = x @ W + b": x @ W - b,
        }, where=where, otherwise=f"{where}: out differs from x @ W + b", **TOLERANCE)
    return f"x @ W + b matches on {len(cases)} shapes, a batch of one and D = H included"


# ---- 03-numerical-gradient ----

#: How close a numerical gradient must be to the exact one, entry by entry: central differences
#: with h between 1e-6 and 1e-4 land within about 1e-9 on these functions (rounding eps·|f|/h,
#: truncation h²·f'''/6); a one-sided difference is off by about h·f''/2, near 1e-5.
FD_TOLERANCE: Tolerance = {"rtol": 1e-7, "atol": 1e-8}
#: The step the lesson's numerical_gradient uses by default (for naming mistakes).
FD_STEP = 1e-5
#: The step of the case that passes h explicitly: large enough that its central difference
#: differs from the exact gradient by about h²/6 = 4e-4 relative, far outside FD_TOLERANCE, so
#: a function that ignores h (and steps by a hard-coded 1e-4 or 1e-5) shows.
GIVEN_STEP = 0.05
#: Steps a student may hard-code that are too large for FD_TOLERANCE (for naming the mistake).
LARGE_STEPS = (1e-2, 1e-3)


def _numerical_gradient_cases(rng: np.random.Generator) -> dict[str, Any]:
    """A quadratic in 8 entries with two tiny gradients (about 1e-7, where the curvature makes
    a one-sided difference 100 times too large) next to two large ones (about 500), a sine on
    a 3×4 array with two entries where cos x is about 1e-7, and a tanh layer's weights (3, 2)."""
    x = rng.uniform(-1.0, 1.0, size=8)
    a, b = rng.uniform(0.5, 3.0, size=8), rng.normal(size=8)
    tiny = rng.choice([-1.0, 1.0], size=2) * rng.uniform(1e-7, 3e-7, size=2)
    b[[1, 5]] = -2.0 * a[[1, 5]] * x[[1, 5]] + tiny  # the gradient 2ax + b is tiny there
    x[[2, 6]] = rng.uniform(1e-3, 2e-3, size=2) * rng.choice([-1.0, 1.0], size=2)
    b[[2, 6]] = rng.uniform(400.0, 600.0, size=2) * rng.choice([-1.0, 1.0], size=2)
    quadratic = {"kind": "quadratic", "what": "f = Σ a·x² + b·x on x of shape (8,)",
                 "x": x, "a": a, "b": b}
    x = rng.uniform(-3.0, 3.0, size=(3, 4))
    x[0, 1], x[2, 3] = np.pi / 2 + rng.uniform(1e-7, 3e-7, size=2)  # cos x is about -2e-7
    sine = {"kind": "sine", "what": "f = Σ w·sin(x) on x of shape (3, 4)", "x": x,
            "w": rng.uniform(1.0, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))}
    tanh = {"kind": "tanh", "what": "f = Σ tanh(X @ W) ⊙ R on W of shape (3, 2)",
            "x": rng.normal(size=(3, 2)) * 0.5, "X": rng.normal(size=(5, 3)),
            "R": rng.normal(size=(5, 2))}
    given = {"kind": "sine", "what": f"f = Σ w·sin(x) on x of shape (6,), called with "
                                     f"h={GIVEN_STEP:g}",
             "x": rng.uniform(-3.0, 3.0, size=6), "h": GIVEN_STEP,
             "w": rng.uniform(1.0, 2.0, size=6) * rng.choice([-1.0, 1.0], size=6)}
    return {"cases": [quadratic, sine, tanh, given]}


def exact_gradient(case: Data) -> np.ndarray:
    """The known gradient of a numerical-gradient case at its ``x``."""
    x = case["x"]
    if case["kind"] == "quadratic":
        return np.asarray(2.0 * case["a"] * x + case["b"], dtype=np.float64)
    if case["kind"] == "sine":
        return np.asarray(case["w"] * np.cos(x), dtype=np.float64)
    z = np.tanh(case["X"] @ x)
    return np.asarray(case["X"].T @ ((1.0 - z * z) * case["R"]), dtype=np.float64)


def central_difference(case: Data, h: float) -> np.ndarray:
    """(f(x + h·e_k) − f(x − h·e_k)) / 2h for every k: what a right answer called with step h
    gives."""
    x = np.array(case["x"], dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for k in range(x.size):
        old = x.flat[k]
        x.flat[k] = old + h
        plus = probes.evaluate(case, x)
        x.flat[k] = old - h
        minus = probes.evaluate(case, x)
        x.flat[k] = old
        grad.flat[k] = (plus - minus) / (2.0 * h)
    return grad


def _judge_given_step(case: Data, grad: np.ndarray) -> None:
    """The case called with an explicit step h: the central difference with that very step."""
    h, where = float(case["h"]), case["what"]
    want = central_difference(case, h)
    if close(grad, want, **FD_TOLERANCE):
        return
    if close(grad, exact_gradient(case), rtol=1e-6, atol=1e-8):
        raise fail(f"{where}: your function ignores its h argument: called with h={h:g} it "
                   "returned the central difference of a much smaller step. Nudge by the h "
                   "passed in (x.flat[k] = old + h, then old − h) and divide by 2 * h")
    raise mistake(grad, {
        f"your function ignores its h argument: it used a step of {step:g}; nudge by the h "
        "passed in and divide by 2 * h": central_difference(case, step)
        for step in LARGE_STEPS}, otherwise=(
        f"{where}: differs from the central differences with that step, "
        "(f() with x_k + h − f() with x_k − h) / (2h)"), where=where, **FD_TOLERANCE)


def _one_sided(case: Data, h: float) -> np.ndarray:
    """(f(x + h·e_k) − f(x)) / h for every k (h < 0 gives the backward difference)."""
    x = np.array(case["x"], dtype=np.float64)
    f0, grad = probes.evaluate(case, x), np.zeros(x.shape, dtype=np.float64)
    for k in range(x.size):
        moved = x.copy()
        moved.flat[k] += h
        grad.flat[k] = (probes.evaluate(case, moved) - f0) / h
    return grad


def _judge_numerical_gradient_case(case: Data, got: Data) -> None:
    x = case["x"]
    where = case["what"]
    if not isinstance(got, dict) or not isinstance(got.get("with_args"), bool) \
            or not isinstance(got.get("calls"), int) or isinstance(got.get("calls"), bool):
        raise fail("the check received malformed data")
    if got["with_args"]:
        raise fail(f"{where}: you called f with an argument, as in lessons 01–02; here f() "
                   "takes none: it reads the array x itself, so nudge x in place "
                   "(x.flat[k] = old + h), call f(), and put the entry back")
    result = got["result"]
    if "h" in case and isinstance(result, dict) and result.get("kind") == "raised" \
            and result.get("type") == "TypeError" and not got["calls"]:
        raise fail(f"{where}: {raised_message(result)}. Keep the signature "
                   "numerical_gradient(f, x, h=1e-5): the step is an argument")
    grad = expect_array(got["result"], x.shape, f"{where}: the gradient")
    if got["calls"] == 0:
        raise fail(f"{where}: your function never called f(); each entry needs "
                   "f() with that entry at x + h and at x − h")
    after = expect_array(got["x_after"], x.shape, f"{where}: x after your call")
    moved = np.abs(after - x) > 4 * np.spacing(np.abs(x))
    if np.any(moved):
        k = int(np.flatnonzero(moved.ravel())[0])
        raise fail(f"{where}: x was not restored: after your call, entry {k} (flat index) is "
                   f"off by {after.flat[k] - x.flat[k]:.3g}. Keep the original value "
                   "(old = x.flat[k]) and set it back after the two calls of f(), or every "
                   "later use of x (the layer's next forward) sees the wrong numbers")
    if not np.all(np.isfinite(grad)):
        raise fail(f"{where}: the gradient contains nan or inf")
    if np.all(grad == 0.0):
        raise fail(f"{where}: every entry is 0: f() never saw your nudges. f reads x itself, "
                   "so change x in place (x.flat[k] = old + h); x + h, x.copy() or "
                   "x.flatten() make a new array that f never reads")
    if "h" in case:
        _judge_given_step(case, grad)
        return
    want = exact_gradient(case)
    if close(grad, want, **FD_TOLERANCE):
        return
    hints: dict[str, Any] = {
        "twice the gradient: the central difference divides by 2h, the distance between "
        "x − h and x + h": 2.0 * want,
        "the sign is flipped: (f(x + h) − f(x − h)) / 2h, the plus side first": -want,
        "that is a one-sided difference (f(x + h) − f(x)) / h: its error is about h·f''/2, "
        "larger than the small gradients here; use the central difference "
        "(f(x + h) − f(x − h)) / (2h)": [_one_sided(case, FD_STEP), _one_sided(case, -FD_STEP)],
        "about half the gradient: your minus side was evaluated at x, not at x − h (after "
        "x + h, subtract 2h, or set the entry to old − h)": _one_sided(case, FD_STEP) / 2.0,
        "tiny everywhere: `/ 2 * h` divides by 2 and then multiplies by h; write / (2 * h)":
            want * FD_STEP**2,
        **{f"that is the central difference with a step of {step:g}, too large for this check "
           "(its error, about h² times the third derivative / 6, swamps the small gradients): "
           f"use the h argument, whose default is {FD_STEP:g}": central_difference(case, step)
           for step in LARGE_STEPS},
    }
    if x.ndim == 2:
        hints["each row holds one repeated value: you nudged a whole row x[i] at once; nudge "
              "one entry at a time (loop over x.size with x.flat[k], or np.ndindex(x.shape))"] \
            = np.broadcast_to(want.sum(axis=1, keepdims=True), x.shape)
    excess = np.abs(grad - want) - FD_TOLERANCE["rtol"] * np.abs(want)
    worst = np.unravel_index(int(np.argmax(excess)), x.shape)
    index = worst[0] if x.ndim == 1 else tuple(int(i) for i in worst)
    raise mistake(grad, hints, where=where, otherwise=(
        f"{where}: entry {index} is {grad[worst]:.10g}, the exact gradient there is "
        f"{want[worst]:.10g} (off by {abs(grad[worst] - want[worst]):.2g}, more than "
        f"{FD_TOLERANCE['rtol']:g} relative); each entry k is "
        "(f() with x_k + h − f() with x_k − h) / (2h), "
        "every other entry unchanged"), **FD_TOLERANCE)


def _judge_numerical_gradient(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        _judge_numerical_gradient_case(case, got)
    functions = sum("h" not in case for case in cases)  # the last case repeats the sine's kind
    return (f"central differences match the exact gradients of {functions} functions entry "
            "by entry, tiny gradients next to large ones included, and x is restored")


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
        across = _array_of(db, (n,))
        if across is not None and close(across, dout.sum(axis=1), **TOLERANCE):
            raise fail(f"{where}: db summed dout over its columns (axis=1), giving one number "
                       f"per sample, shape ({n},); db has one entry per output unit: sum over "
                       f"the batch, dout.sum(axis=0), shape ({n_out},)")
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
                "db summed dout over its columns (axis=1); sum over the batch, axis=0":
                    dout.sum(axis=1) if n == n_out else None,
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
        if isinstance(got, dict) and got.get("kind") == "array" and x.size > 1 \
                and tuple(got["shape"]) == (int(np.sum(x > 0)),):
            raise fail(f"dx for x of shape {x.shape}: got shape {tuple(got['shape'])}, one entry "
                       "per positive x: dout[x > 0] selects those entries and drops the rest; "
                       "multiply by the mask instead to keep the shape, dout * (x > 0)")
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


def _how_far(ratio: float) -> str:
    """``"2.5 times too large"`` or ``"50 times too small"`` for a positive ``ratio``."""
    return f"{ratio:.4g} times too large" if ratio > 1 else f"{1 / ratio:.4g} times too small"


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
    refuse_float32(grad, want, f"{where}: the gradient", **FLOAT64)
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
        f"the right direction, {_how_far(ratio)}, as if divided by {n / ratio:.4g}: "
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


DENSE_FORWARD = Exercise("03-dense-forward", _dense_forward_cases, probes.dense_forward_cases,
                         _judge_dense_forward, implemented_by=("coursekit.scratch.Dense.forward",),
                         names=("dense_forward",))
NUMERICAL_GRADIENT = Exercise("03-numerical-gradient", _numerical_gradient_cases,
                              probes.numerical_gradient_cases, _judge_numerical_gradient,
                              implemented_by=("coursekit.scratch.numerical_gradient",),
                              names=("numerical_gradient",))
DENSE_BACKWARD = Exercise("03-dense-backward", _dense_cases, probes.dense_cases, _judge_dense,
                          implemented_by=("coursekit.scratch.Dense.backward",),
                          names=("dense_backward",))
RELU_BACKWARD = Exercise("03-relu-backward", _relu_cases, probes.relu_cases, _judge_relu,
                         implemented_by=("coursekit.scratch.ReLU.backward",),
                         names=("relu_backward",))
SOFTMAX_CE_GRADIENT = Exercise("03-softmax-ce-gradient", _softmax_ce_cases,
                               probes.softmax_ce_cases, _judge_softmax_ce,
                               implemented_by=("coursekit.scratch.SoftmaxCrossEntropy.backward",),
                               names=("softmax_ce_gradient",))
EXERCISES = registry(DENSE_FORWARD, DENSE_BACKWARD, NUMERICAL_GRADIENT, RELU_BACKWARD,
                     SOFTMAX_CE_GRADIENT)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def dense_forward(forward: Callable[[np.ndarray, np.ndarray, np.ndarray], Any]) -> None:
    """Check ``forward(x, W, b)`` returns ``x @ W + b`` of shape (N, H)."""
    DENSE_FORWARD.check(forward)


def numerical_gradient(gradient: Callable[..., Any]) -> None:
    """Check ``gradient(f, x)`` returns the central differences of ``f()`` over every entry of
    ``x``, nudged in place and restored."""
    NUMERICAL_GRADIENT.check(gradient)



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
