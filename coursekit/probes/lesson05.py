"""Probes of lesson 05: the student's backward() and sigmoid on engine Values, the forward pass,
the loss and the update of the bare-tensor classifier."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from coursekit.autograd import Value
from coursekit.exercise.probing import (
    attempt,
    attempt_keeping,
    copies_of,
    describe_value,
    guarded,
    kept,
    raised,
)


class Coeffs(NamedTuple):
    """The classifier's four tensors as the lesson's functions receive them (a tuple that also
    answers ``coeffs.w_hidden``)."""

    w_hidden: torch.Tensor
    b_hidden: torch.Tensor
    w_out: torch.Tensor
    b_out: torch.Tensor


def _coeffs(arrays: dict[str, Any]) -> Coeffs:
    """Leaf tensors that require grad, float32 as in the lesson, rebuilt from plain arrays."""
    return Coeffs(*(torch.tensor(np.array(arrays[name], dtype=np.float32)).requires_grad_()
                    for name in Coeffs._fields))


#: The operations a graph description may use, each building one engine node from its operands.
GRAPH_OPS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "tanh": lambda a, _: a.tanh(),
    "relu": lambda a, _: a.relu(),
}


def build_graph(case: dict[str, Any]) -> list[Value]:
    """Fresh engine nodes for a graph description, every gradient 0, the output last.

    ``case["leaves"]`` holds the leaves' numbers; each of ``case["ops"]`` is ``[op, i, j]``, a
    new node ``GRAPH_OPS[op](node i, node j)`` (``j`` is ignored by one-input operations), where
    nodes are numbered leaves first, then results in order. An index may appear many times:
    that is a node used by several operations.
    """
    nodes = [Value(float(x)) for x in case["leaves"]]
    for op, i, j in case["ops"]:
        nodes.append(GRAPH_OPS[str(op)](nodes[int(i)], nodes[int(j)]))
    return nodes


def _logged(nodes: list[Value], calls: list[int]) -> None:
    """Make every node's ``_backward`` append the node's number to ``calls`` when it runs."""
    for k, node in enumerate(nodes):
        def run(k: int = k, inner: Any = node._backward) -> None:
            if len(calls) < 10_000:
                calls.append(k)
            inner()

        node._backward = run


#: What a node of 05-backward's graphs says when the student's backward calls the engine's own.
SHORTCUT = ("05-backward asks you to write backpropagation yourself, so the engine's own {name}() "
            "is switched off in this check: order the nodes yourself (a depth-first visit of "
            "_parents) and call each node's _backward()")


class _Sealed(Value):
    """A Value whose ``backward()`` and ``graph()`` refuse to run (the exercise's spec)."""

    __slots__ = ()

    def graph(self) -> list[Value]:
        raise RuntimeError(SHORTCUT.format(name="graph"))

    def backward(self) -> None:
        raise RuntimeError(SHORTCUT.format(name="backward"))


def _sealed(nodes: list[Value]) -> list[Value]:
    for node in nodes:
        node.__class__ = _Sealed
    return nodes


def _grads(nodes: list[Value]) -> list[dict[str, Any]]:
    return [describe_value(node.grad) for node in nodes]


def two_calls(case: dict[str, Any], backward: Any, *,
              seal: bool = True) -> tuple[list[Value], Any]:
    """``backward`` on the case's graph, then, as the lesson's fitting loop does, on a second
    graph built on nodes of the first (``case["again"]``, numbered on after the first graph's
    nodes): the reused nodes' gradients are reset to 0 first; the first graph's other nodes
    keep theirs. Returns every node, and what the first call raised (or None). ``seal``: the
    nodes refuse ``backward()`` and ``graph()`` (the probe's; the judge runs the engine's)."""
    nodes = build_graph(case)
    nodes = _sealed(nodes) if seal else nodes
    first = attempt(backward, nodes[-1])
    if first["kind"] == "raised":
        return nodes, first
    reused = {int(i) for _, *pair in case["again"] for i in pair if int(i) < len(nodes)}
    for i in reused | set(range(len(case["leaves"]))):
        nodes[i].grad = 0.0
    for op, i, j in case["again"]:
        nodes.append(GRAPH_OPS[str(op)](nodes[int(i)], nodes[int(j)]))
    return (_sealed(nodes) if seal else nodes), None


@guarded
def backward_graphs(inputs: dict[str, Any], backward: Any) -> Any:
    """On a fresh copy of every graph: ``backward(output)``, then every node's ``grad`` (leaves
    first, the output last) and the order in which the nodes' ``_backward`` ran, or what the
    call raised. A case with ``"again"`` runs :func:`two_calls` first. Every graph stays alive
    until the end, so no node shares an ``id`` with an earlier one."""
    if not callable(backward):
        return {"kind": "not_callable", "got": describe_value(backward)}
    results: list[dict[str, Any]] = []
    alive: list[list[Value]] = []
    for case in inputs["cases"]:
        if "again" in case:
            nodes, raised_first = two_calls(case, backward)
            if raised_first is not None:
                results.append({"call": raised_first})
                continue
        else:
            nodes = _sealed(build_graph(case))
        alive.append(nodes)
        calls: list[int] = []
        _logged(nodes, calls)
        call = attempt(backward, nodes[-1])
        if call["kind"] == "raised":
            results.append({"call": call})
            continue
        results.append({"call": {"kind": "none"}, "grads": _grads(nodes), "calls": calls})
    return results


def build_mlp(case: dict[str, Any]) -> tuple[list[Value], Any]:
    """Fresh parameters of a tanh MLP with a linear output, and ``model(x) -> Value``.

    ``case["layers"]`` lists ``[W, b]`` per layer, ``W`` of shape (n_in, n_out) and ``b`` of
    shape (n_out,) as nested lists; ``x`` is a list of floats. Every weight and bias becomes
    one leaf Value; the parameters come back in the order weights row by row, then biases,
    layer by layer.
    """
    layers = [([[Value(float(w)) for w in row] for row in W], [Value(float(v)) for v in b])
              for W, b in case["layers"]]
    params = [p for W, b in layers for p in [*(w for row in W for w in row), *b]]

    def model(x: Any) -> Value:
        h: list[Any] = list(x)
        for k, (W, b) in enumerate(layers):
            z = [sum((h[i] * W[i][j] for i in range(len(h))), b[j]) for j in range(len(b))]
            h = z if k == len(layers) - 1 else [v.tanh() for v in z]
        return h[0]

    return params, model


@guarded
def train_runs(inputs: dict[str, Any], train_mlp: Any) -> Any:
    """On every case, ``train_mlp(params, model, X, y, steps=, lr=)`` (the keywords the lesson's
    later cell uses) from fresh parameters:
    what it returned (the losses) and every parameter's value afterwards, or what it raised."""
    if not callable(train_mlp):
        return {"kind": "not_callable", "got": describe_value(train_mlp)}
    results: list[dict[str, Any]] = []
    for case in inputs["cases"]:
        params, model = build_mlp(case)
        X = [[float(v) for v in row] for row in case["X"]]
        y = [float(v) for v in case["y"]]
        losses = attempt(train_mlp, params, model, X, y, steps=int(case["steps"]),
                         lr=float(case["lr"]))
        results.append({"losses": losses,
                        "params": describe_value(np.array([p.data for p in params],
                                                          dtype=np.float64))})
    return results


def _looks_like_value(obj: Any) -> bool:
    # Duck-typed: in grading the student's Value class may be another copy of the engine.
    return all(hasattr(obj, name) for name in ("data", "grad", "backward"))


def _sigmoid_run(sigmoid: Any, x0: float, start_grad: float) -> dict[str, Any]:
    """``out = sigmoid(x)`` with ``x.grad`` starting at ``start_grad``, then
    ``(out * 3).backward()``: out.data and x.grad, or what went wrong."""
    x = Value(x0)
    x.grad = start_grad
    try:
        out = sigmoid(x)
    except Exception as exc:
        return raised(exc)
    if not _looks_like_value(out):
        return describe_value(out)
    result: dict[str, Any] = {"kind": "value", "data": describe_value(out.data)}
    try:  # the result inside a bigger expression, so the chain rule must carry out.grad
        (out * 3.0).backward()
    except Exception as exc:
        result["backward"] = raised(exc)
        return result
    result["grad"] = describe_value(x.grad)
    return result


def _sigmoid_inside(sigmoid: Any, x0: float) -> dict[str, Any]:
    """``(sigmoid(x + 0.0) * 3).backward()``: x.grad when the input is not a leaf, so that the
    gradient must travel through the result's ``_parents`` to reach x."""
    x = Value(x0)
    try:
        out = sigmoid(x + 0.0)
        if not _looks_like_value(out):
            return describe_value(out)
        (out * 3.0).backward()
    except Exception as exc:
        return raised(exc)
    return {"kind": "value", "grad": describe_value(x.grad)}


@guarded
def sigmoid_points(inputs: dict[str, Any], sigmoid: Any) -> Any:
    """At every case's point x: one run from ``x.grad = 0`` (``"fresh"``) and one from
    ``x.grad = case["start_grad"]`` (``"started"``), which tells an input gradient that is
    overwritten, or used in place of out.grad, from a correct one; and one on ``x + 0.0``
    (``"inside"``), an input that is not a leaf."""
    if not callable(sigmoid):
        return {"kind": "not_callable", "got": describe_value(sigmoid)}
    return [{"fresh": _sigmoid_run(sigmoid, float(case["x"]), 0.0),
             "started": _sigmoid_run(sigmoid, float(case["x"]), float(case["start_grad"])),
             "inside": _sigmoid_inside(sigmoid, float(case["x"]))}
            for case in inputs["cases"]]


@guarded
def forward_cases(inputs: dict[str, Any], calc_preds: Any, calc_logits: Any = None
                  ) -> dict[str, Any]:
    """``calc_logits(coeffs, X)`` (when given) and ``calc_preds(coeffs, X)`` on every case
    (X changed in place reported: the lesson uses X_train again)."""
    def run(fn: Any) -> list[dict[str, Any]]:
        return [attempt_keeping(fn, (_coeffs(case["coeffs"]),
                                     torch.tensor(np.array(case["X"], dtype=np.float32))),
                                ("", "X"))
                for case in inputs["cases"]]

    return {"logits": None if calc_logits is None else run(calc_logits),
            "preds": run(calc_preds)}


@guarded
def loss_cases(inputs: dict[str, Any], calc_loss: Any) -> Any:
    """On every case, ``calc_loss(coeffs, X, y)`` (or ``calc_loss(coeffs, X, y, kind)``): what
    it returned, whether a coefficient already had a gradient, and every coefficient's
    gradient after ``loss.backward()`` when the loss is one number that requires grad; X or y
    changed in place reported (the lesson uses X_train and y_train again)."""
    if not callable(calc_loss):
        return {"kind": "not_callable", "got": describe_value(calc_loss)}
    results: list[dict[str, Any]] = []
    for case in inputs["cases"]:
        coeffs = _coeffs(case["coeffs"])
        X = torch.tensor(np.array(case["X"], dtype=np.float32))
        y = torch.tensor(np.array(case["y"], dtype=np.float32))
        kind = () if case["kind"] is None else (str(case["kind"]),)
        before = copies_of((coeffs, X, y), ("", "X", "y"))
        try:
            loss = calc_loss(coeffs, X, y, *kind)
        except Exception as exc:
            results.append({"loss": raised(exc)})
            continue
        got = kept(describe_value(loss), (coeffs, X, y), ("", "X", "y"), before, result=loss)
        if got["kind"] == "changed":
            results.append({"loss": got})
            continue
        result: dict[str, Any] = {"loss": got,
                                  "grads_before": [c.grad is not None for c in coeffs]}
        if isinstance(loss, torch.Tensor) and loss.requires_grad and loss.numel() == 1 \
                and not any(result["grads_before"]):
            try:
                loss.backward()
            except Exception as exc:
                result["backward"] = raised(exc)
            else:
                result["grads"] = [describe_value(c.grad) for c in coeffs]
        results.append(result)
    return results


#: The operators that change a tensor in place (besides the methods whose names end in "_").
_IN_PLACE_DUNDERS = frozenset({"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
                               "__ifloordiv__", "__imod__", "__ipow__", "__imatmul__"})


class _RecordedChanges(TorchFunctionMode):
    """Notices a coefficient's values changed in place while autograd records: through
    ``c.data`` or ``c.detach()`` (``c.data -= ...``, ``c.data = ...``), which PyTorch lets pass
    outside ``torch.no_grad()`` though it refuses ``c -= ...`` there."""

    def __init__(self, coeffs: Coeffs) -> None:
        super().__init__()
        self.storage = {c.data_ptr() for c in coeffs}
        self.recorded = False

    def __torch_function__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        name = str(getattr(func, "__name__", ""))
        changes = name == "__set__" and getattr(getattr(func, "__self__", None), "__name__",
                                                None) == "data" \
            or (name.endswith("_") and not name.startswith("__") and name != "requires_grad_") \
            or name in _IN_PLACE_DUNDERS
        if changes and torch.is_grad_enabled() and args and isinstance(args[0], torch.Tensor) \
                and args[0].data_ptr() in self.storage:
            self.recorded = True
        return func(*args, **(kwargs or {}))


def _update_call(update_coeffs: Any, inputs: dict[str, Any], *, no_grad: bool
                 ) -> tuple[Coeffs, dict[str, Any]]:
    """``update_coeffs`` on fresh coefficients holding the inputs' gradients; what it raised,
    or ``{"kind": "none", "recorded": ...}``: whether it changed a coefficient in place while
    autograd recorded (:class:`_RecordedChanges`)."""
    coeffs = _coeffs(inputs["coeffs"])
    for c, name in zip(coeffs, Coeffs._fields, strict=True):
        c.grad = torch.tensor(np.array(inputs["grads"][name], dtype=np.float32))
    lr = float(inputs["lr"])
    spy = _RecordedChanges(coeffs)
    try:
        if no_grad:
            with torch.no_grad():
                update_coeffs(coeffs, lr)
        else:
            with spy:
                update_coeffs(coeffs, lr)
    except AttributeError as exc:
        # Whether the attribute was looked up on None (``c.grad.zero_()`` with no grad).
        return coeffs, {**raised(exc), "on_none": getattr(exc, "obj", 0) is None}
    except Exception as exc:
        return coeffs, raised(exc)
    return coeffs, {"kind": "none", "recorded": spy.recorded}


@guarded
def update_step(inputs: dict[str, Any], update_coeffs: Any) -> dict[str, Any]:
    """``update_coeffs(coeffs, lr)`` on coefficients whose ``.grad`` is given: what it raised,
    or every coefficient afterwards (values, gradient, leaf and requires_grad flags) and
    whether one was changed in place while autograd recorded (``"recorded"``).

    When the call raised, ``"fine_under_no_grad"`` says whether the same call on fresh
    coefficients succeeds inside ``torch.no_grad()``: then recording was the problem.
    """
    if not callable(update_coeffs):
        return {"call": {"kind": "not_callable", "got": describe_value(update_coeffs)}}
    coeffs, call = _update_call(update_coeffs, inputs, no_grad=False)
    result: dict[str, Any] = {"call": call}
    if call["kind"] == "raised":
        _, again = _update_call(update_coeffs, inputs, no_grad=True)
        result["fine_under_no_grad"] = again["kind"] != "raised"
        return result
    result["call"] = {"kind": "none"}
    result["recorded"] = bool(call["recorded"])
    result["coeffs"] = {
        name: {"value": describe_value(c), "grad": describe_value(c.grad),
               "is_leaf": bool(c.is_leaf), "requires_grad": bool(c.requires_grad)}
        for name, c in zip(Coeffs._fields, coeffs, strict=True)}
    return result
