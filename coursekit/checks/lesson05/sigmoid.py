"""05-sigmoid-op: σ as one engine operation, judged on its value, the gradient that flows
through it into a leaf (from 0, and from a gradient already there) and into an inner node."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.autograd import Value
from coursekit.checks.lesson05._shared import TOLERANCE, through
from coursekit.exercise import Exercise, Got, Mistake, Rule, fail, named, rules, view
from coursekit.exercise.judging import Data, close, raised_message, results
from coursekit.exercise.mistakes import described
from coursekit.probes import lesson05 as probes


def reference_sigmoid(x: Value) -> Value:
    """σ(x) = 1 / (1 + e^(−x)) as one engine operation with derivative σ(x)(1 − σ(x))."""
    s = 1.0 / (1.0 + math.exp(-x.data))
    return x.unary(s, s * (1.0 - s), "sigmoid")


def _s(x: Value) -> float:
    return 1.0 / (1.0 + math.exp(-x.data))


def _node(x: Value, s: float, backward: Callable[[Value], None], *, parents: bool = True
          ) -> Value:
    """A node of value ``s`` wired by hand: ``backward(out)`` is its closure."""
    out = Value(s)
    if parents:
        out._parents = (x,)
    out._backward = lambda: backward(out)
    return out


def _add(x: Value, amount: float) -> None:
    x.grad += amount


def _set(x: Value, amount: float) -> None:
    x.grad = amount


# Realistic wrong versions (the student's code), in the order the judge tries them.
def _sigma_of_minus_x(x: Value) -> Value:
    s = 1.0 / (1.0 + math.exp(x.data))
    return x.unary(s, s * (1.0 - s), "sigmoid")


def _derivative_is_sigma(x: Value) -> Value:
    return x.unary(_s(x), _s(x))


def _derivative_of_the_input(x: Value) -> Value:
    return x.unary(_s(x), x.data * (1.0 - x.data), "sigmoid")


def _no_chain(x: Value) -> Value:
    s = _s(x)
    return _node(x, s, lambda out: _add(x, s * (1.0 - s)))


def _times_input_grad(x: Value) -> Value:
    s = _s(x)
    return _node(x, s, lambda out: _add(x, s * (1.0 - s) * x.grad))


def _fresh_value(x: Value) -> Value:
    return Value(_s(x))


def _overwrites(x: Value) -> Value:
    s = _s(x)
    return _node(x, s, lambda out: _set(x, s * (1.0 - s) * out.grad))


def _without_parents(x: Value) -> Value:
    s = _s(x)
    return _node(x, s, lambda out: _add(x, s * (1.0 - s) * out.grad), parents=False)


_INPUT_GRAD = ("the local derivative was multiplied by x.grad (the input's own gradient); the "
               "chain rule multiplies it by out.grad, the gradient arriving at the result")
_FRESH = ("no gradient reached x; build the result from x (x.unary(...) or Value operations "
          "on x), not a fresh Value(...)")
_PARENTS = ("backward() reaches a node only through _parents, so the result's _parents must "
            "include its input (x.unary(...) sets them)")

MISTAKES = [
    Mistake("that is σ(−x); the exponent is e^(−x)", _sigma_of_minus_x),
    Mistake("the local derivative was not multiplied by the gradient arriving from above "
            "(chain rule)", _no_chain),
    Mistake("σ'(x) is σ(x)·(1 − σ(x)), not σ(x)", _derivative_is_sigma),
    Mistake("that uses x·(1 − x); σ'(x) = s·(1 − s) with the output s = σ(x), not the input x",
            _derivative_of_the_input),
    Mistake(_INPUT_GRAD, _times_input_grad),
    Mistake(_FRESH, _fresh_value),
    Mistake("x.grad was overwritten instead of added to: gradients accumulate (+=), since x "
            "may feed more than one operation", _overwrites),
    Mistake(_PARENTS, _without_parents),
]


def outcome(sigmoid: Callable[[Value], Value], x0: float, start: float) -> np.ndarray:
    """What the probe reads, for a trusted ``sigmoid``: σ(x0), x.grad after
    ``(3·sigmoid(x)).backward()`` from 0 and from ``start``, and through ``sigmoid(x + 0.0)``."""
    def grad(start: float, inner: bool = False) -> float:
        x = Value(x0)
        x.grad = start
        (sigmoid(x + 0.0 if inner else x) * 3.0).backward()
        return x.grad

    return np.array([sigmoid(Value(x0)).data, grad(0.0), grad(start), grad(0.0, inner=True)])


#: The mistakes, run as the probe runs the student's sigmoid, compared on the first k of
#: :func:`outcome`'s quantities (the earlier ones being right).
_NAMED = {k: through(MISTAKES, lambda wrong, x0, start, k=k: outcome(wrong, x0, start)[:k],
                     lambda x0, start: (Value(x0),)) for k in (1, 3, 4)}


def _engine_value(raw: Data, x0: float, call: str) -> Got:
    got = view(raw)
    if got.kind != "value":
        raise fail(f"{call} should return a Value, got {got.describe()}: the engine can only "
                   "differentiate Values")
    if got.get("backward") is not None:
        raise fail(f"backward() through {call} failed: {raised_message(got.get('backward'))}")
    return got


def _number(raw: Data, what: str) -> float:
    got = view(raw)
    if not got.is_number:
        raise fail(f"{what}: expected a float, got {got.describe()}")
    return got.number


def _stage(answer: np.ndarray, want: np.ndarray, case: Data, where: str,
           otherwise: str | None = None) -> None:
    """Fail naming the mistake when the first quantities of ``answer`` are not ``want``'s."""
    if close(answer, want[:len(answer)], **TOLERANCE):
        return
    message = named(described(answer), _NAMED[len(answer)], (case["x"], case["start_grad"]),
                    TOLERANCE) or otherwise
    raise fail(f"{where}: {message}" if message else where)


