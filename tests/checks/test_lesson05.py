"""Lesson 05 checks: the references pass, valid versions written differently pass (and run the
lesson's next cells), and the data survives the wire. Declared mistakes are tested in
test_mistakes.py; what no declared mistake covers is in test_lesson05_engine.py (the scalar
engine) and test_lesson05_tensors.py (the torch classifier)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coursekit.autograd import Value
from coursekit.checks import lesson05 as check
from coursekit.checks import reference05 as torch_ref
from coursekit.exercise.spec import LESSON_SEED, ExerciseFailed
from coursekit.exercise.wire import round_trip
from coursekit.probes.lesson05 import build_mlp

REFERENCES = {
    "05-backward": (check.reference_backward,),
    "05-train-mlp": (check.reference_train_mlp,),
    "05-sigmoid-op": (check.reference_sigmoid,),
    "05-predict": (torch_ref.calc_preds, torch_ref.calc_logits),
    "05-loss": (torch_ref.calc_loss,),
    "05-update": (torch_ref.update_coeffs,),
}


# ---- valid versions written differently ----

def _backward_by_counting_uses(root):
    """Kahn's algorithm: a node passes its gradient on once every node using it has reported."""
    uses, stack, seen = {}, [root], {id(root)}
    while stack:
        for parent in stack.pop()._parents:
            uses[id(parent)] = uses.get(id(parent), 0) + 1
            if id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    root.grad = 1
    ready = [root]
    while ready:
        node = ready.pop()
        node._backward()
        for parent in node._parents:
            uses[id(parent)] -= 1
            if uses[id(parent)] == 0:
                ready.append(parent)


def _backward_iterative_dfs(root):
    """An explicit stack instead of recursion; nodes themselves in the visited set; every grad
    zeroed before the pass."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            stack.extend((parent, False) for parent in node._parents)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in order[::-1]:
        node._backward()


def _train_with_kahn(params, model, X, y, steps, lr):
    """Zeroes after each step (the grads start at 0), multiplies by 1/n, steps with p.data =."""
    losses = []
    for _ in range(steps):
        total = Value(0.0)
        for x, t in zip(X, y, strict=True):
            total = total + (model(x) - t) * (model(x) - t)
        loss = total * (1.0 / len(X))
        _backward_by_counting_uses(loss)
        for p in params:
            p.data = p.data - lr * p.grad
            p.grad = 0.0
        losses.append(float(loss.data))
    return losses


def _train_lesson_style(params, model, X, y, steps, lr):
    losses = []
    for _ in range(steps):
        loss = sum((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)) / len(X)
        for p in params:
            p.grad = 0.0
        _backward_iterative_dfs(loss)
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses


def _sigmoid_composed(x):
    """σ from the engine's own operations: its derivative comes from theirs."""
    return 1 / (1 + (-x).exp())


def _sigmoid_by_hand(x):
    """A node wired by hand: its parents and a closure that uses out.grad."""
    s = 1 / (1 + math.exp(-x.data))
    out = Value(s)
    out._parents = (x,)

    def backward():
        x.grad += s * (1 - s) * out.grad

    out._backward = backward
    return out


# The lesson's init_coeffs returns a plain tuple, so a version that runs in the lesson unpacks
# or indexes the coefficients rather than naming them.
def _logits_unpacked(coeffs, X):
    w_h, b_h, w_o, b_o = coeffs
    return (torch.relu(X @ w_h + b_h) @ w_o + b_o).squeeze(1)


def _preds_unpacked(coeffs, X):
    return 1 / (1 + torch.exp(-_logits_unpacked(coeffs, X)))


def _logits_einsum(coeffs, X):
    hidden = (torch.einsum("ni,ih->nh", X, coeffs[0]) + coeffs[1]).clamp(min=0)
    return hidden @ coeffs[2][:, 0] + coeffs[3]  # (n,) + (1,): already one number per row


def _preds_einsum(coeffs, X):
    return torch.sigmoid(_logits_einsum(coeffs, X))


