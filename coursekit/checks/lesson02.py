"""Checks for lesson 02, linear regression from scratch in NumPy.

The model is ŷ = Xw + b (shape (N,)) and the loss the mean squared error
L = (1/N) Σ (ŷ_i − y_i)².
With the residual r = ŷ − y its gradient is ∂L/∂w = (2/N) Xᵀr and ∂L/∂b = (2/N) Σ r_i.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._legacy import diagnose, mistake
from coursekit.checks.score import scorer
from coursekit.data import TRUE_BIAS, TRUE_WEIGHTS, batches, steps_per_epoch
from coursekit.exercise.judging import (
    FLOAT32,
    Data,
    Tolerance,
    close,
    describe,
    expect_array,
    expect_scalar,
    expect_tuple,
    fail,
    results,
    value,
)
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson02 as probes

#: How close a student's numbers must be to the reference's.
TOLERANCE: Tolerance = {"rtol": 1e-6, "atol": 1e-8}


def reference_predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """ŷ = Xw + b of shape (N,) for X (N, d), w (d,)."""
    return X @ w + b


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
    order: np.ndarray | None = None,
    direction: float = -1.0,
    full_gradient: bool = False,
) -> tuple[np.ndarray, float, list[float]]:
    """The reference epoch, or a known mistake: no shuffling, an ``order`` of the rows other
    than ``data.batches``', stepping up the gradient, or taking the gradient on the full data
    instead of the batch."""
    w = np.array(w, dtype=np.float64)
    if order is None:
        visits = batches(X, y, batch_size=batch_size, shuffle=shuffle, random_state=rng)
    else:
        visits = ((X[order[k:k + batch_size]], y[order[k:k + batch_size]])
                  for k in range(0, len(order), batch_size))
    losses = []
    for X_batch, y_batch in visits:
        losses.append(reference_loss(X_batch, y_batch, w, b))
        if full_gradient:
            dw, db = reference_gradient(X, y, w, b)
        else:
            dw, db = reference_gradient(X_batch, y_batch, w, b)
        w = w + direction * lr * dw
        b = b + direction * lr * db
    return w, float(b), losses


# ---- 02-model-and-loss ----


def _model_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Random regressions of 5–11 samples and 1–4 features (always more samples than features,
    so that an (N, d) answer is told apart from an (N, N) one), at a random (w, b)."""
    cases = []
    for n_features in (2, 1, 3, 4):
        n_samples = int(rng.integers(5, 12))
        X = rng.normal(size=(n_samples, n_features))
        y = X @ rng.normal(size=n_features) + rng.normal() + 0.1 * rng.normal(size=n_samples)
        cases.append({"X": X, "y": y, "w": rng.normal(size=n_features),
                      "b": float(rng.normal(loc=1.0))})
    return {"cases": cases}


def _judge_predictions(case: Data, got: Data) -> None:
    X, w, b = case["X"], case["w"], case["b"]
    n, d = X.shape
    shape = f"for X of shape {X.shape}"
    got = value(got)
    found = tuple(got["shape"]) if got["kind"] == "array" else None
    if found == (n, 1):
        raise fail(f"predict {shape}: expected shape ({n},), got ({n}, 1), a column. With y of "
                   f"shape ({n},), ŷ − y would broadcast to a ({n}, {n}) matrix (every "
                   "prediction minus every target) without any error: return a vector, "
                   f"X @ w with w of shape ({d},)")
    if found == (n, d):
        raise fail(f"predict {shape}: expected shape ({n},), got {found}: X * w multiplies "
                   "each feature by its weight but does not add them up; X @ w does both")
    if found == (d,):
        raise fail(f"predict {shape}: expected shape ({n},), got ({d},): one number per "
                   "feature, as if summed over the samples (axis=0); a prediction sums over "
                   "the features of one sample: X @ w")
    predictions = expect_array(got, (n,), f"predict {shape}")
    want = reference_predict(X, w, b)
    diagnose(predictions, want, {
        "the bias is missing: ŷ = Xw + b": X @ w,
        "b is subtracted: ŷ = Xw + b": X @ w - b,
        "b multiplies Xw; ŷ = Xw + b adds it": (X @ w) * b,
    }, where=f"predict {shape}: expected {np.round(want[:3], 4)}…, got "
             f"{np.round(predictions[:3], 4)}…", **TOLERANCE)


