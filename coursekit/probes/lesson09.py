"""Probes of lesson 09: call the student's L2 term, dropout and stopping rule on given cases."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt, attempt_keeping, guarded


def _arrays(named: dict[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.array(value, dtype=np.float64) for name, value in named.items()}


@guarded
def l2_cases(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(loss, params, grads, weight_decay)`` on every case, plus whether it changed the
    ``params`` it was given."""
    results = []
    for case in inputs["cases"]:
        params, grads = _arrays(case["params"]), _arrays(case["grads"])
        got = attempt(fn, float(case["loss"]), params, grads, float(case["weight_decay"]))
        changed = any(not np.array_equal(params[k], case["params"][k]) for k in params)
        results.append({"result": got, "changed_params": changed})
    return results


@guarded
def dropout_cases(inputs: dict[str, Any], forward: Any, backward: Any) -> list[dict[str, Any]]:
    """For every case: training mode twice from equal seeds and once from another seed,
    evaluation mode (``training=False``), and ``backward`` on a given mask and on the
    student's own mask. The forward pass must leave x unchanged (the lesson draws many masks
    for the same image)."""
    results = []
    for case in inputs["cases"]:
        x = np.array(case["x"], dtype=np.float64)
        rate, seed = float(case["rate"]), int(case["seed"])
        first, again, other, evaluation = (
            attempt_keeping(forward, (x.copy(), rate, np.random.default_rng(draw)), ("x", "", ""),
                            kwargs={} if training else {"training": False})
            for draw, training in ((seed, True), (seed, True), (seed + 1, True), (seed, False)))
        dout = np.array(case["dout"], dtype=np.float64)
        given = attempt(backward, dout.copy(), np.array(case["mask"], dtype=np.float64))
        own = {"kind": "none"}
        if first.get("kind") == "list" and first.get("length") == 2:
            mask = first["items"][1]
            if mask.get("kind") == "array" and tuple(mask["shape"]) == x.shape:
                own = attempt(backward, dout.copy(), np.array(mask["value"], dtype=np.float64))
        results.append({"first": first, "again": again, "other": other,
                        "evaluation": evaluation, "backward_given": given,
                        "backward_own": own})
    return results


@guarded
def stopping_cases(inputs: dict[str, Any], fn: Any) -> list[dict[str, Any]]:
    """``fn(val_losses, patience)`` on every curve, given as a list of floats that must come
    back unchanged (the lesson plots the same curve after the call)."""
    return [attempt_keeping(fn, ([float(v) for v in case["curve"]], int(case["patience"])),
                            ("val_losses", ""))
            for case in inputs["cases"]]

