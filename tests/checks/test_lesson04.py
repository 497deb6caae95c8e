"""Lesson 04's checks pass the reference and name each realistic mistake."""

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

# ---- the references are coursekit.scratch's optimizers, step for step ----


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


# ---- 04-momentum-update ----


def test_momentum_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.momentum_update(check.reference_momentum_update)
    assert capsys.readouterr().out.startswith("✔ 04-momentum-update:")


def _book_convention(p, g, v, *, lr, momentum):  # v ← βv − lr·g, p ← p + v
    v = momentum * v - lr * g
    return p + v, v


MOMENTUM_MISTAKES = [
        (_book_convention, "the v ← βv − lr·g convention"),
        (lambda p, g, v, *, lr, momentum: (p - lr * (momentum * v + (1 - momentum) * g),
                                           momentum * v + (1 - momentum) * g),
         "adds the full gradient"),
        (lambda p, g, v, *, lr, momentum: (p - lr * (v + momentum * g), v + momentum * g),
         "β multiplies the old velocity"),
        (lambda p, g, v, *, lr, momentum: (p + lr * (momentum * v + g), momentum * v + g),
         "moved up the gradient"),
        (lambda p, g, v, *, lr, momentum: (p - lr * g, momentum * v + g),
         "step along the velocity"),
        (lambda p, g, v, *, lr, momentum: (p - lr * g, g), "forgot its past"),
        (lambda p, g, v, *, lr, momentum: p - lr * (momentum * v + g), "expected a tuple"),
        (lambda p, g, v, *, lr, momentum: (momentum * v + g, p - lr * (momentum * v + g)),
         r"the return order is \(param, velocity\)"),
        (lambda p, g, v, *, lr, momentum: (p - lr * v, momentum * v + g),
         "the step used the old velocity"),
]


@pytest.mark.parametrize(("wrong", "message"), MOMENTUM_MISTAKES)
def test_momentum_names_the_mistake(wrong, message: str) -> None:
    with pytest.raises(ExerciseFailed, match=message):
        check.momentum_update(wrong)


# ---- 04-adam-update ----


def test_adam_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    check.adam_update(check.reference_adam_update)
    assert capsys.readouterr().out.startswith("✔ 04-adam-update:")


