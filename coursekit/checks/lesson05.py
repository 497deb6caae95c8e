"""Checks for lesson 05, autograd: a new operation for the scalar engine, then torch tensors.

The classifier of the lesson is ``p = sigmoid(relu(X @ w_hidden + b_hidden) @ w_out + b_out)``
with coefficients as in :class:`coursekit.torch_ref.Coeffs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from coursekit import torch_ref
from coursekit.autograd import Value
from coursekit.checks._legacy import call, close, describe, expect_array, fail, passed

#: What PyTorch's refusal of an in-place change to a leaf that requires grad means; lesson 08's
#: weight copy reuses it.
IN_PLACE_ERROR = "in-place operation"
IN_PLACE_HINT = ("PyTorch refused an in-place change of a tensor that requires grad: wrap it in "
                 "`with torch.no_grad():`")


def reference_sigmoid(x: Value) -> Value:
    """σ(x) = 1 / (1 + e^(−x)) as one engine operation with derivative σ(x)(1 − σ(x))."""
    s = 1.0 / (1.0 + math.exp(-x.data))
    return x.unary(s, s * (1.0 - s), "sigmoid")


def sigmoid_op(sigmoid: Callable[[Value], Value]) -> None:
    """Check ``sigmoid(x: Value) -> Value``: its value, and the gradient that flows through it."""
    exercise = "05-sigmoid-op"
    points = (-3.0, -0.5, 0.0, 0.8, 2.5)
    for x0 in points:
        x = Value(x0)
        out = call(exercise, sigmoid, x)
        # Duck-typed: the grader re-imports coursekit, so the class may be another copy.
        if not (hasattr(out, "data") and hasattr(out, "backward") and hasattr(out, "grad")):
            raise fail(exercise, f"sigmoid(Value({x0})) should return a Value, got "
                       f"{describe(out)}: the engine can only differentiate Values")
        s = 1.0 / (1.0 + math.exp(-x0))
        if not close(out.data, s):
            hint = ""
            if close(out.data, 1.0 / (1.0 + math.exp(x0))):
                hint = ": that is σ(−x); the exponent is e^(−x)"
            raise fail(exercise, f"σ({x0}) should be {s:.4f}, got {out.data:.4f}{hint}")
        # Use the result inside a bigger expression, so the chain rule must carry out.grad.
        (out * 3.0).backward()
        want = 3.0 * s * (1.0 - s)
        if close(x.grad, want):
            continue
        where = f"d(3·σ(x))/dx at x={x0} should be {want:.4f}, got {x.grad:.4f}"
        if x.grad == 0.0:
            raise fail(exercise, f"{where}: no gradient reached x; build the result from x "
                       "(x.unary(...) or Value operations on x), not a fresh Value(...)")
        if close(x.grad, s * (1.0 - s)):
            raise fail(exercise, f"{where}: the local derivative was not multiplied by the "
                       "gradient arriving from above (chain rule)")
        if close(x.grad, 3.0 * s):
            raise fail(exercise, f"{where}: σ'(x) is σ(x)·(1 − σ(x)), not σ(x)")
        raise fail(exercise, where)
    passed(exercise, f"σ and its gradient match at {len(points)} points")


def _classifier_case(seed: int, n: int, n_inputs: int, n_hidden: int
                     ) -> tuple[torch_ref.Coeffs, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    coeffs = torch_ref.init_coeffs(n_inputs, n_hidden, random_state=seed)
    with torch.no_grad():  # non-zero biases, so a forgotten bias shows
        coeffs.b_hidden.normal_(0.0, 0.5, generator=gen)
        coeffs.b_out.normal_(0.0, 0.5, generator=gen)
    return coeffs, torch.randn(n, n_inputs, generator=gen)


def _wrong_logits(coeffs: Any, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of two realistic mistakes: no ReLU (a linear model), and no biases."""
    with torch.no_grad():
        linear = (X @ coeffs.w_hidden + coeffs.b_hidden) @ coeffs.w_out + coeffs.b_out
        no_bias = torch.relu(X @ coeffs.w_hidden) @ coeffs.w_out
    return linear, no_bias


def _per_row(exercise: str, got: Any, n: int, what: str) -> Any:
    """``got`` as a float64 array of shape (n,), or a failure that names the shape mistake."""
    shape = tuple(got.shape) if hasattr(got, "shape") else None
    if shape == (n, 1) and n > 1:
        raise fail(exercise, f"{what}: expected shape ({n},), got ({n}, 1): one number per "
                   "row; drop the last axis (squeeze(1) or [:, 0])")
    if shape == () and n == 1:
        raise fail(exercise, f"{what}: expected shape (1,), got (): squeeze() also drops the "
                   "row axis when there is one row; use squeeze(1) or [:, 0]")
    return expect_array(exercise, got, (n,), what)


