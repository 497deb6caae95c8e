"""Checks for lesson 04, training a NumPy network.

The update rules are the ones ``coursekit.scratch`` (and ``torch.optim``) use:

- momentum: ``v ← βv + g`` (v starts at 0), ``p ← p − lr·v``;
- Adam: ``m ← β₁m + (1 − β₁)g``, ``v ← β₂v + (1 − β₂)g²``, and at step t = 1, 2, ...
  ``p ← p − lr·m̂ / (√v̂ + ε)`` with ``m̂ = m / (1 − β₁ᵗ)``, ``v̂ = v / (1 − β₂ᵗ)``. Kingma and
  Ba's "efficient" form ``p ← p − lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m / (√v + ε)`` differs only in where
  ε sits and is accepted too.

The training loop is judged by training small networks from their seeds next to the reference
loop: the same batches (``coursekit.data.batches``, a new order every epoch), the loss of every
step and the same weights afterwards.

Each update step is judged from the state the student's own previous step returned (the probe feeds
it forward), so a valid variant whose rounding drifts a little is never blamed for the drift.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit import data
from coursekit.checks._legacy import mistake
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    close,
    expect_array,
    expect_tuple,
    fail,
    raised_message,
    results,
    value,
)
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson04 as probes

#: How close a student's numbers must be to the reference's.
TOLERANCE: Tolerance = {"rtol": 1e-6, "atol": 1e-8}


def reference_momentum_update(
    param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, *, lr: float, momentum: float
) -> tuple[np.ndarray, np.ndarray]:
    """One SGD-with-momentum step: arrays of one shape in, (new param, new velocity) out."""
    velocity = momentum * velocity + grad
    return param - lr * velocity, velocity


def reference_adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step number ``t`` (1-based): arrays of one shape in, (param, m, v) out."""
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad**2
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _gradients(rng: np.random.Generator, shape: tuple[int, ...], n_steps: int) -> list[np.ndarray]:
    # Gradients of a few magnitudes, so a misplaced eps or a missing correction shows.
    return [rng.normal(size=shape) * scale for scale in np.geomspace(1e-3, 1.0, n_steps)]


def _steps(run: Data, n_steps: int) -> list[Data]:
    steps = run.get("steps") if isinstance(run, dict) else run
    if not isinstance(steps, list) or not 0 < len(steps) <= n_steps:
        raise fail("the check received malformed data")
    return steps


def _concat(*arrays: Any) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays])


# ---- 04-momentum-update ----

#: (shape, lr, momentum) of the runs; the last has momentum 0, plain SGD.
_MOMENTUM_RUNS = [((3, 4), 0.1, 0.9), ((5,), 0.05, 0.5), ((2, 3), 1.0, 0.0)]


def _momentum_runs(rng: np.random.Generator) -> dict[str, Any]:
    return {"runs": [{"param": rng.normal(size=shape), "grads": _gradients(rng, shape, 4),
                      "lr": lr, "momentum": beta}
                     for shape, lr, beta in _MOMENTUM_RUNS]}


