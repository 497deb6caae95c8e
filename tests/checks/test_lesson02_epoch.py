"""Lesson 02's SGD epoch, a behaviour exercise: the wrong epochs its rules name, kept here (its
inputs are runs, not cases, so no Mistake is declared on it)."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson02 as check
from coursekit.data import batches, linear_data


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


def _own_choice_shuffle(X, y, w, b, *, lr, batch_size, rng):
    order = rng.choice(len(y), len(y), replace=False)  # not rng.permutation's order
    losses = []
    for start in range(0, len(y), batch_size):
        rows = order[start:start + batch_size]
        losses.append(check.reference_loss(X[rows], y[rows], w, b))
        dw, db = check.reference_gradient(X[rows], y[rows], w, b)
        w, b = w - lr * dw, b - lr * db
    return w, b, losses


_NOTEBOOK_X, _NOTEBOOK_Y = linear_data(1000, weights=np.array([2.0, -3.4]), bias=4.2, noise=0.01,
                                       random_state=0)


def _epoch_on_the_notebooks_data(X, y, w, b, *, lr, batch_size, rng):
    losses = []
    for Xb, yb in batches(_NOTEBOOK_X, _NOTEBOOK_Y, batch_size=batch_size, random_state=rng):
        residual = Xb @ w + b - yb
        losses.append(float(np.mean(residual**2)))
        w, b = w - lr * 2 * Xb.T @ residual / len(yb), b - lr * 2 * residual.mean()
    return w, b, losses


def _epoch_centring_y(X, y, w, b, *, lr, batch_size, rng):
    y -= 0.0
    y[0] += 1.0  # the caller's y changed
    y[0] -= 1.0
    X[:, 0] += 0.5  # the caller's X changed
    X[:, 0] -= 0.5
    return check.reference_sgd_epoch(X + 1e-3, y, w, b, lr=lr, batch_size=batch_size, rng=rng)


def _epoch_loss_of_all_data(X, y, w, b, *, lr, batch_size, rng):
    losses = []
    for Xb, yb in batches(X, y, batch_size=batch_size, random_state=rng):
        losses.append(check.reference_loss(X, y, w, b))  # the whole data's loss, not the batch's
        dw, db = check.reference_gradient(Xb, yb, w, b)
        w, b = w - lr * dw, b - lr * db
    return w, b, losses


EPOCH_MISTAKES = [
    (_epoch_with(update_sign=1.0), "moved up the gradient"),
    (_epoch_with(shuffle=False), "shuffle them"),
    (_epoch_with(update_b=False), "b never changed"),
    (_epoch_with(loss_after=True), "record each batch's loss before its update"),
    (_epoch_loss_of_all_data, "record each batch's loss before its update, on that batch"),
    (_full_batch, r"an epoch has \d+ steps"),
    (_unchanged, "came back unchanged"),
    (_epoch_variant("no random_state"), r"different batches\): pass random_state=rng"),
    (_epoch_variant("own generator"), r"another rng\): pass random_state=rng"),
    (_epoch_variant("full gradient"), "gradient of the full X, y; compute it on the batch"),
    (_epoch_variant("column losses"), r"shape \(4,\), got \(4, 1\): append float\(loss\)"),
    (lambda X, y, w, b, *, lr, batch_size, rng: (w, b), "expected a triple"),
    (_own_choice_shuffle, r"in the order rng.choice\(N, N, replace=False\) draws; the order "
                          r"must be the one data.batches.*rng.permutation\(N\)"),
    (_epoch_on_the_notebooks_data, "as many as the notebook's 1000 rows give: loop over the X "
                                   "and y passed in"),
    (_epoch_centring_y, r"your function changed `X`( and `y`)? in place"),
]


@pytest.mark.parametrize(("wrong", "message"), EPOCH_MISTAKES)
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_epoch_names_the_mistake(wrong, message: str, seed) -> None:
    with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
        check.sgd_epoch.check(wrong, **({} if seed is None else {"seed": seed}))
