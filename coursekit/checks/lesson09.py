"""Checks for lesson 09, overfitting and regularisation.

- L2: ``L + λ/2 Σ p²`` and ``g + λ p`` for every parameter array.
- Inverted dropout: in training, each entry is dropped with probability ``rate`` and kept ones
  are scaled by ``1 / (1 - rate)``; in evaluation, the identity; backward multiplies by the mask.
- Early stopping: the best index seen before ``patience`` evaluations in a row fail to improve.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.checks.score import scorer
from coursekit.exercise import (
    Exercise,
    Got,
    Mistake,
    Raised,
    Rule,
    Tolerance,
    fail,
    function,
    match,
    registry,
    rules,
    same,
    view,
)
from coursekit.exercise.judging import FLOAT32, Data, close, expect_array, results
from coursekit.exercise.mistakes import difference
from coursekit.probes import lesson09 as probes
from coursekit.scratch.regularization import early_stopping_epoch

TOLERANCE: Tolerance = {"rtol": 1e-9, "atol": 1e-12}


# --- exercise 1: the L2 term ---------------------------------------------------------------

def reference_l2(loss: float, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                 weight_decay: float) -> tuple[float, dict[str, np.ndarray]]:
    """``(loss + λ/2 Σ p², {name: g + λ p})``."""
    penalty = 0.5 * weight_decay * sum(float(np.sum(p * p)) for p in params.values())
    return loss + penalty, {name: grads[name] + weight_decay * p for name, p in params.items()}


def _l2_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Three Dense layers, then a BatchNorm layer, whose arrays are "gamma" and "beta": "one
    layer's params" holds whatever arrays that layer has, not always W and b."""
    cases = []
    for n_in, n_out, lam in ((3, 4, 0.1), (5, 2, 0.03), (2, 6, 1.5)):
        params = {"W": rng.normal(size=(n_in, n_out)), "b": rng.normal(size=n_out)}
        grads = {"W": rng.normal(size=(n_in, n_out)), "b": rng.normal(size=n_out)}
        cases.append({"loss": float(rng.uniform(0.5, 2.5)), "params": params, "grads": grads,
                      "weight_decay": lam})
    params = {"gamma": rng.uniform(0.5, 2.0, 5), "beta": rng.normal(size=5)}
    grads = {"gamma": rng.normal(size=5), "beta": rng.normal(size=5)}
    cases.append({"loss": float(rng.uniform(0.5, 2.5)), "params": params, "grads": grads,
                  "weight_decay": 0.2})
    return cases


def _l2_where(loss: float, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
              lam: float) -> str:
    """``with λ=0.1``, and the keys where they are not a Dense layer's."""
    keys = "" if set(params) == {"W", "b"} else f", params of keys {sorted(params)}"
    return f"with λ={lam:g}{keys}"


def _squares(params: dict[str, np.ndarray]) -> float:
    return sum(float(np.sum(p * p)) for p in params.values())


def _plus(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
          step: float) -> dict[str, np.ndarray]:
    """``{name: g + step·p}``: the gradients with ``step`` times the parameters added."""
    return {name: grads[name] + step * p for name, p in params.items()}


def _l2_explain(got: Got, loss: float, params: dict[str, np.ndarray],
                grads: dict[str, np.ndarray], lam: float) -> str | None:
    """A pair the wrong way round, or, when the loss is right, what differs in the gradients (a
    dict, which the generic difference does not open); None for differences within float32
    precision."""
    if got.kind != "list" or got.length != 2:
        return None
    first, second = got.items
    if first.kind == "dict":
        return "the pair is the wrong way round: return (loss, grads)"
    want_loss, want = reference_l2(loss, params, grads, lam)
    if not same(first, want_loss, FLOAT32):
        return None  # the generic difference names the loss first
    if second.kind != "dict":
        return f"grads: expected a dict with keys {sorted(want)}, got {second.describe()}"
    fields = second.fields
    if set(fields) != set(want):
        return f"grads: expected the keys {sorted(want)}, got {sorted(fields)}"
    for name, array in want.items():
        if not same(fields[name], array, FLOAT32):
            return f"gradient of {name!r}: {difference(fields[name], array)}"
    return None


