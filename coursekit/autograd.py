"""A tiny scalar autograd engine: what ``loss.backward()`` does, small enough to read at once.

Each :class:`Value` holds one float, the gradient of the last output it fed into, and a
closure that knows how to pass that gradient on to the values it was computed from. Calling
:meth:`Value.backward` visits the graph in reverse topological order (every node after all the
nodes that use it) and applies the chain rule once per edge.

Calling ``backward()`` twice
    Gradients of *leaves* (values you created yourself, not results of an operation) are
    **accumulated**, as PyTorch does: a second ``backward()`` adds the same gradient again, so
    every leaf ends up with exactly twice the gradient. Gradients of intermediate results are
    recomputed from zero on every call, so they never count twice. Call :meth:`Value.zero_grad`
    (or set ``leaf.grad = 0.0``) between training steps.

>>> x = Value(3.0)
>>> y = x * x + 2 * x
>>> y.backward()
>>> x.grad  # dy/dx = 2x + 2
8.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

Number = int | float


class Value:
    """One scalar in a computation graph, with the gradient of the output with respect to it.

    Parameters
    ----------
    data : float
        The number this node holds.
    label : str, optional
        A name shown by ``repr``, handy when drawing or debugging a graph.
    """

    __slots__ = ("data", "grad", "label", "_parents", "_op", "_backward")

    def __init__(self, data: Number, label: str = "") -> None:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise TypeError(f"Value holds a Python int or float, got {type(data).__name__}")
        self.data = float(data)
        self.grad = 0.0
        self.label = label
        self._parents: tuple[Value, ...] = ()
        self._op = ""
        # Adds this node's share of the gradient to its parents' gradients (chain rule).
        self._backward: Callable[[], None] = lambda: None

    @property
    def is_leaf(self) -> bool:
        """Whether this value was created directly rather than computed by an operation."""
        return not self._parents

    def _result(self, data: float, parents: tuple[Value, ...], op: str) -> Value:
        out = Value(data)
        out._parents = parents
        out._op = op
        return out

    # ---- operations: each computes a number and says how its gradient flows back ----

    def __add__(self, other: Value | Number) -> Value:
        other = as_value(other)
        out = self._result(self.data + other.data, (self, other), "+")

        def backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = as_value(other)
        out = self._result(self.data * other.data, (self, other), "*")

        def backward() -> None:
            self.grad += other.data * out.grad  # d(a*b)/da = b
            other.grad += self.data * out.grad

        out._backward = backward
        return out

    def __pow__(self, exponent: Number) -> Value:
        """This value to a constant power; ``x ** p`` with p < 1 is refused at x = 0."""
        if isinstance(exponent, bool) or not isinstance(exponent, int | float):
            raise TypeError("Value ** exponent needs a constant int or float exponent")
        if self.data < 0 and not float(exponent).is_integer():
            raise ValueError(f"a negative base ({self.data}) needs an integer exponent, "
                             f"got {exponent}")
        if exponent == 0:
            local_grad = 0.0  # x ** 0 = 1 does not change with x
        elif self.data == 0 and exponent < 1:
            raise ValueError(f"x ** {exponent} has no finite derivative at x = 0")
        else:
            local_grad = exponent * self.data ** (exponent - 1)
        return self.unary(self.data**exponent, local_grad, f"**{exponent}")

    def unary(self, data: float, local_grad: float, op: str = "") -> Value:
        """A new one-input operation: its result ``data`` and its derivative at this input.

        The chain rule does the rest: the gradient reaching the result, times ``local_grad``,
        is added to this value's gradient. ``exp``, ``log``, ``tanh`` and ``relu`` are built
        this way, and so can be any function of one variable whose derivative you know.
        """
        out = self._result(float(data), (self,), op)

        def backward() -> None:
            self.grad += local_grad * out.grad

        out._backward = backward
        return out

    def exp(self) -> Value:
        """e to the power of this value."""
        e = math.exp(self.data)
        return self.unary(e, e, "exp")  # d e^x / dx = e^x

    def log(self) -> Value:
        """Natural logarithm; the value must be positive."""
        if self.data <= 0:
            raise ValueError(f"log needs a positive value, got {self.data}")
        return self.unary(math.log(self.data), 1.0 / self.data, "log")

    def tanh(self) -> Value:
        """Hyperbolic tangent."""
        t = math.tanh(self.data)
        return self.unary(t, 1.0 - t * t, "tanh")

    def relu(self) -> Value:
        """max(0, x); its gradient at exactly 0 is taken as 0, as in PyTorch."""
        mask = 1.0 if self.data > 0 else 0.0  # a 0/1 mask, not x
        return self.unary(max(0.0, self.data), mask, "relu")

    # Everything else is built from the operations above, so needs no backward of its own.
    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | Number) -> Value:
        return self + (-as_value(other))

    def __truediv__(self, other: Value | Number) -> Value:
        return self * as_value(other) ** -1

    def __radd__(self, other: Number) -> Value:
        return self + other

    def __rsub__(self, other: Number) -> Value:
        return as_value(other) - self

    def __rmul__(self, other: Number) -> Value:
        return self * other

    def __rtruediv__(self, other: Number) -> Value:
        return as_value(other) / self

    # ---- the backward pass ----

    def graph(self) -> list[Value]:
        """Every node this value depends on, itself last, each after all of its parents."""
        order: list[Value] = []
        visited: set[int] = set()
        # An explicit stack rather than recursion, so a long chain cannot hit the recursion limit.
        stack: list[tuple[Value, Iterator[Value]]] = [(self, iter(self._parents))]
        visited.add(id(self))
        while stack:
            node, parents = stack[-1]
            parent = next(parents, None)
            if parent is None:
                order.append(node)  # all parents placed: the node can follow them
                stack.pop()
            elif id(parent) not in visited:
                visited.add(id(parent))
                stack.append((parent, iter(parent._parents)))
        return order

    def backward(self) -> None:
        """Fill ``grad`` of every node with d(self)/d(node); leaves accumulate (see module doc)."""
        order = self.graph()
        for node in order:
            if not node.is_leaf:
                node.grad = 0.0  # intermediate results start afresh on every call
        self.grad = 1.0 if not self.is_leaf else self.grad + 1.0  # d(self)/d(self)
        for node in reversed(order):  # outputs first, so each grad is complete when used
            node._backward()

    def zero_grad(self) -> None:
        """Set the gradient of every node in this value's graph back to 0."""
        for node in self.graph():
            node.grad = 0.0

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.4f}, grad={self.grad:.4f})"


def as_value(x: Value | Number) -> Value:
    """Wrap a plain number as a leaf :class:`Value`; pass a ``Value`` through unchanged."""
    return x if isinstance(x, Value) else Value(x)
