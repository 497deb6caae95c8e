"""Lesson 05 checks pass the reference and name the mistake in realistic wrong versions."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coursekit.autograd import Value
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson05 as check
from coursekit.checks import reference05 as torch_ref
from coursekit.exercise.spec import LESSON_SEED
from coursekit.exercise.wire import round_trip
from tests.checks._cells import run_lesson_with

LESSON = "05_autograd.ipynb"

# ---- 05-backward ----


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


@pytest.mark.parametrize("valid", [check.reference_backward, _backward_by_counting_uses,
                                   _backward_iterative_dfs])
def test_backward_accepts_valid_versions_and_they_run_the_later_cell(valid, capsys):
    check.backward(valid)
    assert "✔ 05-backward" in capsys.readouterr().out
    w, c = _fit_line(valid)
    assert abs(w - 2) < 0.01 and abs(c - 1) < 0.01


def test_backward_reference_matches_torch_on_a_second_call():
    case = check._graphs(np.random.default_rng(0))["cases"][-1]
    assert case["ops"] == [["mul", 0, 1], ["tanh", 2, 2]]
    assert case["again"] == [["mul", 2, 2], ["add", 4, 0]]
    a, b = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in case["leaves"])
    c = a * b
    c.retain_grad()
    d = c * c
    d.retain_grad()
    e = d + a
    e.retain_grad()
    e.backward()  # the second graph alone; the first graph's tanh keeps its grad of 1
    want = [a.grad.item(), b.grad.item(), c.grad.item(), 1.0, d.grad.item(), 1.0]
    np.testing.assert_allclose(check._grads(case, check.reference_backward), want,
                               rtol=1e-12, atol=1e-15)


def test_backward_reference_matches_torch_on_the_lesson_graphs():
    inputs = check._graphs(np.random.default_rng(0))
    for case in inputs["cases"]:
        if "again" in case:
            continue  # test_backward_reference_matches_torch_on_a_second_call
        t_nodes = [torch.tensor(x, dtype=torch.float64, requires_grad=True)
                   for x in case["leaves"]]
        ops = {"add": torch.add, "mul": torch.mul, "tanh": lambda a, _: torch.tanh(a),
               "relu": lambda a, _: torch.relu(a)}
        for op, i, j in case["ops"]:
            t_nodes.append(ops[op](t_nodes[i], t_nodes[j]))
        for node in t_nodes:
            node.retain_grad()
        t_nodes[-1].backward()
        got = check._grads(case, check.reference_backward)
        want = [0.0 if node.grad is None else node.grad.item() for node in t_nodes]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def _seed_after_the_loop(root):
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node._parents:
                visit(parent)
            order.append(node)

    visit(root)
    for node in reversed(order):
        node._backward()
    root.grad = 1.0  # too late


def _stub(root):
    raise NotImplementedError


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (check._unseeded, r"no gradient reached any node: set the output's grad to 1\.0"),
        (_seed_after_the_loop, r"only the output has a gradient: set root\.grad = 1\.0 first"),
        (check._leaves_first, r"leaves first: walk the topological order backwards"),
        (check._once_per_path, r"more than once \(once per path to it\): keep a visited set"),
        (check._no_visited_set, r"more than once.*visited set"),
        (check._pre_order,
         r"ran its _backward\(\) before node \d+ \(\w+\), which uses it.*post-order"),
        (check._breadth_first, r"ran its _backward\(\) before node \d+ \(\w+\), which uses it"),
        (lambda root: root.grad.backward(), r"raised AttributeError"),
        (_stub, r"not implemented yet"),
        (1.0, r"expected a function"),
    ],
)
def test_backward_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.backward(wrong)


def test_backward_names_a_wrong_output_gradient():
    def seeds_two(root):
        check.reference_backward(root)
        root.grad = 2.0

    with pytest.raises(ExerciseFailed, match=r"the output's grad should be 1\.0"):
        check.backward(seeds_two)


# ---- 05-train-mlp ----


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


def _blobs_cell(train):
    """The lesson's cell after the check: a 2-4-1 network on two clusters of 8 points."""
    from coursekit.probes.lesson05 import build_mlp

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 8)
    X = np.array([[-0.6, -0.4], [0.6, 0.4]])[labels] + rng.normal(scale=0.35, size=(16, 2))
    y = np.where(labels == 1, 1.0, -1.0)
    init = np.random.default_rng(0)  # init_mlp((2, 4, 1), SEED)'s draws, in its order
    case = {"layers": [[init.normal(size=(2, 4)) / math.sqrt(2), np.zeros(4)],
                       [init.normal(size=(4, 1)) / 2.0, np.zeros(1)]]}
    params, model = build_mlp(case)
    losses = train(params, model, X.tolist(), y.tolist(), 30, 0.3)
    print(f"step 30: mean squared error {losses[-1]:.4f}")
    accuracy = np.mean([np.sign(model(x).data) == t for x, t in zip(X.tolist(), y, strict=True)])
    return losses, accuracy


