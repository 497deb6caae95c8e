"""04-momentum-update and 04-adam-update: the update rules ``coursekit.scratch`` (and
``torch.optim``) use, judged step after step.

- momentum: ``v ← βv + g`` (v starts at 0), ``p ← p − lr·v``;
- Adam: ``m ← β₁m + (1 − β₁)g``, ``v ← β₂v + (1 − β₂)g²``, and at step t = 1, 2, ...
  ``p ← p − lr·m̂ / (√v̂ + ε)`` with ``m̂ = m / (1 − β₁ᵗ)``, ``v̂ = v / (1 − β₂ᵗ)``. Kingma and
  Ba's "efficient" form ``p ← p − lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m / (√v + ε)`` differs only in where
  ε sits and is accepted too.

Each step is judged from the state the student's own previous step returned (the probe feeds it
forward), so a valid variant whose rounding drifts a little is never blamed for the drift. A
mistake's wrong version takes the update's keywords positionally, in the signature's order
(:func:`~coursekit.exercise.mistakes.match` passes a case's arguments by position).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from coursekit.exercise import Exercise, Got, Mistake, Rule, fail, match, rules, view
from coursekit.exercise.judging import Data, results
from coursekit.exercise.mistakes import described, same
from coursekit.probes import lesson04 as probes


def reference_momentum_update(
    param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, *, lr: float, momentum: float
) -> tuple[np.ndarray, np.ndarray]:
    """One SGD-with-momentum step: arrays of one shape in, (new param, new velocity) out."""
    velocity = momentum * velocity + grad
    return param - lr * velocity, velocity


def reference_adam_update(
    param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, *, lr: float,
    beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step number ``t`` (1-based): arrays of one shape in, (param, m, v) out."""
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad**2
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _gradients(rng: np.random.Generator, shape: tuple[int, ...], n_steps: int) -> list[np.ndarray]:
    # Gradients of a few magnitudes, so a misplaced eps or a missing correction shows.
    return [rng.normal(size=shape) * scale for scale in np.geomspace(1e-3, 1.0, n_steps)]


def _steps_rule(reference: Callable[..., Any], hyper: Sequence[str], parts: Sequence[str],
                mistakes: Sequence[Mistake], *, accept: Callable[..., Any] | None = None,
                explain: Callable[..., str | None] | None = None,
                defaults: Mapping[str, float] | None = None) -> Rule:
    """Every step of every run matches ``reference`` (or ``accept``, a valid variant) from the
    state the student's previous step returned; a declared mistake is named at its step. A run
    that leaves out a keyword of ``defaults`` was called without it: its default applies."""
    counted = "m" in parts

    def test(inputs: Data, data_: Data) -> None:
        runs = inputs["cases"]
        for run, steps in zip(runs, results(data_, len(runs)), strict=True):
            if not isinstance(steps, list) or not 0 < len(steps) <= len(run["grads"]):
                raise fail("the check received malformed data")
            param = np.asarray(run["param"], dtype=np.float64)
            state = [np.zeros_like(param) for _ in parts[1:]]
            values = [float(run[name] if name in run else (defaults or {})[name])
                      for name in hyper]
            left = [name for name in hyper if name not in run]
            for t, (grad, got) in enumerate(zip(run["grads"], steps, strict=False), start=1):
                args = (param, grad, *state, *((t,) if counted else ()), *values)
                where = ", ".join(f"{name}={value:g}" for name, value in zip(hyper, values,
                                                                              strict=True)
                                  if name not in left)
                where += f" ({', '.join(left)} left at their defaults)" if left else ""
                step = view(got)
                if accept is None or not same(step, accept(*args)):
                    match(step, reference(*args), where=f"{where}, step {t}", args=args,
                          mistakes=mistakes, parts=parts, explain=explain)
                param, *state = (item.array for item in step.items)
            if len(steps) != len(run["grads"]):
                raise fail("the check received malformed data")

    return Rule("every step matches the update rule from the state the previous step returned",
                test)


# ---- 04-momentum-update ----

#: (shape, lr, momentum) of the runs; the last has momentum 0, plain SGD.
_MOMENTUM_RUNS = [((3, 4), 0.1, 0.9), ((5,), 0.05, 0.5), ((2, 3), 1.0, 0.0)]


