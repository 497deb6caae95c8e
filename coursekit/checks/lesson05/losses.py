"""05-loss: ``calc_loss(coeffs, X, y, kind="bce")``, the mean cross-entropy from the logits
(rounding-safe on confident logits) or the mean absolute error: a 0-d tensor whose gradients
reach every coefficient."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from coursekit.checks import reference05 as ref05
from coursekit.checks.lesson05._shared import TOLERANCE, classifier_arrays, dotted, tensors
from coursekit.exercise import Exercise, Got, Mistake, Rule, fail, named, rules, view
from coursekit.exercise.judging import Data, close, expect_array, raised_message, results
from coursekit.probes import lesson05 as probes

#: The largest |logit| of the case with confident predictions: past 88.7, e^(−z) overflows in
#: float32, and past about 17 the sigmoid rounds to exactly 0 or 1.
EXTREME_LOGIT = 110.0
_CONFIDENT = f"8 rows with logits up to ±{EXTREME_LOGIT:g}"

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _wrong_bce(bce: Loss) -> Callable[..., torch.Tensor]:
    """A calc_loss whose cross-entropy of (logits, y) is ``bce``, right otherwise."""
    def calc_loss(coeffs: ref05.Coeffs, X: torch.Tensor, y: torch.Tensor, kind: str = "bce"
                  ) -> torch.Tensor:
        return ref05.calc_loss(coeffs, X, y, "mae") if kind == "mae" else \
            bce(ref05.calc_logits(coeffs, X), y)

    return calc_loss


def _wrong_mae(mae: Loss) -> Callable[..., torch.Tensor]:
    """A calc_loss whose mean absolute error of (logits, y) is ``mae``, right otherwise."""
    def calc_loss(coeffs: ref05.Coeffs, X: torch.Tensor, y: torch.Tensor, kind: str = "bce"
                  ) -> torch.Tensor:
        return mae(ref05.calc_logits(coeffs, X), y) if kind == "mae" else \
            ref05.calc_loss(coeffs, X, y, "bce")

    return calc_loss


def _summed(coeffs: ref05.Coeffs, X: torch.Tensor, y: torch.Tensor, kind: str = "bce"
            ) -> torch.Tensor:
    return ref05.calc_loss(coeffs, X, y, kind) * len(y)  # type: ignore[arg-type]


def _broadcast(coeffs: ref05.Coeffs, X: torch.Tensor, y: torch.Tensor, kind: str = "bce"
               ) -> torch.Tensor:
    w_h, b_h, w_o, b_o = coeffs
    z = torch.relu(X @ w_h + b_h) @ w_o + b_o  # (n, 1) against y (n,): an (n, n) matrix
    return (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


def _mae_by_default(coeffs: ref05.Coeffs, X: torch.Tensor, y: torch.Tensor, kind: str = "mae"
                    ) -> torch.Tensor:
    return ref05.calc_loss(coeffs, X, y, kind)  # type: ignore[arg-type]


def _mae_instead(*args: Any) -> str:
    if len(args) == 3:
        return ("that is the mean absolute error: with no kind given, calc_loss computes the "
                'cross-entropy (the default is kind="bce")')
    return 'that is the mean absolute error; kind="bce" asks for the cross-entropy'


MISTAKES = [
    Mistake("that is the sum over the rows; the loss is their mean (.mean())", _summed),
    Mistake("the sign is flipped: cross-entropy is −[y·log p + (1 − y)·log(1 − p)], a positive "
            "number", _wrong_bce(lambda z, y: -F.binary_cross_entropy_with_logits(z, y))),
    Mistake("that is the cross-entropy of the probabilities p = σ(z): where σ rounds to exactly "
            "0 or 1 its log is −inf (F.binary_cross_entropy clamps it to −100); compute it from "
            "the logits, with the rounding-safe form max(z, 0) − z·y + log(1 + e^(−|z|))",
            _wrong_bce(lambda z, y: F.binary_cross_entropy(torch.sigmoid(z), y))),
    Mistake("the sigmoid was applied twice: the rounding-safe form (and "
            "F.binary_cross_entropy_with_logits) takes the logits z, not the probabilities",
            _wrong_bce(lambda z, y: F.binary_cross_entropy_with_logits(torch.sigmoid(z), y))),
    Mistake("the arguments are swapped: F.binary_cross_entropy_with_logits(logits, y) takes "
            "the logits first", _wrong_bce(lambda z, y: F.binary_cross_entropy_with_logits(y, z))),
    Mistake("only the y·log p term is there: add (1 − y)·log(1 − p), which is what the rows "
            "with y = 0 contribute", _wrong_bce(lambda z, y: (y * F.softplus(-z)).mean())),
    Mistake(lambda coeffs, X, y, *kind: f"logits of shape ({len(y)}, 1) against targets of "
            f"shape ({len(y)},) broadcast to every logit against every target: use "
            "calc_logits, whose logits have shape (n,)", _broadcast),
    Mistake(_mae_instead, _mae_by_default),
    Mistake("the sigmoid is missing: the mean absolute error compares the probabilities σ(z) "
            "with y, not the logits", _wrong_mae(lambda z, y: (z - y).abs().mean())),
    Mistake("the absolute value is missing, so errors of opposite signs cancel: mean "
            "|σ(z) − y|", _wrong_mae(lambda z, y: (torch.sigmoid(z) - y).mean())),
    Mistake("that is the mean squared error; take |σ(z) − y|",
            _wrong_mae(lambda z, y: ((torch.sigmoid(z) - y) ** 2).mean())),
    Mistake('that is the cross-entropy: kind="mae" asks for the mean absolute error of the '
            "probabilities", _wrong_mae(F.binary_cross_entropy_with_logits)),
]


def loss_arguments(case: Mapping[str, Any]) -> tuple[Any, ...]:
    """``(coeffs, X, y[, kind])`` as the probe passes them (without gradients)."""
    coeffs, X = tensors(case)
    y = torch.tensor(np.asarray(case["y"], dtype=np.float32))
    return (coeffs, X, y) + (() if case["kind"] is None else (str(case["kind"]),))


def _reference(case: Data) -> tuple[float, list[np.ndarray]]:
    """The reference loss and every coefficient's gradient."""
    coeffs, X, y, *kind = loss_arguments(case)
    coeffs = ref05.Coeffs(*(c.requires_grad_() for c in coeffs))
    loss = ref05.calc_loss(coeffs, X, y, *kind)
    loss.backward()
    return loss.item(), [c.grad.double().numpy() for c in coeffs if c.grad is not None]