@pytest.mark.parametrize("valid", [check.reference_train_mlp, _train_with_kahn,
                                   _train_lesson_style])
def test_train_mlp_accepts_valid_versions_and_they_run_the_later_cell(valid, capsys):
    check.train_mlp(valid)
    assert "✔ 05-train-mlp" in capsys.readouterr().out
    losses, accuracy = _blobs_cell(valid)
    assert losses[-1] < 0.2 * losses[0] and accuracy == 1.0


def _train_rebinding(params, model, X, y, steps, lr):
    losses = []
    for _ in range(steps):
        loss = sum((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)) / len(X)
        for p in params:
            p.grad = 0.0
        check.reference_backward(loss)
        for p in params:
            p = Value(p.data - lr * p.grad)  # noqa: PLW2901 - the mistake under test
        losses.append(loss.data)
    return losses


def _train_recording_after(params, model, X, y, steps, lr):
    losses = []
    for _ in range(steps):
        loss = sum((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)) / len(X)
        for p in params:
            p.grad = 0.0
        check.reference_backward(loss)
        for p in params:
            p.data -= lr * p.grad
        after = sum((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)) / len(X)
        losses.append(after.data)
    return losses


def _train_returning_values(params, model, X, y, steps, lr):
    losses = []
    for _ in range(steps):
        loss = sum((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)) / len(X)
        for p in params:
            p.grad = 0.0
        check.reference_backward(loss)
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss)
    return losses


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (check._train_variant(zero="never"), r"gradients were never zeroed"),
        (check._train_variant(zero="between"), r"the parameters never changed"),
        (_train_rebinding, r"the parameters never changed.*p\.data in place"),
        (check._train_variant(sign=-1.0), r"went up the gradient"),
        (check._train_variant(mean=False), r"summed squared error"),
        (_train_recording_after, r"recorded after its step"),
        (_train_returning_values, r"should be floats, got Values: append loss\.data"),
        (lambda params, model, X, y, steps, lr: None, r"expected the list of the 5 losses"),
        (lambda params, model, X, y, steps, lr: [0.0] * (steps - 1), r"expected 5 losses"),
    ],
)
def test_train_mlp_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.train_mlp(wrong)


# ---- 05-sigmoid-op ----


def test_sigmoid_passes_the_reference(capsys):
    check.sigmoid_op(check.reference_sigmoid)
    assert capsys.readouterr().out.startswith("✔ 05-sigmoid-op")


def _sigmoid_composed(x):
    """σ from the engine's own operations: its derivative comes from theirs."""
    return 1 / (1 + (-x).exp())


def test_sigmoid_built_from_engine_operations_also_passes(capsys):
    check.sigmoid_op(_sigmoid_composed)
    assert "✔ 05-sigmoid-op" in capsys.readouterr().out


def _s(x):
    return 1 / (1 + math.exp(-x.data))


def _fresh_value(x):
    return Value(_s(x))


