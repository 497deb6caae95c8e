"""Checks for lesson 09, overfitting and regularisation.

- L2: ``L + λ/2 Σ p²`` and ``g + λ p`` for every parameter array.
- Inverted dropout: in training, each entry is dropped with probability ``rate`` and kept ones
  are scaled by ``1 / (1 - rate)``; in evaluation, the identity; backward multiplies by the mask.
- Early stopping: the best index seen before ``patience`` evaluations in a row fail to improve.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._legacy import diagnose, diagnose_float64
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    close,
    describe,
    expect_array,
    expect_scalar,
    fail,
    results,
    value,
)
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson09 as probes
from coursekit.scratch.regularization import early_stopping_epoch

TOLERANCE: Tolerance = {"rtol": 1e-9, "atol": 1e-12}


# --- exercise 1: the L2 term ---------------------------------------------------------------

def reference_l2(loss: float, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                 weight_decay: float) -> tuple[float, dict[str, np.ndarray]]:
    """``(loss + λ/2 Σ p², {name: g + λ p})``."""
    penalty = 0.5 * weight_decay * sum(float(np.sum(p * p)) for p in params.values())
    return loss + penalty, {name: grads[name] + weight_decay * p for name, p in params.items()}


def _l2_inputs(rng: np.random.Generator) -> dict[str, Any]:
    cases = []
    for n_in, n_out, lam in ((3, 4, 0.1), (5, 2, 0.03), (2, 6, 1.5)):
        params = {"W": rng.normal(size=(n_in, n_out)), "b": rng.normal(size=n_out)}
        grads = {"W": rng.normal(size=(n_in, n_out)), "b": rng.normal(size=n_out)}
        cases.append({"loss": float(rng.uniform(0.5, 2.5)), "params": params, "grads": grads,
                      "weight_decay": lam})
    return {"cases": cases}


def _judge_l2(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        loss, lam = case["loss"], case["weight_decay"]
        params, grads = case["params"], case["grads"]
        result = value(got["result"])
        if result["kind"] != "list" or result.get("length") != 2:
            raise fail(f"expected a pair (loss, grads), got {describe(result)}")
        got_loss, got_grads = result["items"]
        if value(got_loss)["kind"] == "dict":
            raise fail("the pair is the wrong way round: return (loss, grads)")
        number = expect_scalar(got_loss, "the penalised loss")
        want_loss, want_grads = reference_l2(loss, params, grads, lam)
        squares = sum(float(np.sum(p * p)) for p in params.values())
        diagnose_float64(number, want_loss, {
            "the penalty is λ/2·Σp², with the ½: without it its gradient would be 2λp":
                loss + lam * squares,
            "square the parameters: λ/2·Σp², not λ/2·Σ|p|":
                loss + 0.5 * lam * sum(float(np.sum(np.abs(p))) for p in params.values()),
            "sum the squares of every array in params, biases included (as weight_decay does)":
                loss + 0.5 * lam * float(np.sum(params["W"] ** 2)),
            "return the data loss plus the penalty, not the penalty alone":
                want_loss - loss,
            "add the penalty to the loss you were given": loss,
        }, where=f"with λ={lam:g}, the penalised loss should be {want_loss:.6f}, "
                 f"got {number:.6f}", what="the penalised loss", precise=TOLERANCE, **TOLERANCE)
        got_grads = value(got_grads)
        if got_grads["kind"] != "dict":
            raise fail(f"the gradients: expected a dict with keys {sorted(params)}, "
                       f"got {describe(got_grads)}")
        if set(got_grads["items"]) != set(params):
            raise fail(f"the gradients: expected the keys {sorted(params)}, got "
                       f"{sorted(got_grads['items'])}")
        for name, want in want_grads.items():
            array = expect_array(got_grads["items"][name], want.shape, f"gradient of {name!r}")
            g, p = grads[name], params[name]
            diagnose_float64(array, want, {
                "check the sign: the penalty's gradient λp is added, g + λp": g - lam * p,
                "the gradient of λ/2·p² is λp, not 2λp": g + 2 * lam * p,
                "add λ·p to the gradient; this is the gradient unchanged": g,
                "keep the data gradient: g + λp, not λp alone": lam * p,
            }, where=f"gradient of {name!r} with λ={lam:g} should be g + λp",
               what=f"the gradient of {name!r}", precise=TOLERANCE, **TOLERANCE)
        if got["changed_params"]:
            raise fail("your function changed the parameters it was given: only read params "
                       "(the optimizer's step is what changes them)")
    return f"penalised loss and gradients match on {len(cases)} layers"


# --- exercise 2: dropout -------------------------------------------------------------------

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


def _forward_pair(got: Data, shape: tuple[int, ...], mode: str) -> tuple[np.ndarray, np.ndarray]:
    got = value(got)
    if got["kind"] != "list" or got.get("length") != 2:
        raise fail(f"{mode}: expected a pair (out, mask), got {describe(got)}")
    out = expect_array(got["items"][0], shape, f"{mode}, out")
    mask = expect_array(got["items"][1], shape, f"{mode}, mask")
    return out, mask


def _judge_dropout(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        x, rate, dout = case["x"], case["rate"], case["dout"]
        shape = x.shape
        where = f"rate={rate:g}, x of shape {shape}"
        out, mask = _forward_pair(got["first"], shape, f"training mode ({where})")
        if not close(out, x * mask, **TOLERANCE):
            raise fail(f"training mode ({where}): out should be x * mask")
        dropped = float(np.mean(mask == 0.0))
        kept_values = np.unique(np.round(mask[mask != 0.0], 12))
        scale = 1.0 / (1.0 - rate)
        if rate > 0:
            # a right answer's share of drops scatters by sd = sqrt(rate(1 - rate)/size): allow
            # six of them (and at least 0.02), so a right answer fails about once in 1e9 runs
            spread = max(0.02, 6.0 * float(np.sqrt(rate * (1.0 - rate) / mask.size)))
            if abs(dropped - (1.0 - rate)) < spread and abs(dropped - rate) > 2 * spread:
                raise fail(f"training mode ({where}): {dropped:.0%} of the entries were "
                           f"dropped; rate is the probability of dropping, so keep an entry "
                           f"where u >= rate")
            if abs(dropped - rate) > spread:
                raise fail(f"training mode ({where}): {dropped:.1%} of the entries were "
                           f"dropped, expected about {rate:.0%}")
        elif dropped > 0:
            raise fail(f"training mode ({where}): rate 0 drops nothing, but {dropped:.1%} of "
                       "the entries were dropped")
        if kept_values.size != 1 or not close(kept_values[0], scale, **TOLERANCE):
            found = ", ".join(f"{v:.4g}" for v in kept_values[:4])
            hint = ""
            if kept_values.size == 1 and rate > 0:
                hint = {1.0: ": inverted dropout scales kept entries by 1/(1 − rate), so the "
                             "expected output equals the input",
                        round(1.0 - rate, 12): ": divide by (1 − rate), don't multiply",
                        round(1.0 / rate, 12): ": divide by the keep probability 1 − rate, "
                                               "not by rate"}.get(round(kept_values[0], 12), "")
            raise fail(f"training mode ({where}): kept entries of the mask should all be "
                       f"1/(1 − rate) = {scale:.4g}, got {found}{hint}")
        again, _ = _forward_pair(got["again"], shape, f"training mode ({where})")
        other, _ = _forward_pair(got["other"], shape, f"training mode ({where})")
        if not np.array_equal(again, out):
            raise fail(f"training mode ({where}): two Generators made from the same seed gave "
                       "different masks: draw the mask from the rng passed in, not from "
                       "np.random's global functions")
        if rate > 0 and np.array_equal(other, out):
            raise fail(f"training mode ({where}): Generators with different seeds gave the same "
                       "mask: draw a fresh mask from rng on every call")
        eval_out, eval_mask = _forward_pair(got["evaluation"], shape,
                                            f"evaluation mode ({where})")
        if not close(eval_out, x, **TOLERANCE):
            hint = ""
            if close(eval_out, x * (1.0 - rate), **TOLERANCE):
                hint = ": inverted dropout already scaled in training, so evaluation must not " \
                       "scale by (1 − rate) again"
            elif close(eval_out, out, **TOLERANCE) or np.any(eval_mask == 0.0):
                hint = ": with training=False nothing may be dropped"
            raise fail(f"evaluation mode ({where}): out should equal x{hint}")
        if not close(eval_mask, np.ones(shape, dtype=np.float64), **TOLERANCE):
            raise fail(f"evaluation mode ({where}): the mask should be all ones")
        for key, used in (("backward_given", case["mask"]), ("backward_own", mask)):
            dx = expect_array(got[key], shape, f"backward ({where})")
            diagnose(dx, dout * used, {
                "multiply dout by the mask: the dropped entries get no gradient": dout,
                "multiply by the mask, which already holds the 1/(1 − rate) scaling; don't "
                "scale again": dout * used / (1.0 - rate) if rate > 0 else None,
                "the gradient is dout * mask, not the mask alone": used,
            }, where=f"backward ({where}): dL/dx should be dout * mask", **TOLERANCE)
    return (f"masks drop about rate of the entries and scale the rest by 1/(1 − rate), "
            f"evaluation mode is the identity, backward multiplies by the mask "
            f"({len(cases)} cases)")


# --- exercise 3: early stopping ------------------------------------------------------------

def reference_stopping_epoch(val_losses: list[float], patience: int) -> int:
    """The index :func:`coursekit.scratch.early_stopping_epoch` returns."""
    return early_stopping_epoch(val_losses, patience=patience)


def _variants(curve: list[float], patience: int) -> dict[str, int | None]:
    """What realistic wrong versions return on ``curve``, keyed by the feedback to give."""
    best, waited, stop, best_tie, waited_tie = 0, 0, len(curve) - 1, 0, 0
    for i in range(1, len(curve)):
        if curve[i] < curve[best]:
            best, waited = i, 0
        else:
            waited += 1
            if waited == patience:
                stop = i
                break
    for i in range(1, len(curve)):
        if curve[i] <= curve[best_tie]:
            best_tie, waited_tie = i, 0
        else:
            waited_tie += 1
            if waited_tie == patience:
                break
    never_reset_best, count = 0, 0
    for i in range(1, len(curve)):
        if curve[i] < curve[never_reset_best]:
            never_reset_best = i
        else:
            count += 1
            if count == patience:
                break
    one_short_best, waited = 0, 0
    for i in range(1, len(curve)):
        if curve[i] < curve[one_short_best]:
            one_short_best, waited = i, 0
        else:
            waited += 1
            if waited == patience - 1:
                break
    return {
        "you looked past the stop: once `patience` values in a row fail to improve, stop "
        "reading (this is the minimum of the whole curve)": int(np.argmin(curve)),
        "return the index of the best value, not the index where you stopped": stop,
        "indices count from 0 (like hist['weights']); this is one too many": best + 1,
        "only a strictly lower value is an improvement; a tie keeps the earlier index":
            best_tie,
        "reset the count of evaluations without improvement whenever the value improves":
            never_reset_best,
        "stop after `patience` values without improvement, not `patience` − 1":
            one_short_best if patience > 1 else None,
        "the best validation loss is the lowest, not the highest": int(np.argmax(curve)),
    }


def _stopping_inputs(rng: np.random.Generator) -> dict[str, Any]:
    wiggle = [round(float(v), 3) for v in 1.0 + 0.02 * rng.standard_normal(6)]
    cases = [
        {"curve": [2.0, 1.5, 1.2, 1.3, 1.4, 1.1, 1.6, 1.7, 1.8, 1.9, 2.0], "patience": 2},
        {"curve": [2.0, 1.5, 1.2, 1.3, 1.4, 1.1, 1.6, 1.7, 1.8, 1.9, 2.0], "patience": 3},
        {"curve": [3.0, 2.0, 2.0, 2.0, 2.0, 1.5, 1.4], "patience": 3},
        {"curve": [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.71, 0.74, 0.6], "patience": 4},
        {"curve": [5.0, 4.0, 3.0, 2.0], "patience": 1},
        {"curve": [2.0, 2.5, 1.0, 1.5, 1.8, 1.9, 2.0, 2.1], "patience": 2},
        {"curve": [5.0, 6.0, 4.0, 5.0, 3.0, 3.5], "patience": 2},
        {"curve": [1.5, *wiggle, 0.5], "patience": 10},
    ]
    return {"cases": cases}


def _judge_stopping(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    indices = []
    for got in results(data, len(cases)):
        got = value(got)
        if got["kind"] != "int":
            raise fail(f"expected an int index, got {describe(got)}: later cells index "
                       "hist['weights'] with it")
        indices.append(int(got["value"]))
    # a wrong version is named by the variant that reproduces every answer, else by the
    # first variant that reproduces the first wrong one
    variants = [_variants(case["curve"], case["patience"]) for case in cases]
    pairs = list(zip(variants, indices, strict=True))
    everywhere = [hint for hint in variants[0]
                  if all(v[hint] is None or v[hint] == i for v, i in pairs)]
    for case, index, found in zip(cases, indices, variants, strict=True):
        curve, patience = case["curve"], case["patience"]
        want = reference_stopping_epoch(curve, patience)
        if index == want:
            continue
        shown = ", ".join(f"{v:g}" for v in curve)
        where = (f"for the curve [{shown}] with patience {patience}, expected index {want}, "
                 f"got {index}")
        here = [hint for hint, candidate in found.items()
                if candidate is not None and candidate != want and index == candidate]
        for hint in [h for h in everywhere if h in here] + here:
            raise fail(f"{where}: {hint}")
        raise fail(where)
    return f"stopping indices match on {len(cases)} curves"


L2_TERM = Exercise("09-l2-term", _l2_inputs, probes.l2_cases, _judge_l2,
                   implemented_by=("coursekit.scratch.l2_penalty",),
                   names=("l2_regularize",))
DROPOUT = Exercise("09-dropout", _dropout_inputs, probes.dropout_cases, _judge_dropout,
                   implemented_by=("coursekit.scratch.Dropout",),
                   names=("dropout_forward", "dropout_backward"))
EARLY_STOPPING = Exercise("09-early-stopping", _stopping_inputs, probes.stopping_cases,
                          _judge_stopping,
                          implemented_by=("coursekit.scratch.early_stopping_epoch",),
                          names=("stopping_epoch",))
EXERCISES = registry(L2_TERM, DROPOUT, EARLY_STOPPING)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def l2_regularize(fn: Callable[..., Any]) -> None:
    """Check ``fn(loss, params, grads, weight_decay) -> (loss + λ/2 Σp², {name: g + λp})``."""
    L2_TERM.check(fn)


def dropout(forward: Callable[..., Any], backward: Callable[..., Any]) -> None:
    """Check ``forward(x, rate, rng, training=True) -> (out, mask)`` and
    ``backward(dout, mask) -> dx``."""
    DROPOUT.check(forward, backward)


def stopping_epoch(fn: Callable[[list[float], int], int]) -> None:
    """Check ``fn(val_losses, patience)`` returns the index early stopping keeps."""
    EARLY_STOPPING.check(fn)