def _momentum_runs(rng: np.random.Generator) -> dict[str, Any]:
    return {"state": 1, "hyper": ["lr", "momentum"], "counted": False,
            "cases": [{"param": rng.normal(size=shape), "grads": _gradients(rng, shape, 4),
                       "lr": lr, "momentum": beta} for shape, lr, beta in _MOMENTUM_RUNS]}


def _momentum(p: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float,
              momentum: float) -> tuple[np.ndarray, np.ndarray]:
    return reference_momentum_update(p, g, v, lr=lr, momentum=momentum)


MOMENTUM_MISTAKES = [
    Mistake("your first array is the velocity and your second the param: the return order is "
            "(param, velocity)", lambda p, g, v, lr, b: _momentum(p, g, v, lr, b)[::-1]),
    Mistake("velocity is right but the step used the old velocity: update v ← βv + g first, "
            "then step with the new one, p ← p − lr·v",
            lambda p, g, v, lr, b: (p - lr * v, b * v + g)),
    Mistake("your velocity is −lr × ours (the v ← βv − lr·g convention, p ← p + v); this course "
            "stores v ← βv + g and steps p ← p − lr·v, as PyTorch does",
            lambda p, g, v, lr, b: (p + (b * v - lr * g), b * v - lr * g)),
    Mistake("velocity is an average βv + (1 − β)g; momentum SGD adds the full gradient: "
            "v ← βv + g", lambda p, g, v, lr, b: _momentum(p, (1 - b) * g, v, lr, b)),
    Mistake("β multiplies the old velocity, not the gradient: v ← βv + g",
            lambda p, g, v, lr, b: (p - lr * (v + b * g), v + b * g)),
    Mistake("the parameter moved up the gradient: p ← p − lr·v",
            lambda p, g, v, lr, b: (p + lr * (b * v + g), b * v + g)),
    Mistake("velocity is right but the step used the raw gradient: step along the velocity, "
            "p ← p − lr·v", lambda p, g, v, lr, b: (p - lr * g, b * v + g)),
    Mistake("the velocity forgot its past (v = g): start from the velocity passed in, "
            "v ← βv + g", lambda p, g, v, lr, b: (p - lr * g, g)),
    Mistake(lambda p, g, v, lr, b: f"that is momentum 0.9, but this call passed momentum={b:g}: "
            "use the momentum argument, not a hard-coded 0.9",
            lambda p, g, v, lr, b: _momentum(p, g, v, lr, 0.9)),
]

momentum_update = Exercise(
    "04-momentum-update", _momentum_runs, probes.update_runs,
    rules(_steps_rule(_momentum, ("lr", "momentum"), ("param", "velocity"), MOMENTUM_MISTAKES),
          passed=f"4 successive steps match on {len(_MOMENTUM_RUNS)} runs"),
    implemented_by=("coursekit.scratch.SGD",), names=("momentum_update",),
    mistakes=tuple(MOMENTUM_MISTAKES),
    student=lambda wrong: (lambda p, g, v, *, lr, momentum: wrong(p, g, v, lr, momentum),),
    arguments=lambda run: (run["param"], run["grads"][0], np.zeros_like(run["param"]),
                           run["lr"], run["momentum"]))


# ---- 04-adam-update ----

#: (shape, lr, beta1, beta2) of the runs; the second has other betas than the defaults, and
#: eps = 1e-6 (the others 1e-8), so a hard-coded eps shows. The last is called with lr alone,
#: as the lesson's next cell calls it: the signature's defaults apply (None: left out).
_ADAM_RUNS: list[tuple[tuple[int, ...], float, float | None, float | None]] = [
    ((3, 4), 0.01, 0.9, 0.999), ((6,), 0.1, 0.8, 0.99), ((3, 3), 0.01, None, None)]
