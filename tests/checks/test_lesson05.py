"""Lesson 05 checks pass the reference and name the mistake in realistic wrong versions."""

import math

import numpy as np
import pytest
import torch

from coursekit.autograd import Value
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson05 as check
from coursekit.checks import reference05 as torch_ref
from coursekit.probes.data import round_trip

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


def test_backward_reference_matches_torch_on_the_lesson_graphs():
    inputs = check._graphs(np.random.default_rng(0))
    for case in inputs["cases"]:
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
        (check._pre_order, r"before every operation using it had reported.*post-order"),
        (check._breadth_first, r"before every operation using it had reported"),
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


def test_sigmoid_built_from_engine_operations_also_passes(capsys):
    check.sigmoid_op(lambda x: 1 / (1 + (-x).exp()))
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


# ---- 05-update ----


def test_update_passes_the_reference(capsys):
    check.update(torch_ref.update_coeffs)
    assert "✔ 05-update" in capsys.readouterr().out


def test_update_accepts_set_to_none(capsys):
    def update_coeffs(coeffs, lr):
        with torch.no_grad():
            for c in coeffs:
                c -= lr * c.grad
                c.grad = None

    check.update(update_coeffs)
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


def test_sigmoid_built_by_hand_with_out_grad_passes(capsys):
    def sigmoid(x):
        s = _s(x)
        out = Value(s)
        out._parents = (x,)

        def backward():
            x.grad += s * (1 - s) * out.grad

        out._backward = backward
        return out

    check.sigmoid_op(sigmoid)
    assert "✔ 05-sigmoid-op" in capsys.readouterr().out


def test_update_accepts_a_loop_over_named_fields(capsys):
    def update_coeffs(coeffs, lr):
        for c in coeffs:
            with torch.no_grad():
                c.sub_(c.grad * lr)
            c.grad.zero_()

    check.update(update_coeffs)
    assert "✔ 05-update" in capsys.readouterr().out


# ---- probe + judge: plain data, fresh inputs, hostile data ----

_STUDENT = {
    "05-backward": (check.reference_backward,),
    "05-train-mlp": (check.reference_train_mlp,),
    "05-sigmoid-op": (check.reference_sigmoid,),
    "05-predict": (torch_ref.calc_preds, torch_ref.calc_logits),
    "05-update": (torch_ref.update_coeffs,),
}
_WRONG = {
    "05-backward": (check._once_per_path,),
    "05-train-mlp": (check._train_variant(zero="never"),),
    "05-sigmoid-op": (_no_chain,),
    "05-predict": (lambda c, X: torch_ref.calc_logits(c, X),),
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
