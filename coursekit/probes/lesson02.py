"""Probes of lesson 02 beyond the generic one: the model and its loss are checked together
(two functions), and the SGD epoch is called with a fresh rng per seed."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt_keeping, call_keeping, guarded


def _array(value: Any) -> np.ndarray:
    return np.array(value, dtype=np.float64)


@guarded
def model_cases(inputs: dict[str, Any], predict: Any, mse: Any) -> dict[str, Any]:
    """``predict(X, w, b)`` and ``mse(X, y, w, b)`` on every case (copies of the arrays); X, y
    and w must come back unchanged (the lesson's later cells use them again)."""
    return {
        "predict": [call_keeping(predict, case, ("X", "w", "b"), ("X", "w", ""))
                    for case in inputs["cases"]],
        "mse": [call_keeping(mse, case, ("X", "y", "w", "b"), ("X", "y", "w", ""))
                for case in inputs["cases"]],
    }


@guarded
def epoch_runs(inputs: dict[str, Any], epoch: Any) -> list[list[dict[str, Any]]]:
    """``epoch(X, y, w, b, lr=, batch_size=, rng=default_rng(seed))`` for every run and every
    seed the run lists (the same seed twice shows whether the batches follow ``rng``); X and y
    must come back unchanged (the lesson runs every epoch on the same X, y)."""
    return [[attempt_keeping(epoch, (_array(run["X"]), _array(run["y"]), _array(run["w"]),
                                     float(run["b"])), ("X", "y", "", ""),
                             kwargs={"lr": float(run["lr"]),
                                     "batch_size": int(run["batch_size"]),
                                     "rng": np.random.default_rng(int(seed))})
             for seed in run["seeds"]]
            for run in inputs["runs"]]
