"""Lesson 04's checks: the references pass (and are scratch's optimizers and Sequential.fit),
valid versions written differently pass, and what no declared mistake covers is named: a
non-tuple, a nan from t counted from 0, a step counter of the student's own, grad changed in
place, and the training loops told apart by a condition on the run (no step, no backward, the
number of steps, one loss per epoch, a list). Declared mistakes are tested in test_mistakes.py."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit import data as datasets
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson04 as check
from coursekit.exercise.wire import round_trip
from coursekit.probes import lesson04 as probes
from coursekit.scratch import SGD, Adam, Dense
from tests.checks._cells import run_lesson_with
from tests.checks.wire import assert_same_verdict_over_the_wire

REFERENCES = {"04-training-loop": check.reference_train_loop,
              "04-momentum-update": check.reference_momentum_update,
              "04-adam-update": check.reference_adam_update}


# ---- the references are coursekit.scratch's optimizers, step for step, and Sequential.fit ----


def _run_scratch(optimizer_cls, grads, **kwargs):
    layer = Dense(3, 2, random_state=0)
    start = layer.params["W"].copy()
    opt = optimizer_cls([layer], **kwargs)
    for g in grads:
        layer.grads = {"W": g, "b": np.zeros(2)}
        opt.step()
    return start, layer.params["W"]


def test_reference_momentum_matches_scratch_sgd() -> None:
    grads = [np.random.default_rng(i).normal(size=(3, 2)) for i in range(5)]
    start, want = _run_scratch(SGD, grads, lr=0.1, momentum=0.9)
    p, v = start.copy(), np.zeros_like(start)
    for g in grads:
        p, v = check.reference_momentum_update(p, g, v, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(p, want, rtol=1e-12)


def test_reference_adam_matches_scratch_adam() -> None:
    grads = [np.random.default_rng(i).normal(size=(3, 2)) for i in range(5)]
    start, want = _run_scratch(Adam, grads, lr=0.01)
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, g in enumerate(grads, start=1):
        p, m, v = check.reference_adam_update(p, g, m, v, t, lr=0.01)
    np.testing.assert_allclose(p, want, rtol=1e-12)


def test_reference_loop_is_what_sequential_fit_does() -> None:
    inputs = round_trip(check.training_loop.inputs(np.random.default_rng(0)))
    for case in inputs["cases"]:
        model, loss_fn, optimizer = probes.build_network(case)
        check.reference_train_loop(model, loss_fn, optimizer, case["X"], case["y"],
                                   n_epochs=case["n_epochs"], batch_size=case["batch_size"],
                                   rng=np.random.default_rng(case["shuffle_seed"]))
        fitted, fit_loss, fit_optimizer = probes.build_network(case)
        fitted.fit(case["X"], case["y"], loss=fit_loss, optimizer=fit_optimizer,
                   epochs=case["n_epochs"], batch_size=case["batch_size"],
                   random_state=case["shuffle_seed"])
        for mine, theirs in zip(probes.parameters(model.layers),
                                probes.parameters(fitted.layers), strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)


# ---- valid versions written differently, on the lesson's inputs and on fresh ones ----


def _momentum_in_place(param, grad, velocity, *, lr, momentum):
    velocity *= momentum
    velocity += grad
    param -= lr * velocity
    return [param, velocity]  # a list is a fine pair


def _momentum_expanded(param, grad, velocity, *, lr, momentum):
    new_velocity = np.add(np.multiply(momentum, velocity), grad)
    return param - lr * momentum * velocity - lr * grad, new_velocity


def _momentum_one_expression(param, grad, velocity, *, lr, momentum):
    return param - lr * (momentum * velocity + grad), momentum * velocity + grad


def _adam_efficient(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    # Kingma & Ba's "efficient" form: the bias correction folded into the step size, ε not
    # rescaled; it differs from the reference only in where ε sits, and is valid
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    step = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return param - step * m / (np.sqrt(v) + eps), m, v


def _adam_in_place(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return param, m, v


def _adam_as_lerp(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    # the moving averages written as steps towards the new value: m + (1 − β)(g − m)
    m = m + (1 - beta1) * (grad - m)
    v = v + (1 - beta2) * (np.square(grad) - v)
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * m_hat / (v_hat**0.5 + eps), m, v


LOOP_VALID = {
    "reference": (
        "def train_loop(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):\n"
        "    losses = []\n"
        "    for _ in range(n_epochs):\n"
        "        for X_batch, y_batch in data.batches(X, y, batch_size=batch_size,\n"
        "                                             random_state=rng):\n"
        "            logits = model.forward(X_batch)\n"
        "            losses.append(loss_fn.forward(logits, y_batch))\n"
        "            model.backward(loss_fn.backward())\n"
        "            optimizer.step()\n"
        "    return np.array(losses)\n"),
    # the permutation written out (what data.batches draws), the model called, a preallocated
    # array of losses
    "by hand": (
        "def train_loop(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):\n"
        "    per_epoch = -(-len(X) // batch_size)\n"
        "    losses = np.zeros(n_epochs * per_epoch)\n"
        "    step = 0\n"
        "    for epoch in range(n_epochs):\n"
        "        order = rng.permutation(len(X))\n"
        "        for start in range(0, len(X), batch_size):\n"
        "            rows = order[start:start + batch_size]\n"
        "            out = model(X[rows])\n"
        "            losses[step] = loss_fn.forward(out, y[rows])\n"
        "            model.backward(loss_fn.backward())\n"
        "            optimizer.step()\n"
        "            step += 1\n"
        "    return losses\n"),
    # layer by layer, the losses as float32 would not be fair; np.fromiter over a generator is
    "layers": (
        "def train_loop(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):\n"
        "    def steps():\n"
        "        for _ in range(n_epochs):\n"
        "            for xb, yb in data.batches(X, y, batch_size=batch_size, random_state=rng):\n"
        "                out = xb\n"
        "                for layer in model.layers:\n"
        "                    out = layer.forward(out)\n"
        "                loss = loss_fn.forward(out, yb)\n"
        "                grad = loss_fn.backward()\n"
        "                for layer in reversed(model.layers):\n"
        "                    grad = layer.backward(grad)\n"
        "                optimizer.step()\n"
        "                yield loss\n"
        "    return np.fromiter(steps(), dtype=float)\n"),
    # one step as a function, each epoch's losses a list, joined at the end
    "per epoch": (
        "def train_loop(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):\n"
        "    def step(X_batch, y_batch):\n"
        "        loss = loss_fn.forward(model.forward(X_batch), y_batch)\n"
        "        model.backward(loss_fn.backward())\n"
        "        optimizer.step()\n"
        "        return loss\n"
        "    epochs = [[step(xb, yb) for xb, yb in data.batches(X, y, batch_size=batch_size,\n"
        "                                                       random_state=rng)]\n"
        "              for _ in range(n_epochs)]\n"
        "    return np.concatenate(epochs)\n"),
}


def _define_loop(source: str):
    namespace = {"np": np, "data": datasets}
    exec(source, namespace)
    return namespace["train_loop"]


# written differently from the notebook's solutions; test_valid_versions.py runs the lesson
# with each in place
VALID_VERSIONS: dict[str, list[object]] = {
    "04-training-loop": [LOOP_VALID["by hand"], LOOP_VALID["layers"], LOOP_VALID["per epoch"]],
    "04-momentum-update": [_momentum_in_place, _momentum_expanded, _momentum_one_expression],
    "04-adam-update": [_adam_efficient, _adam_in_place, _adam_as_lerp],
}


@pytest.mark.parametrize(("exercise_id", "student"),
                         [(key, fn) for key, fns in VALID_VERSIONS.items() for fn in fns])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_valid_versions_pass_on_any_inputs(exercise_id, student, seed, capsys) -> None:
    exercise = check.EXERCISES[exercise_id]
    student = _define_loop(student) if isinstance(student, str) else student
    exercise.check(student, **({} if seed is None else {"seed": seed}))
    assert capsys.readouterr().out.startswith(f"✔ {exercise_id}:")


def test_the_efficient_adam_differs_from_the_reference_yet_agrees_with_scratch_adam() -> None:
    # it is a variant, not the reference in disguise: the check accepts it on purpose...
    p, g = np.ones(3), np.full(3, 1e-3)
    zeros = np.zeros(3)
    assert not np.allclose(_adam_efficient(p, g, zeros, zeros, 1, lr=0.01)[0],
                           check.reference_adam_update(p, g, zeros, zeros, 1, lr=0.01)[0],
                           rtol=1e-6, atol=1e-8)
    # ...and lesson 04's next cell (your steps vs scratch.Adam, np.allclose) still holds
    gradients = [np.random.default_rng(5).standard_normal((2, 64)) for _ in range(5)]
    layer = Dense(2, 64, init="he", random_state=0)
    yours, m, v = layer.params["W"].copy(), np.zeros((2, 64)), np.zeros((2, 64))
    optimizer = Adam([layer], lr=0.01)
    for t, grad in enumerate(gradients, start=1):
        yours, m, v = _adam_efficient(yours, grad, m, v, t, lr=0.01)
        layer.grads = {"W": grad, "b": np.zeros(64)}
        optimizer.step()
    assert np.allclose(yours, layer.params["W"])


@pytest.mark.parametrize("name", ["by hand", "per epoch"])
def test_valid_loops_run_the_later_cells(name: str) -> None:
    # the lesson's own use: two epochs matching Sequential.fit, then the divergence runs
    namespace = run_lesson_with("04_training_numpy_network.ipynb",
                                {"04-training-loop": LOOP_VALID[name]}, until="507ab490")
    assert namespace["same"] and namespace["losses"].shape == (2 * namespace["steps"],)
    # lr = 100 kills every unit: the network guesses one class for all of the lesson's points
    dead_net = namespace["diverging"][100.0][0]
    X_val, y_val = namespace["X_val"], namespace["y_val"]
    assert np.mean(dead_net.predict(X_val).argmax(axis=1) == y_val) < 0.4


# ---- what no declared mistake expresses ----
# Cells 512c9b07 and bcc820d2 hand the same gradient g to your update and then to scratch's
# optimizer: an update that changes grad in place makes the two disagree.


def _momentum_into_grad(param, grad, velocity, *, lr, momentum):
    grad += momentum * velocity  # the new velocity, built in the gradient's array
    return param - lr * grad, grad


def _adam_squaring_grad(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    grad *= grad  # g² in place, to save an array
    v = beta2 * v + (1 - beta2) * grad
    return param - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


_ADAM_CALLS = {"t": 0}


def _adam_own_counter(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    _ADAM_CALLS["t"] += 1  # counts its calls instead of using t
    step = _ADAM_CALLS["t"]
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps), m, v


def _adam_t_from_zero(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    t = t - 1  # counted from 0: the first correction divides by 0
    return param - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


def _momentum_param_only(p, g, v, *, lr, momentum):
    return p - lr * (momentum * v + g)


UPDATE_WRONG = [
    (check.momentum_update, _momentum_param_only, r"expected a tuple of 2 \(param, velocity\)"),
    (check.momentum_update, _momentum_into_grad, r"changed `grad` in place.*later cells use it "
                                                 r"again"),
    (check.adam_update, _adam_squaring_grad, r"changed `grad` in place.*later cells use it again"),
    (check.adam_update, _adam_own_counter, "use the t argument"),
    (check.adam_update, _adam_t_from_zero, "param became nan or inf. Is t counted from 1"),
]


@pytest.mark.parametrize(("exercise", "wrong", "message"), UPDATE_WRONG)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_an_update_no_mistake_expresses_is_named(exercise, wrong, message, seed) -> None:
    _ADAM_CALLS["t"] = 0
    with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
        exercise.check(wrong, **({} if seed is None else {"seed": seed}))


X_TRAIN, Y_TRAIN = datasets.spiral(1000, random_state=0)  # stands in for the lesson's globals


def _loop(kind: str):
    """Training loops told apart by a condition on the run, whatever else they do."""
    def train_loop(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):
        if kind == "globals":
            X, y = X_TRAIN, Y_TRAIN
        own = SGD(model.layers, lr=1.0) if kind == "own optimizer" else optimizer
        losses = []
        for _ in range({"one epoch": 1, "epochs - 1": n_epochs - 1}.get(kind, n_epochs)):
            if kind == "full batch":
                batches = [(X, y)]
            elif kind == "drop last":
                batches = [(X[i:i + batch_size], y[i:i + batch_size])
                           for i in range(0, len(X) - batch_size + 1, batch_size)]
            else:
                batches = datasets.batches(X, y, batch_size=batch_size, random_state=rng)
            epoch = []
            for xb, yb in batches:
                epoch.append(loss_fn.forward(model.forward(xb), yb))
                if kind != "no backward":
                    model.backward(loss_fn.backward())
                for _ in range({"no step": 0, "two steps": 2}.get(kind, 1)):
                    own.step()
            losses += [float(np.mean(epoch))] if kind == "epoch mean" else epoch
        return losses if kind == "list" else np.array(losses)
    return train_loop


LOOP_WRONG = [
    ("no step", "the weights never changed: call optimizer.step"),
    ("own optimizer", "the optimizer passed in never stepped: use the `optimizer` argument"),
    ("no backward", "the weights never moved: its gradients were all zero: call model.backward"),
    ("epoch mean", "one per epoch; return the loss of every step"),
    ("one epoch", "only one epoch's steps"),
    ("full batch", "one step per epoch: that is full-batch training"),
    ("drop last", "the last, smaller batch of each epoch was skipped"),
    ("two steps", "two optimizer steps per mini-batch"),
    ("epochs - 1", "2 epochs instead of 3"),
    ("globals", "batch the X and y passed in, not the notebook's X_train"),
    ("list", "return a NumPy array"),
]


@pytest.mark.parametrize(("kind", "message"), LOOP_WRONG, ids=[k for k, _ in LOOP_WRONG])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_a_loop_told_by_its_run_is_named(kind: str, message: str, seed) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.training_loop.check(_loop(kind), **({} if seed is None else {"seed": seed}))


# ---- the probes return plain data; the judges refuse odd data ----


@pytest.mark.parametrize(("exercise_id", "student"), list(REFERENCES.items()) + [
    ("04-momentum-update", lambda p, g, v, *, lr, momentum: None),
    ("04-adam-update", lambda p, g, m, v, t, *, lr, beta1, beta2, eps: (p, m)),
    ("04-adam-update", _adam_t_from_zero), ("04-training-loop", _loop("no step")),
    ("04-training-loop", check.LOOP_MISTAKES[0].wrong), ("04-training-loop", _loop("list"))])
def test_probe_data_survives_the_wire(exercise_id, student) -> None:
    assert_same_verdict_over_the_wire(check.EXERCISES[exercise_id], student)


_RAISED = {"kind": "raised", "type": "RuntimeError", "message": "boom", "frame": "",
           "stub": False, "below_raise": False}


def _odd_steps(steps):
    number = {"kind": "float", "type": "float", "value": 0.0}
    yield from (steps[:-1], [*steps, steps[-1]], [], [steps[0]] * len(steps),
                [number] * len(steps), [{"nonsense": True}] * len(steps), "steps")
    yield [{"kind": "list", "type": "tuple", "length": len(steps[0]["items"]),
            "items": [number] * len(steps[0]["items"])}] * len(steps)


def _odd_runs(run):
    if isinstance(run, list):
        yield from _odd_steps(run)
        return
    for key, odd in (("steps", True), ("steps", "24"), ("weights", run["weights"][:-1]),
                     ("weights", run["weights"][::-1]), ("weights", None),
                     ("result", run["weights"][0])):
        yield {**run, key: odd}
    yield {k: v for k, v in run.items() if k != "steps"}


@pytest.mark.parametrize("exercise_id", list(REFERENCES))
def test_judges_fail_odd_data(exercise_id) -> None:
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(7)))
    honest = round_trip(exercise.probe(inputs, REFERENCES[exercise_id]))
    assert exercise.verdict(inputs, honest)[0]
    odd_data = [None, honest[:-1], [*honest, honest[-1]], [{"nonsense": True}] * len(honest),
                _RAISED] + [[odd, *honest[1:]] for odd in _odd_runs(honest[0])]
    for data in odd_data:
        ok, message = exercise.verdict(inputs, data)
        assert not ok, data
        assert message
