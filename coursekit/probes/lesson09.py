"""Probes of lesson 09 beyond the generic one: dropout's forward pass is called in both modes,
with Generators from equal and from different seeds, and its backward on the student's own
mask."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt, attempt_keeping, guarded
from coursekit.exercise.view import Got


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
        pair = Got(first)
        if pair.kind == "list" and pair.length == 2:
            mask = pair.items[1]
            if mask.kind == "array" and mask.shape == x.shape:
                own = attempt(backward, dout.copy(), mask.array)
        results.append({"first": first, "again": again, "other": other,
                        "evaluation": evaluation, "backward_given": given,
                        "backward_own": own})
    return results
