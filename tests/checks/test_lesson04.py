"""Lesson 04's checks pass the reference and name each realistic mistake."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson04 as check
from coursekit.scratch import SGD, Adam, Dense

# ---- the references are coursekit.scratch's optimizers, step for step ----


def _run_scratch(optimizer_cls, grads, **kwargs):
    layer = Dense(3, 2, random_state=0)
    start = layer.params["W"].copy()
    opt = optimizer_cls([layer], **kwargs)
    for g in grads:
        layer.grads = {"W": g, "b": np.zeros(2)}
        opt.step()
    return start, layer.params["W"]


def test_reference_momentum_matches_scratch_sgd() -> None:
    grads = [np.random.default_rng(i).normal(size=(3, 2)) for i in range(5)]
    start, want = _run_scratch(SGD, grads, lr=0.1, momentum=0.9)
    p, v = start.copy(), np.zeros_like(start)
    for g in grads:
        p, v = check.reference_momentum_update(p, g, v, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(p, want, rtol=1e-12)


def test_reference_adam_matches_scratch_adam() -> None:
    grads = [np.random.default_rng(i).normal(size=(3, 2)) for i in range(5)]
    start, want = _run_scratch(Adam, grads, lr=0.01)
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, g in enumerate(grads, start=1):
        p, m, v = check.reference_adam_update(p, g, m, v, t, lr=0.01)
    np.testing.assert_allclose(p, want, rtol=1e-12)


# ---- 04-momentum-update ----


def test_momentum_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.momentum_update(check.reference_momentum_update)
    assert capsys.readouterr().out.startswith("✔ 04-momentum-update:")


def _book_convention(p, g, v, *, lr, momentum):  # v ← βv − lr·g, p ← p + v
    v = momentum * v - lr * g
    return p + v, v


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_book_convention, "the v ← βv − lr·g convention"),
        (lambda p, g, v, *, lr, momentum: (p - lr * (momentum * v + (1 - momentum) * g),
                                           momentum * v + (1 - momentum) * g),
         "adds the full gradient"),
        (lambda p, g, v, *, lr, momentum: (p - lr * (v + momentum * g), v + momentum * g),
         "β multiplies the old velocity"),
        (lambda p, g, v, *, lr, momentum: (p + lr * (momentum * v + g), momentum * v + g),
         "moved up the gradient"),
        (lambda p, g, v, *, lr, momentum: (p - lr * g, momentum * v + g),
         "step along the velocity"),
        (lambda p, g, v, *, lr, momentum: (p - lr * g, g), "forgot its past"),
        (lambda p, g, v, *, lr, momentum: p - lr * (momentum * v + g), "expected a tuple"),
        (lambda p, g, v, *, lr, momentum: (momentum * v + g, p - lr * (momentum * v + g)),
         r"the return order is \(param, velocity\)"),
        (lambda p, g, v, *, lr, momentum: (p - lr * v, momentum * v + g),
         "the step used the old velocity"),
    ],
)
def test_momentum_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.momentum_update(wrong)


# ---- 04-adam-update ----


def test_adam_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.adam_update(check.reference_adam_update)
    assert capsys.readouterr().out.startswith("✔ 04-adam-update:")


def _adam(correct_bias=True, eps_inside=False, t_shift=0, m_rule=None, v_rule=None,
          sign=-1.0, sqrt=True, returns_hat="", fixed_betas=False):
    def update(p, g, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        if fixed_betas:
            beta1, beta2 = 0.9, 0.999
        m = m_rule(m, g, beta1, beta2) if m_rule else beta1 * m + (1 - beta1) * g
        v = v_rule(v, g, beta1, beta2) if v_rule else beta2 * v + (1 - beta2) * g**2
        t = t + t_shift
        m_hat = m / (1 - beta1**t) if correct_bias else m
        v_hat = v / (1 - beta2**t) if correct_bias else v
        if eps_inside:
            denom = np.sqrt(v_hat + eps)
        else:
            denom = (np.sqrt(v_hat) if sqrt else v_hat) + eps
        return (p + sign * lr * m_hat / denom, m_hat if "m" in returns_hat else m,
                v_hat if "v" in returns_hat else v)

    return update


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_adam(correct_bias=False), "skips the bias correction"),
        (_adam(eps_inside=True), "ε goes outside the square root"),
        (_adam(t_shift=-1), "Is t counted from 1"),
        (_adam(m_rule=lambda m, g, b1, b2: b1 * m + g), "m must be a moving average"),
        (_adam(m_rule=lambda m, g, b1, b2: b2 * m + (1 - b2) * g), "m uses β₂"),
        (_adam(v_rule=lambda v, g, b1, b2: b2 * v + (1 - b2) * g), "averages the squared"),
        (_adam(v_rule=lambda v, g, b1, b2: b1 * v + (1 - b1) * g**2), "v uses β₁"),
        (_adam(sign=1.0), "moved up the gradient"),
        (_adam(sqrt=False), "divide by the square root"),
        (_adam(returns_hat="mv"), "you returned the bias-corrected m̂ \\(and v̂\\); return the "
                                  "raw m and v, use m̂ and v̂ only for the step"),
        (_adam(returns_hat="m"), "you returned the bias-corrected m̂"),
        (_adam(returns_hat="v"), "you returned the bias-corrected m̂"),
        (_adam(fixed_betas=True), "use the beta1/beta2 arguments"),
        (_adam(t_shift=1), r"t counts from 1"),
    ],
)
def test_adam_names_the_mistake(wrong, message: str) -> None:
    with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
        check.adam_update(wrong)