def _no_chain(x):
    out = Value(_s(x))
    out._parents = (x,)

    def backward():
        x.grad += _s(x) * (1 - _s(x))  # forgets out.grad

    out._backward = backward
    return out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda x: x.unary(1 / (1 + math.exp(x.data)), 0.0), "that is σ\\(−x\\)"),
        (lambda x: x.unary(_s(x), _s(x)), r"not σ\(x\)"),
        (_fresh_value, "no gradient reached x"),
        (_no_chain, "chain rule"),
        (lambda x: _s(x), "should return a Value, got a number"),
    ],
)
def test_sigmoid_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.sigmoid_op(wrong)


# ---- 05-predict ----


def test_predict_passes_the_reference(capsys):
    check.predict(torch_ref.calc_preds)
    assert "✔ 05-predict" in capsys.readouterr().out


def test_predict_accepts_plain_tuple_unpacking(capsys):
    def calc_preds(coeffs, X):
        w_h, b_h, w_o, b_o = coeffs
        return torch.sigmoid(torch.relu(X @ w_h + b_h) @ w_o + b_o)[:, 0]

    check.predict(calc_preds)
    assert "✔ 05-predict" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda c, X: torch_ref.calc_logits(c, X), "these are the logits"),
        (lambda c, X: torch.sigmoid((X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out)[:, 0],
         "needs its ReLU"),
        (lambda c, X: torch.sigmoid(torch.relu(X @ c.w_hidden) @ c.w_out)[:, 0],
         "add the biases"),
        (lambda c, X: torch_ref.calc_preds(c, X)[:, None], r"got \(7, 1\)"),
        (lambda c, X: torch_ref.calc_preds(c, X)[:2], r"expected shape \(7,\)"),
    ],
)
def test_predict_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.predict(wrong)


def test_predict_checks_logits_too(capsys):
    check.predict(torch_ref.calc_preds, torch_ref.calc_logits)
    assert "✔ 05-predict: logits and probabilities match" in capsys.readouterr().out


# Valid (calc_preds, calc_logits) pairs. The lesson's init_coeffs returns a plain tuple, so a
# version that runs in the lesson unpacks or indexes the coefficients rather than naming them.
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


@pytest.mark.parametrize("pair", [(_preds_unpacked, _logits_unpacked),
                                  (_preds_einsum, _logits_einsum)])
def test_predict_accepts_valid_pairs(pair, capsys):
    for seed in (LESSON_SEED, 1, 2):
        check.PREDICT.check(*pair, seed=seed)
    assert capsys.readouterr().out.count("✔ 05-predict: logits and probabilities") == 3


