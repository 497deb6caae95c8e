"""Checks for lesson 04, training a NumPy network.

The update rules are the ones ``coursekit.scratch`` (and ``torch.optim``) use:

- momentum: ``v ← βv + g`` (v starts at 0), ``p ← p − lr·v``;
- Adam: ``m ← β₁m + (1 − β₁)g``, ``v ← β₂v + (1 − β₂)g²``, and at step t = 1, 2, ...
  ``p ← p − lr·m̂ / (√v̂ + ε)`` with ``m̂ = m / (1 − β₁ᵗ)``, ``v̂ = v / (1 − β₂ᵗ)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._legacy import call, close, describe, expect_array, fail, passed


def reference_momentum_update(
    param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, *, lr: float, momentum: float
) -> tuple[np.ndarray, np.ndarray]:
    """One SGD-with-momentum step: arrays of one shape in, (new param, new velocity) out."""
    velocity = momentum * velocity + grad
    return param - lr * velocity, velocity


def reference_adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step number ``t`` (1-based): arrays of one shape in, (param, m, v) out."""
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad**2
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _unpack(exercise: str, value: Any, n: int, names: str) -> tuple[Any, ...]:
    if not isinstance(value, tuple | list) or len(value) != n:
        raise fail(exercise, f"expected a tuple ({names}), got {describe(value)}")
    return tuple(value)


def _gradients(rng: np.random.Generator, shape: tuple[int, ...], n_steps: int) -> list[np.ndarray]:
    # Gradients of a few magnitudes, so a misplaced eps or a missing correction shows.
    return [rng.normal(size=shape) * scale for scale in np.geomspace(1e-3, 1.0, n_steps)]


def _returns_corrected_m(
    exercise: str, update: Callable[..., Any], param: np.ndarray, grad: np.ndarray, *,
    lr: float, beta1: float, beta2: float, eps: float,
) -> bool:
    """Whether ``update`` returns m̂ for m, probed at t=2 from a nonzero m.

    At t=1 from m=0 the bias-corrected m̂ equals g, which is also what the β₁m + g mistake
    returns; one extra call from a state where the two differ tells them apart.
    """
    m0, v0 = np.abs(grad) + 0.5, grad**2 + 0.25
    raw = call(exercise, update, param.copy(), grad.copy(), m0.copy(), v0.copy(), 2, lr=lr,
               beta1=beta1, beta2=beta2, eps=eps)
    if not isinstance(raw, tuple | list) or len(raw) != 3:
        return False
    want_m = beta1 * m0 + (1.0 - beta1) * grad
    return close(np.asarray(raw[1], dtype=np.float64), want_m / (1.0 - beta1**2))


