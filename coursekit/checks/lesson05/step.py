"""05-update: ``update_coeffs(coeffs, lr)``, a step against the gradient, in place, under
torch.no_grad(), then the gradients zeroed. Judged on the coefficients it leaves; its wrong
versions stay in the tests, since the step is judged coefficient by coefficient."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.checks import reference05 as ref05
from coursekit.checks.lesson05._shared import (
    IN_PLACE_HINT,
    LESSON_LR,
    TOLERANCE,
    classifier_arrays,
    dotted,
)
from coursekit.exercise import Exercise, Got, Rule, fail, rules, view
from coursekit.exercise.judging import Data, close, expect_array
from coursekit.probes import lesson05 as probes

_NAMES = ref05.Coeffs._fields


def _returned(inputs: Data, data: Data) -> None:
    """The call returned: PyTorch's refusal and a loop variable rebound are named."""
    result = view(data)  # fails when the probe itself failed
    if not isinstance(result.get("call"), dict):
        raise fail("the check received malformed data")
    call = Got(result.get("call"))
    if call.kind == "raised" and call.type == "RuntimeError" \
            and result.get("fine_under_no_grad") is True:
        raise fail(IN_PLACE_HINT)
    if call.kind == "raised" and call.type == "AttributeError" and call.get("on_none") is True \
            and not call.get("stub"):
        raise fail("c.grad is None: after `c = c - lr * c.grad` the loop variable c is a new "
                   "tensor with no gradient, and the coefficient is unchanged; update the "
                   "tensor in place with `c -= lr * c.grad`")
    view(call.data)


def _coefficient(data: Data, name: str) -> Got:
    coeffs = view(data).get("coeffs")
    if not isinstance(coeffs, dict) or not isinstance(coeffs.get(name), dict):
        raise fail("the check received malformed data")
    return Got(coeffs[name])


def _every_one_stepped(inputs: Data, data: Data) -> None:
    values = {name: view(_coefficient(data, name).get("value")) for name in _NAMES}
    unchanged = [name for name, got in values.items()
                 if got.kind == "array" and np.array_equal(
                     got.array, np.asarray(inputs["coeffs"][name], dtype=np.float64))]
    if unchanged and len(unchanged) < len(_NAMES):
        raise fail(f"{' and '.join(unchanged)} did not change while the other coefficients "
                   "stepped: the loop skipped some (coeffs[:-1], range(len(coeffs) - 1)?); "
                   "step every coefficient")


def _each_step(inputs: Data, data: Data) -> None:
    lr = float(inputs["lr"])
    for name in _NAMES:
        got = _coefficient(data, name)
        before = np.asarray(inputs["coeffs"][name], dtype=np.float64)
        grad = np.asarray(inputs["grads"][name], dtype=np.float64)
        if got.get("requires_grad") is not True or got.get("is_leaf") is not True:
            raise fail(f"{name} no longer is a leaf that requires grad: update it in place "
                       "(c -= ...) under torch.no_grad(), don't replace it")
        now = expect_array(got.get("value"), before.shape, name)
        if np.array_equal(now, before):
            raise fail(f"{name} did not change: either `c = c - lr * c.grad` only rebinds the "
                       "loop variable (update in place with `c -= lr * c.grad`), or the "
                       "gradient was zeroed before it was used (step first, then "
                       "c.grad.zero_())")
        want = before - lr * grad
        if close(now, before + lr * grad, **TOLERANCE) and not close(now, want, **TOLERANCE):
            raise fail(f"{name} moved up the gradient: subtract lr × grad")
        if close(now, before - LESSON_LR * grad, **TOLERANCE):
            raise fail(f"{name} stepped by {LESSON_LR:g} × grad, not by the lr={lr:g} passed in: "
                       "use the lr argument (not the notebook's LR or a number written in)")
        if not close(now, want, **TOLERANCE):
            raise fail(f"{name} should be old − {lr:g} × grad; it differs by up to "
                       f"{np.abs(now - want).max():.4g}")
        left = view(got.get("grad"))
        if left.kind != "none" and np.any(expect_array(got.get("grad"), before.shape,
                                                       f"{name}.grad") != 0):
            raise fail(f"{name}.grad is not zero after the step: the next backward() would "
                       "add to it; call c.grad.zero_() after using it")


def _under_no_grad(inputs: Data, data: Data) -> None:
    """The values are right: they were not changed while autograd recorded (``c.data -= ...``
    outside ``torch.no_grad()`` slips past PyTorch's refusal)."""
    recorded = view(data).get("recorded")
    if not isinstance(recorded, bool):
        raise fail("the check received malformed data")
    if recorded:
        raise fail("the step is right, but it changed the coefficients while autograd was "
                   "recording: `c.data -= ...` (or a change through .data or .detach()) only "
                   "slips past PyTorch's refusal; do the update inside `with torch.no_grad():`, "
                   "as the exercise asks")


def update_case(rng: np.random.Generator) -> dict[str, Any]:
    """A 4-6-1 classifier and gradients for every coefficient, with a drawn learning rate that
    is not the lesson's LR = 0.3 (a rate written in, or the notebook's, shows)."""
    coeffs = classifier_arrays(rng, 4, 6)
    grads = {name: (rng.normal(size=a.shape) * 0.2).astype(np.float32)
             for name, a in coeffs.items()}
    return {"lr": round(float(rng.uniform(0.05, 0.2)), 3), "coeffs": coeffs, "grads": grads}


update = Exercise(
    "05-update", update_case, probes.update_step,
    rules(Rule("the call returned (PyTorch's refusal outside no_grad, and a rebound loop "
               "variable, named)", _returned),
          Rule("every coefficient changed, or none did", _every_one_stepped),
          Rule("each coefficient is still a leaf that requires grad, stepped by exactly "
               "−lr × grad, its gradient zeroed", _each_step),
          Rule("the step ran under torch.no_grad(), not through .data while recording",
               _under_no_grad),
          passed="every coefficient stepped against its gradient, and gradients are zero"),
    implemented_by=(dotted(ref05.update_coeffs),), names=("update_coeffs",))