def predict(calc_preds: Callable[[torch_ref.Coeffs, torch.Tensor], Any],
            calc_logits: Callable[[torch_ref.Coeffs, torch.Tensor], Any] | None = None) -> None:
    """Check ``calc_preds(coeffs, X)`` returns the probabilities, shape (n_samples,).

    With ``calc_logits``, first check that it returns the logits (the scores before the
    sigmoid), shape (n_samples,).
    """
    exercise = "05-predict"
    cases = [(51, 7, 4, 5), (52, 12, 30, 10), (53, 1, 3, 2)]
    if calc_logits is not None:
        for seed, n, n_inputs, n_hidden in cases:
            coeffs, X = _classifier_case(seed, n, n_inputs, n_hidden)
            got = _per_row(exercise, call(exercise, calc_logits, coeffs, X.clone()), n,
                           f"calc_logits on {n} rows")
            with torch.no_grad():
                want = torch_ref.calc_logits(coeffs, X).double().numpy()
            linear, no_bias = _wrong_logits(coeffs, X)
            if close(got, want, rtol=1e-5, atol=1e-6):
                continue
            where = f"calc_logits on {n} rows with {n_hidden} hidden units differs"
            if close(got, torch.sigmoid(torch.from_numpy(want)).numpy(), rtol=1e-5, atol=1e-6):
                raise fail(exercise, f"{where}: these are probabilities; calc_logits returns "
                           "the scores before the sigmoid")
            if close(got, linear.double().numpy().ravel(), rtol=1e-5, atol=1e-6):
                raise fail(exercise, f"{where}: the hidden layer needs its ReLU, or the "
                           "network is just a linear model")
            if close(got, no_bias.double().numpy().ravel(), rtol=1e-5, atol=1e-6):
                raise fail(exercise, f"{where}: add the biases b_hidden and b_out")
            raise fail(exercise, f"{where}: expected {want[:3].round(4)}…, got "
                       f"{got[:3].round(4)}…")
    for seed, n, n_inputs, n_hidden in cases:
        coeffs, X = _classifier_case(seed, n, n_inputs, n_hidden)
        got = call(exercise, calc_preds, coeffs, X.clone())
        got = _per_row(exercise, got, n, f"probabilities for {n} rows")
        with torch.no_grad():
            want = torch_ref.calc_preds(coeffs, X).double().numpy()
            logits = torch_ref.calc_logits(coeffs, X).double().numpy()
        linear, no_bias = _wrong_logits(coeffs, X)
        if close(got, want, rtol=1e-5, atol=1e-6):
            continue
        where = f"on {n} rows with {n_hidden} hidden units the probabilities differ"
        if close(got, logits, rtol=1e-5, atol=1e-6):
            raise fail(exercise, f"{where}: these are the logits; apply torch.sigmoid to get "
                       "probabilities")
        if close(got, torch.sigmoid(linear).double().numpy().ravel(), rtol=1e-5, atol=1e-6):
            raise fail(exercise, f"{where}: the hidden layer needs its ReLU, or the network "
                       "is just a linear model")
        if close(got, torch.sigmoid(no_bias).double().numpy().ravel(), rtol=1e-5, atol=1e-6):
            raise fail(exercise, f"{where}: add the biases b_hidden and b_out")
        raise fail(exercise, f"{where}: expected {want[:3].round(4)}…, got {got[:3].round(4)}…")
    what = "logits and probabilities" if calc_logits is not None else "probabilities"
    passed(exercise, f"{what} match the reference on {len(cases)} cases")


def update(update_coeffs: Callable[[torch_ref.Coeffs, float], Any]) -> None:
    """Check ``update_coeffs(coeffs, lr)``: a step against the gradient, in place, grads zeroed."""
    exercise = "05-update"
    lr = 0.3
    coeffs, X = _classifier_case(55, 20, 4, 6)
    y = (X[:, 0] > 0).float()
    torch_ref.calc_loss(coeffs, X, y).backward()
    before = [c.detach().clone() for c in coeffs]
    grads = [c.grad.clone() for c in coeffs]
    try:
        call(exercise, update_coeffs, coeffs, lr)
    except AssertionError as exc:
        if IN_PLACE_ERROR in str(exc):
            raise fail(exercise, IN_PLACE_HINT) from None
        if "'NoneType' object has no attribute" in str(exc):  # c = c - ...; c.grad.zero_()
            raise fail(exercise, "c.grad is None: after `c = c - lr * c.grad` the loop "
                       "variable c is a new tensor with no gradient, and the coefficient is "
                       "unchanged; update the tensor in place with `c -= lr * c.grad`") from None
        raise
    names = torch_ref.Coeffs._fields
    for name, c, b, g in zip(names, coeffs, before, grads, strict=True):
        if not c.requires_grad or not c.is_leaf:
            raise fail(exercise, f"{name} no longer is a leaf that requires grad: update it in "
                       "place (c -= ...) under torch.no_grad(), don't replace it")
        now = c.detach()
        if torch.equal(now, b):
            raise fail(exercise, f"{name} did not change: either `c = c - lr * c.grad` only "
                       "rebinds the loop variable (update in place with `c -= lr * c.grad`), "
                       "or the gradient was zeroed before it was used (step first, then "
                       "c.grad.zero_())")
        if torch.allclose(now, b + lr * g):
            raise fail(exercise, f"{name} moved up the gradient: subtract lr × grad")
        if not torch.allclose(now, b - lr * g):
            raise fail(exercise, f"{name} should be old − {lr} × grad; it differs by up to "
                       f"{(now - (b - lr * g)).abs().max().item():.4g}")
        if c.grad is not None and torch.count_nonzero(c.grad) > 0:
            raise fail(exercise, f"{name}.grad is not zero after the step: the next backward() "
                       "would add to it; call c.grad.zero_() after using it")
    passed(exercise, "every coefficient stepped against its gradient, and gradients are zero")