l2_regularize = function(
    "09-l2-term", names=("l2_regularize",), args=("loss", "params", "grads", "weight_decay"),
    keep=("params", "grads"),
    cases=_l2_cases, reference=reference_l2, tolerance=TOLERANCE, float64=True,
    parts=("loss", "grads"), explain=_l2_explain,
    implemented_by=("coursekit.scratch.l2_penalty",),
    where=_l2_where, passed="penalised loss and gradients match on {n} layers",
    raised=[Raised("KeyError", says="your function raised KeyError {message}: params and grads "
                   "hold whatever arrays the layer has (a BatchNorm layer's are 'gamma' and "
                   "'beta'); loop over params.items() rather than naming 'W' and 'b'")],
    mistakes=[
        Mistake("the penalty is λ/2·Σp², with the ½: without it its gradient would be 2λp",
                lambda loss, ps, gs, lam: (loss + lam * _squares(ps), _plus(ps, gs, lam))),
        Mistake("square the parameters: λ/2·Σp², not λ/2·Σ|p|",
                lambda loss, ps, gs, lam: (loss + lam / 2 * sum(float(np.sum(np.abs(p)))
                                                                for p in ps.values()),
                                           _plus(ps, gs, lam))),
        Mistake("sum the squares of every array in params, biases included (as weight_decay "
                "does)", lambda loss, ps, gs, lam: (loss + lam / 2 * float(np.sum(ps["W"] ** 2)),
                                                    _plus(ps, gs, lam))),
        Mistake("return the data loss plus the penalty, not the penalty alone",
                lambda loss, ps, gs, lam: (lam / 2 * _squares(ps), _plus(ps, gs, lam))),
        Mistake("add the penalty to the loss you were given",
                lambda loss, ps, gs, lam: (loss, _plus(ps, gs, lam))),
        Mistake("check the sign: the penalty's gradient λp is added, g + λp",
                lambda loss, ps, gs, lam: (loss + lam / 2 * _squares(ps), _plus(ps, gs, -lam))),
        Mistake("the gradient of λ/2·p² is λp, not 2λp",
                lambda loss, ps, gs, lam: (loss + lam / 2 * _squares(ps),
                                           _plus(ps, gs, 2 * lam))),
        Mistake("add λ·p to the gradient; this is the gradient unchanged",
                lambda loss, ps, gs, lam: (loss + lam / 2 * _squares(ps), gs)),
        Mistake("keep the data gradient: g + λp, not λp alone",
                lambda loss, ps, gs, lam: (loss + lam / 2 * _squares(ps),
                                           {k: lam * p for k, p in ps.items()})),
    ])


# --- exercise 2: dropout -------------------------------------------------------------------