def _squeezed_preds(c, X):
    return torch.sigmoid(torch.relu(X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out).squeeze()


def test_predict_names_squeeze_dropping_the_row_axis():
    with pytest.raises(ExerciseFailed, match=r"squeeze\(\) also drops the row axis when there "
                       r"is one row; use squeeze\(1\) or \[:, 0\]"):
        check.predict(_squeezed_preds)


@pytest.mark.parametrize(
    ("wrong_logits", "message"),
    [
        (torch_ref.calc_preds, "these are probabilities"),
        (lambda c, X: ((X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out)[:, 0],
         "needs its ReLU"),
        (lambda c, X: (torch.relu(X @ c.w_hidden) @ c.w_out)[:, 0], "add the biases"),
        (lambda c, X: torch.relu(X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out,
         r"calc_logits on 7 rows: expected shape \(7,\), got \(7, 1\)"),
    ],
)
def test_predict_names_the_mistake_in_logits(wrong_logits, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.predict(torch_ref.calc_preds, wrong_logits)


# ---- 05-loss ----
# Valid versions call a calc_logits that unpacks the coefficients, as one in the lesson would.


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


def _loss_library(coeffs, X, y, kind="bce"):
    """PyTorch's own loss, through a dict of the two kinds."""
    z = _logits_unpacked(coeffs, X)
    losses = {"bce": lambda: F.binary_cross_entropy_with_logits(z, y),
              "mae": lambda: (torch.sigmoid(z) - y).abs().mean()}
    return losses[kind]()


def _loss_float64(coeffs, X, y, kind="bce"):
    """In float64, the cross-entropy picked per row: −log σ(z) where y = 1, −log σ(−z) where
    y = 0, each as a softplus."""
    z, t = _logits_unpacked(coeffs, X).double(), y.double()
    if kind == "mae":
        return (torch.sigmoid(z) - t).abs().mean()
    return torch.where(t == 1, F.softplus(-z), F.softplus(z)).mean()


LOSS_VALID = [torch_ref.calc_loss, _loss_logsigmoid,
              _loss_softplus, _loss_library, _loss_float64]


@pytest.mark.parametrize("valid", LOSS_VALID)
def test_loss_accepts_valid_versions(valid, capsys):
    for seed in (LESSON_SEED, 1, 2, 3):
        check.LOSS.check(valid, seed=seed)
    assert capsys.readouterr().out.count("✔ 05-loss") == 4


@pytest.mark.parametrize("name", ["_loss_softplus", "_loss_float64"])
def test_valid_losses_train_the_lesson_classifier(name):
    """The lesson to its end with the loss in place: both losses train, the common-bug audit
    passes (every cell asserts what it shows)."""
    namespace = run_lesson_with(LESSON, {"05-loss": f"from {__name__} import {name} as calc_loss"},
                                until="26f95a91")
    assert namespace["val_acc"] >= 0.95 and namespace["calc_loss"].__name__ == name


def _with_logits(bce, mae=None):
    """A calc_loss with the given cross-entropy of (z, y), and a given or the right MAE."""
    def calc_loss(coeffs, X, y, kind="bce"):
        z = _logits_unpacked(coeffs, X)
        if kind == "mae":
            return (mae or (lambda z, y: (torch.sigmoid(z) - y).abs().mean()))(z, y)
        return bce(z, y)

    return calc_loss


def _right_bce(z, y):
    return F.binary_cross_entropy_with_logits(z, y)


def _from_probabilities(z, y):
    p = torch.sigmoid(z)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def _clamped_probabilities(z, y):
    p = torch.sigmoid(z).clamp(1e-7, 1 - 1e-7)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def _unshifted(z, y):
    return (z - z * y + torch.log(1 + torch.exp(-z))).mean()  # e^(−z) overflows for z < −88


def _broadcast(coeffs, X, y, kind="bce"):
    w_h, b_h, w_o, b_o = coeffs
    z = torch.relu(X @ w_h + b_h) @ w_o + b_o  # (n, 1) against y (n,): an (n, n) matrix
    return (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


def _loss_stub(coeffs, X, y, kind="bce"):
    raise NotImplementedError("05-loss")


def _default_mae(coeffs, X, y, kind="mae"):
    return _loss_library(coeffs, X, y, kind)


def _calls_backward(coeffs, X, y, kind="bce"):
    loss = _loss_library(coeffs, X, y, kind)
    loss.backward()
    return loss


def _under_no_grad(coeffs, X, y, kind="bce"):
    with torch.no_grad():
        return _loss_library(coeffs, X, y, kind)


def _detached_weights(coeffs, X, y, kind="bce"):
    w_h, b_h, w_o, b_o = coeffs
    z = (torch.relu(X @ w_h.detach() + b_h) @ w_o + b_o)[:, 0]
    return F.binary_cross_entropy_with_logits(z, y) if kind == "bce" else \
        (torch.sigmoid(z) - y).abs().mean()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_with_logits(lambda z, y: F.binary_cross_entropy(torch.sigmoid(z), y)),
         r"logits up to ±110 should be .*cross-entropy of the probabilities p = σ\(z\): where σ "
         r"rounds to exactly 0 or 1"),
        (_with_logits(_from_probabilities), r"logits up to ±110 gave (nan|inf): .*σ\(z\) rounds "
         r"to exactly 0 or 1"),
        (_with_logits(_unshifted), r"gave inf: .*e\^\(−z\) overflows"),
        (_with_logits(_clamped_probabilities), r"right on ordinary logits, wrong on confident "
         r"ones.*a clamp or an ε inside the log only hides that"),
        (_with_logits(lambda z, y: F.binary_cross_entropy_with_logits(torch.sigmoid(z), y)),
         r"the sigmoid was applied twice"),
        (_with_logits(lambda z, y: F.binary_cross_entropy_with_logits(y, z)),
         r"the arguments are swapped"),
        (_with_logits(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="sum")),
         r"that is the sum over the rows; the loss is their mean"),
        (_with_logits(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="none")),
         r"got shape \(12,\), a loss per row: take their mean"),
        (_with_logits(lambda z, y: -_right_bce(z, y)), r"the sign is flipped"),
        (_with_logits(lambda z, y: (y * F.softplus(-z)).mean()),
         r"only the y·log p term is there: add \(1 − y\)·log\(1 − p\)"),
        (_with_logits(lambda z, y: _right_bce(z, y).item()),
         r"got a number \(.*\), not a tensor: return the loss tensor itself \(no \.item\(\)\)"),
        (_with_logits(lambda z, y: _right_bce(z, y).detach()),
         r"not connected to the coefficients \(requires_grad is False\)"),
        (_under_no_grad, r"don't compute it under torch\.no_grad\(\)"),
        (_detached_weights, r"the value is right but no gradient reached w_hidden: part of the "
         r"computation left the graph"),
        (_calls_backward, r"already had gradients when calc_loss returned: calc_loss only "
         r"computes the loss"),
        (_broadcast, r"logits of shape \(12, 1\) against targets of shape \(12,\) broadcast"),
        (_default_mae, r"that is the mean absolute error: with no kind given, calc_loss "
         r"computes the cross-entropy"),
        (_with_logits(_right_bce, lambda z, y: (z - y).abs().mean()),
         r"the sigmoid is missing: the mean absolute error compares the probabilities"),
        (_with_logits(_right_bce, lambda z, y: (torch.sigmoid(z) - y).mean()),
         r"the absolute value is missing"),
        (_with_logits(_right_bce, lambda z, y: ((torch.sigmoid(z) - y) ** 2).mean()),
         r"that is the mean squared error"),
        (_with_logits(_right_bce, _right_bce), r'that is the cross-entropy: kind="mae" asks'),
        (lambda coeffs, X, y: _loss_library(coeffs, X, y), r"raised TypeError"),
        (_loss_stub, r"not implemented yet"),
    ],
)
def test_loss_names_the_mistake(wrong, message):
    for seed in (LESSON_SEED, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            check.LOSS.check(wrong, seed=seed)


# ---- 05-update ----


def test_update_passes_the_reference(capsys):
    check.update(torch_ref.update_coeffs)
    assert "✔ 05-update" in capsys.readouterr().out


def _update_set_to_none(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c -= lr * c.grad
            c.grad = None


def test_update_accepts_set_to_none(capsys):
    check.update(_update_set_to_none)
    assert "✔ 05-update" in capsys.readouterr().out


def _no_zero(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c -= lr * c.grad


def _rebinds(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c = c - lr * c.grad  # the bug under test
            c.grad = None


def _ascends(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c += lr * c.grad
            c.grad.zero_()


def _rebinds_then_zeroes(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c = c - lr * c.grad  # the bug under test: the new c has no .grad
            c.grad.zero_()


def _zeroes_first(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c.grad.zero_()
            c -= lr * c.grad


def _outside_no_grad(coeffs, lr):
    for c in coeffs:
        c -= lr * c.grad
        c.grad.zero_()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_no_zero, "grad is not zero after the step"),
        (_rebinds, "did not change: either `c = c - lr \\* c.grad` only rebinds"),
        (_ascends, "moved up the gradient"),
        (_outside_no_grad, "wrap it in `with torch.no_grad\\(\\):`"),
        (_rebinds_then_zeroes, "c.grad is None: after `c = c - lr \\* c.grad`"),
        (_zeroes_first, "or the gradient was zeroed before it was used"),
    ],
)
def test_update_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.update(wrong)


# ---- known mistakes named since the probe + judge rewrite ----


def _times_input_grad(x):
    s = _s(x)
    out = Value(s)
    out._parents = (x,)

    def backward():
        x.grad += s * (1 - s) * x.grad  # the bug: x.grad where out.grad belongs

    out._backward = backward
    return out


def _overwrites(x):
    s = _s(x)
    out = Value(s)
    out._parents = (x,)

    def backward():
        x.grad = s * (1 - s) * out.grad  # the bug: = instead of +=

    out._backward = backward
    return out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_times_input_grad, r"the local derivative was multiplied by x.grad \(the input's own "
         r"gradient\); the chain rule multiplies it by out.grad"),
        (_overwrites, r"x.grad was overwritten instead of added to"),
    ],
)
def test_sigmoid_names_the_gradient_bookkeeping_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.sigmoid_op(wrong)


def _sigmoid_by_hand(x):
    """A node wired by hand: its parents and a closure that uses out.grad."""
    s = _s(x)
    out = Value(s)
    out._parents = (x,)

    def backward():
        x.grad += s * (1 - s) * out.grad

    out._backward = backward
    return out


def test_sigmoid_built_by_hand_with_out_grad_passes(capsys):
    check.sigmoid_op(_sigmoid_by_hand)
    assert "✔ 05-sigmoid-op" in capsys.readouterr().out


def _update_sub_(coeffs, lr):
    for c in coeffs:
        with torch.no_grad():
            c.sub_(c.grad * lr)
        c.grad.zero_()


def test_update_accepts_a_loop_over_named_fields(capsys):
    check.update(_update_sub_)
    assert "✔ 05-update" in capsys.readouterr().out


# ---- probe + judge: plain data, fresh inputs, hostile data ----

_STUDENT = {
    "05-backward": (check.reference_backward,),
    "05-train-mlp": (check.reference_train_mlp,),
    "05-sigmoid-op": (check.reference_sigmoid,),
    "05-predict": (torch_ref.calc_preds, torch_ref.calc_logits),
    "05-loss": (torch_ref.calc_loss,),
    "05-update": (torch_ref.update_coeffs,),
}
_WRONG = {
    "05-backward": (check._once_per_path,),
    "05-train-mlp": (check._train_variant(zero="never"),),
    "05-sigmoid-op": (_no_chain,),
    "05-predict": (lambda c, X: torch_ref.calc_logits(c, X),),
    "05-loss": (_with_logits(_from_probabilities),),
    "05-update": (_ascends,),
}


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probe_data_is_plain_and_judged_alike_on_fresh_inputs(exercise_id, seed):
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(seed)))
    data = exercise.probe(inputs, *_STUDENT[exercise_id])
    assert round_trip(data) is not None
    assert exercise.verdict(inputs, round_trip(data))[0]
    wrong = round_trip(exercise.probe(inputs, *_WRONG[exercise_id]))
    assert not exercise.verdict(inputs, wrong)[0]