def _judge_momentum_step(step: int, got: Data, param: np.ndarray, velocity: np.ndarray,
                         grad: np.ndarray, lr: float, beta: float) -> tuple[np.ndarray, ...]:
    """The student's (param, velocity) after this step, when they are right."""
    shape = param.shape
    new_p, new_v = expect_tuple(got, 2, "a tuple (param, velocity)")
    got_p = expect_array(new_p, shape, f"step {step}: param")
    got_v = expect_array(new_v, shape, f"step {step}: velocity")
    want_p, want_v = reference_momentum_update(param, grad, velocity, lr=lr, momentum=beta)
    if close(_concat(got_p, got_v), _concat(want_p, want_v), **TOLERANCE):
        return got_p, got_v
    where = f"lr={lr:g}, momentum={beta:g}, step {step}"
    raise mistake(_concat(got_p, got_v), {  # message -> the (param, velocity) of that mistake
        "your first array is the velocity and your second the param: the return order is "
        "(param, velocity)":
            None if close(want_p, want_v, **TOLERANCE) else _concat(want_v, want_p),
        "velocity is right but the step used the old velocity: update v ← βv + g first, then "
        "step with the new one, p ← p − lr·v":
            None if close(want_v, velocity, **TOLERANCE) else
            _concat(param - lr * velocity, want_v),
        "param is right but your velocity is −lr × ours (the v ← βv − lr·g convention); this "
        "course stores v ← βv + g and steps p ← p − lr·v, as PyTorch does":
            _concat(want_p, -lr * want_v),
        "velocity is an average βv + (1 − β)g; momentum SGD adds the full gradient: v ← βv + g":
            _concat(got_p, beta * velocity + (1 - beta) * grad),
        "β multiplies the old velocity, not the gradient: v ← βv + g":
            _concat(got_p, velocity + beta * grad),
        "the parameter moved up the gradient: p ← p − lr·v": _concat(param + lr * want_v, want_v),
        "velocity is right but the step used the raw gradient: step along the velocity, "
        "p ← p − lr·v": _concat(param - lr * grad, want_v),
        "the velocity forgot its past (v = g): start from the velocity passed in, v ← βv + g":
            _concat(got_p, grad) if step > 1 else None,
        f"that is momentum 0.9, but this call passed momentum={beta:g}: use the momentum "
        "argument, not a hard-coded 0.9":
            _concat(param - lr * (0.9 * velocity + grad), 0.9 * velocity + grad)
            if beta != 0.9 else None,
    }, where=where, otherwise=f"{where}: param or velocity differs from v ← βv + g, "
       "p ← p − lr·v", **TOLERANCE)


def _judge_momentum(inputs: Data, data: Data) -> str:
    runs = inputs["runs"]
    for run, got in zip(runs, results(data, len(runs)), strict=True):
        param, grads = run["param"], run["grads"]
        velocity = np.zeros_like(param)
        steps = _steps(got, len(grads))
        for step, (grad, result) in enumerate(zip(grads, steps, strict=False), start=1):
            param, velocity = _judge_momentum_step(step, result, param, velocity, grad,
                                                   run["lr"], run["momentum"])
        if len(steps) != len(grads):
            raise fail("the check received malformed data")
    return f"{len(runs[0]['grads'])} successive steps match on {len(runs)} runs"


# ---- 04-adam-update ----

#: (shape, lr, beta1, beta2) of the runs; the second has other betas than the defaults, and
#: eps = 1e-6 (the others 1e-8), so a hard-coded eps shows.
_ADAM_RUNS = [((3, 4), 0.01, 0.9, 0.999), ((6,), 0.1, 0.8, 0.99), ((2, 2), 0.001, 0.9, 0.999)]


def _adam_runs(rng: np.random.Generator) -> dict[str, Any]:
    """Five steps per run, and a restart at t = 2 from m = |g₁| + 0.5, v = g₁² + 0.25: at t = 1
    from m = 0 the bias-corrected m̂ equals g, which is also what the β₁m + g mistake returns;
    the restart, from a state where the two differ, tells them apart."""
    runs = []
    for shape, lr, beta1, beta2 in _ADAM_RUNS:
        param, grads = rng.normal(size=shape), _gradients(rng, shape, 5)
        runs.append({"param": param, "grads": grads, "lr": lr, "beta1": beta1, "beta2": beta2,
                     "eps": 1e-8 if beta1 == 0.9 else 1e-6, "restart": {"m": np.abs(grads[0]) + 0.5,
                                              "v": grads[0] ** 2 + 0.25, "t": 2}})
    return {"runs": runs}


def _returns_corrected_m(run: Data, restart: Data) -> bool:
    """Whether the restart call returned m̂ = m / (1 − β₁²) where m belongs."""
    try:
        m = expect_array(expect_tuple(restart, 3, "a tuple (param, m, v)")[1],
                         run["param"].shape, "m")
    except Exception:  # a Failure or malformed data: no evidence
        return False
    grad, beta1, start = run["grads"][0], run["beta1"], run["restart"]
    want_m = beta1 * start["m"] + (1.0 - beta1) * grad
    return close(m, want_m / (1.0 - beta1 ** start["t"]), **TOLERANCE)