_ADAM_HYPER = ("lr", "beta1", "beta2", "eps")
#: The defaults of the stub's signature, adam_update(..., beta1=0.9, beta2=0.999, eps=1e-8).
ADAM_DEFAULTS = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def _adam_runs(rng: np.random.Generator) -> dict[str, Any]:
    """Five steps per run, from m = v = 0. The run on the defaults gets gradients of 1e-8 to
    1e-5, near ε = 1e-8, so that another default ε (or β) shows."""
    cases: list[dict[str, Any]] = []
    for shape, lr, beta1, beta2 in _ADAM_RUNS:
        if beta1 is None:
            cases.append({"param": rng.normal(size=shape), "lr": lr,
                          "grads": [g * 1e-5 for g in _gradients(rng, shape, 5)]})
        else:
            cases.append({"param": rng.normal(size=shape), "grads": _gradients(rng, shape, 5),
                          "lr": lr, "beta1": beta1, "beta2": beta2,
                          "eps": 1e-8 if beta1 == 0.9 else 1e-6})
    return {"state": 2, "hyper": list(_ADAM_HYPER), "counted": True, "cases": cases}


def _adam(correct: bool = True, eps_inside: bool = False, t_shift: int = 0, sign: float = -1.0,
          sqrt: bool = True, m_rule: Callable[..., Any] | None = None,
          v_rule: Callable[..., Any] | None = None, returns_hat: str = "",
          fixed: str = "", fixed_eps: float | None = None) -> Callable[..., Any]:
    """Adam with one realistic change: a wrong version's code (positional keywords)."""
    def update(p: Any, g: Any, m: Any, v: Any, t: int, lr: float, beta1: float = 0.9,
               beta2: float = 0.999, eps: float = 1e-8) -> tuple[Any, Any, Any]:
        b1, b2 = (0.9, 0.999) if fixed == "all" else (beta1, beta2)
        m = m_rule(m, g, b1, b2) if m_rule else b1 * m + (1 - b1) * g
        v = v_rule(v, g, b1, b2) if v_rule else b2 * v + (1 - b2) * g**2
        b1, b2, t = (0.9, 0.999, t) if fixed else (b1, b2, t + t_shift)
        m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if correct else (m, v)
        eps = eps if fixed_eps is None else fixed_eps
        denom = np.sqrt(v_hat + eps) if eps_inside else (np.sqrt(v_hat) if sqrt else v_hat) + eps
        return (p + sign * lr * m_hat / denom, m_hat if "m" in returns_hat else m,
                v_hat if "v" in returns_hat else v)
    return update


