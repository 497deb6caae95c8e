"""Probes of lesson 04: run the student's momentum and Adam updates over successive steps.

Each step starts from the state the student's previous step returned (copied out of the plain
description of that result, never the returned objects themselves), as a training loop would.
A step that does not return the expected number of arrays of the parameter's shape ends the
run: the judge stops at that step anyway.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt, attempt_keeping, describe_value, guarded


def _floats(value: Any) -> np.ndarray:
    return np.array(value, dtype=np.float64)


def _state(got: dict[str, Any], count: int, shape: tuple[int, ...]) -> list[np.ndarray] | None:
    """The ``count`` arrays of ``shape`` a step returned, as float64 copies, or None."""
    items = got.get("items")
    if got.get("kind") != "list" or not isinstance(items, list) or len(items) != count:
        return None
    if not all(item.get("kind") == "array" and tuple(item["shape"]) == shape for item in items):
        return None
    return [_floats(item["value"]) for item in items]


@guarded
def momentum_runs(inputs: dict[str, Any], update: Any) -> list[list[dict[str, Any]]]:
    """``update(param, grad, velocity, lr=, momentum=)`` step after step, velocity from 0;
    grad must come back unchanged (the lesson hands the same gradient to scratch.SGD after the
    call), param and velocity may be updated in place."""
    runs = []
    for run in inputs["runs"]:
        param = _floats(run["param"])
        velocity = np.zeros_like(param)
        steps = []
        for grad in run["grads"]:
            got = attempt_keeping(update, (param.copy(), _floats(grad), velocity.copy()),
                                  ("", "grad", ""), kwargs={"lr": float(run["lr"]),
                                                            "momentum": float(run["momentum"])})
            steps.append(got)
            state = _state(got, 2, param.shape)
            if state is None:
                break
            param, velocity = state
        runs.append(steps)
    return runs


def _adam_call(update: Any, run: dict[str, Any], param: np.ndarray, grad: Any, m: np.ndarray,
               v: np.ndarray, t: int) -> dict[str, Any]:
    """One Adam step; grad must come back unchanged (the lesson hands the same gradient to
    scratch.Adam after the call), param, m and v may be updated in place."""
    return attempt_keeping(update, (param.copy(), _floats(grad), m.copy(), v.copy(), t),
                           ("", "grad", "", "", ""),
                           kwargs={"lr": float(run["lr"]), "beta1": float(run["beta1"]),
                                   "beta2": float(run["beta2"]), "eps": float(run["eps"])})


@guarded
def adam_runs(inputs: dict[str, Any], update: Any) -> list[dict[str, Any]]:
    """``update(param, grad, m, v, t, lr=, beta1=, beta2=, eps=)`` for t = 1, 2, ... from
    m = v = 0; and once more at ``t = 2`` from the run's ``restart`` state (nonzero m and v)
    with its first gradient, which tells apart mistakes that agree at t = 1."""
    runs = []
    for run in inputs["runs"]:
        param = _floats(run["param"])
        m, v = np.zeros_like(param), np.zeros_like(param)
        steps = []
        for t, grad in enumerate(run["grads"], start=1):
            got = _adam_call(update, run, param, grad, m, v, t)
            steps.append(got)
            state = _state(got, 3, param.shape)
            if state is None:
                break
            param, m, v = state
        restart = run["restart"]
        runs.append({"steps": steps, "restart": _adam_call(
            update, run, _floats(run["param"]), run["grads"][0], _floats(restart["m"]),
            _floats(restart["v"]), int(restart["t"]))})
    return runs


def build_network(case: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The model, loss and optimizer of a training-loop case, from its seeds:
    Dense(d, hidden) → ReLU → Dense(hidden, classes), softmax cross-entropy, SGD or Adam."""
    from coursekit.scratch import SGD, Adam, Dense, ReLU, Sequential, SoftmaxCrossEntropy

    d, hidden, classes = case["sizes"]
    seed = int(case["init_seed"])
    model = Sequential(Dense(d, hidden, init="he", random_state=seed), ReLU(),
                       Dense(hidden, classes, init="he", random_state=seed + 1))
    kind = SGD if case["optimizer"] == "SGD" else Adam
    return model, SoftmaxCrossEntropy(), kind(model.layers, lr=float(case["lr"]))


def parameters(layers: list[Any]) -> list[np.ndarray]:
    """Every parameter array of ``layers``, layer by layer, names sorted."""
    return [layer.params[name] for layer in layers for name in sorted(layer.params)]


@guarded
def training_runs(inputs: dict[str, Any], train_loop: Any) -> list[dict[str, Any]]:
    """``train_loop(model, loss_fn, optimizer, X, y, n_epochs=..., batch_size=..., rng=...)``
    on a freshly built network per case; returns what it gave, the parameters afterwards (read
    through the layers as built) and how many optimizer steps ran."""
    runs = []
    for case in inputs["cases"]:
        model, loss_fn, optimizer = build_network(case)
        layers = list(model.layers)
        result = attempt(train_loop, model, loss_fn, optimizer, _floats(case["X"]),
                         np.array(case["y"], dtype=np.int64), n_epochs=int(case["n_epochs"]),
                         batch_size=int(case["batch_size"]),
                         rng=np.random.default_rng(int(case["shuffle_seed"])))
        steps = optimizer.iterations
        runs.append({"result": result, "weights": [describe_value(w) for w in parameters(layers)],
                     "steps": int(steps) if isinstance(steps, int) else -1})
    return runs