def _judge_adam_step(run: Data, t: int, got: Data, state: tuple[np.ndarray, ...],
                     restart: Data) -> tuple[np.ndarray, ...]:
    """The student's (param, m, v) after step t, when they are right."""
    param, prev_m, prev_v = state
    grad, lr, beta1, beta2, eps = (run[k] for k in ("grads", "lr", "beta1", "beta2", "eps"))
    grad = grad[t - 1]
    new = expect_tuple(got, 3, "a tuple (param, m, v)")
    got_p, got_m, got_v = (expect_array(item, param.shape, f"step {t}: {name}")
                           for item, name in zip(new, ("param", "m", "v"), strict=True))
    want_p, want_m, want_v = reference_adam_update(param, grad, prev_m, prev_v, t, lr=lr,
                                                   beta1=beta1, beta2=beta2, eps=eps)
    m_hat, v_hat = want_m / (1 - beta1**t), want_v / (1 - beta2**t)
    efficient_p = param - lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * want_m / (
        np.sqrt(want_v) + eps)
    where = f"lr={lr:g}, betas=({beta1:g}, {beta2:g}), step t={t}"
    corrected = ("you returned the bias-corrected m̂ (and v̂); return the raw m and v, use m̂ "
                 "and v̂ only for the step")
    hard_coded = ("{} was averaged with {}, but this call passed {}={:g}: use the beta1/beta2 "
                  "arguments, not hard-coded 0.9 and 0.999")
    if not close(got_m, want_m, **TOLERANCE):
        raise mistake(got_m, {
            corrected: m_hat if close(got_v, v_hat, **TOLERANCE)
            or _returns_corrected_m(run, restart) else None,
            hard_coded.format("m", 0.9, "beta1", beta1):
                0.9 * prev_m + 0.1 * grad if beta1 != 0.9 else None,
            "m must be a moving average: m ← β₁m + (1 − β₁)g": beta1 * prev_m + grad,
            "m uses β₂; the first moment uses β₁ (and v uses β₂)":
                beta2 * prev_m + (1 - beta2) * grad,
        }, where=where, otherwise=f"{where}: m differs from β₁m + (1 − β₁)g", **TOLERANCE)
    if not close(got_v, want_v, **TOLERANCE):
        raise mistake(got_v, {
            corrected: v_hat,
            hard_coded.format("v", 0.999, "beta2", beta2):
                0.999 * prev_v + 0.001 * grad**2 if beta2 != 0.999 else None,
            "v averages the squared gradient: v ← β₂v + (1 − β₂)g²":
                beta2 * prev_v + (1 - beta2) * grad,
            "v uses β₁; the second moment uses β₂": beta1 * prev_v + (1 - beta1) * grad**2,
        }, where=where, otherwise=f"{where}: v differs from β₂v + (1 − β₂)g²", **TOLERANCE)
    if close(got_p, want_p, **TOLERANCE) or close(got_p, efficient_p, **TOLERANCE):
        return got_p, got_m, got_v
    if not np.all(np.isfinite(got_p)):
        raise fail(f"{where}: m and v are right but param became nan or inf. Is t counted from "
                   "1? At t = 0 the correction 1 − βᵗ is 0 and you divide by it")
    shifted = (want_m / (1 - beta1 ** (t + 1))) / (np.sqrt(want_v / (1 - beta2 ** (t + 1))) + eps)
    fixed = (want_m / (1 - 0.9**t)) / (np.sqrt(want_v / (1 - 0.999**t)) + eps)
    raise mistake(got_p, {
        "m and v are right, but the step skips the bias correction: divide m by 1 − β₁ᵗ and v "
        "by 1 − β₂ᵗ (both start at 0, so the first steps would be far too small)":
            param - lr * want_m / (np.sqrt(want_v) + eps),
        "m and v are right, but the bias correction used β^(t+1): t counts from 1 (the first "
        "call gets t=1), so divide by 1 − β₁ᵗ and 1 − β₂ᵗ as they are": param - lr * shifted,
        f"the bias correction used 0.9 and 0.999, but this call passed betas ({beta1:g}, "
        f"{beta2:g}): use the beta1/beta2 arguments":
            param - lr * fixed if (beta1, beta2) != (0.9, 0.999) else None,
        "ε goes outside the square root: m̂ / (√v̂ + ε)": param - lr * m_hat / np.sqrt(v_hat + eps),
        "the parameter moved up the gradient: subtract the step":
            param + lr * m_hat / (np.sqrt(v_hat) + eps),
        "divide by the square root of v̂, not by v̂": param - lr * m_hat / (v_hat + eps),
        **{f"that is ε = {other:g}, but this call passed eps={eps:g}: use the eps argument":
           param - lr * m_hat / (np.sqrt(v_hat) + other)
           for other in (1e-8, 1e-7, 1e-6, 1e-10) if other != eps},
        "the bias correction used another step number than the t passed in: use the t "
        "argument (a counter of your own keeps counting across calls and runs)":
            [param - lr * (want_m / (1 - beta1**s)) / (np.sqrt(want_v / (1 - beta2**s)) + eps)
             for s in range(1, 41) if s not in (t, t + 1)],
    }, where=where, otherwise=f"{where}: m and v are right but param differs from "
       "p − lr·m̂ / (√v̂ + ε)", **TOLERANCE)