def _loss_logsigmoid(coeffs, X, y, kind="bce"):
    """−[y·log σ(z) + (1 − y)·log σ(−z)] with the rounding-safe log σ; F.l1_loss for MAE."""
    z = _logits_unpacked(coeffs, X)
    if kind == "mae":
        return F.l1_loss(torch.sigmoid(z), y)
    return -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()


def _loss_softplus(coeffs, X, y, kind="bce"):
    """softplus(z) − z·y, softplus(z) = log(1 + e^z) computed safely; torch.mean(torch.abs())."""
    z = _logits_einsum(coeffs, X)
    if kind == "bce":
        return torch.mean(F.softplus(z) - z * y)
    return torch.mean(torch.abs(torch.sigmoid(z) - y))


def _loss_logaddexp(coeffs, X, y, kind="bce"):
    """softplus(z) − y·z with softplus(z) = log(e^0 + e^z) by torch.logaddexp, through a dict
    of the two kinds."""
    z = _logits_unpacked(coeffs, X)
    losses = {"bce": lambda: (torch.logaddexp(torch.zeros_like(z), z) - y * z).mean(),
              "mae": lambda: (torch.sigmoid(z) - y).abs().mean()}
    return losses[kind]()


def _loss_where_overflows(coeffs, X, y, kind="bce"):
    """Right values, but the branch torch.where does not pick overflows: NaN gradients."""
    z = _logits_unpacked(coeffs, X)
    return torch.where(z >= 0, torch.log1p(torch.exp(-z)) + (1 - y) * z,
                       torch.log1p(torch.exp(z)) - y * z).mean()


def test_a_where_whose_other_branch_overflows_is_named():
    with pytest.raises(ExerciseFailed, match="holds NaN or inf: a branch that is not used"):
        check.loss(_loss_where_overflows)


def _loss_float64(coeffs, X, y, kind="bce"):
    """In float64, the cross-entropy picked per row: −log σ(z) where y = 1, −log σ(−z) where
    y = 0, each as a softplus."""
    z, t = _logits_unpacked(coeffs, X).double(), y.double()
    if kind == "mae":
        return (torch.sigmoid(z) - t).abs().mean()
    return torch.where(t == 1, F.softplus(-z), F.softplus(z)).mean()


def _update_set_to_none(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c -= lr * c.grad
            c.grad = None


def _update_sub_(coeffs, lr):
    for c in coeffs:
        with torch.no_grad():
            c.sub_(c.grad * lr)
        c.grad.zero_()


#: Exercise id -> versions a student could write in its solution cell (a tuple in the check
#: call's argument order where the check takes several), each written differently from the
#: lesson's solution; every later cell of the lesson must pass with it in place.
VALID_VERSIONS: dict[str, list[object]] = {
    "05-backward": [_backward_by_counting_uses, _backward_iterative_dfs],
    "05-train-mlp": [_train_with_kahn, _train_lesson_style],
    "05-sigmoid-op": [_sigmoid_composed, _sigmoid_by_hand],
    "05-predict": [(_preds_unpacked, _logits_unpacked), (_preds_einsum, _logits_einsum)],
    "05-loss": [_loss_logsigmoid, _loss_softplus, _loss_logaddexp, _loss_float64],
    "05-update": [_update_set_to_none, _update_sub_],
}
def _train_into_an_array(params, model, X, y, steps, lr):
    return np.array(_train_lesson_style(params, model, X, y, steps, lr))


def _update_data_under_no_grad(coeffs, lr):
    """Through .data, but inside torch.no_grad() as asked; the gradients zeroed after."""
    with torch.no_grad():
        for c in coeffs:
            c.data -= lr * c.grad
    for c in coeffs:
        c.grad.zero_()


def _update_with_sgd(coeffs, lr):
    """PyTorch's own SGD, whose step() runs without recording."""
    optimizer = torch.optim.SGD(coeffs, lr=lr)
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)


_MORE_VALID = {
    "05-update": [_update_data_under_no_grad, _update_with_sgd],
    "05-predict": [(lambda coeffs, X: torch.sigmoid(
        torch.relu(X @ coeffs[0] + coeffs[1]) @ coeffs[2] + coeffs[3])[:, 0],)],  # no logits
    "05-train-mlp": [_train_into_an_array],
}


