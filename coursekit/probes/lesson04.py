"""Probes of lesson 04: the student's momentum and Adam updates over successive steps, and their
training loop on a network built from a case's seeds.

Each update step starts from the state the student's previous step returned (copied out of the
plain description of that result, never the returned objects themselves), as a training loop
would. A step that does not return the expected number of arrays of the parameter's shape ends
the run: the judge stops at that step anyway.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.probing import attempt_keeping, describe_value, guarded


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
def update_runs(inputs: dict[str, Any], update: Any) -> list[list[dict[str, Any]]]:
    """``update(param, grad, *state[, t], **hyper)`` step after step, the state (velocity, or
    m and v: ``inputs["state"]`` arrays) from 0 and t from 1 where ``inputs["counted"]``, the
    keywords ``inputs["hyper"]`` read from each case (one a case leaves out is not passed, so
    its default applies). grad must come back unchanged (the lesson
    hands the same gradient to scratch's optimizer after the call); param and the state may be
    updated in place."""
    runs = []
    for run in inputs["cases"]:
        param = _floats(run["param"])
        state = [np.zeros_like(param) for _ in range(int(inputs["state"]))]
        hyper = {name: float(run[name]) for name in inputs["hyper"] if name in run}
        steps = []
        for t, grad in enumerate(run["grads"], start=1):
            args = (param.copy(), _floats(grad), *(s.copy() for s in state),
                    *((t,) if inputs["counted"] else ()))
            got = attempt_keeping(update, args, ("", "grad") + ("",) * (len(args) - 2),
                                  kwargs=hyper)
            steps.append(got)
            new = _state(got, 1 + len(state), param.shape)
            if new is None:
                break
            param, *state = new
        runs.append(steps)
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


def loop_arguments(case: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``train_loop``'s data arguments for a case: (X, y) and the keywords."""
    return ((_floats(case["X"]), np.array(case["y"], dtype=np.int64)),
            {"n_epochs": int(case["n_epochs"]), "batch_size": int(case["batch_size"]),
             "rng": np.random.default_rng(int(case["shuffle_seed"]))})


@guarded
def training_runs(inputs: dict[str, Any], train_loop: Any) -> list[dict[str, Any]]:
    """``train_loop(model, loss_fn, optimizer, X, y, n_epochs=..., batch_size=..., rng=...)``
    on a freshly built network per case; returns what it gave, the parameters afterwards (read
    through the layers as built) and how many optimizer steps ran. X and y must come back
    unchanged (the lesson trains on X_train, y_train again after the call)."""
    runs = []
    for case in inputs["cases"]:
        model, loss_fn, optimizer = build_network(case)
        layers = list(model.layers)
        data, keywords = loop_arguments(case)
        result = attempt_keeping(train_loop, (model, loss_fn, optimizer, *data),
                                 ("", "", "", "X", "y"), kwargs=keywords)
        steps = optimizer.iterations
        runs.append({"result": result, "weights": [describe_value(w) for w in parameters(layers)],
                     "steps": int(steps) if isinstance(steps, int) else -1})
    return runs