def momentum_update(update: Callable[..., tuple[np.ndarray, np.ndarray]]) -> None:
    """Check ``update(param, grad, velocity, lr=, momentum=)`` over several successive steps."""
    exercise = "04-momentum-update"
    rng = np.random.default_rng(401)
    runs = [((3, 4), 0.1, 0.9), ((5,), 0.05, 0.5), ((2, 3), 1.0, 0.0)]
    for shape, lr, beta in runs:
        param = rng.normal(size=shape)
        velocity = np.zeros(shape)
        want_p, want_v = param.copy(), velocity.copy()
        for step, grad in enumerate(_gradients(rng, shape, 4), start=1):
            raw = call(exercise, update, param.copy(), grad.copy(), velocity.copy(), lr=lr,
                       momentum=beta)
            new_p, new_v = _unpack(exercise, raw, 2, "param, velocity")
            got_p = expect_array(exercise, new_p, shape, f"step {step}: param")
            got_v = expect_array(exercise, new_v, shape, f"step {step}: velocity")
            prev_v = want_v
            want_p, want_v = reference_momentum_update(want_p, grad, want_v, lr=lr,
                                                       momentum=beta)
            where = f"lr={lr:g}, momentum={beta:g}, step {step}"
            if close(got_p, want_p) and close(got_v, want_v):
                param, velocity = got_p, got_v
                continue
            if close(got_p, want_v) and close(got_v, want_p) and not close(want_p, want_v):
                raise fail(exercise, f"{where}: your first array is the velocity and your second "
                           "the param: the return order is (param, velocity)")
            if close(got_v, want_v) and close(got_p, param - lr * prev_v) \
                    and not close(want_v, prev_v):
                raise fail(exercise, f"{where}: velocity is right but the step used the old "
                           "velocity: update v ← βv + g first, then step with the new one, "
                           "p ← p − lr·v")
            if close(got_p, want_p) and close(got_v, -lr * want_v):
                raise fail(exercise, f"{where}: param is right but your velocity is −lr × ours "
                           "(the v ← βv − lr·g convention); this course stores v ← βv + g and "
                           "steps p ← p − lr·v, as PyTorch does")
            if close(got_v, beta * prev_v + (1 - beta) * grad):
                raise fail(exercise, f"{where}: velocity is an average βv + (1 − β)g; momentum "
                           "SGD adds the full gradient: v ← βv + g")
            if close(got_v, prev_v + beta * grad) or close(got_v, beta * grad + prev_v):
                raise fail(exercise, f"{where}: β multiplies the old velocity, not the gradient: "
                           "v ← βv + g")
            if close(got_v, want_v) and close(got_p, param + lr * want_v):
                raise fail(exercise, f"{where}: the parameter moved up the gradient: "
                           "p ← p − lr·v")
            if close(got_v, want_v) and close(got_p, param - lr * grad):
                raise fail(exercise, f"{where}: velocity is right but the step used the raw "
                           "gradient: step along the velocity, p ← p − lr·v")
            if step > 1 and close(got_v, grad):
                raise fail(exercise, f"{where}: the velocity forgot its past (v = g): "
                           "start from the velocity passed in, v ← βv + g")
            raise fail(exercise, f"{where}: param or velocity differs from v ← βv + g, "
                       "p ← p − lr·v")
    passed(exercise, f"4 successive steps match on {len(runs)} runs")