def _one_number(got: Got, n: int, what: str) -> float:
    """The one number a loss holds, or a failure that names what was returned instead."""
    if got.kind in ("int", "float"):
        raise fail(f"{what}: got {got.describe()}, not a tensor: return the loss tensor itself "
                   "(no .item()), since the caller calls loss.backward() on it")
    if got.kind != "array":
        raise fail(f"{what}: expected a 0-d tensor, got {got.describe()}")
    if got.shape == (n,):
        raise fail(f"{what}: expected one number (a 0-d tensor), got shape {got.shape}, a loss "
                   "per row: take their mean")
    if got.shape in ((n, n), (n, n, 1)) and n > 1:
        raise fail(f"{what}: expected one number, got shape {got.shape}: logits of shape "
                   f"({n}, 1) against targets of shape ({n},) broadcast to every logit against "
                   "every target; use calc_logits, whose logits have shape (n,)")
    if got.shape != ():
        raise fail(f"{what}: expected one number, a 0-d tensor (a .mean() over the rows), got "
                   f"shape {got.shape}")
    if got.type != "Tensor":
        raise fail(f"{what}: expected a torch tensor connected to the coefficients, got "
                   f"{got.describe()}: compute the loss with torch operations on calc_logits")
    return got.number


_FORMULA = "check the formula against the lesson's, and take the mean over the rows"


def _value(case: Data, got: Got, call: str) -> None:
    loss = _one_number(got, len(case["y"]), call)
    want = _reference(case)[0]
    if not math.isfinite(loss):
        raise fail(f"{call} gave {loss}: with logits this large, σ(z) rounds to exactly 0 or 1 "
                   "and log gives −inf (or e^(−z) overflows); use the rounding-safe form "
                   "max(z, 0) − z·y + log(1 + e^(−|z|)) on the logits")
    if close(loss, want, **TOLERANCE):
        return
    where = f"{call} should be {want:.6g}, got {loss:.6g}"
    message = named(got, MISTAKES, loss_arguments(case), TOLERANCE)
    if message is None and case["name"] == _CONFIDENT:  # the first case has ordinary logits
        message = ("right on ordinary logits, wrong on confident ones, where σ(z) rounds to "
                   "exactly 0 or 1 (a clamp or an ε inside the log only hides that); compute it "
                   "from the logits with the rounding-safe form max(z, 0) − z·y + "
                   "log(1 + e^(−|z|))")
    raise fail(f"{where}: {message or _FORMULA}")