def _hostile(data):
    """Malformed variants of a probe's data: wrong lengths, wrong kinds, missing keys."""
    yield None
    yield 1.0
    yield "✔ passed"
    yield []
    yield {}
    yield {"kind": "none"}
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
def test_a_judge_fails_malformed_data(exercise_id):
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(5)))
    data = round_trip(exercise.probe(inputs, *_STUDENT[exercise_id]))
    # Without calc_logits the probe reports no logits, and only the probabilities are judged.
    valid = [data, {**data, "logits": None}] if exercise_id == "05-predict" else [data]
    for bad in _hostile(data):
        if bad in valid:
            continue
        ok, message = exercise.verdict(inputs, bad)
        assert not ok, (bad, message)


# ---- every exercise's valid alternatives, for the test that runs the whole lesson with each ----

#: Exercise id -> versions a student could write in its solution cell (a tuple in the check
#: call's argument order where the check takes several), each written differently from the
#: lesson's solution; every later cell of the lesson must pass with it in place.
VALID_VERSIONS: dict[str, list[object]] = {
    "05-backward": [_backward_by_counting_uses, _backward_iterative_dfs],
    "05-train-mlp": [_train_with_kahn, _train_lesson_style],
    "05-sigmoid-op": [_sigmoid_composed, _sigmoid_by_hand],
    "05-predict": [(_preds_unpacked, _logits_unpacked), (_preds_einsum, _logits_einsum)],
    "05-loss": [_loss_logsigmoid, _loss_softplus, _loss_library, _loss_float64],
    "05-update": [_update_set_to_none, _update_sub_],
}