def _judge_loss(case: Data, got: Data) -> None:
    X, y, w, b = case["X"], case["y"], case["w"], case["b"]
    n, d = X.shape
    shape = f"for X of shape {X.shape}"
    got = value(got)
    found = tuple(got["shape"]) if got["kind"] == "array" else None
    if found == (n,):
        raise fail(f"mse {shape}: expected a float, got an array of shape ({n},): one squared "
                   "residual per sample; average them into one number")
    if found == (n, n):
        raise fail(f"mse {shape}: expected a float, got an array of shape ({n}, {n}): "
                   f"predictions of shape ({n}, 1) minus y of shape ({n},) broadcast to every "
                   f"prediction minus every target; keep the predictions of shape ({n},)")
    number = expect_scalar(got, f"mse {shape}")
    residual = X @ w + b - y
    want = reference_loss(X, y, w, b)
    diagnose(number, want, {
        f"that is the mean over a ({n}, {n}) matrix: predictions of shape ({n}, 1) minus y of "
        f"shape ({n},) broadcast to every prediction minus every target; use predictions of "
        f"shape ({n},)": float(np.mean((residual[:, None] + y[:, None] - y[None, :]) ** 2)),
        f"that is the sum; the loss is the mean, divide by N={n}": want * n,
        f"that divides by the number of features d={d} (X.shape[1]); the mean is over the "
        f"N={n} samples (X.shape[0], len(y))": want * n / d,
        "half the mean squared error; this lesson's L has no 1/2 factor": want / 2,
        "that is the square root of the mean squared error; the loss has no square root":
            float(np.sqrt(want)),
        "that squares the mean residual; square each residual first, then take the mean":
            float(np.mean(residual) ** 2),
        "that is the mean absolute error; square the residuals": float(np.mean(np.abs(residual))),
        "the bias is missing from the prediction in mse: use predict(X, w, b)":
            float(np.mean((X @ w - y) ** 2)),
        f"that divides by 1000, the notebook's number of samples; this call has N={n}: divide "
        "by the number of samples in this call, len(y) (or take np.mean)": want * n / 1000,
    }, where=f"mse {shape} should be {want:.4f}, got {number:.4f}", **TOLERANCE)


