"""Lesson 04's checks pass the reference and name each realistic mistake."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson04 as check
from coursekit.probes.data import round_trip
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


MOMENTUM_MISTAKES = [
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
]


@pytest.mark.parametrize(("wrong", "message"), MOMENTUM_MISTAKES)
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


ADAM_MISTAKES = [
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
]


@pytest.mark.parametrize(("wrong", "message"), ADAM_MISTAKES)
def test_adam_names_the_mistake(wrong, message: str) -> None:
    with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
        check.adam_update(wrong)


# ---- valid versions written differently, on the lesson's inputs and on fresh ones ----


def _momentum_in_place(param, grad, velocity, *, lr, momentum):
    velocity *= momentum
    velocity += grad
    param -= lr * velocity
    return [param, velocity]  # a list is a fine pair


def _momentum_expanded(param, grad, velocity, *, lr, momentum):
    new_velocity = np.add(np.multiply(momentum, velocity), grad)
    return param - lr * momentum * velocity - lr * grad, new_velocity


def _adam_efficient(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    # Kingma & Ba's "efficient" form: the bias correction folded into the step size, ε not
    # rescaled; it differs from the reference only in where ε sits, and is valid
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    step = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return param - step * m / (np.sqrt(v) + eps), m, v


def _adam_in_place(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return param, m, v


VALID = {
    "MOMENTUM_UPDATE": [check.reference_momentum_update, _momentum_in_place, _momentum_expanded],
    "ADAM_UPDATE": [check.reference_adam_update, _adam_efficient, _adam_in_place],
}


@pytest.mark.parametrize(("name", "student"),
                         [(name, fn) for name, fns in VALID.items() for fn in fns])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_valid_versions_pass_on_any_inputs(name, student, seed,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    exercise = getattr(check, name)
    if seed is None:
        exercise.check(student)
    else:
        exercise.check(student, seed=seed)
    assert capsys.readouterr().out.startswith(f"✔ {exercise.id}:")


def test_the_efficient_adam_differs_from_the_reference_yet_agrees_with_scratch_adam() -> None:
    # it is a variant, not the reference in disguise: the check accepts it on purpose...
    p, g = np.ones(3), np.full(3, 1e-3)
    zeros = np.zeros(3)
    assert not np.allclose(_adam_efficient(p, g, zeros, zeros, 1, lr=0.01)[0],
                           check.reference_adam_update(p, g, zeros, zeros, 1, lr=0.01)[0],
                           rtol=1e-6, atol=1e-8)
    # ...and lesson 04's next cell (your steps vs scratch.Adam, np.allclose) still holds
    gradients = [np.random.default_rng(5).standard_normal((2, 64)) for _ in range(5)]
    layer = Dense(2, 64, init="he", random_state=0)
    yours, m, v = layer.params["W"].copy(), np.zeros((2, 64)), np.zeros((2, 64))
    optimizer = Adam([layer], lr=0.01)
    for t, grad in enumerate(gradients, start=1):
        yours, m, v = _adam_efficient(yours, grad, m, v, t, lr=0.01)
        layer.grads = {"W": grad, "b": np.zeros(64)}
        optimizer.step()
    assert np.allclose(yours, layer.params["W"])




# ---- the probes return plain data; the judges refuse odd data ----

WRONG = {
    "MOMENTUM_UPDATE": [_book_convention, lambda p, g, v, *, lr, momentum: None,
                        lambda p, g, v, *, lr, momentum: (p - lr * g, g)],
    "ADAM_UPDATE": [_adam(returns_hat="m"), _adam(t_shift=-1),
                    lambda p, g, m, v, t, *, lr, beta1, beta2, eps: (p, m)],
}


def _inputs(exercise):
    return round_trip(exercise.inputs(np.random.default_rng(7)))


@pytest.mark.parametrize(("name", "student"),
                         [(name, fn) for name in VALID for fn in VALID[name][:2] + WRONG[name]])
def test_probe_data_survives_the_wire(name, student) -> None:
    exercise = getattr(check, name)
    inputs = _inputs(exercise)
    with np.errstate(all="ignore"):
        data = exercise.probe(inputs, student)
    assert exercise.verdict(inputs, round_trip(data)) == exercise.verdict(inputs, data)


def _odd_runs(run):
    """Odd versions of one run's honest data (a list of steps, or a dict holding one)."""
    steps = run["steps"] if isinstance(run, dict) else run
    number = {"kind": "float", "type": "float", "value": 0.0}
    odd_steps = [
        steps[:-1],  # the last step missing, every step before it right
        [*steps, steps[-1]],
        [],
        [steps[0]] * len(steps),  # the first step's answer repeated
        [number] * len(steps),
        [{"kind": "list", "type": "tuple", "length": len(steps[0]["items"]),
          "items": [number] * len(steps[0]["items"])}] * len(steps),
        [{"nonsense": True}] * len(steps),
        "steps",
    ]
    for odd in odd_steps:
        yield {**run, "steps": odd} if isinstance(run, dict) else odd
    if isinstance(run, dict):
        yield {"steps": steps}  # no restart call
        yield {**run, "restart": None}


@pytest.mark.parametrize("name", list(VALID))
def test_judges_fail_odd_data(name) -> None:
    exercise = getattr(check, name)
    inputs = _inputs(exercise)
    honest = round_trip(exercise.probe(inputs, VALID[name][0]))
    assert exercise.verdict(inputs, honest)[0]
    odd_data = [None, honest[:-1], [*honest, honest[-1]], [honest[0]] * len(honest),
                {"kind": "raised", "type": "RuntimeError", "message": "boom", "frame": "",
                 "stub": False, "below_raise": False}]
    odd_data += [[odd, *honest[1:]] for odd in _odd_runs(honest[0])]
    for data in odd_data:
        ok, message = exercise.verdict(inputs, data)
        assert not ok, data
        assert message


@pytest.mark.parametrize(
    ("exercise", "wrong", "message"),
    [(check.MOMENTUM_UPDATE, *case) for case in MOMENTUM_MISTAKES] +
    [(check.ADAM_UPDATE, *case) for case in ADAM_MISTAKES],
)
def test_mistakes_are_named_on_fresh_inputs(exercise, wrong, message: str) -> None:
    # grading draws fresh inputs: every mistake above keeps its message on them
    for seed in range(1, 6):
        with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
            exercise.check(wrong, seed=seed)

