"""02-gradient-steps: the vectorised gradient derived in steps, each step checked.

With the residual r = Xw + b − y (N,), the partial derivative for one weight is the sum over
the samples ∂L/∂w_j = (2/N) Σ_i X_ij·r_i (the component form, ``dw_columns``); stacked over j
it is the matrix product (2/N)·Xᵀr, whose shape (d, N)·(N,) → (d,) the student predicts from
X's shape (``dw_shape``) before computing it (``dw``); the bias's is (2/N) Σ_i r_i (``db``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks.lesson02.references import reference_predict
from coursekit.exercise import Got, Mistake, Raised, function, same

#: (dw_columns of shape (d,), dw_shape, dw of shape (d,), db).
Steps = tuple[np.ndarray, tuple[int, ...], np.ndarray, float]
_PARTS = ("dw_columns", "dw_shape", "dw", "db")


def reference_gradient_steps(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> Steps:
    """``(dw_columns, dw_shape, dw, db)`` of the mean squared error for X (N, d), y (N,),
    w (d,): one weight at a time, the predicted shape of Xᵀr, all weights at once, the bias."""
    return _steps(X, y, w, b)


def _steps(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, *, sign: float = 1.0,
           two: float = 2.0, mean: bool = True, feature: bool = True,
           shape: str = "d", product_scaled: bool = True, bias: str = "mean") -> Steps:
    """The steps with one slip chosen by the keywords (the defaults are right): the residual
    flipped, the square's 2 or the mean's 1/N dropped, the feature X_ij missing from
    ∂r_i/∂w_j, another shape predicted, the product without its 2/N, another db."""
    n, d = X.shape
    r = sign * (reference_predict(X, w, b) - y)
    scale = two / (n if mean else 1)
    columns = np.array([scale * np.sum(r * (X[:, j] if feature else 1.0)) for j in range(d)],
                       dtype=np.float64)
    predicted = {"d": (d,), "N": (n,), "X.T": (d, n), "X": (n, d)}[shape]
    dw = (X.T @ r) * (scale if product_scaled else 1.0) if feature else columns.copy()
    db: Any = {"mean": lambda: float(scale * np.sum(r)), "each": lambda: two * r,
               "sum": lambda: float(two * np.sum(r))}[bias]()
    return columns, predicted, dw, db


def _slip(**slip: Any) -> Callable[..., Steps]:
    return lambda X, y, w, b: _steps(X, y, w, b, **slip)


def _gradient_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Regressions of 5–11 samples and 1–4 features (two features first, as in the lesson),
    at a random (w, b). Always more samples than features: N ≠ d, so X @ r cannot line up
    and a predicted (N,) or (N, d) differs from (d,) or (d, N)."""
    cases = []
    for n_features in (2, 3, 1, 4):
        n_samples = int(rng.integers(n_features + 3, 12))
        X = rng.normal(size=(n_samples, n_features))
        y = X @ rng.normal(size=n_features) + rng.normal() + 0.1 * rng.normal(size=n_samples)
        cases.append({"X": X, "y": y, "w": rng.normal(size=n_features), "b": float(rng.normal())})
    return cases


def _first_wrong_part(got: Got, X: np.ndarray, y: np.ndarray, w: np.ndarray,
                      b: float) -> str | None:
    """The first part that differs from the reference, named by the slip of that step whose
    wrong version gives it (whatever the other parts hold; step 1's slips also in dw and db),
    or by what its shape says."""
    if got.kind != "list" or got.length != 4 or len(got.items) != 4:
        return None
    (n, d), want = X.shape, reference_gradient_steps(X, y, w, b)
    for k, (name, item) in enumerate(zip(_PARTS, got.items, strict=True)):
        if same(item, want[k]):
            continue
        if name == "dw_shape" and item.is_number and item.kind == "int":
            return (f"dw_shape: a shape is a tuple of ints, one per axis: ({item.number:g},) "
                    "for a vector, not the number itself")
        if name == "db" and item.kind == "array" and item.shape == (n,):
            return _DB_EACH
        if name in ("dw_columns", "dw") and item.kind == "array" and item.shape == (d, n):
            return (f"{name}: got shape ({d}, {n}), one term per feature and sample: add the "
                    "terms over the samples (the sum over i), leaving one number per weight")
        for mistake in gradient_steps.mistakes:
            said = mistake.says(X, y, w, b)
            # a slip of step 1 (the sign, the 2, the 1/N) made again in dw or db
            said = f"{name}:" + said.removeprefix("dw_columns:") if name in ("dw", "db") \
                and said.startswith("dw_columns:") else said
            candidate = mistake.candidate(X, y, w, b)
            if said.startswith(f"{name}:") and candidate is not None and \
                    same(item, candidate[k]):
                return said
        return None
    return None