def _adam(correct_bias=True, eps_inside=False, t_shift=0, m_rule=None, v_rule=None,
          sign=-1.0, sqrt=True, returns_hat="", fixed_betas=False):
    def update(p, g, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        if fixed_betas:
            beta1, beta2 = 0.9, 0.999
        m = m_rule(m, g, beta1, beta2) if m_rule else beta1 * m + (1 - beta1) * g
        v = v_rule(v, g, beta1, beta2) if v_rule else beta2 * v + (1 - beta2) * g**2
        t = t + t_shift
        m_hat = m / (1 - beta1**t) if correct_bias else m
        v_hat = v / (1 - beta2**t) if correct_bias else v
        if eps_inside:
            denom = np.sqrt(v_hat + eps)
        else:
            denom = (np.sqrt(v_hat) if sqrt else v_hat) + eps
        return (p + sign * lr * m_hat / denom, m_hat if "m" in returns_hat else m,
                v_hat if "v" in returns_hat else v)

    return update


ADAM_MISTAKES = [
        (_adam(correct_bias=False), "skips the bias correction"),
        (_adam(eps_inside=True), "ε goes outside the square root"),
        (_adam(t_shift=-1), "Is t counted from 1"),
        (_adam(m_rule=lambda m, g, b1, b2: b1 * m + g), "m must be a moving average"),
        (_adam(m_rule=lambda m, g, b1, b2: b2 * m + (1 - b2) * g), "m uses β₂"),
        (_adam(v_rule=lambda v, g, b1, b2: b2 * v + (1 - b2) * g), "averages the squared"),
        (_adam(v_rule=lambda v, g, b1, b2: b1 * v + (1 - b1) * g**2), "v uses β₁"),
        (_adam(sign=1.0), "moved up the gradient"),
        (_adam(sqrt=False), "divide by the square root"),
        (_adam(returns_hat="mv"), "you returned the bias-corrected m̂ \\(and v̂\\); return the "
                                  "raw m and v, use m̂ and v̂ only for the step"),
        (_adam(returns_hat="m"), "you returned the bias-corrected m̂"),
        (_adam(returns_hat="v"), "you returned the bias-corrected m̂"),
        (_adam(fixed_betas=True), "use the beta1/beta2 arguments"),
        (_adam(t_shift=1), r"t counts from 1"),
]


@pytest.mark.parametrize(("wrong", "message"), ADAM_MISTAKES)
def test_adam_names_the_mistake(wrong, message: str) -> None:
    with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
        check.adam_update(wrong)


# ---- valid versions written differently, on the lesson's inputs and on fresh ones ----


def _momentum_in_place(param, grad, velocity, *, lr, momentum):
    velocity *= momentum
    velocity += grad
    param -= lr * velocity
    return [param, velocity]  # a list is a fine pair


def _momentum_expanded(param, grad, velocity, *, lr, momentum):
    new_velocity = np.add(np.multiply(momentum, velocity), grad)
    return param - lr * momentum * velocity - lr * grad, new_velocity


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


def _momentum_one_expression(param, grad, velocity, *, lr, momentum):
    return param - lr * (momentum * velocity + grad), momentum * velocity + grad


def _adam_as_lerp(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    # the moving averages written as steps towards the new value: m + (1 − β)(g − m)
    m = m + (1 - beta1) * (grad - m)
    v = v + (1 - beta2) * (np.square(grad) - v)
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * m_hat / (v_hat**0.5 + eps), m, v


VALID = {
    "MOMENTUM_UPDATE": [check.reference_momentum_update, _momentum_in_place, _momentum_expanded,
                        _momentum_one_expression],
    "ADAM_UPDATE": [check.reference_adam_update, _adam_efficient, _adam_in_place,
                    _adam_as_lerp],
}


@pytest.mark.parametrize(("name", "student"),
                         [(name, fn) for name, fns in VALID.items() for fn in fns])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_valid_versions_pass_on_any_inputs(name, student, seed,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    exercise = getattr(check, name)
    if seed is None:
        exercise.check(student)
    else:
        exercise.check(student, seed=seed)
    assert capsys.readouterr().out.startswith(f"✔ {exercise.id}:")


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




# ---- the probes return plain data; the judges refuse odd data ----

WRONG = {
    "MOMENTUM_UPDATE": [_book_convention, lambda p, g, v, *, lr, momentum: None,
                        lambda p, g, v, *, lr, momentum: (p - lr * g, g)],
    "ADAM_UPDATE": [_adam(returns_hat="m"), _adam(t_shift=-1),
                    lambda p, g, m, v, t, *, lr, beta1, beta2, eps: (p, m)],
}


def _inputs(exercise):
    return round_trip(exercise.inputs(np.random.default_rng(7)))


@pytest.mark.parametrize(("name", "student"),
                         [(name, fn) for name in VALID for fn in VALID[name][:2] + WRONG[name]])
def test_probe_data_survives_the_wire(name, student) -> None:
    assert_same_verdict_over_the_wire(getattr(check, name), student)


def _odd_runs(run):
    """Odd versions of one run's honest data (a list of steps, or a dict holding one)."""
    steps = run["steps"] if isinstance(run, dict) else run
    number = {"kind": "float", "type": "float", "value": 0.0}
    odd_steps = [
        steps[:-1],  # the last step missing, every step before it right
        [*steps, steps[-1]],
        [],
        [steps[0]] * len(steps),  # the first step's answer repeated
        [number] * len(steps),
        [{"kind": "list", "type": "tuple", "length": len(steps[0]["items"]),
          "items": [number] * len(steps[0]["items"])}] * len(steps),
        [{"nonsense": True}] * len(steps),
        "steps",
    ]
    for odd in odd_steps:
        yield {**run, "steps": odd} if isinstance(run, dict) else odd
    if isinstance(run, dict):
        yield {"steps": steps}  # no restart call
        yield {**run, "restart": None}


@pytest.mark.parametrize("name", list(VALID))
def test_judges_fail_odd_data(name) -> None:
    exercise = getattr(check, name)
    inputs = _inputs(exercise)
    honest = round_trip(exercise.probe(inputs, VALID[name][0]))
    assert exercise.verdict(inputs, honest)[0]
    odd_data = [None, honest[:-1], [*honest, honest[-1]], [honest[0]] * len(honest),
                {"kind": "raised", "type": "RuntimeError", "message": "boom", "frame": "",
                 "stub": False, "below_raise": False}]
    odd_data += [[odd, *honest[1:]] for odd in _odd_runs(honest[0])]
    for data in odd_data:
        ok, message = exercise.verdict(inputs, data)
        assert not ok, data
        assert message


@pytest.mark.parametrize(
    ("exercise", "wrong", "message"),
    [(check.MOMENTUM_UPDATE, *case) for case in MOMENTUM_MISTAKES] +
    [(check.ADAM_UPDATE, *case) for case in ADAM_MISTAKES],
)
def test_mistakes_are_named_on_fresh_inputs(exercise, wrong, message: str) -> None:
    # grading draws fresh inputs: every mistake above keeps its message on them
    for seed in range(1, 6):
        with np.errstate(all="ignore"), pytest.raises(ExerciseFailed, match=message):
            exercise.check(wrong, seed=seed)



# ---- 04-training-loop ----


def test_reference_loop_is_what_sequential_fit_does() -> None:
    inputs = round_trip(check.TRAINING_LOOP.inputs(np.random.default_rng(0)))
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


@pytest.mark.parametrize("name", list(LOOP_VALID))
def test_training_loop_accepts_valid_versions_that_run_the_later_cells(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    loop = _define_loop(LOOP_VALID[name])
    for seed in (None, 1, 2):
        check.TRAINING_LOOP.check(loop, **({} if seed is None else {"seed": seed}))
    assert capsys.readouterr().out.count("✔ 04-training-loop") == 3
    # the lesson's own use: two epochs matching Sequential.fit, then the divergence runs
    namespace = run_lesson_with("04_training_numpy_network.ipynb",
                                {"04-training-loop": LOOP_VALID[name]}, until="507ab490")
    assert namespace["same"] and namespace["losses"].shape == (2 * namespace["steps"],)
    assert namespace["test_accuracy"](namespace["diverging"][100.0][0]) < 0.4


def _loop(kind: str):
    """Realistic wrong training loops."""
    def train_loop(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):
        losses = []
        fixed = rng.permutation(len(X)) if kind == "fixed order" else None
        for _ in range(1 if kind == "one epoch" else n_epochs):
            if kind == "full batch":
                batches = [(X, y)]
            elif kind == "no shuffle":
                batches = [(X[i:i + batch_size], y[i:i + batch_size])
                           for i in range(0, len(X), batch_size)]
            elif kind == "drop last":
                batches = [(X[i:i + batch_size], y[i:i + batch_size])
                           for i in range(0, len(X) - batch_size + 1, batch_size)]
            elif kind == "fixed order":
                batches = [(X[fixed[i:i + batch_size]], y[fixed[i:i + batch_size]])
                           for i in range(0, len(X), batch_size)]
            elif kind == "choice":
                order = rng.choice(len(X), size=len(X), replace=False)
                batches = [(X[order[i:i + batch_size]], y[order[i:i + batch_size]])
                           for i in range(0, len(X), batch_size)]
            else:
                batches = datasets.batches(X, y, batch_size=batch_size, random_state=rng)
            epoch = []
            for xb, yb in batches:
                logits = model.forward(xb)
                loss = loss_fn.forward(logits, yb)
                if kind == "step first":
                    optimizer.step()
                if kind != "no backward":
                    model.backward(loss_fn.backward())
                if kind not in ("no step", "step first"):
                    optimizer.step()
                if kind == "loss after step":
                    loss = loss_fn.forward(model.forward(xb), yb)
                epoch.append(loss)
            losses += [float(np.mean(epoch))] if kind == "epoch mean" else epoch
        return losses if kind == "list" else np.array(losses)
    return train_loop


LOOP_MISTAKES = [
    ("no step", "the weights never changed: call optimizer.step"),
    ("step first", "optimizer.step.. ran before model.backward"),
    ("no shuffle", "the batches follow the rows' stored order: the order must be data.batches'"),
    ("choice", "the loss of step 0 .* the first mini-batch is not data.batches' first"),
    ("fixed order", "every epoch visits the batches in the same order"),
    ("epoch mean", "one per epoch; return the loss of every step"),
    ("one epoch", "only one epoch's steps"),
    ("full batch", "one step per epoch: that is full-batch training"),
    ("drop last", "the last, smaller batch of each epoch was skipped"),
    ("loss after step", "each loss was computed after its step"),
    ("list", "return a NumPy array"),
]


@pytest.mark.parametrize(("kind", "message"), LOOP_MISTAKES, ids=[k for k, _ in LOOP_MISTAKES])
def test_training_loop_names_the_mistake(kind: str, message: str) -> None:
    for seed in (None, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            check.TRAINING_LOOP.check(_loop(kind), **({} if seed is None else {"seed": seed}))


def test_training_loop_names_a_missing_backward() -> None:
    # without backward the layers' grads were never filled (or are stale): a KeyError or
    # weights that moved the wrong way
    with pytest.raises(ExerciseFailed, match=r"the weights never moved: its gradients were "
                                             r"all zero: call model.backward"):
        check.training_loop(_loop("no backward"))


def test_training_loop_judge_fails_odd_data() -> None:
    exercise = check.TRAINING_LOOP
    inputs = round_trip(exercise.inputs(np.random.default_rng(7)))
    honest = round_trip(exercise.probe(inputs, check.reference_train_loop))
    assert exercise.verdict(inputs, honest)[0]
    odd = [None, honest[:-1], [*honest, honest[-1]], [{"nonsense": True}] * len(honest),
           [{**run, "steps": True} for run in honest],
           [{**run, "steps": "24"} for run in honest],
           [{**run, "weights": run["weights"][:-1]} for run in honest],
           [{**run, "weights": run["weights"][::-1]} for run in honest],
           [{**run, "weights": None} for run in honest],
           [{**run, "result": run["weights"][0]} for run in honest],
           [{k: v for k, v in run.items() if k != "steps"} for run in honest],
           {"kind": "raised", "type": "RuntimeError", "message": "boom", "frame": "",
            "stub": False, "below_raise": False}]
    for data_ in odd:
        ok, message = exercise.verdict(inputs, data_)
        assert not ok, data_
        assert message


@pytest.mark.parametrize("kind", ["right"] + [kind for kind, _ in LOOP_MISTAKES])
def test_training_loop_data_survives_the_wire(kind: str) -> None:
    exercise = check.TRAINING_LOOP
    inputs = round_trip(exercise.inputs(np.random.default_rng(7)))
    data_ = exercise.probe(inputs, _loop(kind))
    assert exercise.verdict(inputs, round_trip(data_)) == exercise.verdict(inputs, data_)
    assert exercise.verdict(inputs, data_)[0] == (kind == "right")


# ---- every exercise's valid versions, for tests/checks/test_valid_versions.py ----

# written differently from the notebook's solutions (VALID[...][0] and LOOP_VALID["reference"]
# are the lesson's own)
VALID_VERSIONS: dict[str, list[object]] = {
    "04-training-loop": [LOOP_VALID["by hand"], LOOP_VALID["layers"], LOOP_VALID["per epoch"]],
    "04-momentum-update": VALID["MOMENTUM_UPDATE"][1:],
    "04-adam-update": VALID["ADAM_UPDATE"][1:],
}


# ---- accepted once, then a later cell of the lesson failed: refused now ----
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


@pytest.mark.parametrize(("exercise", "wrong"), [(check.MOMENTUM_UPDATE, _momentum_into_grad),
                                                 (check.ADAM_UPDATE, _adam_squaring_grad)])
def test_an_update_that_changes_grad_in_place_is_refused(exercise, wrong) -> None:
    for seed in (None, 1, 2):
        with pytest.raises(ExerciseFailed, match=r"changed `grad` in place.*later cells use it "
                                                 r"again"):
            exercise.check(wrong, **({} if seed is None else {"seed": seed}))


# ---- an independent review's answers (named wrongly, or not at all, before) ----

X_TRAIN, Y_TRAIN = datasets.spiral(1000, random_state=0)  # stands in for the lesson's globals


def _loop_with(body):
    """A training loop whose per-batch work is ``body(model, loss_fn, optimizer, Xb, yb)``."""
    def train_loop(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng,
                   epochs=None, data_X=None, data_y=None):
        losses = []
        for _ in range(n_epochs if epochs is None else epochs(n_epochs)):
            for X_batch, y_batch in datasets.batches(X if data_X is None else data_X,
                                                     y if data_y is None else data_y,
                                                     batch_size=batch_size, random_state=rng):
                losses.append(body(model, loss_fn, optimizer, X_batch, y_batch))
        return np.array(losses)
    return train_loop


def _batch_step(model, loss_fn, optimizer, X_batch, y_batch, steps=1):
    loss = loss_fn.forward(model.forward(X_batch), y_batch)
    model.backward(loss_fn.backward())
    for _ in range(steps):
        optimizer.step()
    return loss


def _loop_own_optimizer(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):
    own = SGD(model.layers, lr=1.0)  # makes its own instead of using the argument
    return _loop_with(lambda m, f, o, Xb, yb: _batch_step(m, f, own, Xb, yb))(
        model, loss_fn, optimizer, X, y, n_epochs=n_epochs, batch_size=batch_size, rng=rng)


def _loop_globals(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):
    return _loop_with(_batch_step)(model, loss_fn, optimizer, X, y, n_epochs=n_epochs,
                                   batch_size=batch_size, rng=rng, data_X=X_TRAIN,
                                   data_y=Y_TRAIN)


def _loop_two_steps(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):
    return _loop_with(lambda *args: _batch_step(*args, steps=2))(
        model, loss_fn, optimizer, X, y, n_epochs=n_epochs, batch_size=batch_size, rng=rng)


def _loop_epochs_off_by_one(model, loss_fn, optimizer, X, y, *, n_epochs, batch_size, rng):
    return _loop_with(_batch_step)(model, loss_fn, optimizer, X, y, n_epochs=n_epochs,
                                   batch_size=batch_size, rng=rng, epochs=lambda n: n - 1)


def _momentum_hard_coded(param, grad, velocity, *, lr, momentum):
    velocity = 0.9 * velocity + grad
    return param - lr * velocity, velocity


_ADAM_CALLS = {"t": 0}


def _adam_own_counter(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    _ADAM_CALLS["t"] += 1  # counts its calls instead of using t
    step = _ADAM_CALLS["t"]
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps), m, v


def _adam_fixed_eps(value: float):
    def update(param, grad, m, v, t, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        return param - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + value), m, v
    return update


REVIEW_MISTAKES = [
    (check.TRAINING_LOOP, _loop_own_optimizer, "the optimizer passed in never stepped: use the "
                                               "`optimizer` argument"),
    (check.TRAINING_LOOP, _loop_globals, "batch the X and y passed in, not the notebook's X_train"),
    (check.TRAINING_LOOP, _loop_two_steps, "two optimizer steps per mini-batch"),
    (check.TRAINING_LOOP, _loop_epochs_off_by_one, "2 epochs instead of 3"),
    (check.MOMENTUM_UPDATE, _momentum_hard_coded, "use the momentum argument, not a hard-coded "
                                                  "0.9"),
    (check.ADAM_UPDATE, _adam_own_counter, "use the t argument"),
    (check.ADAM_UPDATE, _adam_fixed_eps(1e-7), r"ε = 1e-07, but this call passed eps=1e-08"),
    (check.ADAM_UPDATE, _adam_fixed_eps(1e-8), r"ε = 1e-08, but this call passed eps=1e-06"),
]


@pytest.mark.parametrize(("exercise", "wrong", "message"), REVIEW_MISTAKES)
def test_the_reviews_answers_are_named(exercise, wrong, message: str) -> None:
    for seed in (None, 1, 2):
        _ADAM_CALLS["t"] = 0
        with pytest.raises(ExerciseFailed, match=message):
            exercise.check(wrong, **({} if seed is None else {"seed": seed}))
