"""Checks for lesson 05, autograd: the scalar engine's backward() and a new operation for it,
then torch tensors (the forward pass, the loss and the update of a classifier).

The classifier of the lesson is ``p = sigmoid(relu(X @ w_hidden + b_hidden) @ w_out + b_out)``
with coefficients ``(w_hidden, b_hidden, w_out, b_out)`` of shapes (n_inputs, n_hidden),
(n_hidden,), (n_hidden, 1) and (1,).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from coursekit.autograd import Value
from coursekit.checks import (
    reference05 as ref05,  # the lesson's reference functions: only named here
)
from coursekit.checks._legacy import diagnose, mistake
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    close,
    describe,
    expect_array,
    expect_scalar,
    fail,
    raised_message,
    value,
)
from coursekit.exercise.judging import results as per_case
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson05 as probes

#: How close a student's number must be to the reference's (float32 tensors in 05-predict).
TOLERANCE: Tolerance = {"rtol": 1e-5, "atol": 1e-6}
#: What PyTorch's refusal of an in-place change to a leaf that requires grad means; lesson 08's
#: weight copy reuses it.
IN_PLACE_HINT = ("PyTorch refused an in-place change of a tensor that requires grad: wrap it in "
                 "`with torch.no_grad():`")


def _dotted(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _explain(got: Any, want: Any, hints: Mapping[str, Any], *, where: str, otherwise: str
             ) -> None:
    """:func:`diagnose`, ending with ``where: otherwise`` when no hint's candidate matches."""
    # ``got`` itself is the last candidate: it matches whatever no earlier hint explained.
    diagnose(got, want, {**hints, otherwise: got}, where=where, **TOLERANCE)


# ---- 05-backward --------------------------------------------------------------------------------

def reference_backward(root: Value) -> None:
    """Every node's d(root)/d(node), on a graph whose gradients start at 0: a post-order
    depth-first search puts each node after its parents, then the closures run output first."""
    order: list[Value] = []
    seen: set[int] = set()

    def visit(node: Value) -> None:
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node._parents:
                visit(parent)
            order.append(node)

    visit(root)
    root.grad = 1.0
    for node in reversed(order):
        node._backward()


# Realistic wrong versions, run on the same graph to name the mistake a student's numbers show.
def _unseeded(root: Value) -> None:
    for node in reversed(root.graph()):
        node._backward()


def _never_called(root: Value) -> None:
    root.grad = 1.0


def _leaves_first(root: Value) -> None:
    root.grad = 1.0
    for node in root.graph():
        node._backward()


def _once_per_path(root: Value) -> None:
    root.grad = 1.0

    def down(node: Value) -> None:
        node._backward()
        for parent in node._parents:
            down(parent)

    down(root)


def _no_visited_set(root: Value) -> None:
    order: list[Value] = []

    def visit(node: Value) -> None:
        for parent in node._parents:
            visit(parent)
        order.append(node)

    visit(root)
    root.grad = 1.0
    for node in reversed(order):
        node._backward()


def _pre_order(root: Value) -> None:
    order: list[Value] = []
    seen: set[int] = set()

    def visit(node: Value) -> None:
        if id(node) not in seen:
            seen.add(id(node))
            order.append(node)  # before its parents: not a topological order
            for parent in node._parents:
                visit(parent)

    visit(root)
    root.grad = 1.0
    for node in order:
        node._backward()


def _breadth_first(root: Value) -> None:
    order, seen, queue = [], {id(root)}, [root]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for parent in node._parents:
            if id(parent) not in seen:
                seen.add(id(parent))
                queue.append(parent)
    root.grad = 1.0
    for node in order:
        node._backward()


def _grads(case: Data, algorithm: Callable[[Value], None]) -> np.ndarray:
    """Every node's gradient after ``algorithm(output)`` on a fresh copy of the graph (after
    ``probes.two_calls`` for a case with a second graph)."""
    if "again" in case:
        nodes, _ = probes.two_calls(case, algorithm)
    else:
        nodes = probes.build_graph(case)
    algorithm(nodes[-1])
    return np.array([node.grad for node in nodes], dtype=np.float64)


def _node_name(case: Data, k: int) -> str:
    n_leaves = len(case["leaves"])
    return f"leaf {k}" if k < n_leaves else f"node {k} ({case['ops'][k - n_leaves][0]})"


def _order_problem(case: Data, calls: Any) -> str | None:
    """What the order in which the nodes' ``_backward`` ran shows: an operation that never ran,
    or one that ran before an operation using it had passed it its gradient. None when every
    operation ran once, after all of its users (or when one ran more often: the gradients
    name that)."""
    n_leaves, n_nodes = len(case["leaves"]), len(case["leaves"]) + len(case["ops"])
    if not isinstance(calls, list) or not all(isinstance(k, int) and 0 <= k < n_nodes
                                              for k in calls):
        return None
    counts = np.bincount(np.asarray(calls, dtype=np.int64), minlength=n_nodes)
    if np.any(counts[n_leaves:] > 1):
        return None
    root = n_nodes - 1
    never = [k for k in range(n_leaves, n_nodes) if counts[k] == 0]
    if never and set(calls) <= {root} and counts[root] == 1:
        return ("only the output's _backward() ran, so only its direct inputs got a gradient: "
                "collect every node of the graph in a topological order (a depth-first search "
                f"through _parents) and call each node's _backward(), output first "
                f"({KEPT_STATE_HINT})")
    if never:
        names = ", ".join(_node_name(case, k) for k in never[:3])
        return (f"{len(never)} operation(s) never ran their _backward() ({names}): every node "
                "that the output depends on must enter the order exactly once, and a node may "
                "run only once all the operations using it have (count a node's users, not "
                f"its parents, if you count; {KEPT_STATE_HINT})")
    position = {k: i for i, k in enumerate(calls)}
    for j, (_, *parents) in enumerate(case["ops"]):
        user = n_leaves + j
        for k in {int(p) for p in parents}:
            if k >= n_leaves and position[k] < position[user]:
                if calls and calls[-1] == root:
                    return ("the closures ran leaves first: walk the topological order "
                            "backwards (reversed(order)), so that the output's _backward() runs "
                            "first")
                return (f"{_node_name(case, k)} ran its _backward() before {_node_name(case, user)}"
                        ", which uses it, had passed it its gradient: append a node to the "
                        "order only after all of its parents (post-order, also with an explicit "
                        "stack), then walk the order backwards")
    return None


