"""Lesson 02's checks pass the reference and name each realistic mistake."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson02 as check
from coursekit.data import batches, linear_data

# ---- 02-mse-gradient ----


def test_gradient_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.mse_gradient(check.reference_gradient)
    assert capsys.readouterr().out.startswith("✔ 02-mse-gradient:")


def test_reference_gradient_matches_central_differences() -> None:
    X, y = linear_data(20, random_state=0)
    w, b, eps = np.array([0.3, -0.7]), 0.5, 1e-6
    dw, db = check.reference_gradient(X, y, w, b)
    for j in range(2):
        step = np.zeros(2)
        step[j] = eps
        numeric = (check.reference_loss(X, y, w + step, b)
                   - check.reference_loss(X, y, w - step, b)) / (2 * eps)
        assert dw[j] == pytest.approx(numeric, rel=1e-6)
    numeric_b = (check.reference_loss(X, y, w, b + eps)
                 - check.reference_loss(X, y, w, b - eps)) / (2 * eps)
    assert db == pytest.approx(numeric_b, rel=1e-6)


def _missing_two(X, y, w, b):
    r = X @ w + b - y
    return X.T @ r / len(y), r.mean()


def _sum_not_mean(X, y, w, b):  # the seed's "Σ 2(θx − y)x"
    r = X @ w + b - y
    return 2 * X.T @ r, 2 * r.sum()


def _missing_x(X, y, w, b):  # the seed's "−(2/n) Σ (y − ŷ)" used for the weights too
    r = X @ w + b - y
    g = 2 * r.mean()
    return np.full(X.shape[1], g), g


def _flipped(X, y, w, b):
    r = y - (X @ w + b)
    return 2 * X.T @ r / len(y), 2 * r.mean()


def _bias_summed(X, y, w, b):
    r = X @ w + b - y
    return 2 * X.T @ r / len(y), 2 * r.sum()


def _global_n(X, y, w, b):  # divides by the lesson's N = 1000, whatever the batch holds
    r = X @ w + b - y
    return 2 * X.T @ r / 1000, 2 * r.sum() / 1000


def _transposed(X, y, w, b):
    r = X @ w + b - y
    return (2 * X.T @ r / len(y)).reshape(1, -1), 2 * r.mean()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_missing_two, "missing the factor 2"),
        (_sum_not_mean, "gradient of the sum; divide by the number of samples"),
        (_missing_x, "the features are missing"),
        (_flipped, "check the sign"),
        (_bias_summed, "db is the sum of 2·r"),
        (_global_n, r"as if divided by 1000 samples.*divide by the number of samples in this "
                    r"call, len\(y\)"),
        (_transposed, r"expected shape \(\d,\), got \(1, \d\)"),
        (lambda X, y, w, b: 2 * X.T @ (X @ w + b - y) / len(y), "expected a pair"),
    ],
)
def test_gradient_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.mse_gradient(wrong)


def test_gradient_reports_not_implemented() -> None:
    def todo(X, y, w, b):
        raise NotImplementedError

    with pytest.raises(ExerciseFailed, match="not implemented yet"):
        check.mse_gradient(todo)


# ---- 02-sgd-epoch ----


def _epoch_with(update_sign: float = -1.0, shuffle: bool = True, update_b: bool = True,
                loss_after: bool = False):
    def epoch(X, y, w, b, *, lr, batch_size, rng):
        losses = []
        for Xb, yb in batches(X, y, batch_size=batch_size, shuffle=shuffle, random_state=rng):
            if not loss_after:
                losses.append(check.reference_loss(Xb, yb, w, b))
            dw, db = check.reference_gradient(Xb, yb, w, b)
            w = w + update_sign * lr * dw
            if update_b:
                b = b + update_sign * lr * db
            if loss_after:
                losses.append(check.reference_loss(Xb, yb, w, b))
        return w, b, losses

    return epoch


def test_epoch_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.sgd_epoch(check.reference_sgd_epoch)
    check.sgd_epoch(_epoch_with())
    assert capsys.readouterr().out.count("✔ 02-sgd-epoch:") == 2


def test_reference_epoch_lowers_the_loss() -> None:
    X, y = linear_data(200, random_state=1)
    w, b = np.zeros(2), 0.0
    before = check.reference_loss(X, y, w, b)
    w, b, losses = check.reference_sgd_epoch(X, y, w, b, lr=0.05, batch_size=10,
                                             rng=np.random.default_rng(0))
    assert len(losses) == 20
    assert check.reference_loss(X, y, w, b) < before / 10


def _epoch_variant(kind: str):
    def epoch(X, y, w, b, *, lr, batch_size, rng):
        if kind == "no random_state":
            order = batches(X, y, batch_size=batch_size)
        elif kind == "own generator":
            order = batches(X, y, batch_size=batch_size, random_state=np.random.default_rng(0))
        else:
            order = batches(X, y, batch_size=batch_size, random_state=rng)
        losses = []
        for Xb, yb in order:
            loss = check.reference_loss(Xb, yb, w, b)
            losses.append(np.array([loss]) if kind == "column losses" else loss)
            if kind == "full gradient":
                dw, db = check.reference_gradient(X, y, w, b)
            else:
                dw, db = check.reference_gradient(Xb, yb, w, b)
            w, b = w - lr * dw, b - lr * db
        if kind == "column losses":
            losses = np.array(losses)  # shape (steps, 1)
        return w, b, losses

    return epoch


def _full_batch(X, y, w, b, *, lr, batch_size, rng):
    loss = check.reference_loss(X, y, w, b)
    dw, db = check.reference_gradient(X, y, w, b)
    return w - lr * dw, b - lr * db, [loss]


def _unchanged(X, y, w, b, *, lr, batch_size, rng):
    losses = [check.reference_loss(Xb, yb, w, b)
              for Xb, yb in batches(X, y, batch_size=batch_size, random_state=rng)]
    return w, b, losses


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_epoch_with(update_sign=1.0), "moved up the gradient"),
        (_epoch_with(shuffle=False), "shuffle them"),
        (_epoch_with(update_b=False), "b never changed"),
        (_epoch_with(loss_after=True), "record each batch's loss before its update"),
        (_full_batch, r"an epoch has \d+ steps"),
        (_unchanged, "came back unchanged"),
        (_epoch_variant("no random_state"), r"different batches\): pass random_state=rng"),
        (_epoch_variant("own generator"), r"another rng\): pass random_state=rng"),
        (_epoch_variant("full gradient"), "gradient of the full X, y; compute it on the batch"),
        (_epoch_variant("column losses"), r"shape \(4,\), got \(4, 1\): append float\(loss\)"),
        (lambda X, y, w, b, *, lr, batch_size, rng: (w, b), "expected a triple"),
    ],
)
def test_epoch_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.sgd_epoch(wrong)