def _judge_model(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    if isinstance(data, dict) and data.get("kind") == "raised":
        results(data, len(cases))  # fails with what the probe raised
    if not isinstance(data, dict) or set(data) != {"predict", "mse"}:
        raise fail("the check received malformed data")
    for case, got in zip(cases, results(data["predict"], len(cases)), strict=True):
        _judge_predictions(case, got)
    for case, got in zip(cases, results(data["mse"], len(cases)), strict=True):
        _judge_loss(case, got)
    return (f"ŷ = Xw + b of shape (N,) and L = mean((ŷ − y)²) match on {len(cases)} "
            "cases")


# ---- 02-mse-gradient ----


def _gradient_cases(rng: np.random.Generator, n: int = 5) -> dict[str, Any]:
    """Random regressions of 3–11 samples and 1–4 features, at a random (w, b)."""
    cases = []
    for _ in range(n):
        n_samples, n_features = int(rng.integers(3, 12)), int(rng.integers(1, 5))
        X = rng.normal(size=(n_samples, n_features))
        y = X @ rng.normal(size=n_features) + rng.normal() + 0.1 * rng.normal(size=n_samples)
        cases.append({"X": X, "y": y, "w": rng.normal(size=n_features), "b": float(rng.normal())})
    return {"cases": cases}


def _judge_gradient(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        X, y, w, b = case["X"], case["y"], case["w"], case["b"]
        n, d = X.shape
        shape = f"for X of shape {X.shape}"
        dw, db = expect_tuple(got, 2, "a pair (dw, db)", what=shape)
        got_w = expect_array(dw, (d,), f"dw {shape}")
        got_b = expect_scalar(db, f"db {shape}")
        want_w, want_b = reference_gradient(X, y, w, b)
        residual = X @ w + b - y
        want = np.append(want_w, want_b)
        # A candidate keeps the student's own dw or db where that mistake leaves it free.
        factor = got_b / want_b if want_b != 0.0 else 0.0
        diagnose(np.append(got_w, got_b), want, {
            "check the sign (the residual is ŷ − y, not y − ŷ)": -want,
            "missing the factor 2 from differentiating the square": want / 2,
            f"that is the gradient of the sum; divide by the number of samples N={n} (the loss "
            "is a mean)": want * n,
            "every entry of dw equals db, so the features are missing: ∂L/∂w = (2/N)·Xᵀ(ŷ − y)":
                np.append(np.full(d, 2.0 * residual.mean()), got_b),
            f"dw and db are both {factor:.4g} times the right values, as if divided by "
            f"{n / factor if factor else 0:.4g} samples; this call has N={n}: divide by the "
            "number of samples in this call, len(y)":
                want * factor if factor > 0.0 and not close(factor, 1.0) else None,
            f"dw is right; db is the sum of 2·r, divide by N={n}":
                np.append(want_w, 2.0 * residual.sum()),
            "dw is right, db is not: ∂L/∂b = (2/N)·Σ(ŷ − y)": np.append(want_w, got_b),
        }, where=f"{shape}, dw should be {np.round(want_w, 4)} and db {want_b:.4f}, got "
                 f"{np.round(got_w, 4)} and {got_b:.4f}", **TOLERANCE)
    return (f"dw and db match (2/N)·Xᵀ(ŷ − y) and (2/N)·Σ(ŷ − y) on {len(cases)} "
            "cases")


# ---- 02-sgd-epoch ----

#: (N, batch_size, lr) of the runs: several full batches, a remainder, one batch, batches of 1.
_RUNS = [(40, 10, 0.05), (37, 8, 0.1), (25, 25, 0.2), (12, 1, 0.02)]


def _epoch_runs(rng: np.random.Generator) -> dict[str, Any]:
    """Noisy data from w = [2, −3.4], b = 4.2, a random start and a random shuffling seed per
    run. A run with several batches also lists its seed twice and another seed, so the judge
    sees whether the batches follow the rng argument."""
    runs = []
    for n, batch_size, lr in _RUNS:
        X = rng.normal(size=(n, 2))
        y = X @ TRUE_WEIGHTS + TRUE_BIAS + 0.01 * rng.normal(size=n)
        w, b = rng.normal(size=2), float(rng.normal())
        seed = int(rng.integers(1_000_000))
        runs.append({"X": X, "y": y, "w": w, "b": b, "lr": lr, "batch_size": batch_size,
                     "seeds": [seed, seed, seed + 1] if batch_size < n else [seed]})
    return {"runs": runs}


def _vector(got: Data, length: int, what: str) -> np.ndarray:
    """An array of shape (length,); a list of plain numbers counts as one."""
    got = value(got)
    if got["kind"] == "list" and all(isinstance(item, dict) and item.get("kind") in ("int", "float")
                                     for item in got["items"]):
        got = {"kind": "array", "type": "ndarray", "shape": [len(got["items"])],
               "value": np.array([item["value"] for item in got["items"]], dtype=np.float64)}
    return expect_array(got, (length,), what)


def _epoch_result(got: Data, d: int) -> tuple[np.ndarray, float, Data]:
    w, b, losses = expect_tuple(got, 3, "a triple (w, b, losses)")
    return _vector(w, d, "the returned w"), expect_scalar(b, "the returned b"), value(losses)


#: The number of rows of the notebook's data set (a loop over it gives this many rows' batches).
NOTEBOOK_ROWS = 1000


def _loss_values(losses: Data, steps: int, run: str, batch_size: int) -> np.ndarray:
    """The recorded losses as a float64 array of shape (steps,), or fail saying what they were."""
    kind = losses["kind"]
    count = losses.get("length") if kind == "list" else \
        losses["shape"][0] if kind == "array" and len(losses["shape"]) > 0 else None
    if count != steps and count == steps_per_epoch(NOTEBOOK_ROWS, batch_size):
        raise fail(f"{run} an epoch has {steps} steps, got {count} losses, as many as the "
                   f"notebook's {NOTEBOOK_ROWS} rows give: loop over the X and y passed in, "
                   "not the notebook's X, y")
    if count != steps:
        raise fail(f"{run} an epoch has {steps} steps (the last batch holds the remainder), so "
                   f"losses should hold {steps} values, got "
                   f"{describe(losses) if count is None else count}")
    if kind == "array":
        found: Any = tuple(losses["shape"])
        values = np.asarray(losses["value"], dtype=np.float64)
    else:
        items = losses["items"]
        shapes = {() if item.get("kind") in ("int", "float", "bool") else
                  tuple(item["shape"]) if item.get("kind") == "array" else None
                  for item in items}
        if len(shapes) != 1 or None in shapes:
            found = "entries of different sizes" if None not in shapes else \
                "entries that are not numbers"
            values = np.empty(0)
        else:
            shape = shapes.pop()
            assert shape is not None  # None is not in shapes
            found = (steps, *shape)
            values = np.array([np.asarray(item["value"], dtype=np.float64) for item in items])
    if found != (steps,):
        raise fail(f"{run}: losses should be {steps} plain floats, shape ({steps},), got "
                   f"{found}: append float(loss), one number per batch")
    return values


#: Own shuffles that follow the rng in another order than rng.permutation(N), data.batches'
#: (rng.shuffle(np.arange(N)) and rng.permuted draw the same order as rng.permutation).
_OWN_SHUFFLES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "rng.choice(N, N, replace=False)": lambda rng, n: rng.choice(n, n, replace=False),
    "rng.choice(N, N)": lambda rng, n: rng.choice(n, n),
}


def _returned_w(got: Data, d: int) -> np.ndarray | None:
    """The w a call returned, or None when it did not return a readable (w, b, losses)."""
    try:
        return _epoch_result(got, d)[0]
    except Exception:  # a Failure or malformed data: no evidence either way
        return None


def _rng_mistake(calls: list[Data], got_w: np.ndarray, d: int) -> str | None:
    """Whether the batches ignore the rng argument, from the same seed twice and another seed:
    a function that uses the rng it is given repeats itself exactly only in the first case."""
    if len(calls) != 3:
        return None
    again, other = (_returned_w(call, d) for call in calls[1:])
    if again is not None and not close(again, got_w, **TOLERANCE):
        what = "different batches"
    elif other is not None and close(other, got_w, **TOLERANCE):
        what = "the same batches as another rng"
    else:
        return None
    return (f"your batches do not come from the rng argument (the same rng gave {what}): pass "
            "random_state=rng to data.batches")


def _judge_run(run: Data, calls: Data) -> None:
    X, y, w0, b0 = run["X"], run["y"], run["w"], run["b"]
    lr, batch_size, seed = run["lr"], run["batch_size"], run["seeds"][0]
    if not isinstance(calls, list) or len(calls) != len(run["seeds"]):
        raise fail("the check received malformed data")
    n, d = X.shape
    got_w, got_b, losses = _epoch_result(calls[0], d)
    where = f"with {n} samples, batch_size={batch_size}"
    got_losses = _loss_values(losses, steps_per_epoch(n, batch_size), where, batch_size)

    def epoch(**error: Any) -> tuple[np.ndarray, float]:
        w, b, _ = _epoch(X, y, w0, b0, lr=lr, batch_size=batch_size,
                         rng=np.random.default_rng(seed), **error)
        return w, b

    want_w, want_b, want_losses = reference_sgd_epoch(X, y, w0, b0, lr=lr, batch_size=batch_size,
                                                      rng=np.random.default_rng(seed))
    got = np.append(got_w, got_b)
    # float32 arithmetic is accepted: the lesson compares the learned parameters with the true
    # ones to 0.01, far above float32's rounding
    if close(got, np.append(want_w, want_b), **FLOAT32) \
            and close(got_losses, want_losses, **FLOAT32):
        return
    own_order = ("your batches follow the rng but come in the order {} draws; the order must be "
                 "the one data.batches(X, y, batch_size=batch_size, random_state=rng) draws, "
                 "rng.permutation(N): loop over data.batches rather than shuffling the rows "
                 "yourself")
    hints = {  # message -> the (w, b) that mistake returns
        "w and b came back unchanged: return the updated parameters": (w0, b0),
        "w and b are right but the losses are not: record each batch's loss before its "
        "update, on that batch": (want_w, want_b),
        "these are the batches in the data's own order; shuffle them with "
        "data.batches(..., random_state=rng)": epoch(shuffle=False),
        **{own_order.format(shuffle): epoch(order=draw(np.random.default_rng(seed), n))
           for shuffle, draw in _OWN_SHUFFLES.items()},
        "the parameters moved up the gradient; step against it: w − lr·dw, b − lr·db":
            epoch(direction=1.0),
        "each step used the gradient of the full X, y; compute it on the batch: "
        "mse_gradient(X_batch, y_batch, w, b)": epoch(full_gradient=True),
        "b never changed: update it with b − lr·db too": (got_w, b0),
    }
    rng = _rng_mistake(calls, got_w, d)
    otherwise = f"{where}: {rng}" if rng else (
        f"{where}, lr={lr:g}: expected w={np.round(want_w, 4)}, b={want_b:.4f}, got "
        f"w={np.round(got_w, 4)}, b={got_b:.4f}")
    raise mistake(got, {hint: np.append(*pair) for hint, pair in hints.items()}, where=where,
                  otherwise=otherwise, **TOLERANCE)


def _judge_epoch(inputs: Data, data: Data) -> str:
    runs = inputs["runs"]
    for run, calls in zip(runs, results(data, len(runs)), strict=True):
        _judge_run(run, calls)
    return f"one epoch of mini-batch SGD matches on {len(runs)} runs"


MODEL_AND_LOSS = Exercise("02-model-and-loss", _model_cases, probes.model_cases, _judge_model,
                          implemented_by=("coursekit.scratch.MSE", "coursekit.scratch.Dense"),
                          names=("predict", "mse"))
MSE_GRADIENT = Exercise("02-mse-gradient", _gradient_cases, probes.gradient_cases,
                        _judge_gradient, implemented_by=("coursekit.scratch.MSE",),
                        names=("mse_gradient",))
SGD_EPOCH = Exercise("02-sgd-epoch", _epoch_runs, probes.epoch_runs, _judge_epoch,
                     implemented_by=("coursekit.scratch.Sequential.fit", "coursekit.scratch.SGD"),
                     names=("sgd_epoch",))
EXERCISES = registry(MODEL_AND_LOSS, MSE_GRADIENT, SGD_EPOCH)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def model_and_loss(
    predict: Callable[[np.ndarray, np.ndarray, float], np.ndarray],
    mse: Callable[[np.ndarray, np.ndarray, np.ndarray, float], float],
) -> None:
    """Check ``predict(X, w, b)`` returns ŷ = Xw + b of shape (N,), then ``mse(X, y, w, b)``
    returns the mean squared error as one number."""
    MODEL_AND_LOSS.check(predict, mse)


def mse_gradient(
    gradient: Callable[[np.ndarray, np.ndarray, np.ndarray, float], tuple[np.ndarray, float]],
) -> None:
    """Check ``gradient(X, y, w, b)`` returns (∂L/∂w, ∂L/∂b) of the mean squared error."""
    MSE_GRADIENT.check(gradient)


def sgd_epoch(epoch: Callable[..., tuple[np.ndarray, float, list[float]]]) -> None:
    """Check ``epoch(X, y, w, b, lr=, batch_size=, rng=)`` runs one epoch of mini-batch SGD.

    The student's function must visit the batches of
    ``coursekit.data.batches(X, y, batch_size=batch_size, random_state=rng)`` in order, record
    each batch's loss before its update, and return ``(w, b, losses)``.
    """
    SGD_EPOCH.check(epoch)