def _each_point(inputs: Data, data: Data) -> None:
    cases = inputs["cases"]
    for case, raw in zip(cases, results(data, len(cases)), strict=True):
        x0, start = float(case["x"]), float(case["start_grad"])
        call = f"sigmoid(Value({x0}))"
        got = view(raw)
        fresh = _engine_value(got.get("fresh"), x0, call)
        started = _engine_value(got.get("started"), x0, call)
        want = outcome(reference_sigmoid, x0, start)
        value = _number(fresh.get("data"), f"{call}.data")
        _stage(np.array([value]), want, case,
               f"σ({x0}) should be {want[0]:.4f}, got {value:.4f}")
        grad = _number(fresh.get("grad"), f"x.grad at x={x0}")
        grad_started = _number(started.get("grad"), f"x.grad at x={x0}")
        otherwise = None
        if grad == 0.0:
            otherwise = _INPUT_GRAD if not close(grad_started, start, **TOLERANCE) else _FRESH
        elif close(grad, want[1], **TOLERANCE):
            otherwise = "add the local derivative × out.grad to x.grad"
        where = (f"d(3·σ(x))/dx at x={x0} should be {want[1]:.4f}, got {grad:.4f}, and "
                 f"{grad_started:.4f} when x.grad started at {start:g}"
                 if not close(grad, want[1], **TOLERANCE) else
                 f"with x.grad = {start:g} before backward(), it should end at "
                 f"{want[2]:.4f}, got {grad_started:.4f}")
        _stage(np.array([value, grad, grad_started]), want, case, where, otherwise)
        inside = view(got.get("inside"))
        if inside.kind != "value":
            raise fail(f"sigmoid(x + 0.0) should return a Value, got {inside.describe()}")
        grad_inside = _number(inside.get("grad"), f"x.grad through sigmoid(x + 0.0) at x={x0}")
        _stage(np.array([value, grad, grad_started, grad_inside]), want, case,
               f"through sigmoid(x + 0.0) at x={x0}, x.grad should be {want[3]:.4f}, got "
               f"{grad_inside:.4f}, though sigmoid of a leaf was right", _PARENTS)


def points(rng: np.random.Generator) -> dict[str, Any]:
    """Five points across the sigmoid's range (0 exactly, the others drawn from bands), each
    with the gradient x holds before the second backward()."""
    bands = ((-3.5, -2.0), (-1.0, -0.2), (0.3, 1.2), (2.0, 3.0))
    drawn = [round(float(rng.uniform(lo, hi)), 2) for lo, hi in bands]
    start = round(float(rng.uniform(1.5, 3.0)), 2)
    return {"cases": [{"x": x, "start_grad": start}
                      for x in (drawn[0], drawn[1], 0.0, drawn[2], drawn[3])]}


sigmoid_op = Exercise(
    "05-sigmoid-op", points, probes.sigmoid_points,
    rules(Rule("σ(x), then the gradient into a leaf from 0 and from a gradient already there, "
               "then into an inner node, match σ's; each known mistake named", _each_point),
          passed="σ and its gradient match at 5 points"),
    names=("sigmoid",), mistakes=tuple(MISTAKES), student=lambda wrong: (wrong,),
    arguments=lambda case: (Value(float(case["x"])),))