def _judge_adam(inputs: Data, data: Data) -> str:
    runs = inputs["runs"]
    for run, got in zip(runs, results(data, len(runs)), strict=True):
        grads = run["grads"]
        if not isinstance(got, dict) or not isinstance(got.get("restart"), dict) \
                or "kind" not in got["restart"]:
            raise fail("the check received malformed data")
        steps = _steps(got, len(grads))
        state: tuple[np.ndarray, ...] = (run["param"], np.zeros_like(run["param"]),
                                         np.zeros_like(run["param"]))
        for t, result in enumerate(steps, start=1):
            state = _judge_adam_step(run, t, result, state, got["restart"])
        if len(steps) != len(grads):
            raise fail("the check received malformed data")
    return (f"{len(runs[0]['grads'])} successive steps (m, v and bias correction) match on "
            f"{len(runs)} runs")


# ---- 04-training-loop ----


def reference_train_loop(model: Any, loss_fn: Any, optimizer: Any, X: np.ndarray, y: np.ndarray,
                         *, n_epochs: int, batch_size: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Mini-batch training: per batch of ``data.batches`` (a new order every epoch), forward,
    loss, backward, step; returns the loss of every step, shape (n_epochs · steps_per_epoch,)."""
    losses = []
    for _ in range(n_epochs):
        for X_batch, y_batch in data.batches(X, y, batch_size=batch_size, random_state=rng):
            logits = model.forward(X_batch)
            losses.append(loss_fn.forward(logits, y_batch))
            model.backward(loss_fn.backward())
            optimizer.step()
    return np.array(losses, dtype=np.float64)


#: (n, batch_size, n_epochs, optimizer, lr, hidden): a last batch smaller than the others,
#: Adam (whose state follows the steps), and a batch larger than the data (one step an epoch).
_TRAINING_CASES = [(50, 16, 3, "SGD", 0.5, 8), (36, 12, 2, "Adam", 0.05, 6),
                   (20, 32, 2, "SGD", 0.2, 5)]


def _training_cases(rng: np.random.Generator) -> dict[str, Any]:
    cases = []
    for n, batch_size, n_epochs, optimizer, lr, hidden in _TRAINING_CASES:
        cases.append({"X": rng.normal(size=(n, 2)), "y": rng.integers(0, 3, n).astype(np.int64),
                      "sizes": [2, hidden, 3], "init_seed": int(rng.integers(0, 2**31)),
                      "shuffle_seed": int(rng.integers(0, 2**31)), "n_epochs": n_epochs,
                      "batch_size": batch_size, "optimizer": optimizer, "lr": lr})
    return {"cases": cases}


def _train(case: Data, order: str) -> tuple[np.ndarray, np.ndarray]:
    """(losses, all final parameters concatenated) of the case trained with the batches of
    ``order``: "batches" (data.batches, the reference), "fixed" (one permutation reused by
    every epoch), "none" (the rows in their stored order), "step first" (data.batches, but
    the optimizer steps before backward, on the previous batch's gradients) or "loss after"
    (data.batches, each loss recomputed after its step)."""
    model, loss_fn, optimizer = probes.build_network(case)
    X, y, batch_size = case["X"], case["y"], int(case["batch_size"])
    rng = np.random.default_rng(int(case["shuffle_seed"]))
    if order == "loss after":
        losses = np.zeros(0, dtype=np.float64)
        for _ in range(int(case["n_epochs"])):
            for X_batch, y_batch in data.batches(X, y, batch_size=batch_size, random_state=rng):
                loss_fn.forward(model.forward(X_batch), y_batch)
                model.backward(loss_fn.backward())
                optimizer.step()
                after = loss_fn.forward(model.forward(X_batch), y_batch)
                losses = np.append(losses, after)
    elif order == "batches":
        losses = reference_train_loop(model, loss_fn, optimizer, X, y,
                                      n_epochs=int(case["n_epochs"]), batch_size=batch_size,
                                      rng=rng)
    else:
        rows = rng.permutation(len(X)) if order == "fixed" else np.arange(len(X))
        steps = []
        for _ in range(int(case["n_epochs"])):
            if order == "step first":
                rows = rng.permutation(len(X))
            for start in range(0, len(X), batch_size):
                batch = rows[start:start + batch_size]
                steps.append(loss_fn.forward(model.forward(X[batch]), y[batch]))
                if order == "step first":
                    optimizer.step()
                    model.backward(loss_fn.backward())
                    continue
                model.backward(loss_fn.backward())
                optimizer.step()
        losses = np.array(steps, dtype=np.float64)
    return losses, _concat(*probes.parameters(model.layers))


def _judge_training_case(case: Data, got: Data) -> None:
    n, batch_size, n_epochs = len(case["X"]), int(case["batch_size"]), int(case["n_epochs"])
    per_epoch = -(-n // batch_size)
    steps = n_epochs * per_epoch
    where = (f"{n} samples, batch_size={batch_size}, n_epochs={n_epochs}, "
             f"{case['optimizer']}")
    if not isinstance(got, dict) or not isinstance(got.get("steps"), int) \
            or isinstance(got.get("steps"), bool) or not isinstance(got.get("weights"), list):
        raise fail("the check received malformed data")
    result = got["result"]
    if isinstance(result, dict) and result.get("kind") == "raised" and not result.get("stub") \
            and result.get("type") == "KeyError":
        raise fail(f"{where}: {raised_message(result)}. optimizer.step() reads every layer's "
                   "grads, which model.backward(loss_fn.backward()) fills: per batch, forward, "
                   "loss, backward, then step")
    value(result)
    model, _, _ = probes.build_network(case)
    initial = _concat(*probes.parameters(model.layers))
    shapes = [w.shape for w in probes.parameters(model.layers)]
    if len(got["weights"]) != len(shapes):
        raise fail("the check received malformed data")
    weights = _concat(*(expect_array(w, shape, f"{where}: the parameters after training")
                        for w, shape in zip(got["weights"], shapes, strict=True)))
    ran = got["steps"]
    if ran == 0 and not close(weights, initial, rtol=0.0, atol=0.0):
        raise fail(f"{where}: the weights changed, but the optimizer passed in never stepped: "
                   "use the `optimizer` argument (optimizer.step() for every mini-batch), not "
                   "an optimizer of your own; the lesson hands in its own (SGD or Adam, with "
                   "its learning rate and state)")
    if ran == 0:
        raise fail(f"{where}: the weights never changed: call optimizer.step() after "
                   "model.backward(loss_fn.backward()) for every mini-batch")
    if close(weights, initial, rtol=0.0, atol=0.0):
        raise fail(f"{where}: optimizer.step() ran {ran} times but the weights never moved: "
                   "its gradients were all zero: call model.backward(loss_fn.backward()) "
                   "before each step, which fills every layer's grads")
    if ran != steps:
        hint = {n_epochs: "one step per epoch: that is full-batch training; loop over "
                          "data.batches(X, y, batch_size=batch_size, random_state=rng) inside "
                          "each epoch",
                per_epoch: "only one epoch's steps: repeat the pass over the data n_epochs "
                           "times",
                n_epochs * (n // batch_size): "the last, smaller batch of each epoch was "
                                              "skipped: data.batches keeps the remainder "
                                              f"({n % batch_size} samples here)"}
        hint.setdefault(2 * steps, "two optimizer steps per mini-batch: call "
                                   "optimizer.step() once per batch")
        hint.setdefault((n_epochs - 1) * per_epoch, f"{n_epochs - 1} epochs instead of "
                                                    f"{n_epochs}: for _ in range(n_epochs) "
                                                    "runs n_epochs times")
        if ran % n_epochs == 0 and ran // n_epochs > per_epoch:
            hint.setdefault(ran, f"{ran // n_epochs} mini-batches per epoch, but {n} samples "
                                 f"in batches of {batch_size} make {per_epoch}: batch the X "
                                 "and y passed in, not the notebook's X_train and y_train")
        raise fail(f"{where}: the optimizer took {ran} steps, expected {steps} "
                   f"({n_epochs} epochs × {per_epoch} mini-batches)"
                   + (f": {hint[ran]}" if ran in hint and ran > 0 else ""))
    shown = value(result)
    if shown["kind"] == "array" and tuple(shown["shape"]) == (n_epochs,) and n_epochs != steps:
        raise fail(f"{where}: you returned {n_epochs} losses, one per epoch; return the loss "
                   f"of every step, {steps} in all (later cells plot each step)")
    losses = expect_array(result, (steps,), f"{where}: the losses")
    want_losses, want_weights = _train(case, "batches")
    if close(losses, want_losses, **TOLERANCE) and close(weights, want_weights, **TOLERANCE):
        return
    for order, advice in (
            ("fixed", "every epoch visits the batches in the same order: draw a new order each "
                      "epoch by calling data.batches(X, y, batch_size=batch_size, "
                      "random_state=rng) inside the epoch loop"),
            ("none", "the batches follow the rows' stored order: the order must be "
                     "data.batches' (a new rng.permutation of the rows every epoch); call "
                     "data.batches(X, y, batch_size=batch_size, random_state=rng) with the rng "
                     "you were given"),
            ("step first", "optimizer.step() ran before model.backward: each step used the "
                           "previous batch's gradients; per batch: forward, loss, backward, "
                           "then step")):
        other_losses, other_weights = _train(case, order)
        if close(weights, other_weights, **TOLERANCE) and not close(other_weights, want_weights,
                                                                     **TOLERANCE):
            raise fail(f"{where}: {advice}")
    if not close(losses, want_losses, **TOLERANCE):
        if close(losses, _train(case, "loss after")[0], **TOLERANCE):
            raise fail(f"{where}: each loss was computed after its step, with the updated "
                       "weights; record loss_fn.forward(logits, y_batch) from the forward pass "
                       "that backward and the step use, before the step")
        k = int(np.argmax(~np.isclose(losses, want_losses, **TOLERANCE)))
        first = (" The very first loss is off: the first mini-batch is not data.batches' first "
                 "(the order must come from data.batches(X, y, batch_size=batch_size, "
                 "random_state=rng), not from rng.choice or a shuffle of your own), or the "
                 "loss is not loss_fn.forward(model.forward(X_batch), y_batch)")
        raise fail(f"{where}: the loss of step {k} is {losses[k]:.6g}, expected "
                   f"{want_losses[k]:.6g}: record loss_fn.forward(logits, y_batch) of each "
                   "mini-batch, before its step, with the batches in data.batches' order."
                   + ("" if k else first))
    raise fail(f"{where}: the losses match but the weights after training differ: per batch, "
               "model.backward(loss_fn.backward()) and then one optimizer.step()")


def _judge_training(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        _judge_training_case(case, got)
    return (f"the losses of every step and the final weights match the reference loop on "
            f"{len(cases)} runs (SGD and Adam, a smaller last batch, a batch larger than the "
            "data)")


MOMENTUM_UPDATE = Exercise("04-momentum-update", _momentum_runs, probes.momentum_runs,
                           _judge_momentum, implemented_by=("coursekit.scratch.SGD",),
                           names=("momentum_update",))
ADAM_UPDATE = Exercise("04-adam-update", _adam_runs, probes.adam_runs, _judge_adam,
                       implemented_by=("coursekit.scratch.Adam",),
                       names=("adam_update",))
TRAINING_LOOP = Exercise("04-training-loop", _training_cases, probes.training_runs,
                         _judge_training, implemented_by=("coursekit.scratch.Sequential.fit",),
                         names=("train_loop",))
EXERCISES = registry(TRAINING_LOOP, MOMENTUM_UPDATE, ADAM_UPDATE)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def momentum_update(update: Callable[..., tuple[np.ndarray, np.ndarray]]) -> None:
    """Check ``update(param, grad, velocity, lr=, momentum=)`` over several successive steps."""
    MOMENTUM_UPDATE.check(update)


def adam_update(update: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Check ``update(param, grad, m, v, t, lr=, beta1=, beta2=, eps=)`` over successive steps."""
    ADAM_UPDATE.check(update)


def training_loop(train_loop: Callable[..., Any]) -> None:
    """Check ``train_loop(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng)``
    trains over ``data.batches`` and returns the loss of every step."""
    TRAINING_LOOP.check(train_loop)