#: Nodes skipped on a later call: a visited set or an order list kept between calls does that
#: (which nodes it skips depends on which ids Python reuses, so either message may show).
KEPT_STATE_HINT = ("if your backward() passed before and fails on a rerun, it keeps a visited "
                   "set or an order list between calls: create them inside backward")

_BACKWARD_HINTS: tuple[tuple[str, Callable[[Value], None]], ...] = (
    ("no gradient reached any node: set the output's grad to 1.0 (∂f/∂f) before running the "
     "_backward closures", _unseeded),
    ("only the output has a gradient: set root.grad = 1.0 first, then call every node's "
     f"_backward() (with the parentheses), output first ({KEPT_STATE_HINT})", _never_called),
    ("the closures ran leaves first: walk the topological order backwards "
     "(reversed(order)), so that the output's _backward() runs first", _leaves_first),
    ("a node used by several operations passed its gradient on more than once (once per path "
     "to it): keep a visited set so that each node enters the order, and runs its "
     "_backward(), exactly once", _once_per_path),
    ("a node used by several operations entered the order more than once, so its gradient was "
     "passed on more than once: skip nodes already visited", _no_visited_set),
    ("a node passed its gradient on before every operation using it had reported: append a "
     "node to the order only after all of its parents (post-order), then walk it backwards",
     _pre_order),
    ("a node passed its gradient on before every operation using it had reported: a "
     "breadth-first order is not topological; append a node only after all of its parents, "
     "then walk the order backwards", _breadth_first),
)


def _fixed_graphs(rng: np.random.Generator) -> list[dict[str, Any]]:
    """The lesson's tanh(a·b + b) (b used twice), and c = a + b used three times, first by the
    output itself, so that an order that is not topological passes c's gradient on early."""
    a, b = (round(float(rng.uniform(lo, hi)), 2) for lo, hi in ((0.3, 0.8), (-0.9, -0.4)))
    return [
        {"name": "tanh(a·b + b)", "leaves": [a, b],
         "ops": [["mul", 0, 1], ["add", 2, 1], ["tanh", 3, 3]]},
        {"name": "c = a + b; c + (c + c·c)·a", "leaves": [a, b],
         "ops": [["add", 0, 1], ["mul", 2, 2], ["add", 2, 3], ["mul", 4, 0], ["add", 2, 5]]},
    ]


def _random_graph(rng: np.random.Generator, n_leaves: int, n_ops: int) -> dict[str, Any]:
    """A chain of operations in which each also takes an earlier node: binary operations
    alternate with tanh or relu, so values stay of order 1, and the last binary operation
    reuses an intermediate result."""
    leaves = [round(float(rng.uniform(-1.0, 1.0)), 2) for _ in range(n_leaves)]
    ops: list[list[Any]] = []
    for k in range(n_ops):
        n = n_leaves + k
        if k % 2:
            ops.append(["relu" if rng.uniform() < 0.2 else "tanh", n - 1, n - 1])
        else:
            last = k >= n_ops - 2
            other = int(rng.integers(n_leaves, n - 1)) if last and n - 1 > n_leaves \
                else int(rng.integers(0, n))
            pair = [n - 1, other] if rng.uniform() < 0.5 else [other, n - 1]
            ops.append(["mul" if rng.uniform() < 0.5 else "add", *pair])
    return {"name": f"a random graph of {n_leaves + n_ops} nodes", "leaves": leaves, "ops": ops}


def _second_call(rng: np.random.Generator) -> dict[str, Any]:
    """tanh(a·b), then a second graph c·c + a on the same c = a·b, as the lesson's fitting loop
    builds a new graph on the same leaves every step: a backward() that keeps its order or
    visited set between calls gets the second one wrong."""
    a, b = (round(float(rng.uniform(lo, hi)), 2) for lo, hi in ((0.4, 0.9), (-0.9, -0.3)))
    return {"name": "a second graph on nodes of a first one", "leaves": [a, b],
            "ops": [["mul", 0, 1], ["tanh", 2, 2]], "again": [["mul", 2, 2], ["add", 4, 0]]}


def _graphs(rng: np.random.Generator) -> dict[str, Any]:
    """The two fixed graphs, three random ones, then two backward() calls in a row."""
    return {"cases": _fixed_graphs(rng) + [_random_graph(rng, 3, n) for n in (7, 10, 12)]
            + [_second_call(rng)]}


#: What a second call that goes wrong after a right first one means.
_STATEFUL = ("the first backward() was right, but a second one, on a new graph built on nodes of "
             "the first (as the lesson's fitting loop builds one every step), gave wrong "
             "gradients: backward() kept something from the earlier call; create the order "
             "list and the visited set inside backward on every call (not at module level, "
             "and not as a default argument such as order=[])")