def reference_dropout_forward(x: np.ndarray, rate: float, rng: np.random.Generator,
                              training: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(x * mask, mask)``: in training an entry is kept where ``u >= rate`` and scaled by
    ``1/(1 − rate)``; in evaluation the mask is all ones."""
    if training and rate > 0:
        mask = (rng.random(x.shape) >= rate) / (1.0 - rate)
    else:
        mask = np.ones_like(x)
    return x * mask, mask


def reference_dropout_backward(dout: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """dL/dx = dout * mask."""
    return dout * mask


def _dropout_inputs(rng: np.random.Generator) -> dict[str, Any]:
    cases = []
    for shape, rate in (((100, 400), 0.2), ((100, 400), 0.7), ((4000,), 0.4),
                        ((20, 30), 0.0)):
        x = rng.normal(size=shape)
        x[x == 0.0] = 1.0  # no zeros: a zero output means a dropped entry
        keep = rng.random(shape) >= max(rate, 0.5)
        cases.append({"x": x, "rate": rate, "seed": int(rng.integers(2**31)),
                      "dout": rng.normal(size=shape),
                      "mask": keep / (1.0 - max(rate, 0.5))})
    return {"cases": cases}


#: Known mistakes of the backward pass, run on (dout, mask).
BACKWARD_MISTAKES = (
    Mistake("multiply dout by the mask: the dropped entries get no gradient",
            lambda dout, mask: dout),
    Mistake("multiply by the mask, which already holds the 1/(1 − rate) scaling; don't scale "
            "again", lambda dout, mask: dout * mask * mask),
    Mistake("the gradient is dout * mask, not the mask alone", lambda dout, mask: mask),
)


def _each(inputs: Data, data: Data) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """``(case, what the probe recorded, where)`` for every case."""
    cases = inputs["cases"]
    return [(case, got, f"rate={case['rate']:g}, x of shape {case['x'].shape}")
            for case, got in zip(cases, results(data, len(cases)), strict=True)]


def _pair(got: Data, shape: tuple[int, ...], mode: str) -> tuple[Got, Got]:
    """``(out, mask)``, each an array of ``shape``, or fail saying what came back."""
    pair = view(got)
    if pair.kind != "list" or pair.length != 2:
        raise fail(f"{mode}: expected a pair (out, mask), got {pair.describe()}")
    out, mask = pair.items
    expect_array(out.data, shape, f"{mode}, out")
    expect_array(mask.data, shape, f"{mode}, mask")
    return out, mask


def _out_is_x_times_mask(inputs: Data, data: Data) -> None:
    for case, got, where in _each(inputs, data):
        out, mask = _pair(got["first"], case["x"].shape, f"training mode ({where})")
        if not close(out.array, case["x"] * mask.array, **TOLERANCE):
            raise fail(f"training mode ({where}): out should be x * mask")


def _drop_share(inputs: Data, data: Data) -> None:
    for case, got, where in _each(inputs, data):
        rate, mask = case["rate"], _pair(got["first"], case["x"].shape, "")[1].array
        dropped = float(np.mean(mask == 0.0))
        if rate == 0 and dropped > 0:
            raise fail(f"training mode ({where}): rate 0 drops nothing, but {dropped:.1%} of "
                       "the entries were dropped")
        if rate == 0:
            continue
        # a right answer's share of drops scatters by sd = sqrt(rate(1 - rate)/size): allow six
        # of them (and at least 0.02), so a right answer fails about once in 1e9 runs
        spread = max(0.02, 6.0 * float(np.sqrt(rate * (1.0 - rate) / mask.size)))
        if abs(dropped - (1.0 - rate)) < spread and abs(dropped - rate) > 2 * spread:
            raise fail(f"training mode ({where}): {dropped:.0%} of the entries were dropped; "
                       "rate is the probability of dropping, so keep an entry where u >= rate")
        if abs(dropped - rate) > spread:
            raise fail(f"training mode ({where}): {dropped:.1%} of the entries were dropped, "
                       f"expected about {rate:.0%}")


def _independent(inputs: Data, data: Data) -> None:
    """Every entry draws its own keep/drop: a mask shared by every row (drawn of shape
    (n_features,)) or by every column (one draw per row) drops whole features or images."""
    for case, got, where in _each(inputs, data):
        mask = _pair(got["first"], case["x"].shape, "")[1].array
        if mask.ndim != 2 or not 0 < case["rate"] < 1:
            continue
        if np.all(mask == mask[:1]):
            raise fail(f"training mode ({where}): every row has the same mask: draw one "
                       "keep/drop per entry, rng.random(x.shape), not one row of them shared by "
                       "every image")
        if np.all(mask == mask[:, :1]):
            raise fail(f"training mode ({where}): each row is kept or dropped whole: draw one "
                       "keep/drop per entry, rng.random(x.shape), not one per row")


def _kept_scaled(inputs: Data, data: Data) -> None:
    for case, got, where in _each(inputs, data):
        rate, mask = case["rate"], _pair(got["first"], case["x"].shape, "")[1].array
        kept, scale = np.unique(np.round(mask[mask != 0.0], 12)), 1.0 / (1.0 - case["rate"])
        if kept.size == 1 and close(kept[0], scale, **TOLERANCE):
            continue
        hint = ""
        if kept.size == 1 and rate > 0:
            hint = {1.0: ": inverted dropout scales kept entries by 1/(1 − rate), so the "
                         "expected output equals the input",
                    round(1.0 - rate, 12): ": divide by (1 − rate), don't multiply",
                    round(1.0 / rate, 12): ": divide by the keep probability 1 − rate, not by "
                                           "rate"}.get(round(kept[0], 12), "")
        found = ", ".join(f"{v:.4g}" for v in kept[:4])
        raise fail(f"training mode ({where}): kept entries of the mask should all be "
                   f"1/(1 − rate) = {scale:.4g}, got {found}{hint}")


def _drawn_from_rng(inputs: Data, data: Data) -> None:
    for case, got, where in _each(inputs, data):
        mode, shape = f"training mode ({where})", case["x"].shape
        out = _pair(got["first"], shape, mode)[0].array
        again, other = (_pair(got[key], shape, mode)[0].array for key in ("again", "other"))
        if not np.array_equal(again, out):
            raise fail(f"{mode}: two Generators made from the same seed gave different masks: "
                       "draw the mask from the rng passed in, not from np.random's global "
                       "functions")
        if case["rate"] > 0 and np.array_equal(other, out):
            raise fail(f"{mode}: Generators with different seeds gave the same mask: draw a "
                       "fresh mask from rng on every call")


def _evaluation_is_identity(inputs: Data, data: Data) -> None:
    for case, got, where in _each(inputs, data):
        x, rate, mode = case["x"], case["rate"], f"evaluation mode ({where})"
        out, mask = _pair(got["evaluation"], x.shape, mode)
        trained = _pair(got["first"], x.shape, mode)[0]

        def drops(got: Got, *_: Any, out: Got = out, mask: Got = mask,
                  trained: Got = trained) -> str | None:
            if same(out, trained.array, TOLERANCE) or np.any(mask.array == 0.0):
                return "with training=False nothing may be dropped"
            return None

        match(out, x, where=f"{mode}: out should equal x", args=(x, rate), tolerance=TOLERANCE,
              explain=drops, mistakes=[
                  Mistake("inverted dropout already scaled in training, so evaluation must not "
                          "scale by (1 − rate) again", lambda x, rate: x * (1.0 - rate))])
        if not same(mask, np.ones(x.shape), TOLERANCE):
            raise fail(f"{mode}: the mask should be all ones")


def _backward_times_mask(inputs: Data, data: Data) -> None:
    for case, got, where in _each(inputs, data):
        own = _pair(got["first"], case["x"].shape, "")[1].array
        for key, mask in (("backward_given", case["mask"]), ("backward_own", own)):
            match(view(got[key]), case["dout"] * mask, args=(case["dout"], mask),
                  where=f"backward ({where}): dL/dx should be dout * mask",
                  mistakes=BACKWARD_MISTAKES, tolerance=TOLERANCE)


_judge_dropout = rules(
    Rule("training mode returns (out, mask) of x's shape, out = x * mask", _out_is_x_times_mask),
    Rule("each entry is kept or dropped on its own draw", _independent),
    Rule("about rate of the entries are dropped", _drop_share),
    Rule("kept entries are scaled by 1/(1 − rate)", _kept_scaled),
    Rule("the mask is drawn from the rng passed in, fresh on every call", _drawn_from_rng),
    Rule("evaluation mode is the identity, its mask all ones", _evaluation_is_identity),
    Rule("backward multiplies dout by the mask", _backward_times_mask),
    passed="masks drop about rate of the entries and scale the rest by 1/(1 − rate), "
           "evaluation mode is the identity, backward multiplies by the mask (4 cases)")

dropout = Exercise(
    "09-dropout", _dropout_inputs, probes.dropout_cases, _judge_dropout,
    implemented_by=("coursekit.scratch.Dropout",), names=("dropout_forward", "dropout_backward"),
    mistakes=BACKWARD_MISTAKES, student=lambda wrong: (reference_dropout_forward, wrong),
    arguments=lambda case: (case["dout"], case["mask"]))


# --- exercise 3: early stopping ------------------------------------------------------------

def reference_stopping_epoch(val_losses: list[float], patience: int) -> int:
    """The index :func:`coursekit.scratch.early_stopping_epoch` returns."""
    return early_stopping_epoch(val_losses, patience=patience)


def _stopping_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    wiggle = [round(float(v), 3) for v in 1.0 + 0.02 * rng.standard_normal(6)]
    curve = [2.0, 1.5, 1.2, 1.3, 1.4, 1.1, 1.6, 1.7, 1.8, 1.9, 2.0]
    return [{"val_losses": list(losses), "patience": patience} for losses, patience in (
        (curve, 2), (curve, 3), ([3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 5.0, 6.0], 2),
        ([3.0, 2.0, 2.0, 2.0, 2.0, 1.5, 1.4], 3),
        ([1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.71, 0.74, 0.6], 4), ([5.0, 4.0, 3.0, 2.0], 1),
        ([2.0, 2.5, 1.0, 1.5, 1.8, 1.9, 2.0, 2.1], 2), ([5.0, 6.0, 4.0, 5.0, 3.0, 3.5], 2),
        ([1.5, *wiggle, 0.5], 10))]


def _stopping_where(val_losses: list[float], patience: int) -> str:
    return f"for the curve [{', '.join(f'{v:g}' for v in val_losses)}] with patience {patience}"


def _stopped(val_losses: list[float], patience: int, *, better: Any = float.__lt__,
             reset: bool = True, wait: int = 0, ties_wait: bool = True) -> tuple[int, int]:
    """``(best index, index where it stopped)`` of the stopping loop, with ``better`` as the
    improvement test, the count reset on an improvement or not, ``wait`` evaluations more
    or fewer than ``patience``, and a tie counted as a value that did not improve or not."""
    best, waited = 0, 0
    for i in range(1, len(val_losses)):
        if better(float(val_losses[i]), float(val_losses[best])):
            best, waited = i, 0 if reset else waited
        elif ties_wait or float(val_losses[i]) != float(val_losses[best]):
            waited += 1
            if waited == patience + wait:
                return best, i
    return best, len(val_losses) - 1


_early_stopping = function(
    "09-early-stopping", names=("stopping_epoch",), args=("val_losses", "patience"),
    keep=("val_losses",), cases=_stopping_cases, reference=reference_stopping_epoch,
    where=_stopping_where, implemented_by=("coursekit.scratch.early_stopping_epoch",),
    passed="stopping indices match on {n} curves",
    mistakes=[  # in order: a tie-improver and a tie-skipper also look past the stop
        Mistake("only a strictly lower value is an improvement; a tie keeps the earlier index",
                lambda val_losses, patience: _stopped(val_losses, patience,
                                                      better=float.__le__)[0]),
        Mistake("a tie has not improved on the best value either: it counts toward the "
                "`patience` values in a row (only a strictly lower value resets the count)",
                lambda val_losses, patience: _stopped(val_losses, patience,
                                                      ties_wait=False)[0]),
        Mistake("you looked past the stop: once `patience` values in a row fail to improve, "
                "stop reading (this is the minimum of the whole curve)",
                lambda val_losses, patience: int(np.argmin(val_losses))),
        Mistake("return the index of the best value, not the index where you stopped",
                lambda val_losses, patience: _stopped(val_losses, patience)[1]),
        Mistake("indices count from 0 (like hist['weights']); this is one too many",
                lambda val_losses, patience: _stopped(val_losses, patience)[0] + 1),
        Mistake("reset the count of evaluations without improvement whenever the value "
                "improves",
                lambda val_losses, patience: _stopped(val_losses, patience, reset=False)[0]),
        Mistake("stop after `patience` values without improvement, not `patience` − 1",
                lambda val_losses, patience: _stopped(val_losses, patience, wait=-1)[0]),
        Mistake("the best validation loss is the lowest, not the highest",
                lambda val_losses, patience: int(np.argmax(val_losses))),
    ])


stopping_epoch = _early_stopping

EXERCISES = registry(l2_regularize, dropout, stopping_epoch)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)