def test_valid_versions_cover_every_exercise():
    assert list(VALID_VERSIONS) == list(check.EXERCISES)
    assert all(len(versions) >= 2 for versions in VALID_VERSIONS.values())


@pytest.mark.parametrize(("exercise_id", "version"), [
    (exercise_id, version) for exercise_id, versions in VALID_VERSIONS.items()
    for version in versions])
def test_valid_versions_pass_their_check(exercise_id, version, capsys):
    check.EXERCISES[exercise_id].check(*(version if isinstance(version, tuple) else (version,)))
    assert f"✔ {exercise_id}" in capsys.readouterr().out


# ---- red-team cases (REDTEAM-A) ----

_KEPT_VISITED: set[int] = set()  # a module-level visited set that is never cleared


def _backward_global_visited(root):
    order = []

    def visit(node):
        if id(node) not in _KEPT_VISITED:
            _KEPT_VISITED.add(id(node))
            for parent in node._parents:
                visit(parent)
            order.append(node)

    visit(root)
    root.grad = 1.0
    for node in reversed(order):
        node._backward()


def _backward_mutable_default(root, order=[]):  # noqa: B006 - the mistake under test
    seen = set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node._parents:
                visit(parent)
            order.append(node)

    visit(root)
    root.grad = 1.0
    for node in reversed(order):
        node._backward()