@pytest.mark.parametrize(("exercise_id", "student"), list(REFERENCES.items()) + [
    (key, fn if isinstance(fn, tuple) else (fn,)) for versions in (VALID_VERSIONS, _MORE_VALID)
    for key, fns in versions.items() for fn in fns])
@pytest.mark.parametrize("seed", [LESSON_SEED, 1, 2])
def test_references_and_valid_versions_pass_on_any_inputs(exercise_id, student, seed, capsys):
    check.EXERCISES[exercise_id].check(*student, seed=seed)
    assert f"✔ {exercise_id}:" in capsys.readouterr().out


def test_the_pass_message_says_whether_the_logits_were_checked(capsys):
    check.predict(torch_ref.calc_preds)
    check.predict(torch_ref.calc_preds, torch_ref.calc_logits)
    out = capsys.readouterr().out
    assert "✔ 05-predict: probabilities match" in out
    assert "✔ 05-predict: logits and probabilities match" in out


def _fit_line(backward):
    """The lesson's cell after the check: fit y = 2x + 1 with the student's backward."""
    xs = [-1.0, -0.5, 0.0, 0.5, 1.0]
    w, c = Value(0.0), Value(0.0)
    for _ in range(50):
        loss = sum(((w * x + c) - (2 * x + 1)) ** 2 for x in xs) / len(xs)
        w.grad = c.grad = 0.0
        backward(loss)
        w.data -= 0.3 * w.grad
        c.data -= 0.3 * c.grad
    return w.data, c.data


@pytest.mark.parametrize("valid", VALID_VERSIONS["05-backward"])
def test_valid_backward_runs_the_later_cell(valid):
    w, c = _fit_line(valid)
    assert abs(w - 2) < 0.01 and abs(c - 1) < 0.01


@pytest.mark.parametrize("valid", VALID_VERSIONS["05-train-mlp"])
def test_valid_training_runs_the_later_cell(valid):
    """The lesson's cell after the check: a 2-4-1 network on two clusters of 8 points."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 8)
    X = np.array([[-0.6, -0.4], [0.6, 0.4]])[labels] + rng.normal(scale=0.35, size=(16, 2))
    y = np.where(labels == 1, 1.0, -1.0)
    init = np.random.default_rng(0)  # init_mlp((2, 4, 1), SEED)'s draws, in its order
    params, model = build_mlp({"layers": [[init.normal(size=(2, 4)) / math.sqrt(2), np.zeros(4)],
                                          [init.normal(size=(4, 1)) / 2.0, np.zeros(1)]]})
    losses = valid(params, model, X.tolist(), y.tolist(), 30, 0.3)
    accuracy = np.mean([np.sign(model(x).data) == t for x, t in zip(X.tolist(), y, strict=True)])
    assert losses[-1] < 0.2 * losses[0] and accuracy == 1.0


# ---- probe + judge: plain data, the wire, hostile data ----

def _hostile(data):
    """Malformed variants of a probe's data: wrong lengths, wrong kinds, missing keys."""
    yield from (None, 1.0, "✔ passed", [], {}, {"kind": "none"})
    if isinstance(data, list):
        yield data[:-1]
        yield data + data[-1:]
        yield [{"kind": "float", "type": "float", "value": 0.5}] * len(data)
    if isinstance(data, dict):
        for key in data:
            yield {k: v for k, v in data.items() if k != key}
            yield {**data, key: None}
            yield {**data, key: []}


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
def test_data_survives_the_wire_and_a_judge_fails_malformed_data(exercise_id):
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(5)))
    data = exercise.probe(inputs, *REFERENCES[exercise_id])
    assert exercise.verdict(inputs, round_trip(data)) == exercise.verdict(inputs, data)
    data = round_trip(data)
    # Without calc_logits the probe reports no logits, and only the probabilities are judged.
    valid = [data, {**data, "logits": None}] if exercise_id == "05-predict" else [data]
    for bad in _hostile(data):
        if bad not in valid:
            ok, message = exercise.verdict(inputs, bad)
            assert not ok, (bad, message)
