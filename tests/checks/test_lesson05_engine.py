"""Lesson 05, the scalar engine (05-backward, 05-train-mlp, 05-sigmoid-op): what no declared
mistake covers (a stub, a crash, state kept between calls, an order seen only in the calls,
structural lies about the losses, renamed keywords), and the references against torch."""

import math

import numpy as np
import pytest
import torch

from coursekit.autograd import Value
from coursekit.checks import lesson05 as check
from coursekit.checks.lesson05 import backprop as backward_check
from coursekit.exercise import LESSON_SEED, ExerciseFailed


def test_backward_reference_matches_torch_on_a_second_call():
    case = backward_check.graphs(np.random.default_rng(0))["cases"][-1]
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
    np.testing.assert_allclose(backward_check.grads(case, check.reference_backward), want,
                               rtol=1e-12, atol=1e-15)


def test_backward_reference_matches_torch_on_the_lesson_graphs():
    ops = {"add": torch.add, "mul": torch.mul, "tanh": lambda a, _: torch.tanh(a),
           "relu": lambda a, _: torch.relu(a)}
    for case in backward_check.graphs(np.random.default_rng(0))["cases"]:
        if "again" in case:
            continue  # test_backward_reference_matches_torch_on_a_second_call
        nodes = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in case["leaves"]]
        for op, i, j in case["ops"]:
            nodes.append(ops[op](nodes[i], nodes[j]))
        for node in nodes:
            node.retain_grad()
        nodes[-1].backward()
        want = [0.0 if node.grad is None else node.grad.item() for node in nodes]
        np.testing.assert_allclose(backward_check.grads(case, check.reference_backward), want,
                                   rtol=1e-12, atol=1e-15)


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


def _seeds_two(root):
    check.reference_backward(root)
    root.grad = 2.0


def _stub(root):
    raise NotImplementedError


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
        (_seed_after_the_loop, r"only the output has a gradient: set root\.grad = 1\.0 first"),
        (_seeds_two, r"the output's grad should be 1\.0"),
        (lambda root: root.grad.backward(), r"raised AttributeError"),
        (_stub, r"not implemented yet"),
        (1.0, r"expected a function"),
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
def test_backward_names_what_no_declared_mistake_covers(wrong, message):
    for seed in (LESSON_SEED, 1, 2):
        # a check of its own, as in a fresh kernel: ids of nodes the garbage collector freed
        # in earlier tests would otherwise be reused and skipped from the first graph on
        _KEPT_VISITED.clear()
        with pytest.raises(ExerciseFailed, match=message):
            check.backward.check(wrong, seed=seed)


def test_backward_names_the_node_that_ran_too_early():
    with pytest.raises(ExerciseFailed, match=r"node \d+ \(\w+\) ran its _backward\(\) before "
                                             r"node \d+ \(\w+\), which uses it.*post-order"):
        check.backward(backward_check._pre_order)


def _train_steps(params, model, X, y, steps, lr):
    losses = []
    for _ in range(steps):
        loss = sum(((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)), Value(0.0)) / len(X)
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss)  # Values, not floats
    return losses


def _train_built_once(params, model, X, y, steps, lr):
    """The loss built once, before the loop, backpropagated with a student's own backward."""
    loss = sum((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)) / len(X)
    losses = []
    for _ in range(steps):
        for p in params:
            p.grad = 0.0
        check.reference_backward(loss)
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses


def _train_renamed(params, model, X, y, n_steps, learning_rate):
    return check.reference_train_mlp(params, model, X, y, n_steps, learning_rate)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_train_steps, r"should be floats, got Values: append loss\.data"),
        (_train_built_once, r"every step recorded the same loss: the loss was built once"),
        (lambda params, model, X, y, steps, lr: None, r"expected the list of the 5 losses"),
        (lambda params, model, X, y, steps, lr: [0.0] * (steps - 1), r"expected 5 losses"),
        (_train_renamed, r"the lesson calls train_mlp\(params, model, X, y, steps=\.\.\., "
                         r"lr=\.\.\.\).*unexpected keyword argument 'steps'.*keep the parameter "
                         "names"),
    ],
)
def test_train_mlp_names_what_no_declared_mistake_covers(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.train_mlp(wrong)


def _s(x):
    return 1 / (1 + math.exp(-x.data))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda x: _s(x), "should return a Value, got a number"),
        (lambda x: 1.0 if x._parents else check.reference_sigmoid(x),
         r"sigmoid\(x \+ 0.0\) should return a Value"),
        (lambda x: 1 / 0, "raised ZeroDivisionError"),
        (lambda x: x.unary(_s(x), 2 * _s(x) * (1 - _s(x))), r"d\(3·σ\(x\)\)/dx at x=-?\d"),
    ],
)
def test_sigmoid_names_what_no_declared_mistake_covers(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.sigmoid_op(wrong)


@pytest.mark.parametrize(("shortcut", "name"), [
    (lambda root: root.backward(), "backward"),
    (lambda root: [node._backward() for node in reversed(root.graph())], "graph"),
])
def test_backward_refuses_the_engines_own_backward_and_graph(shortcut, name):
    """The spec: write backward(root) without calling root.backward() or root.graph()."""
    with pytest.raises(ExerciseFailed, match=rf"asks you to write backpropagation yourself, so "
                                             rf"the engine's own {name}\(\) is switched off"):
        check.backward(shortcut)