def _backward_output_only(root):
    root.grad = 1.0
    root._backward()


def _backward_counting_parents(root):  # Kahn's algorithm counting parents instead of users
    nodes, stack, seen = [], [root], {id(root)}
    while stack:
        node = stack.pop()
        nodes.append(node)
        for parent in node._parents:
            if id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    pending = {id(node): len(node._parents) for node in nodes}
    root.grad, ready, done = 1.0, [root], set()
    while ready:
        node = ready.pop()
        if id(node) in done:
            continue
        done.add(id(node))
        node._backward()
        for parent in node._parents:
            pending[id(parent)] -= 1
            if pending[id(parent)] <= 0:
                ready.append(parent)


def _backward_stack_appending_when_popped(root):
    order, seen, stack = [], set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(node._parents)
    root.grad = 1.0
    for node in order:
        node._backward()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        # which message depends on the ids Python reuses; each names the kept state
        (_backward_global_visited, "(the first backward\\(\\) was right, but a second one.*not "
                                   "at module level, and not as a default argument)|(passed "
                                   "before and fails on a rerun, it keeps a visited set)"),
        (_backward_mutable_default, "the first backward\\(\\) was right, but a second one.*"
                                    "order=\\[\\]"),
        (_backward_output_only, "only the output's _backward\\(\\) ran"),
        (_backward_counting_parents, "only the output's _backward\\(\\) ran|never ran their "
                                     "_backward\\(\\)"),
        (_backward_stack_appending_when_popped,
         "ran its _backward\\(\\) before node \\d+ \\(\\w+\\), which uses it.*explicit stack"),
    ],
)
def test_backward_names_the_red_team_mistakes(wrong, message):
    for seed in (LESSON_SEED, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            check.BACKWARD.check(wrong, seed=seed)


def _sigmoid_without_parents(x):
    s = 1.0 / (1.0 + math.exp(-x.data))
    out = Value(s)

    def backward():
        x.grad += s * (1 - s) * out.grad

    out._backward = backward
    return out


def _sigmoid_derivative_of_the_input(x):
    s = 1.0 / (1.0 + math.exp(-x.data))
    return x.unary(s, x.data * (1 - x.data), "sigmoid")


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_sigmoid_without_parents, r"through sigmoid\(x \+ 0.0\).*the result's _parents must "
                                   "include its input"),
        (_sigmoid_derivative_of_the_input, r"that uses x·\(1 − x\); σ'\(x\) = s·\(1 − s\)"),
    ],
)
def test_sigmoid_names_the_red_team_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.sigmoid_op(wrong)


