"""Gradient checking: compare a backward pass with central differences, in float64.

A gradient check is the one test a hand-written backward cannot fool: nudge every input
number by ±h, watch the loss, and compare the slope with what ``backward`` returned. The
checks here raise :class:`GradientCheckError` naming the parameter and the error, so a wrong
backward cannot pass silently.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from coursekit.scratch.layers import Layer
from coursekit.scratch.losses import Loss
from coursekit.scratch.model import Sequential

__all__ = [
    "GradientCheckError",
    "numerical_gradient",
    "relative_error",
    "check_layer",
    "check_loss",
    "check_model",
]

RandomState = int | np.random.Generator | None


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, *, h: float = 1e-6
) -> np.ndarray:
    """Central-difference gradient of the scalar ``f(x)``: ``(f(x + h) - f(x - h)) / 2h``.

    Parameters
    ----------
    f : callable
        Takes ``x`` and returns a float. ``x`` is perturbed *in place*, one element at a time,
        so ``f`` may also ignore its argument and read the array elsewhere (a layer's
        ``params["W"]``, say). Every element is restored afterwards.
    x : ndarray of any shape, float64
        The point at which to differentiate.
    h : float
        Step; 1e-6 balances truncation error (h**2) against rounding (1e-16 / h).

    Returns
    -------
    grad : ndarray of the shape of x
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError(
            "numerical_gradient needs a float64 ndarray (float32 rounding swamps the "
            f"differences), got {getattr(x, 'dtype', type(x).__name__)}"
        )
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs an array it can perturb in place")
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + h
        f_plus = float(f(x))
        flat[i] = original - h
        f_minus = float(f(x))
        flat[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2.0 * h)
    return grad