def _judge_backward(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    got_cases = per_case(results, len(cases))
    for case, got in zip(cases, got_cases, strict=True):
        if not isinstance(got, dict):
            raise fail("the check received malformed data")
        value(got.get("call"))
        n_nodes = len(case["leaves"]) + len(case["ops"]) + len(case.get("again", []))
        items = got.get("grads")
        if not isinstance(items, list) or len(items) != n_nodes:
            raise fail("the check received malformed data")
        grads = np.array([expect_scalar(item, f"a node's grad in {case['name']}")
                          for item in items], dtype=np.float64)
        want = _grads(case, lambda root: root.backward())
        where = f"on {case['name']} the gradients differ from coursekit.autograd's backward()"
        if close(grads, want, **TOLERANCE):
            continue
        if "again" in case:
            raise fail(_STATEFUL)
        hints = {hint: _grads(case, wrong) for hint, wrong in _BACKWARD_HINTS[:2]}
        order = _order_problem(case, got.get("calls"))
        if order is not None and not any(close(grads, h, **TOLERANCE) for h in hints.values()):
            raise fail(f"{where}: {order}")
        hints = {hint: _grads(case, wrong) for hint, wrong in _BACKWARD_HINTS}
        k = int(np.argmax(~np.isclose(grads, want, **TOLERANCE)))
        node = f"leaf {k}" if k < len(case["leaves"]) else \
            f"node {k} ({case['ops'][k - len(case['leaves'])][0]})"
        otherwise = (f"{where}: {node} should have grad {want[k]:.6g}, got {grads[k]:.6g}; "
                     "each node's _backward() must run once, after every node that uses it")
        if not close(grads[-1], 1.0, **TOLERANCE) and not close(grads, hints[
                _BACKWARD_HINTS[0][0]], **TOLERANCE):
            otherwise = (f"{where}: the output's grad should be 1.0 (∂f/∂f), got "
                         f"{grads[-1]:.6g}")
        raise mistake(grads, hints, otherwise=otherwise, where=where, **TOLERANCE)
    return f"every node's gradient matches coursekit.autograd's on {len(cases)} graphs"


# ---- 05-train-mlp -------------------------------------------------------------------------------

def reference_train_mlp(params: list[Value], model: Callable[[list[float]], Value],
                        X: list[list[float]], y: list[float], steps: int, lr: float
                        ) -> list[float]:
    """Full-batch gradient descent on the mean squared error of ``model``: forward, zero the
    gradients, backward, step; returns the loss before each step."""
    losses = []
    for _ in range(steps):
        loss = sum(((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)), Value(0.0))
        loss = loss / len(X)
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses


def _train_variant(*, zero: str = "before", sign: float = 1.0, mean: bool = True
                   ) -> Callable[..., list[float]]:
    """A training loop with one realistic mistake: gradients never zeroed (``zero="never"``)
    or zeroed between backward and step (``"between"``), a step up the gradient
    (``sign=-1``), the summed rather than the mean loss."""
    def train(params: list[Value], model: Callable[[list[float]], Value],
              X: list[list[float]], y: list[float], steps: int, lr: float) -> list[float]:
        losses = []
        for _ in range(steps):
            loss = sum(((model(x) - t) ** 2 for x, t in zip(X, y, strict=True)), Value(0.0))
            if mean:
                loss = loss / len(X)
            if zero == "before":
                for p in params:
                    p.grad = 0.0
            loss.backward()
            if zero == "between":
                for p in params:
                    p.grad = 0.0
            for p in params:
                p.data -= sign * lr * p.grad
            losses.append(loss.data)
        return losses

    return train


_TRAIN_HINTS = {
    "the gradients were never zeroed, so each step used the sum of all earlier gradients: set "
    "every p.grad = 0.0 before backward": _train_variant(zero="never"),
    "the parameters never changed: either the gradients were zeroed between backward and the "
    "step (zero them before backward), or the step rebound a name instead of changing "
    "p.data in place (p.data -= lr * p.grad)": _train_variant(zero="between"),
    "the step went up the gradient: subtract lr × p.grad": _train_variant(sign=-1.0),
    "that is the summed squared error; the loss is its mean, divided by len(X)":
        _train_variant(mean=False),
}


def _train_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Two small tanh networks (2-3-1 and 2-4-1) on points of two classes (targets ±1), a few
    steps each."""
    cases = []
    for hidden, n, steps, lr in ((3, 6, 5, 0.1), (4, 8, 8, 0.05)):
        layers = [[rng.normal(size=(2, hidden)) / math.sqrt(2), rng.normal(size=hidden) * 0.1],
                  [rng.normal(size=(hidden, 1)) / math.sqrt(hidden), rng.normal(size=1) * 0.1]]
        X = rng.normal(size=(n, 2))
        y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
        cases.append({"layers": [[np.round(W, 3), np.round(b, 3)] for W, b in layers],
                      "X": np.round(X, 3), "y": y, "steps": steps, "lr": lr})
    return {"cases": cases}


def _run_training(case: Data, train: Callable[..., list[float]]) -> tuple[np.ndarray, np.ndarray]:
    params, model = probes.build_mlp(case)
    X = [[float(v) for v in row] for row in case["X"]]
    y = [float(v) for v in case["y"]]
    losses = train(params, model, X, y, int(case["steps"]), float(case["lr"]))
    return (np.array(losses, dtype=np.float64),
            np.array([p.data for p in params], dtype=np.float64))


def _judge_train(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    got_cases = per_case(results, len(cases))
    for case, got in zip(cases, got_cases, strict=True):
        if not isinstance(got, dict):
            raise fail("the check received malformed data")
        steps = int(case["steps"])
        hidden = len(case["layers"][0][1])
        where = f"training a 2-{hidden}-1 network for {steps} steps"
        raw = got.get("losses")
        if isinstance(raw, dict) and raw.get("kind") == "raised" and raw.get("type") == \
                "TypeError" and "keyword argument" in str(raw.get("message")):
            raise fail(f"the lesson calls train_mlp(params, model, X, y, steps=..., lr=...) with "
                       f"these keywords, and yours raised TypeError: {raw.get('message')}: keep "
                       "the parameter names of the stub")
        losses_got = value(raw)
        if losses_got.get("kind") == "array" and losses_got.get("type") == "ndarray" \
                and tuple(losses_got["shape"]) == (steps,):
            values = np.asarray(losses_got["value"], dtype=np.float64)
            losses_got = {"kind": "list", "type": "list", "length": steps,
                          "items": [{"kind": "float", "type": "float", "value": float(v)}
                                    for v in values]}
        if losses_got.get("kind") != "list":
            raise fail(f"{where}: expected the list of the {steps} losses (floats), got "
                       f"{describe(losses_got)}")
        items = losses_got.get("items")
        if not isinstance(items, list) or len(items) != steps or \
                losses_got.get("length") != steps:
            raise fail(f"{where}: expected {steps} losses, one per step, got "
                       f"{losses_got.get('length')}")
        if any(isinstance(item, dict) and item.get("type") == "Value" for item in items):
            raise fail(f"{where}: the losses should be floats, got Values: append loss.data")
        losses = np.array([expect_scalar(item, f"{where}: a loss") for item in items],
                          dtype=np.float64)
        want_losses, want_params = _run_training(case, reference_train_mlp)
        n_params = len(want_params)
        params = expect_array(got.get("params"), (n_params,), f"{where}: the parameters")
        hints = {hint: _run_training(case, wrong) for hint, wrong in _TRAIN_HINTS.items()}
        later = _run_training({**case, "steps": steps + 1}, reference_train_mlp)[0][1:]
        hints["each loss was recorded after its step: record loss.data of the forward pass "
              "that the step used"] = (later, want_params)
        if float(case["lr"]) != LESSON_LR:
            hints[f"the steps used lr={LESSON_LR:g} (the notebook's LR?), not the lr="
                  f"{float(case['lr']):g} passed in: use the lr argument"] = _run_training(
                {**case, "lr": LESSON_LR}, reference_train_mlp)
        if not close(losses, want_losses, **TOLERANCE):
            raise mistake(losses, {hint: h[0] for hint, h in hints.items()},
                          where=f"{where}, the losses differ",
                          otherwise=f"{where}: expected losses {want_losses.round(5).tolist()}, "
                                    f"got {losses.round(5).tolist()}: forward, zero the "
                                    "gradients, backward, step, and record loss.data")
        if not close(params, want_params, **TOLERANCE):
            raise mistake(params, {hint: h[1] for hint, h in hints.items()},
                          where=f"{where}, the losses match but the final parameters differ",
                          otherwise=f"{where}: the losses match but the parameters after the "
                                    "last step differ: take every step, including the last")
    return f"losses and parameters match the reference loop on {len(cases)} networks"


# ---- 05-sigmoid-op ------------------------------------------------------------------------------

def reference_sigmoid(x: Value) -> Value:
    """σ(x) = 1 / (1 + e^(−x)) as one engine operation with derivative σ(x)(1 − σ(x))."""
    s = 1.0 / (1.0 + math.exp(-x.data))
    return x.unary(s, s * (1.0 - s), "sigmoid")


def _points(rng: np.random.Generator) -> dict[str, Any]:
    """Five points across the sigmoid's range (0 exactly, the others drawn from bands), and
    the gradient x holds before the second backward()."""
    bands = ((-3.5, -2.0), (-1.0, -0.2), (0.3, 1.2), (2.0, 3.0))
    drawn = [round(float(rng.uniform(lo, hi)), 2) for lo, hi in bands]
    return {"points": [drawn[0], drawn[1], 0.0, drawn[2], drawn[3]],
            "start_grad": round(float(rng.uniform(1.5, 3.0)), 2)}


def _engine_value(got: Data, x0: float) -> Data:
    got = value(got)
    if got["kind"] != "value":
        raise fail(f"sigmoid(Value({x0})) should return a Value, got {describe(got)}: the "
                   "engine can only differentiate Values")
    if "backward" in got:
        raise fail(f"backward() through sigmoid(Value({x0})) failed: "
                   f"{raised_message(got['backward'])}")
    return got


def _judge_sigmoid(inputs: Data, results: Data) -> str:
    points, start = inputs["points"], float(inputs["start_grad"])
    for x0, got in zip(points, per_case(results, len(points)), strict=True):
        fresh, started = _engine_value(got["fresh"], x0), _engine_value(got["started"], x0)
        s = 1.0 / (1.0 + math.exp(-x0))
        data = expect_scalar(fresh["data"], f"sigmoid(Value({x0})).data")
        diagnose(data, s, {"that is σ(−x); the exponent is e^(−x)": 1.0 / (1.0 + math.exp(x0))},
                 where=f"σ({x0}) should be {s:.4f}, got {data:.4f}", **TOLERANCE)
        local, want = s * (1.0 - s), 3.0 * s * (1.0 - s)
        grad = expect_scalar(fresh["grad"], f"x.grad at x={x0}")
        grad_started = expect_scalar(started["grad"], f"x.grad at x={x0}")
        where = f"d(3·σ(x))/dx at x={x0} should be {want:.4f}, got {grad:.4f}"
        if grad == 0.0 and not close(grad_started, start, **TOLERANCE):
            raise fail(f"{where}, and {grad_started:.4f} when x.grad started at {start:g}: the "
                       "local derivative was multiplied by x.grad (the input's own gradient); "
                       "the chain rule multiplies it by out.grad, the gradient arriving at the "
                       "result")
        if grad == 0.0:
            raise fail(f"{where}: no gradient reached x; build the result from x "
                       "(x.unary(...) or Value operations on x), not a fresh Value(...)")
        diagnose(grad, want, {
            "the local derivative was not multiplied by the gradient arriving from above "
            "(chain rule)": local,
            "σ'(x) is σ(x)·(1 − σ(x)), not σ(x)": 3.0 * s,
            "that uses x·(1 − x); σ'(x) = s·(1 − s) with the output s = σ(x), not the input x":
                3.0 * x0 * (1.0 - x0),
        }, where=where, **TOLERANCE)
        _explain(grad_started, start + want, {
            "x.grad was overwritten instead of added to: gradients accumulate (+=), since x "
            "may feed more than one operation": want,
        }, where=f"with x.grad = {start:g} before backward(), it should end at "
           f"{start + want:.4f}, got {grad_started:.4f}",
            otherwise="add the local derivative × out.grad to x.grad")
        inside = value(got.get("inside"))
        if inside.get("kind") != "value":
            raise fail(f"sigmoid(x + 0.0) should return a Value, got {describe(inside)}")
        grad_inside = expect_scalar(inside.get("grad"), f"x.grad through sigmoid(x + 0.0) at "
                                                        f"x={x0}")
        if not close(grad_inside, want, **TOLERANCE):
            raise fail(f"through sigmoid(x + 0.0) at x={x0}, x.grad should be {want:.4f}, got "
                       f"{grad_inside:.4f}, though sigmoid of a leaf was right: backward() "
                       "reaches a node only through _parents, so the result's _parents must "
                       "include its input (x.unary(...) sets them)")
    return f"σ and its gradient match at {len(points)} points"


# ---- 05-predict ---------------------------------------------------------------------------------

_FORWARD_SHAPES = ((7, 4, 5), (12, 30, 10), (1, 3, 2))  # (rows, inputs, hidden units)


def _classifier_arrays(rng: np.random.Generator, n_inputs: int, n_hidden: int
                       ) -> dict[str, np.ndarray]:
    """Kaiming-scaled weights and biases that are not zero, so a forgotten bias shows."""
    def normal(scale: float, *shape: int) -> np.ndarray:
        return (rng.normal(size=shape) * scale).astype(np.float32)

    return {"w_hidden": normal(math.sqrt(2.0 / n_inputs), n_inputs, n_hidden),
            "b_hidden": normal(0.5, n_hidden),
            "w_out": normal(math.sqrt(1.0 / n_hidden), n_hidden, 1),
            "b_out": normal(0.5, 1)}


def _forward_cases(rng: np.random.Generator) -> dict[str, Any]:
    """Three cases of fixed shapes (7, 12 and 1 rows) with drawn values."""
    return {"cases": [{"coeffs": _classifier_arrays(rng, n_inputs, n_hidden),
                       "X": rng.normal(size=(n, n_inputs)).astype(np.float32)}
                      for n, n_inputs, n_hidden in _FORWARD_SHAPES]}


def _tensors(case: Data) -> tuple[ref05.Coeffs, torch.Tensor]:
    coeffs = ref05.Coeffs(*(torch.tensor(np.asarray(case["coeffs"][name], dtype=np.float32))
                            for name in ref05.Coeffs._fields))
    return coeffs, torch.tensor(np.asarray(case["X"], dtype=np.float32))


def _logit_variants(case: Data) -> dict[str, np.ndarray]:
    """The logits, and those of two realistic mistakes: no ReLU (a linear model), no biases."""
    c, X = _tensors(case)
    with torch.no_grad():
        variants = {"logits": ref05.calc_logits(c, X),
                    "linear": ((X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out)[:, 0],
                    "no_bias": (torch.relu(X @ c.w_hidden) @ c.w_out)[:, 0]}
    return {name: t.double().numpy() for name, t in variants.items()}


def _per_row(got: Data, n: int, what: str) -> np.ndarray:
    """``got`` as a float64 array of shape (n,), or a failure that names the shape mistake."""
    got = value(got)
    shape = tuple(got["shape"]) if got["kind"] == "array" else None
    if shape == (n, 1) and n > 1:
        raise fail(f"{what}: expected shape ({n},), got ({n}, 1): one number per row; drop the "
                   "last axis (squeeze(1) or [:, 0])")
    if shape == () and n == 1:
        raise fail(f"{what}: expected shape (1,), got (): squeeze() also drops the row axis "
                   "when there is one row; use squeeze(1) or [:, 0]")
    return expect_array(got, (n,), what)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _judge_predict(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    if not isinstance(data, dict):
        raise fail("the check received malformed data")
    value(data)  # the probe itself failed
    relu_hint = "the hidden layer needs its ReLU, or the network is just a linear model"
    bias_hint = "add the biases b_hidden and b_out"
    if data["logits"] is not None:
        for case, got in zip(cases, per_case(data["logits"], len(cases)), strict=True):
            n, n_hidden = len(case["X"]), len(case["coeffs"]["b_hidden"])
            logits = _per_row(got, n, f"calc_logits on {n} rows")
            if value(got).get("type") != "Tensor" or value(got).get("requires_grad") is not True:
                raise fail(f"calc_logits on {n} rows returned {describe(got)} that is not "
                           "connected to the coefficients (requires_grad is False): calc_loss "
                           "and its backward() need the graph, so return a tensor computed "
                           "from the coefficients (no torch.no_grad(), no .detach(), no "
                           ".numpy())")
            v = _logit_variants(case)
            _explain(logits, v["logits"], {
                "these are probabilities; calc_logits returns the scores before the sigmoid":
                    _sigmoid(v["logits"]),
                relu_hint: v["linear"],
                bias_hint: v["no_bias"],
            }, where=f"calc_logits on {n} rows with {n_hidden} hidden units differs",
                otherwise=f"expected {v['logits'][:3].round(4)}…, got {logits[:3].round(4)}…")
    for case, got in zip(cases, per_case(data["preds"], len(cases)), strict=True):
        n, n_hidden = len(case["X"]), len(case["coeffs"]["b_hidden"])
        preds = _per_row(got, n, f"probabilities for {n} rows")
        v = _logit_variants(case)
        want = _sigmoid(v["logits"])
        _explain(preds, want, {
            "these are the logits; apply torch.sigmoid to get probabilities": v["logits"],
            relu_hint: _sigmoid(v["linear"]),
            bias_hint: _sigmoid(v["no_bias"]),
        }, where=f"on {n} rows with {n_hidden} hidden units the probabilities differ",
            otherwise=f"expected {want[:3].round(4)}…, got {preds[:3].round(4)}…")
    what = "logits and probabilities" if data["logits"] is not None else "probabilities"
    return f"{what} match the reference on {len(cases)} cases"


# ---- 05-loss -----------------------------------------------------------------------------------

#: The largest |logit| of the case with confident predictions: past 88.7, e^(−z) overflows in
#: float32, and past about 17 the sigmoid rounds to exactly 0 or 1.
_EXTREME_LOGIT = 110.0
_CONFIDENT = f"8 rows with logits up to ±{_EXTREME_LOGIT:g}"


def _confident_case(rng: np.random.Generator) -> dict[str, Any]:
    """8 rows whose logits reach ±110, the most confident one of each sign misclassified."""
    coeffs = _classifier_arrays(rng, 3, 6)
    X = rng.normal(size=(8, 3)).astype(np.float32)
    hidden = np.maximum(X.astype(np.float64) @ coeffs["w_hidden"] + coeffs["b_hidden"], 0.0)
    z = hidden @ coeffs["w_out"][:, 0]
    shift = -(float(z.max()) + float(z.min())) / 2.0  # from −110 to +110
    scale = _EXTREME_LOGIT / float(np.abs(z + shift).max())
    coeffs["w_out"] = (coeffs["w_out"] * scale).astype(np.float32)
    coeffs["b_out"] = np.array([shift * scale], dtype=np.float32)
    z = scale * (z + shift)
    y = (z > 0).astype(np.float32)  # right, except for the two most confident rows
    y[int(np.argmax(z))], y[int(np.argmin(z))] = 0.0, 1.0
    return {"name": _CONFIDENT, "kind": "bce", "coeffs": coeffs, "X": X, "y": y}


def _loss_cases(rng: np.random.Generator) -> dict[str, Any]:
    """The cross-entropy with no kind given, on logits of the lesson's size; then kind="bce"
    on confident logits; then kind="mae"."""
    cases = []
    for name, kind, (n, n_inputs, n_hidden) in (("12 rows", None, (12, 5, 4)),
                                                 ("10 rows", "mae", (10, 4, 5))):
        cases.append({"name": name, "kind": kind,
                      "coeffs": _classifier_arrays(rng, n_inputs, n_hidden),
                      "X": rng.normal(size=(n, n_inputs)).astype(np.float32),
                      "y": (rng.uniform(size=n) < 0.5).astype(np.float32)})
    return {"cases": [cases[0], _confident_case(rng), cases[1]]}


def _grad_of(tensor: torch.Tensor) -> np.ndarray:
    """A leaf's gradient after backward, as float64."""
    if tensor.grad is None:
        raise RuntimeError("the reference loss did not reach every coefficient")
    return tensor.grad.double().numpy()


def _loss_reference(case: Data) -> tuple[float, list[np.ndarray], dict[str, float]]:
    """The reference loss, every coefficient's gradient, and what realistic mistakes give."""
    coeffs, X = _tensors(case)
    coeffs = ref05.Coeffs(*(c.requires_grad_() for c in coeffs))
    y = torch.tensor(np.asarray(case["y"], dtype=np.float32))
    loss = ref05.calc_loss(coeffs, X, y, case["kind"] or "bce")
    loss.backward()
    grads = [_grad_of(c) for c in coeffs]
    with torch.no_grad():
        z = ref05.calc_logits(coeffs, X)
        p = torch.sigmoid(z)
        bce = F.binary_cross_entropy_with_logits(z, y)
        mae = (p - y).abs().mean()
        wrong = {
            "bce": bce, "mae": mae, "sum": loss * len(y), "negative": -loss,
            "from_p": F.binary_cross_entropy(p, y),
            "twice": F.binary_cross_entropy_with_logits(p, y),
            "swapped": F.binary_cross_entropy_with_logits(y, z),
            "one_term": (y * F.softplus(-z)).mean(),
            "broadcast": F.binary_cross_entropy_with_logits(
                z[:, None].expand(len(y), len(y)), y[None, :].expand(len(y), len(y))),
            "no_sigmoid": (z - y).abs().mean(), "no_abs": (p - y).mean(),
            "squared": ((p - y) ** 2).mean(),
        }
    return loss.item(), grads, {name: t.item() for name, t in wrong.items()}


def _loss_value(got: Data, n: int, what: str) -> float:
    """The one number a loss holds, or a failure that names what was returned instead."""
    got = value(got)
    if got["kind"] in ("int", "float"):
        raise fail(f"{what}: got {describe(got)}, not a tensor: return the loss tensor itself "
                   "(no .item()), since the caller calls loss.backward() on it")
    if got["kind"] != "array":
        raise fail(f"{what}: expected a 0-d tensor, got {describe(got)}")
    shape = tuple(got["shape"])
    if shape == (n,):
        raise fail(f"{what}: expected one number (a 0-d tensor), got shape {shape}, a loss per "
                   "row: take their mean")
    if shape in ((n, n), (n, n, 1)) and n > 1:
        raise fail(f"{what}: expected one number, got shape {shape}: logits of shape ({n}, 1) "
                   f"against targets of shape ({n},) broadcast to every logit against every "
                   "target; use calc_logits, whose logits have shape (n,)")
    if shape != ():
        raise fail(f"{what}: expected one number, a 0-d tensor (a .mean() over the rows), got "
                   f"shape {shape}")
    if got.get("type") != "Tensor":
        raise fail(f"{what}: expected a torch tensor connected to the coefficients, got "
                   f"{describe(got)}: compute the loss with torch operations on calc_logits")
    return float(got["value"])


def _judge_loss(inputs: Data, results: Data) -> str:
    cases = inputs["cases"]
    got_cases = per_case(results, len(cases))
    for case, got in zip(cases, got_cases, strict=True):
        if not isinstance(got, dict):
            raise fail("the check received malformed data")
        n, kind = len(case["y"]), case["kind"]
        call = ("calc_loss(coeffs, X, y)" if kind is None else
                f'calc_loss(coeffs, X, y, "{kind}")') + f" on {case['name']}"
        loss = _loss_value(got.get("loss"), n, call)
        want, want_grads, v = _loss_reference(case)
        if not math.isfinite(loss):
            raise fail(f"{call} gave {loss}: with logits this large, σ(z) rounds to exactly 0 "
                       "or 1 and log gives −inf (or e^(−z) overflows); use the rounding-safe "
                       "form max(z, 0) − z·y + log(1 + e^(−|z|)), or "
                       "F.binary_cross_entropy_with_logits, on the logits")
        where = f"{call} should be {want:.6g}, got {loss:.6g}"
        sum_hint = "that is the sum over the rows; the loss is their mean (.mean())"
        if kind == "mae":
            hints = {sum_hint: v["sum"],
                     "the sigmoid is missing: the mean absolute error compares the "
                     "probabilities σ(z) with y, not the logits": v["no_sigmoid"],
                     "the absolute value is missing, so errors of opposite signs cancel: "
                     "mean |σ(z) − y|": v["no_abs"],
                     "that is the mean squared error; take |σ(z) − y|": v["squared"],
                     'that is the cross-entropy: kind="mae" asks for the mean absolute error '
                     "of the probabilities": v["bce"]}
        else:
            hints = {sum_hint: v["sum"],
                     "the sign is flipped: cross-entropy is −[y·log p + (1 − y)·log(1 − p)], "
                     "a positive number": v["negative"],
                     "that is the cross-entropy of the probabilities p = σ(z): where σ rounds "
                     "to exactly 0 or 1 its log is −inf (F.binary_cross_entropy clamps it to "
                     "−100); compute it from the logits, with the rounding-safe form or "
                     "F.binary_cross_entropy_with_logits": v["from_p"],
                     "the sigmoid was applied twice: the rounding-safe form (and "
                     "F.binary_cross_entropy_with_logits) takes the logits z, not the "
                     "probabilities": v["twice"],
                     "the arguments are swapped: F.binary_cross_entropy_with_logits(logits, y) "
                     "takes the logits first": v["swapped"],
                     "only the y·log p term is there: add (1 − y)·log(1 − p), which is what "
                     "the rows with y = 0 contribute": v["one_term"],
                     f"logits of shape ({n}, 1) against targets of shape ({n},) broadcast to "
                     "every logit against every target: use calc_logits, whose logits have "
                     "shape (n,)": v["broadcast"],
                     ("that is the mean absolute error: with no kind given, calc_loss computes "
                      'the cross-entropy (the default is kind="bce")' if kind is None else
                      'that is the mean absolute error; kind="bce" asks for the cross-entropy'):
                         v["mae"]}
        otherwise = f"{where}: check the formula against the lesson's, and take the mean " \
            "over the rows"
        if case["name"] == _CONFIDENT:  # after the first case, which has ordinary logits
            otherwise = (f"{where}: right on ordinary logits, wrong on confident ones, where "
                         "σ(z) rounds to exactly 0 or 1 (a clamp or an ε inside the log only "
                         "hides that); compute it from the logits with the rounding-safe form "
                         "max(z, 0) − z·y + log(1 + e^(−|z|))")
        if not close(loss, want, **TOLERANCE):
            raise mistake(loss, hints, where=where, otherwise=otherwise, **TOLERANCE)
        described = value(got["loss"])
        if described.get("requires_grad") is not True:
            raise fail(f"{call}: the value is right, but the loss is not connected to the "
                       "coefficients (requires_grad is False), so backward() cannot reach them: "
                       "don't compute it under torch.no_grad(), .detach() it or rebuild it "
                       "with torch.tensor(...)")
        before = got.get("grads_before")
        if not isinstance(before, list) or len(before) != len(ref05.Coeffs._fields):
            raise fail("the check received malformed data")
        if any(flag is not False for flag in before):
            raise fail(f"{call}: the coefficients already had gradients when calc_loss "
                       "returned: calc_loss only computes the loss; the caller calls "
                       "loss.backward() (and one_epoch does, once per step)")
        if "backward" in got:
            raise fail(f"{call}: loss.backward() failed: {raised_message(got['backward'])}")
        grads = got.get("grads")
        if not isinstance(grads, list) or len(grads) != len(want_grads):
            raise fail("the check received malformed data")
        for name, grad, want_grad in zip(ref05.Coeffs._fields, grads, want_grads, strict=True):
            if isinstance(grad, dict) and grad.get("kind") == "none":
                problem = f"no gradient reached {name}"
            else:
                got_grad = expect_array(grad, want_grad.shape, f"{name}.grad")
                # float32 sums of large terms may cancel to near 0 in one entry: the absolute
                # tolerance scales with the gradient's largest entry
                atol = TOLERANCE["atol"] + TOLERANCE["rtol"] * float(np.abs(want_grad).max())
                if close(got_grad, want_grad, rtol=TOLERANCE["rtol"], atol=atol):
                    continue
                problem = f"the gradient of {name} differs"
            raise fail(f"{call}: the value is right but {problem}: part of the computation "
                       "left the graph (.detach(), .data, .item() or torch.tensor(...) in the "
                       "middle)")
    return (f"cross-entropy (also on logits up to ±{_EXTREME_LOGIT:g}), mean absolute error "
            f"and their gradients match the reference on {len(cases)} cases")


# ---- 05-update ----------------------------------------------------------------------------------

def _update_case(rng: np.random.Generator) -> dict[str, Any]:
    """A 4-6-1 classifier and gradients for every coefficient, with a drawn learning rate that
    is not the lesson's LR = 0.3 (a rate written in, or the notebook's, shows)."""
    coeffs = _classifier_arrays(rng, 4, 6)
    grads = {name: (rng.normal(size=a.shape) * 0.2).astype(np.float32)
             for name, a in coeffs.items()}
    return {"lr": round(float(rng.uniform(0.05, 0.2)), 3), "coeffs": coeffs, "grads": grads}


#: The learning rate of the lesson's training cells (a global LR there).
LESSON_LR = 0.3


def _judge_update(inputs: Data, data: Data) -> str:
    if not isinstance(data, dict):
        raise fail("the check received malformed data")
    value(data)  # the probe itself failed
    call = data["call"]
    if call.get("kind") == "raised" and call.get("type") == "RuntimeError" \
            and data.get("fine_under_no_grad") is True:
        raise fail(IN_PLACE_HINT)
    if call.get("kind") == "raised" and call.get("type") == "AttributeError" \
            and call.get("on_none") is True and not call.get("stub"):
        raise fail("c.grad is None: after `c = c - lr * c.grad` the loop variable c is a new "
                   "tensor with no gradient, and the coefficient is unchanged; update the "
                   "tensor in place with `c -= lr * c.grad`")
    value(call)
    lr = float(inputs["lr"])
    unchanged = [name for name in ref05.Coeffs._fields
                 if data["coeffs"][name]["value"].get("kind") == "array" and np.array_equal(
                     np.asarray(data["coeffs"][name]["value"]["value"], dtype=np.float64),
                     np.asarray(inputs["coeffs"][name], dtype=np.float64))]
    if unchanged and len(unchanged) < len(ref05.Coeffs._fields):
        raise fail(f"{' and '.join(unchanged)} did not change while the other coefficients "
                   "stepped: the loop skipped some (coeffs[:-1], range(len(coeffs) - 1)?); "
                   "step every coefficient")
    for name in ref05.Coeffs._fields:
        got = data["coeffs"][name]
        before = np.asarray(inputs["coeffs"][name], dtype=np.float64)
        grad = np.asarray(inputs["grads"][name], dtype=np.float64)
        if got["requires_grad"] is not True or got["is_leaf"] is not True:
            raise fail(f"{name} no longer is a leaf that requires grad: update it in place "
                       "(c -= ...) under torch.no_grad(), don't replace it")
        now = expect_array(got["value"], before.shape, name)
        if np.array_equal(now, before):
            raise fail(f"{name} did not change: either `c = c - lr * c.grad` only rebinds the "
                       "loop variable (update in place with `c -= lr * c.grad`), or the "
                       "gradient was zeroed before it was used (step first, then "
                       "c.grad.zero_())")
        want = before - lr * grad
        if close(now, before + lr * grad, **TOLERANCE) and not close(now, want, **TOLERANCE):
            raise fail(f"{name} moved up the gradient: subtract lr × grad")
        if close(now, before - LESSON_LR * grad, **TOLERANCE):
            raise fail(f"{name} stepped by {LESSON_LR:g} × grad, not by the lr={lr:g} passed in: "
                       "use the lr argument (not the notebook's LR or a number written in)")
        if not close(now, want, **TOLERANCE):
            raise fail(f"{name} should be old − {lr:g} × grad; it differs by up to "
                       f"{np.abs(now - want).max():.4g}")
        if got["grad"]["kind"] != "none" and np.any(
                expect_array(got["grad"], before.shape, f"{name}.grad") != 0):
            raise fail(f"{name}.grad is not zero after the step: the next backward() would "
                       "add to it; call c.grad.zero_() after using it")
    return "every coefficient stepped against its gradient, and gradients are zero"


BACKWARD = Exercise("05-backward", _graphs, probes.backward_graphs, _judge_backward,
                    implemented_by=(_dotted(Value.backward), _dotted(Value.graph)),
                    names=("backward",))
TRAIN_MLP = Exercise("05-train-mlp", _train_cases, probes.train_runs, _judge_train,
                     names=("train_mlp",))
SIGMOID_OP = Exercise("05-sigmoid-op", _points, probes.sigmoid_points, _judge_sigmoid,
                      names=("sigmoid",))
PREDICT = Exercise("05-predict", _forward_cases, probes.forward_cases, _judge_predict,
                   implemented_by=(_dotted(ref05.calc_preds), _dotted(ref05.calc_logits)),
                   names=("calc_preds", "calc_logits"))
LOSS = Exercise("05-loss", _loss_cases, probes.loss_cases, _judge_loss,
                implemented_by=(_dotted(ref05.calc_loss),),
                names=("calc_loss",))
UPDATE = Exercise("05-update", _update_case, probes.update_step, _judge_update,
                  implemented_by=(_dotted(ref05.update_coeffs),),
                  names=("update_coeffs",))
EXERCISES = registry(BACKWARD, TRAIN_MLP, SIGMOID_OP, PREDICT, LOSS, UPDATE)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def backward(backward: Callable[[Value], Any]) -> None:
    """Check ``backward(root)``: after it, every node of root's graph holds d(root)/d(node)."""
    BACKWARD.check(backward)


def train_mlp(train: Callable[..., Any]) -> None:
    """Check ``train_mlp(params, model, X, y, steps, lr)``: full-batch gradient descent with the
    student's engine; its losses and final parameters against the reference loop's."""
    TRAIN_MLP.check(train)


def sigmoid_op(sigmoid: Callable[[Value], Value]) -> None:
    """Check ``sigmoid(x: Value) -> Value``: its value, and the gradient that flows through it."""
    SIGMOID_OP.check(sigmoid)


def predict(calc_preds: Callable[[Any, torch.Tensor], Any],
            calc_logits: Callable[[Any, torch.Tensor], Any] | None = None) -> None:
    """Check ``calc_preds(coeffs, X)`` returns the probabilities, shape (n_samples,).

    With ``calc_logits``, first check that it returns the logits (the scores before the
    sigmoid), shape (n_samples,).
    """
    PREDICT.check(calc_preds, calc_logits)


def loss(calc_loss: Callable[..., Any]) -> None:
    """Check ``calc_loss(coeffs, X, y, kind="bce")``: the mean cross-entropy from the logits
    (rounding-safe on confident logits) or the mean absolute error, a 0-d tensor whose
    gradients reach every coefficient."""
    LOSS.check(calc_loss)


def update(update_coeffs: Callable[[Any, float], Any]) -> None:
    """Check ``update_coeffs(coeffs, lr)``: a step against the gradient, in place, grads zeroed."""
    UPDATE.check(update_coeffs)