def _gradients(case: Data, result: Got, call: str) -> None:
    if view(result.get("loss")).get("requires_grad") is not True:
        raise fail(f"{call}: the value is right, but the loss is not connected to the "
                   "coefficients (requires_grad is False), so backward() cannot reach them: "
                   "don't compute it under torch.no_grad(), .detach() it or rebuild it with "
                   "torch.tensor(...)")
    before = result.get("grads_before")
    if not isinstance(before, list) or len(before) != len(ref05.Coeffs._fields):
        raise fail("the check received malformed data")
    if any(flag is not False for flag in before):
        raise fail(f"{call}: the coefficients already had gradients when calc_loss returned: "
                   "calc_loss only computes the loss; the caller calls loss.backward() (and "
                   "one_epoch does, once per step)")
    if result.get("backward") is not None:
        raise fail(f"{call}: loss.backward() failed: {raised_message(result.get('backward'))}")
    grads, wants = result.get("grads"), _reference(case)[1]
    if not isinstance(grads, list) or len(grads) != len(wants):
        raise fail("the check received malformed data")
    for name, grad, want in zip(ref05.Coeffs._fields, grads, wants, strict=True):
        if view(grad).kind == "none":
            problem = f"no gradient reached {name}"
        else:
            got = expect_array(grad, want.shape, f"{name}.grad")
            # float32 sums of large terms may cancel to near 0 in one entry: the absolute
            # tolerance scales with the gradient's largest entry
            atol = TOLERANCE["atol"] + TOLERANCE["rtol"] * float(np.abs(want).max())
            if close(got, want, rtol=TOLERANCE["rtol"], atol=atol):
                continue
            if not np.all(np.isfinite(got)):
                raise fail(f"{call}: the value is right but the gradient of {name} holds NaN or "
                           "inf: a branch that is not used still gets a gradient (torch.where "
                           "evaluates both sides, and inf · 0 is NaN), so keep every term "
                           "finite for every z, as the rounding-safe form does")
            problem = f"the gradient of {name} differs"
        raise fail(f"{call}: the value is right but {problem}: part of the computation left "
                   "the graph (.detach(), .data, .item() or torch.tensor(...) in the middle)")


def _each_case(inputs: Data, data: Data) -> None:
    cases = inputs["cases"]
    for case, raw in zip(cases, results(data, len(cases)), strict=True):
        kind = case["kind"]
        call = ("calc_loss(coeffs, X, y)" if kind is None else
                f'calc_loss(coeffs, X, y, "{kind}")') + f" on {case['name']}"
        result = view(raw)
        _value(case, view(result.get("loss")), call)
        _gradients(case, result, call)


def _confident_case(rng: np.random.Generator) -> dict[str, Any]:
    """8 rows whose logits reach ±110, the most confident one of each sign misclassified."""
    coeffs = classifier_arrays(rng, 3, 6)
    X = rng.normal(size=(8, 3)).astype(np.float32)
    hidden = np.maximum(X.astype(np.float64) @ coeffs["w_hidden"] + coeffs["b_hidden"], 0.0)
    z = hidden @ coeffs["w_out"][:, 0]
    shift = -(float(z.max()) + float(z.min())) / 2.0  # from −110 to +110
    scale = EXTREME_LOGIT / float(np.abs(z + shift).max())
    coeffs["w_out"] = (coeffs["w_out"] * scale).astype(np.float32)
    coeffs["b_out"] = np.array([shift * scale], dtype=np.float32)
    z = scale * (z + shift)
    y = (z > 0).astype(np.float32)  # right, except for the two most confident rows
    y[int(np.argmax(z))], y[int(np.argmin(z))] = 0.0, 1.0
    return {"name": _CONFIDENT, "kind": "bce", "coeffs": coeffs, "X": X, "y": y}


def loss_cases(rng: np.random.Generator) -> dict[str, Any]:
    """The cross-entropy with no kind given, on logits of the lesson's size; then kind="bce"
    on confident logits; then kind="mae"."""
    cases = []
    for name, kind, (n, n_inputs, n_hidden) in (("12 rows", None, (12, 5, 4)),
                                                 ("10 rows", "mae", (10, 4, 5))):
        cases.append({"name": name, "kind": kind,
                      "coeffs": classifier_arrays(rng, n_inputs, n_hidden),
                      "X": rng.normal(size=(n, n_inputs)).astype(np.float32),
                      "y": (rng.uniform(size=n) < 0.5).astype(np.float32)})
    return {"cases": [cases[0], _confident_case(rng), cases[1]]}


loss = Exercise(
    "05-loss", loss_cases, probes.loss_cases,
    rules(Rule("one number, a tensor, finite and the reference's; each known mistake named; "
               "then connected to the coefficients, with no gradient before backward and the "
               "reference's gradients after", _each_case),
          passed=f"cross-entropy (also on logits up to ±{EXTREME_LOGIT:g}), mean absolute error "
                 "and their gradients match the reference on 3 cases"),
    implemented_by=(dotted(ref05.calc_loss),), names=("calc_loss",), mistakes=tuple(MISTAKES),
    student=lambda wrong: (wrong,), arguments=loss_arguments)