def adam_update(update: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Check ``update(param, grad, m, v, t, lr=, beta1=, beta2=, eps=)`` over successive steps."""
    exercise = "04-adam-update"
    rng = np.random.default_rng(402)
    runs = [((3, 4), 0.01, 0.9, 0.999), ((6,), 0.1, 0.8, 0.99), ((2, 2), 0.001, 0.9, 0.999)]
    eps = 1e-8
    for shape, lr, beta1, beta2 in runs:
        param = rng.normal(size=shape)
        m, v = np.zeros(shape), np.zeros(shape)
        want = (param.copy(), m.copy(), v.copy())
        for t, grad in enumerate(_gradients(rng, shape, 5), start=1):
            raw = call(exercise, update, param.copy(), grad.copy(), m.copy(), v.copy(), t,
                       lr=lr, beta1=beta1, beta2=beta2, eps=eps)
            new = _unpack(exercise, raw, 3, "param, m, v")
            got_p = expect_array(exercise, new[0], shape, f"step {t}: param")
            got_m = expect_array(exercise, new[1], shape, f"step {t}: m")
            got_v = expect_array(exercise, new[2], shape, f"step {t}: v")
            prev_m, prev_v = want[1], want[2]
            want = reference_adam_update(want[0], grad, prev_m, prev_v, t, lr=lr, beta1=beta1,
                                         beta2=beta2, eps=eps)
            where = f"lr={lr:g}, betas=({beta1:g}, {beta2:g}), step t={t}"
            if close(got_p, want[0]) and close(got_m, want[1]) and close(got_v, want[2]):
                param, m, v = got_p, got_m, got_v
                continue
            m_hat, v_hat = want[1] / (1 - beta1**t), want[2] / (1 - beta2**t)
            corrected = fail(exercise, f"{where}: you returned the bias-corrected m̂ (and v̂); "
                             "return the raw m and v, use m̂ and v̂ only for the step")
            if not close(got_m, want[1]):
                if close(got_m, m_hat) and (close(got_v, v_hat) or _returns_corrected_m(
                        exercise, update, param, grad, lr=lr, beta1=beta1, beta2=beta2,
                        eps=eps)):
                    raise corrected
                if beta1 != 0.9 and close(got_m, 0.9 * prev_m + 0.1 * grad):
                    raise fail(exercise, f"{where}: m was averaged with 0.9, but this call "
                               f"passed beta1={beta1:g}: use the beta1/beta2 arguments, not "
                               "hard-coded 0.9 and 0.999")
                if close(got_m, beta1 * prev_m + grad):
                    raise fail(exercise, f"{where}: m must be a moving average: "
                               "m ← β₁m + (1 − β₁)g")
                if close(got_m, beta2 * prev_m + (1 - beta2) * grad):
                    raise fail(exercise, f"{where}: m uses β₂; the first moment uses β₁ "
                               "(and v uses β₂)")
                raise fail(exercise, f"{where}: m differs from β₁m + (1 − β₁)g")
            if not close(got_v, want[2]):
                if close(got_v, v_hat):
                    raise corrected
                if beta2 != 0.999 and close(got_v, 0.999 * prev_v + 0.001 * grad**2):
                    raise fail(exercise, f"{where}: v was averaged with 0.999, but this call "
                               f"passed beta2={beta2:g}: use the beta1/beta2 arguments, not "
                               "hard-coded 0.9 and 0.999")
                if close(got_v, beta2 * prev_v + (1 - beta2) * grad):
                    raise fail(exercise, f"{where}: v averages the squared gradient: "
                               "v ← β₂v + (1 − β₂)g²")
                if close(got_v, beta1 * prev_v + (1 - beta1) * grad**2):
                    raise fail(exercise, f"{where}: v uses β₁; the second moment uses β₂")
                raise fail(exercise, f"{where}: v differs from β₂v + (1 − β₂)g²")
            if not np.all(np.isfinite(got_p)):
                raise fail(exercise, f"{where}: m and v are right but param became nan or inf. "
                           "Is t counted from 1? At t = 0 the correction 1 − βᵗ is 0 and you "
                           "divide by it")
            if close(got_p, param - lr * want[1] / (np.sqrt(want[2]) + eps)):
                raise fail(exercise, f"{where}: m and v are right, but the step skips the bias "
                           "correction: divide m by 1 − β₁ᵗ and v by 1 − β₂ᵗ (both start at 0, "
                           "so the first steps would be far too small)")
            shifted = (want[1] / (1 - beta1 ** (t + 1))) / (
                np.sqrt(want[2] / (1 - beta2 ** (t + 1))) + eps)
            if close(got_p, param - lr * shifted):
                raise fail(exercise, f"{where}: m and v are right, but the bias correction used "
                           "β^(t+1): t counts from 1 (the first call gets t=1), so divide by "
                           "1 − β₁ᵗ and 1 − β₂ᵗ as they are")
            fixed = (want[1] / (1 - 0.9**t)) / (np.sqrt(want[2] / (1 - 0.999**t)) + eps)
            if (beta1, beta2) != (0.9, 0.999) and close(got_p, param - lr * fixed):
                raise fail(exercise, f"{where}: the bias correction used 0.9 and 0.999, but "
                           f"this call passed betas ({beta1:g}, {beta2:g}): use the beta1/beta2 "
                           "arguments")
            if close(got_p, param - lr * m_hat / np.sqrt(v_hat + eps)):
                raise fail(exercise, f"{where}: ε goes outside the square root: "
                           "m̂ / (√v̂ + ε)")
            if close(got_p, param + lr * m_hat / (np.sqrt(v_hat) + eps)):
                raise fail(exercise, f"{where}: the parameter moved up the gradient: subtract "
                           "the step")
            if close(got_p, param - lr * m_hat / (v_hat + eps)):
                raise fail(exercise, f"{where}: divide by the square root of v̂, not by v̂")
            raise fail(exercise, f"{where}: m and v are right but param differs from "
                       "p − lr·m̂ / (√v̂ + ε)")
    passed(exercise, f"5 successive steps (m, v and bias correction) match on {len(runs)} runs")