def _logits_detached(coeffs, X):
    with torch.no_grad():
        return torch_ref.calc_logits(coeffs, X)


def _logits_as_numpy(coeffs, X):
    return torch_ref.calc_logits(coeffs, X).detach().numpy()


@pytest.mark.parametrize("logits", [_logits_detached, _logits_as_numpy])
def test_predict_refuses_logits_cut_from_the_coefficients(logits):
    with pytest.raises(ExerciseFailed, match="not connected to the coefficients.*no "
                                             r"torch.no_grad\(\), no .detach\(\), no .numpy\(\)"):
        check.predict(torch_ref.calc_preds, logits)


def _update_with_the_lessons_rate(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c -= 0.3 * c.grad
            c.grad.zero_()


def _update_skipping_the_last(coeffs, lr):
    with torch.no_grad():
        for c in coeffs[:-1]:
            c -= lr * c.grad
            c.grad.zero_()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_update_with_the_lessons_rate, r"stepped by 0.3 × grad, not by the lr=0.\d+ passed in"),
        (_update_skipping_the_last, r"b_out did not change while the other coefficients "
                                    r"stepped: the loop skipped some \(coeffs\[:-1\]"),
    ],
)
def test_update_names_the_red_team_mistakes(wrong, message):
    for seed in (LESSON_SEED, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            check.UPDATE.check(wrong, seed=seed)


def _train_steps(params, model, X, y, steps, lr, rate):
    losses = []
    for _ in range(steps):
        loss = sum(((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)), Value(0.0)) / len(X)
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= rate * p.grad
        losses.append(loss.data)
    return losses


def _train_with_the_lessons_rate(params, model, X, y, steps, lr):
    return _train_steps(params, model, X, y, steps, lr, 0.3)


def _train_renamed(params, model, X, y, n_steps, learning_rate):
    return _train_steps(params, model, X, y, n_steps, learning_rate, learning_rate)


def _train_into_an_array(params, model, X, y, steps, lr):
    return np.array(_train_steps(params, model, X, y, steps, lr, lr))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_train_with_the_lessons_rate, r"the steps used lr=0.3 \(the notebook's LR\?\), not the "
                                       r"lr=0.1 passed in"),
        (_train_renamed, r"the lesson calls train_mlp\(params, model, X, y, steps=\.\.\., "
                         r"lr=\.\.\.\).*unexpected keyword argument 'steps'.*keep the parameter "
                         "names"),
    ],
)
def test_train_mlp_names_the_red_team_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.train_mlp(wrong)


def test_train_mlp_accepts_the_losses_as_an_array(capsys):
    check.train_mlp(_train_into_an_array)
    assert "✔ 05-train-mlp" in capsys.readouterr().out


# ---- arguments changed in place: the lesson uses X_train and y_train again after the calls ----

def _logits_standardising_in_place(coeffs, X):
    X -= X.mean(0)  # the bug: writes into the caller's X_train
    return torch_ref.calc_logits(coeffs, X)


def _loss_reshaping_y_in_place(coeffs, X, y, kind="bce"):
    y.unsqueeze_(1)  # the bug: the caller's y_train becomes (n, 1)
    return torch_ref.calc_loss(coeffs, X, y.squeeze(1), kind)


def _loss_scaling_X_in_place(coeffs, X, y, kind="bce"):
    X /= X.abs().max()
    return torch_ref.calc_loss(coeffs, X, y, kind)


def test_predict_names_x_changed_in_place():
    with pytest.raises(ExerciseFailed, match=r"your function changed `X` in place.*the lesson's "
                                             r"later cells use it again"):
        check.predict(lambda coeffs, X: torch.sigmoid(_logits_standardising_in_place(coeffs, X)),
                      _logits_standardising_in_place)


@pytest.mark.parametrize(("wrong", "name"), [(_loss_reshaping_y_in_place, "y"),
                                             (_loss_scaling_X_in_place, "X")])
def test_loss_names_an_argument_changed_in_place(wrong, name):
    with pytest.raises(ExerciseFailed, match=rf"your function changed `{name}` in place"):
        check.loss(wrong)