def _reference_adam(p: Any, g: Any, m: Any, v: Any, t: int, lr: float, beta1: float,
                    beta2: float, eps: float) -> tuple[np.ndarray, ...]:
    return reference_adam_update(p, g, m, v, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


def _efficient_adam(p: Any, g: Any, m: Any, v: Any, t: int, lr: float, beta1: float,
                    beta2: float, eps: float) -> tuple[np.ndarray, ...]:
    _, m, v = _reference_adam(p, g, m, v, t, lr, beta1, beta2, eps)
    return p - lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (np.sqrt(v) + eps), m, v


_CORRECTED = ("you returned the bias-corrected m̂ (and v̂); return the raw m and v, use m̂ and v̂ "
              "only for the step")
ADAM_MISTAKES = [
    Mistake(_CORRECTED, _adam(returns_hat="mv")),
    Mistake(_CORRECTED, _adam(returns_hat="m")),
    Mistake(_CORRECTED, _adam(returns_hat="v")),
    Mistake(lambda p, g, m, v, t, lr, b1, b2, eps: f"that averages with 0.9 and 0.999, but this "
            f"call passed betas ({b1:g}, {b2:g}): use the beta1/beta2 arguments, not hard-coded "
            "0.9 and 0.999", _adam(fixed="all")),
    Mistake("m must be a moving average: m ← β₁m + (1 − β₁)g",
            _adam(m_rule=lambda m, g, b1, b2: b1 * m + g)),
    Mistake("m uses β₂; the first moment uses β₁ (and v uses β₂)",
            _adam(m_rule=lambda m, g, b1, b2: b2 * m + (1 - b2) * g)),
    Mistake("v averages the squared gradient: v ← β₂v + (1 − β₂)g²",
            _adam(v_rule=lambda v, g, b1, b2: b2 * v + (1 - b2) * g)),
    Mistake("v uses β₁; the second moment uses β₂",
            _adam(v_rule=lambda v, g, b1, b2: b1 * v + (1 - b1) * g**2)),
    Mistake("m and v are right, but the step skips the bias correction: divide m by 1 − β₁ᵗ and "
            "v by 1 − β₂ᵗ (both start at 0, so the first steps would be far too small)",
            _adam(correct=False)),
    Mistake("m and v are right, but the bias correction used β^(t+1): t counts from 1 (the "
            "first call gets t=1), so divide by 1 − β₁ᵗ and 1 − β₂ᵗ as they are",
            _adam(t_shift=1)),
    Mistake(lambda p, g, m, v, t, lr, b1, b2, eps: f"the bias correction used 0.9 and 0.999, but "
            f"this call passed betas ({b1:g}, {b2:g}): use the beta1/beta2 arguments",
            _adam(fixed="correction")),
    Mistake("ε goes outside the square root: m̂ / (√v̂ + ε)", _adam(eps_inside=True)),
    Mistake("the parameter moved up the gradient: subtract the step", _adam(sign=1.0)),
    Mistake("divide by the square root of v̂, not by v̂", _adam(sqrt=False)),
    *(Mistake(lambda p, g, m, v, t, lr, b1, b2, eps, other=other: f"that is ε = {other:g}, but "
              f"this call's eps is {eps:g}: use the eps argument (its default is 1e-8, as in "
              "the stub's signature)", _adam(fixed_eps=other))
      for other in (1e-8, 1e-7, 1e-6, 1e-10)),
]


def _finite(*arrays: Any) -> tuple[np.ndarray, ...]:
    """The arrays with nan and inf replaced by huge numbers, so that equal ones compare equal."""
    return tuple(np.nan_to_num(np.asarray(a, dtype=np.float64), nan=1e300, posinf=2e300,
                               neginf=-2e300) for a in arrays)


def _adam_explain(got: Got, p: Any, g: Any, m: Any, v: Any, t: int, *hyper: float) -> str | None:
    """A param that became nan or inf (a declared mistake that gives the same nan, else t
    counted from 0), or the step of another t (a counter of the student's own)."""
    args = (p, g, m, v, t, *hyper)
    items = got.items if got.kind == "list" and got.length == 3 else []
    if len(items) != 3 or any(item.kind != "array" for item in items):
        return None
    if not np.all(np.isfinite(items[0].array)):
        nan_aware = described(_finite(*(item.array for item in items)))
        for mistake in ADAM_MISTAKES:
            wrong = mistake.candidate(*args)
            if isinstance(wrong, tuple) and same(nan_aware, _finite(*wrong)):
                return mistake.says(*args)
    _, want_m, want_v = _reference_adam(*args)
    if not same(items[1], want_m) or not same(items[2], want_v):
        return None
    if not np.all(np.isfinite(items[0].array)):
        return ("m and v are right but param became nan or inf. Is t counted from 1? At t = 0 "
                "the correction 1 − βᵗ is 0 and you divide by it")
    if any(same(got, _reference_adam(p, g, m, v, s, *hyper)) for s in range(1, 41)
           if s not in (t, t + 1)):
        return ("the bias correction used another step number than the t passed in: use the t "
                "argument (a counter of your own keeps counting across calls and runs)")
    return None


adam_update = Exercise(
    "04-adam-update", _adam_runs, probes.update_runs,
    rules(_steps_rule(_reference_adam, _ADAM_HYPER, ("param", "m", "v"), ADAM_MISTAKES,
                      accept=_efficient_adam, explain=_adam_explain, defaults=ADAM_DEFAULTS),
          passed=f"5 successive steps (m, v and bias correction) match on {len(_ADAM_RUNS)} runs"),
    implemented_by=("coursekit.scratch.Adam",), names=("adam_update",),
    mistakes=tuple(ADAM_MISTAKES),
    student=lambda wrong: (lambda p, g, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8:
                           wrong(p, g, m, v, t, lr, beta1, beta2, eps),),
    arguments=lambda run: (run["param"], run["grads"][0], np.zeros_like(run["param"]),
                           np.zeros_like(run["param"]), 1,
                           *(run.get(name, ADAM_DEFAULTS.get(name)) for name in _ADAM_HYPER)))
