"""Checks for lesson 02, linear regression from scratch in NumPy.

The model is ŷ = Xw + b (shape (N,)) and the loss the mean squared error
L = (1/N) Σ (ŷ_i − y_i)².
With the residual r = ŷ − y its gradient is ∂L/∂w = (2/N) Xᵀr and ∂L/∂b = (2/N) Σ r_i,
derived in steps by 02-gradient-steps (:mod:`coursekit.checks.lesson02.steps`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks.lesson02.epoch import NOTEBOOK_ROWS, sgd_epoch
from coursekit.checks.lesson02.references import (
    reference_gradient,
    reference_loss,
    reference_predict,
    reference_sgd_epoch,
)
from coursekit.checks.lesson02.steps import gradient_steps, reference_gradient_steps
from coursekit.checks.score import scorer
from coursekit.exercise import Exercise, Got, Mistake, fail, function, registry
from coursekit.exercise.judging import Data, close
from coursekit.exercise.mistakes import TOLERANCE, same
from coursekit.probes import lesson02 as probes

__all__ = ["EXERCISES", "NOTEBOOK_ROWS", "gradient_steps", "model_and_loss", "mse_gradient",
           "reference_gradient", "reference_gradient_steps", "reference_loss",
           "reference_predict", "reference_sgd_epoch", "score", "sgd_epoch"]


# ---- 02-model-and-loss: predict and mse, each declared, checked together ----


def _model_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Random regressions of 5–11 samples and 1–4 features (always more samples than features,
    so that an (N, d) answer is told apart from an (N, N) one), at a random (w, b)."""
    cases = []
    for n_features in (2, 1, 3, 4):
        n_samples = int(rng.integers(5, 12))
        X = rng.normal(size=(n_samples, n_features))
        y = X @ rng.normal(size=n_features) + rng.normal() + 0.1 * rng.normal(size=n_samples)
        cases.append({"X": X, "y": y, "w": rng.normal(size=n_features),
                      "b": float(rng.normal(loc=1.0))})
    return cases


def _predict_shape(got: Got, X: np.ndarray, w: np.ndarray, b: float) -> str | None:
    """A prediction of the wrong shape, whatever its values: a column, one per feature."""
    (n, d), found = X.shape, got.shape if got.kind == "array" else None
    if found == (n, 1):
        return (f"expected shape ({n},), got ({n}, 1), a column. With y of shape ({n},), ŷ − y "
                f"would broadcast to a ({n}, {n}) matrix (every prediction minus every target) "
                f"without any error: return a vector, X @ w with w of shape ({d},)")
    if found == (n, d):
        return (f"expected shape ({n},), got {found}: X * w multiplies each feature by its "
                "weight but does not add them up; X @ w does both")
    if found == (d,):
        return (f"expected shape ({n},), got ({d},): one number per feature, as if summed over "
                "the samples (axis=0); a prediction sums over the features of one sample: X @ w")
    return None


_PREDICT_MISTAKES = [
    Mistake("the bias is missing: ŷ = Xw + b", lambda X, w, b: X @ w),
    Mistake("b is subtracted: ŷ = Xw + b", lambda X, w, b: X @ w - b),
    Mistake("b multiplies Xw; ŷ = Xw + b adds it", lambda X, w, b: (X @ w) * b),
]


def _loss_shape(got: Got, X: np.ndarray, *_: Any) -> str | None:
    """A loss that is an array: one squared residual per sample, or the (N, N) broadcast."""
    n, found = len(X), got.shape if got.kind == "array" else None
    if found == (n,):
        return (f"expected a float, got an array of shape ({n},): one squared residual per "
                "sample; average them into one number")
    if found == (n, n):
        return (f"expected a float, got an array of shape ({n}, {n}): predictions of shape "
                f"({n}, 1) minus y of shape ({n},) broadcast to every prediction minus every "
                f"target; keep the predictions of shape ({n},)")
    return None