def relative_error(a: ArrayLike, b: ArrayLike, *, floor: float = 1e-8) -> float:
    """``||a - b|| / max(||a|| + ||b||, floor)``: 0 for equal arrays, about 1 for unrelated.

    Norms are over all elements. In float64 a correct backward pass typically gives 1e-10 to
    1e-7 (up to about 1e-6 where the gradient is tiny next to the function's value, hence the
    checks' default tolerance of 1e-5); a wrong one gives 1e-2 to 1. The floor keeps two
    (near-)zero gradients from dividing rounding noise by zero.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"relative_error needs arrays of the same shape, got {a.shape} and {b.shape}"
        )
    scale = max(float(np.linalg.norm(a) + np.linalg.norm(b)), floor)
    return float(np.linalg.norm(a - b)) / scale


def _compare(
    what: str, analytic: dict[str, np.ndarray], numeric: dict[str, np.ndarray], tol: float
) -> dict[str, float]:
    errors, problems = {}, []
    for name, num in numeric.items():
        ana = np.asarray(analytic[name])
        if ana.shape != num.shape:
            problems.append(
                f"gradient of {name!r} has shape {ana.shape}, expected {num.shape} "
                "(a missing or extra transpose?)"
            )
            errors[name] = float("inf")
            continue
        errors[name] = relative_error(ana, num)
        if not errors[name] <= tol:  # also catches NaN
            problems.append(
                f"gradient of {name!r} disagrees with the numerical gradient: relative "
                f"error {errors[name]:.2e} > tolerance {tol:.0e}"
            )
    if problems:
        raise GradientCheckError(f"{what}: " + "; ".join(problems))
    return errors


def _as_float64(x: ArrayLike, what: str) -> np.ndarray:
    x = np.array(x, dtype=np.float64)  # a private copy: the caller's array is never perturbed
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return x


def _check_params_float64(layers: list[Layer]) -> None:
    for layer in layers:
        for name, p in layer.params.items():
            if p.dtype != np.float64:
                raise ValueError(
                    f"{layer!r}: params[{name!r}] is {p.dtype}; gradient checks need float64"
                )


def check_layer(
    layer: Layer, x: ArrayLike, *, h: float = 1e-6, tol: float = 1e-5,
    random_state: RandomState = None,
) -> dict[str, float]:
    """Check a layer's backward (input and parameter gradients) against central differences.

    The scalar checked is ``L = sum(forward(x) * R)`` for a random R, so ``backward(R)`` must
    return dL/dx and fill ``grads`` with dL/dparams. Every evaluation runs on a fresh copy of
    the layer, so a layer with its own random generator (Dropout) draws the same mask each time,
    and the layer passed in is left untouched.

    Parameters
    ----------
    layer : Layer
        With float64 parameters.
    x : ndarray of the shape the layer expects, e.g. (N, n_in)
        Keep it away from kinks (ReLU at 0) by more than ``h``.
    h, tol : float
        Finite-difference step and the largest relative error accepted.
    random_state : int, numpy.random.Generator or None
        Seed or generator of R.

    Returns
    -------
    errors : dict
        Relative error per gradient: ``"x"`` for the input and one entry per parameter.

    Raises
    ------
    GradientCheckError
        Naming every gradient that disagrees and its relative error.
    """
    _check_params_float64([layer])
    x = _as_float64(x, "x")
    probe = copy.deepcopy(layer)
    out = np.asarray(probe.forward(x.copy()))
    upstream = np.random.default_rng(random_state).standard_normal(out.shape)
    analytic = {"x": np.asarray(probe.backward(upstream.copy()))}
    analytic.update(probe.grads)

    def scalar(_: np.ndarray) -> float:
        fresh = copy.deepcopy(layer)  # same parameters and random state as the probe
        return float(np.sum(fresh.forward(x) * upstream))

    numeric = {"x": numerical_gradient(scalar, x, h=h)}
    for name in layer.params:
        original = layer.params[name].copy()
        try:
            numeric[name] = numerical_gradient(scalar, layer.params[name], h=h)
        finally:
            layer.params[name][...] = original  # bit-for-bit as before
    missing = set(numeric) - set(analytic)
    if missing:
        raise GradientCheckError(f"{layer!r}: backward stored no gradient for {sorted(missing)}")
    return _compare(repr(layer), analytic, numeric, tol)


def check_loss(
    loss: Loss, output: ArrayLike, target: ArrayLike, *, h: float = 1e-6, tol: float = 1e-5
) -> float:
    """Check ``loss.backward()`` (dL/d(output)) against central differences.

    ``output`` : ndarray of the shape the loss expects, e.g. (N, C); ``target`` as the loss
    expects it. Returns the relative error; raises :class:`GradientCheckError` when it is
    above ``tol``. For a clipped loss keep the probabilities inside the clipping range.
    """
    output = _as_float64(output, "output")
    loss.forward(output.copy(), target)
    analytic = {"output": np.array(loss.backward(), dtype=np.float64)}
    numeric = {"output": numerical_gradient(lambda o: loss.forward(o, target), output, h=h)}
    return _compare(repr(loss), analytic, numeric, tol)["output"]


def check_model(
    model: Sequential, loss: Loss, X: ArrayLike, y: ArrayLike, *, h: float = 1e-6,
    tol: float = 1e-5,
) -> dict[str, float]:
    """Check every parameter gradient of a whole network under a loss.

    ``X`` : ndarray of shape (N, n_in); ``y`` : targets as ``loss`` expects them. Returns the
    relative error per parameter, keyed ``"<layer index>.<name>"`` (``"0.W"``); raises
    :class:`GradientCheckError` naming every parameter above ``tol``.
    """
    _check_params_float64(model.layers)
    X = _as_float64(X, "X")
    probe = copy.deepcopy(model)
    loss.forward(probe.forward(X), y)
    probe.backward(loss.backward())
    analytic = {
        f"{i}.{name}": g for i, layer in enumerate(probe.layers) for name, g in layer.grads.items()
    }

    def scalar(_: np.ndarray) -> float:
        return loss.forward(copy.deepcopy(model).forward(X), y)

    numeric = {}
    for i, layer in enumerate(model.layers):
        for name in layer.params:
            original = layer.params[name].copy()
            try:
                numeric[f"{i}.{name}"] = numerical_gradient(scalar, layer.params[name], h=h)
            finally:
                layer.params[name][...] = original
    return _compare(repr(model), analytic, numeric, tol)