_DB_EACH = ("db: that is one value per sample; b is shared by all the samples, so their terms "
            "2·r_i add up into one number, with the 1/N of the mean")
_SHAPES = ("a matrix product whose shapes do not line up. X is (N, d) and r is (N,): X @ r "
           "pairs each row of X (d numbers) with r (N numbers). The sum over the samples i of "
           "X_ij·r_i runs down column j, so the matrix whose rows are X's columns goes first: "
           "Xᵀ r, (d, N)·(N,) → (d,)")

gradient_steps = function(
    "02-gradient-steps", names=("gradient_steps",), args=("X", "y", "w", "b"),
    keep=("X", "y", "w"), cases=_gradient_cases, reference=reference_gradient_steps,
    parts=_PARTS, float64=True, explain=_first_wrong_part,
    implemented_by=("coursekit.scratch.MSE",),
    where=lambda X, y, w, b: f"for X of shape {X.shape}",
    passed="∂L/∂w_j one weight at a time, the shape of Xᵀr, dw = (2/N)·Xᵀr and db match on "
           "{n} cases",
    raised=[Raised("ValueError", contains="matmul", says=f"{_SHAPES} (NumPy: {{message}})"),
            Raised("ValueError", contains="not aligned", says=f"{_SHAPES} (NumPy: {{message}})"),
            Raised("ValueError", contains="broadcast",
                   says="X * r multiplies X (N, d) by r (N,) entry by entry, which lines r up "
                        "with X's columns, not its rows (NumPy: {message}): take one column "
                        "X[:, j] at a time, or make r a column, r[:, None]")],
    mistakes=[
        Mistake("dw_columns: the residual is r = ŷ − y, prediction minus target, as in L; with "
                "y − ŷ every part changes sign and descent would climb", _slip(sign=-1.0)),
        Mistake("dw_columns: ∂(r_i²)/∂r_i = 2r_i: the factor 2 that the square brings down is "
                "missing", _slip(two=1.0)),
        Mistake(lambda X, *_: f"dw_columns: L is the mean over the N={len(X)} samples, so "
                "every ∂L/∂r_i carries 1/N: that is the gradient of the sum", _slip(mean=False)),
        Mistake("dw_columns: r_i depends on w_j through the term X_ij·w_j, so ∂r_i/∂w_j = X_ij: "
                "that factor is missing, and every weight got the bias's gradient",
                _slip(feature=False)),
        Mistake(lambda X, *_: f"dw_shape: ({len(X)},) is the shape of r (one entry per sample); "
                f"Xᵀ is {X.shape[::-1]}, and (d, N)·(N,) sums over the N samples, leaving one "
                "entry per weight", _slip(shape="N")),
        Mistake("dw_shape: that is the shape of Xᵀ; multiplying it by r (N,) sums over the "
                "samples, so the N axis goes away", _slip(shape="X.T")),
        Mistake("dw_shape: that is the shape of X; the gradient has one entry per weight, like "
                "w", _slip(shape="X")),
        Mistake("dw: Xᵀr is Σ_i X_ij·r_i alone: keep the 2/N of step 1 (your dw_columns have "
                "it)", _slip(product_scaled=False)),
        Mistake(_DB_EACH, _slip(bias="each")),
        Mistake(lambda X, *_: f"db: that is the sum of 2·r_i; L is a mean, divide by N={len(X)}",
                _slip(bias="sum")),
    ])