def _sse(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    return float(np.sum((X @ w + b - y) ** 2))


_MSE_MISTAKES = [
    Mistake(lambda X, *_: f"that is the mean over a ({len(X)}, {len(X)}) matrix: predictions of "
            f"shape ({len(X)}, 1) minus y of shape ({len(X)},) broadcast to every prediction "
            f"minus every target; use predictions of shape ({len(X)},)",
            lambda X, y, w, b: np.mean((X @ w[:, None] + b - y) ** 2)),
    Mistake(lambda X, *_: f"that is the sum; the loss is the mean, divide by N={len(X)}", _sse),
    Mistake(lambda X, *_: f"that divides by the number of features d={X.shape[1]} (X.shape[1]); "
            f"the mean is over the N={len(X)} samples (X.shape[0], len(y))",
            lambda X, y, w, b: _sse(X, y, w, b) / X.shape[1]),
    Mistake("half the mean squared error; this lesson's L has no 1/2 factor",
            lambda X, y, w, b: reference_loss(X, y, w, b) / 2),
    Mistake("that is the square root of the mean squared error; the loss has no square root",
            lambda X, y, w, b: np.sqrt(reference_loss(X, y, w, b))),
    Mistake("that squares the mean residual; square each residual first, then take the mean",
            lambda X, y, w, b: np.mean(X @ w + b - y) ** 2),
    Mistake("that is the mean absolute error; square the residuals",
            lambda X, y, w, b: np.mean(np.abs(X @ w + b - y))),
    Mistake("the bias is missing from the prediction in mse: use predict(X, w, b)",
            lambda X, y, w, b: np.mean((X @ w - y) ** 2)),
    Mistake(lambda X, *_: f"that divides by 1000, the notebook's number of samples; this call "
            f"has N={len(X)}: divide by the number of samples in this call, len(y) (or take "
            "np.mean)", lambda X, y, w, b: _sse(X, y, w, b) / 1000),
]

_predict = function(
    "02-model-and-loss", names=("predict",), args=("X", "w", "b"), keep=("X", "w"),
    cases=_model_cases, reference=reference_predict, explain=_predict_shape,
    where=lambda X, w, b: f"predict for X of shape {X.shape}", passed="",
    mistakes=_PREDICT_MISTAKES)
_mse = function(
    "02-model-and-loss", names=("mse",), args=("X", "y", "w", "b"), keep=("X", "y", "w"),
    cases=_model_cases, reference=reference_loss, explain=_loss_shape,
    where=lambda X, y, w, b: f"mse for X of shape {X.shape}", passed="",
    mistakes=_MSE_MISTAKES)


def _judge_model(inputs: Data, data: Data) -> str:
    if not isinstance(data, dict) or set(data) != {"predict", "mse"}:
        raise fail("the check received malformed data")
    _predict.judge(inputs, data["predict"])
    _mse.judge(inputs, data["mse"])
    return (f"ŷ = Xw + b of shape (N,) and L = mean((ŷ − y)²) match on {len(inputs['cases'])} "
            "cases")


def _model_student(wrong: Callable[..., Any]) -> tuple[Any, ...]:
    """A wrong predict (X, w, b) beside the right mse, or the right predict beside a wrong
    mse (X, y, w, b)."""
    if len(inspect.signature(wrong).parameters) == 3:
        return wrong, reference_loss
    return reference_predict, wrong


model_and_loss = Exercise(
    "02-model-and-loss", lambda rng: {"cases": _model_cases(rng)}, probes.model_cases,
    _judge_model, implemented_by=("coursekit.scratch.MSE", "coursekit.scratch.Dense"),
    names=("predict", "mse"), mistakes=(*_PREDICT_MISTAKES, *_MSE_MISTAKES),
    student=_model_student, arguments=lambda case: (case["X"], case["y"], case["w"], case["b"]))


# ---- 02-mse-gradient ----


def _gradient_cases(rng: np.random.Generator, n: int = 5) -> list[dict[str, Any]]:
    """Random regressions of 3–11 samples and 1–4 features, at a random (w, b)."""
    cases = []
    for _ in range(n):
        n_samples, n_features = int(rng.integers(3, 12)), int(rng.integers(1, 5))
        X = rng.normal(size=(n_samples, n_features))
        y = X @ rng.normal(size=n_features) + rng.normal() + 0.1 * rng.normal(size=n_samples)
        cases.append({"X": X, "y": y, "w": rng.normal(size=n_features), "b": float(rng.normal())})
    return cases


_NO_FEATURES = ("every entry of dw equals db, so the features are missing: "
                "∂L/∂w = (2/N)·Xᵀ(ŷ − y)")


def _gradient_parts(got: Got, X: np.ndarray, y: np.ndarray, w: np.ndarray,
                    b: float) -> str | None:
    """Mistakes that leave one part free (the student's own db beside dw without the
    features, a wrong db beside the right dw), or that scale both parts alike: as if divided
    by another number of samples."""
    if got.kind != "list" or got.length != 2 or len(got.items) != 2:
        return None
    dw, db = got.items
    if dw.kind != "array" or dw.shape != (X.shape[1],) or not db.is_number:
        return None
    n, (want_w, want_b) = len(y), reference_gradient(X, y, w, b)
    if close(dw.array, np.full(X.shape[1], 2.0 * np.mean(X @ w + b - y)), **TOLERANCE):
        return _NO_FEATURES
    factor = db.number / want_b if want_b != 0.0 else 0.0
    if factor > 0.0 and not close(factor, 1.0) and \
            same(got, (want_w * factor, want_b * factor)):
        return (f"dw and db are both {factor:.4g} times the right values, as if divided by "
                f"{n / factor:.4g} samples; this call has N={n}: divide by the number of "
                "samples in this call, len(y)")
    if close(dw.array, want_w, **TOLERANCE):
        return "dw is right, db is not: ∂L/∂b = (2/N)·Σ(ŷ − y)"
    return None


def _scaled(factor: float) -> Callable[..., tuple[np.ndarray, float]]:
    def wrong(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
        dw, db = reference_gradient(X, y, w, b)
        return dw * factor, db * factor
    return wrong


mse_gradient = function(
    "02-mse-gradient", names=("mse_gradient",), args=("X", "y", "w", "b"), keep=("X", "y", "w"),
    cases=_gradient_cases, reference=reference_gradient, parts=("dw", "db"), float64=True,
    implemented_by=("coursekit.scratch.MSE",), explain=_gradient_parts,
    where=lambda X, y, w, b: f"for X of shape {X.shape}",
    passed="dw and db match (2/N)·Xᵀ(ŷ − y) and (2/N)·Σ(ŷ − y) on {n} cases",
    mistakes=[
        Mistake("check the sign (the residual is ŷ − y, not y − ŷ)", _scaled(-1.0)),
        Mistake("missing the factor 2 from differentiating the square", _scaled(0.5)),
        Mistake(lambda X, y, w, b: f"that is the gradient of the sum; divide by the number of "
                f"samples N={len(y)} (the loss is a mean)",
                lambda X, y, w, b: _scaled(len(y))(X, y, w, b)),
        Mistake(_NO_FEATURES, lambda X, y, w, b: (np.full(X.shape[1], 2 * np.mean(X @ w + b - y)),
                                                  2 * np.mean(X @ w + b - y))),
        Mistake(lambda X, y, w, b: f"dw is right; db is the sum of 2·r, divide by N={len(y)}",
                lambda X, y, w, b: (reference_gradient(X, y, w, b)[0],
                                    2 * np.sum(X @ w + b - y))),
    ])


EXERCISES = registry(model_and_loss, gradient_steps, mse_gradient, sgd_epoch)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)
