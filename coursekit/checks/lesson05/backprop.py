"""05-backward: the scalar engine's backward(), judged on every node's gradient and on the
order in which the nodes' ``_backward`` closures ran."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.autograd import Value
from coursekit.checks.lesson05._shared import TOLERANCE, dotted, through
from coursekit.exercise import Exercise, Mistake, Rule, fail, named, rules, view
from coursekit.exercise.judging import Data, close, expect_scalar, results
from coursekit.exercise.mistakes import described
from coursekit.probes import lesson05 as probes


def reference_backward(root: Value) -> None:
    """Every node's d(root)/d(node), on a graph whose gradients start at 0: a post-order
    depth-first search puts each node after its parents, then the closures run output first."""
    root.grad = 1.0
    for node in reversed(_post_order(root)):
        node._backward()


# Realistic wrong versions: the judge runs them on the same graph to name what a student's
# gradients show. Like a student's, they cannot call root.graph() or root.backward().
def _post_order(root: Value) -> list[Value]:
    """Each node after its parents (a depth-first visit): what root.graph() gives."""
    order: list[Value] = []
    seen: set[int] = set()

    def visit(node: Value) -> None:
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node._parents:
                visit(parent)
            order.append(node)

    visit(root)
    return order


def _unseeded(root: Value) -> None:
    for node in reversed(_post_order(root)):
        node._backward()


def _never_called(root: Value) -> None:
    root.grad = 1.0


def _leaves_first(root: Value) -> None:
    root.grad = 1.0
    for node in _post_order(root):
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


#: Nodes skipped on a later call: a visited set or an order list kept between calls does that
#: (which nodes it skips depends on which ids Python reuses, so either message may show).
KEPT_STATE_HINT = ("if your backward() passed before and fails on a rerun, it keeps a visited "
                   "set or an order list between calls: create them inside backward")
_POST_ORDER = ("append a node to the order only after all of its parents (post-order, also with "
               "an explicit stack), then walk the order backwards")
_BACKWARDS = ("walk the topological order backwards (reversed(order)), so that the output's "
              "_backward() runs first")
# Both pairs give the same gradients on some graphs: one message each.
_MORE_THAN_ONCE = ("a node used by several operations passed its gradient on more than once "
                   "(once per path to it): keep a visited set so that each node enters the "
                   "order, and runs its _backward(), exactly once")
_NOT_TOPOLOGICAL = ("a depth-first order that lists a node before its parents, or a breadth-first "
                    f"one, is not topological; {_POST_ORDER}")

#: Each known wrong backward(); when the order the closures ran in shows more (which node ran
#: too early), the judge says that first.
MISTAKES = [
    Mistake("no gradient reached any node: set the output's grad to 1.0 (∂f/∂f) before running "
            "the _backward closures", _unseeded),
    Mistake("only the output has a gradient: set root.grad = 1.0 first, then call every node's "
            f"_backward() (with the parentheses), output first ({KEPT_STATE_HINT})",
            _never_called),
    Mistake(_BACKWARDS, _leaves_first),
    Mistake(_MORE_THAN_ONCE, _once_per_path),
    Mistake(_MORE_THAN_ONCE, _no_visited_set),
    Mistake(_NOT_TOPOLOGICAL, _pre_order),
    Mistake(_NOT_TOPOLOGICAL, _breadth_first),
]


def grads(case: Data, algorithm: Callable[[Value], None]) -> np.ndarray:
    """Every node's gradient after ``algorithm(output)`` on a fresh copy of the graph (after
    ``probes.two_calls`` for a case with a second graph)."""
    if "again" in case:
        nodes, _ = probes.two_calls(case, algorithm, seal=False)
    else:
        nodes = probes.build_graph(case)
    algorithm(nodes[-1])
    return np.array([node.grad for node in nodes], dtype=np.float64)


_NAMED = through(MISTAKES, lambda wrong, case: grads(case, wrong), lambda case: (case,))


def _node_name(case: Data, k: int) -> str:
    n_leaves = len(case["leaves"])
    return f"leaf {k}" if k < n_leaves else f"node {k} ({case['ops'][k - n_leaves][0]})"


def _order_problem(case: Data, calls: Any) -> tuple[str, str] | None:
    """What the order in which the nodes' ``_backward`` ran shows, and what to do: an operation
    that never ran, or one that ran before an operation using it had passed it its gradient.
    None when every operation ran once, after all of its users (or when one ran more often:
    the gradients name that)."""
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
        return ("only the output's _backward() ran, so only its direct inputs got a gradient",
                "collect every node of the graph in a topological order (a depth-first search "
                f"through _parents) and call each node's _backward(), output first "
                f"({KEPT_STATE_HINT})")
    if never:
        names = ", ".join(_node_name(case, k) for k in never[:3])
        return (f"{len(never)} operation(s) never ran their _backward() ({names})",
                "every node that the output depends on must enter the order exactly once, and a "
                "node may run only once all the operations using it have (count a node's users, "
                f"not its parents, if you count; {KEPT_STATE_HINT})")
    position = {k: i for i, k in enumerate(calls)}
    for j, (_, *parents) in enumerate(case["ops"]):
        user = n_leaves + j
        for k in {int(p) for p in parents}:
            if k >= n_leaves and position[k] < position[user]:
                if calls and calls[-1] == root:
                    return "the closures ran leaves first", _BACKWARDS
                return (f"{_node_name(case, k)} ran its _backward() before "
                        f"{_node_name(case, user)}, which uses it, had passed it its gradient",
                        _POST_ORDER)
    return None


#: What a second call that goes wrong after a right first one means.
STATEFUL = ("the first backward() was right, but a second one, on a new graph built on nodes of "
            "the first (as the lesson's fitting loop builds one every step), gave wrong "
            "gradients: backward() kept something from the earlier call; create the order "
            "list and the visited set inside backward on every call (not at module level, "
            "and not as a default argument such as order=[])")


def _each_graph(inputs: Data, data: Data) -> None:
    cases = inputs["cases"]
    for case, raw in zip(cases, results(data, len(cases)), strict=True):
        got = view(raw)
        view(got.get("call"))  # fails when backward raised
        n_nodes = len(case["leaves"]) + len(case["ops"]) + len(case.get("again", []))
        items = got.get("grads")
        if not isinstance(items, list) or len(items) != n_nodes:
            raise fail("the check received malformed data")
        answer = np.array([expect_scalar(item, f"a node's grad in {case['name']}")
                           for item in items], dtype=np.float64)
        want = grads(case, lambda root: root.backward())
        if close(answer, want, **TOLERANCE):
            continue
        if "again" in case:
            raise fail(STATEFUL)
        where = f"on {case['name']} the gradients differ from coursekit.autograd's backward()"
        message = named(described(answer), _NAMED, (case,), TOLERANCE)
        order = _order_problem(case, got.get("calls"))
        if order is not None:
            raise fail(f"{where}: {order[0]}: {message or order[1]}")
        if message is not None:
            raise fail(f"{where}: {message}")
        if not close(answer[-1], 1.0, **TOLERANCE):
            raise fail(f"{where}: the output's grad should be 1.0 (∂f/∂f), got {answer[-1]:.6g}")
        k = int(np.argmax(~np.isclose(answer, want, **TOLERANCE)))
        raise fail(f"{where}: {_node_name(case, k)} should have grad {want[k]:.6g}, got "
                   f"{answer[k]:.6g}; each node's _backward() must run once, after every node "
                   "that uses it")


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


def graphs(rng: np.random.Generator) -> dict[str, Any]:
    """The two fixed graphs, three random ones, then two backward() calls in a row."""
    return {"cases": _fixed_graphs(rng) + [_random_graph(rng, 3, n) for n in (7, 10, 12)]
            + [_second_call(rng)]}


backward = Exercise(
    "05-backward", graphs, probes.backward_graphs,
    rules(Rule("every node's gradient matches coursekit.autograd's, each known mistake and "
               "misordered closure named", _each_graph),
          passed="every node's gradient matches coursekit.autograd's on 6 graphs"),
    implemented_by=(dotted(Value.backward), dotted(Value.graph)), names=("backward",),
    mistakes=tuple(MISTAKES), student=lambda wrong: (wrong,), arguments=lambda case: (case,))
