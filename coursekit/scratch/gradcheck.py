"""Gradient checking: compare a backward pass with central differences, in float64.

A gradient check is the one test a hand-written backward cannot fool: nudge every input
number by ±h, watch the loss, and compare the slope with what ``backward`` returned. The
checks here raise :class:`GradientCheckError` naming the parameter and the error, so a wrong
backward cannot pass silently.

When does a gradient pass? Central differences are not exact: each of the two evaluations of
the scalar ``L`` is rounded, with an error of about ``eps * S`` (``eps`` = 2.2e-16, ``S`` the
size of the numbers summed into ``L``), and dividing their difference by ``2h`` turns that into
an absolute error of about ``eps * S / h`` in *every* coordinate of the numerical gradient:
about 1e-10 for a loss near 1.6 and h = 1e-6. Next to ordinary gradients that is nothing, but a
network with tiny gradients (a deep ReLU net with ``0.01 * randn`` weights has parameter
gradients near 1e-7) would show a relative error of 1e-4 from this noise alone, whatever h.
So a gradient passes when either

* its relative error (:func:`relative_error`) is at most ``tol``, or
* every coordinate ``i`` satisfies ``|a_i - n_i| <= noise + tol * (|a_i| + |n_i|)``
  (analytic ``a``, numerical ``n``), where ``noise = NOISE_FACTOR * eps * S / h``
  (:func:`finite_difference_noise`), ``NOISE_FACTOR = 4``, and ``S = |L|`` for a loss,
  ``sum(|out * R|)`` for a layer's scalar ``sum(out * R)``.

A wrong backward is wrong by about the size of the gradient itself, far above that bound
(1.4e-9 in the example above), so it still fails.

Kinks are the other false alarm. In such a net the last hidden layer's pre-activations are
near 1e-7, so a step of h = 1e-6 carries many of them across ReLU's kink at 0 and the central
difference measures a slope the function does not have at the point. Two remedies, both for
the coordinates that fail only: such a coordinate also passes when it matches the one-sided
slope ``(L(x + h) - L(x)) / h`` or ``(L(x) - L(x - h)) / h`` (the side without the kink), and
a gradient that fails at h is checked again at h / 10 and h / 100, where a nearby kink drops
out of reach but a wrong backward stays wrong. Where even h / 100 straddles kinks (pre-activations
near 1e-9, several samples near 0 at once), the entries whose two one-sided slopes differ cannot be
judged by any finite difference at this point: they are named in a :class:`GradientCheckWarning`,
never reported as wrong, while every other entry is still judged (a wrong backward is wrong
where the function is smooth too). The warning also names entries judged only to the noise.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from coursekit.scratch.layers import Layer
from coursekit.scratch.losses import Loss
from coursekit.scratch.model import Sequential
from coursekit.seeding import RandomState, as_generator

__all__ = [
    "GradientCheckError",
    "GradientCheckWarning",
    "NOISE_FACTOR",
    "finite_difference_noise",
    "numerical_gradient",
    "relative_error",
    "check_layer",
    "check_loss",
    "check_model",
]

#: Safety factor of :func:`finite_difference_noise` over the rounding estimate ``eps * S / h``;
#: measured noise on the 1-7-6-4-5 ReLU network is about a quarter of ``eps * S / h``.
NOISE_FACTOR = 4.0


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


class GradientCheckWarning(UserWarning):
    """Entries of a gradient a finite difference cannot judge at the point (a kink within
    reach of every step tried), or can judge only to its rounding noise (tiny gradients)."""


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
    f_plus, f_minus = _evaluations(f, x, h)
    return (f_plus - f_minus) / (2.0 * h)


def _evaluations(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float
) -> tuple[np.ndarray, np.ndarray]:
    """``f`` with each element of ``x`` in turn moved by +h and by -h, in place and restored."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError(
            "numerical_gradient needs a float64 ndarray (float32 rounding swamps the "
            f"differences), got {getattr(x, 'dtype', type(x).__name__)}"
        )
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h}")
    f_plus = np.zeros(x.shape, dtype=np.float64)
    f_minus = np.zeros(x.shape, dtype=np.float64)
    flat, flat_plus, flat_minus = x.reshape(-1), f_plus.reshape(-1), f_minus.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs an array it can perturb in place")
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + h
        flat_plus[i] = float(f(x))
        flat[i] = original - h
        flat_minus[i] = float(f(x))
        flat[i] = original  # bit-for-bit as before
    return f_plus, f_minus


class _Numeric(NamedTuple):
    """Finite differences of one array: central, and one-sided either way (for kinks)."""

    central: np.ndarray
    forward: np.ndarray
    backward: np.ndarray


def _numeric(f: Callable[[np.ndarray], float], x: np.ndarray, h: float, f0: float) -> _Numeric:
    f_plus, f_minus = _evaluations(f, x, h)
    return _Numeric((f_plus - f_minus) / (2.0 * h), (f_plus - f0) / h, (f0 - f_minus) / h)


def finite_difference_noise(scale: float, h: float) -> float:
    """Bound on the rounding error of one central-difference coordinate, an absolute number.

    ``scale`` is the size of the scalar being differentiated (``|L|`` for a loss; for a sum
    with cancellation, the sum of the absolute terms). Each evaluation is off by about
    ``eps * scale``; the difference of two, divided by ``2h``, by about ``eps * scale / h``.
    Returns ``NOISE_FACTOR * eps * scale / h``.
    """
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h}")
    return NOISE_FACTOR * float(np.finfo(np.float64).eps) * abs(float(scale)) / h


def relative_error(a: ArrayLike, b: ArrayLike, *, floor: float = 1e-8) -> float:
    """``||a - b|| / max(||a|| + ||b||, floor)``: 0 for equal arrays, about 1 for unrelated.

    Norms are over all elements. In float64 a correct backward pass typically gives 1e-10 to
    1e-7; a wrong one gives 1e-2 to 1. Where the gradient is tiny next to the function's value
    the finite-difference noise dominates and even a correct backward can show 1e-4: the checks
    then fall back on :func:`finite_difference_noise` (see the module docstring). The floor
    keeps two (near-)zero gradients from dividing rounding noise by zero.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"relative_error needs arrays of the same shape, got {a.shape} and {b.shape}"
        )
    scale = max(float(np.linalg.norm(a) + np.linalg.norm(b)), floor)
    return float(np.linalg.norm(a - b)) / scale


#: Where a gradient disagrees at step h it is checked again at these fractions of h.
_SMALLER_STEPS = (1.0, 0.1, 0.01)


def _entries(mask: np.ndarray) -> str:
    """``"(0, 2), (3, 1)"``: the first few indices where ``mask`` holds, and how many in all."""
    found = [tuple(int(i) for i in index) for index in np.argwhere(mask)]
    shown = ", ".join(str(index[0] if len(index) == 1 else index) for index in found[:4])
    return shown + (f" and {len(found) - 4} more" if len(found) > 4 else "")


def _verdict(
    name: str, ana: np.ndarray, differences: _Numeric, tol: float, noise: float, h: float
) -> tuple[float, str | None, str | None]:
    """The relative error of one gradient, why it is wrong (or None), and which entries could
    not be judged at step ``h`` and why (or None)."""
    num, forward, backward = differences.central, differences.forward, differences.backward
    error = relative_error(ana, num)
    if error <= tol:
        return error, None, None
    # Coordinate by coordinate: within the noise (tiny gradients), or, where x ± h straddles
    # a kink, equal to the one-sided slope of the side without it.
    relative = np.abs(ana - num) <= tol * (np.abs(ana) + np.abs(num))
    central = np.abs(ana - num) <= noise + tol * (np.abs(ana) + np.abs(num))
    one_sided = np.zeros(ana.shape, dtype=bool)
    for side in (forward, backward):
        one_sided |= np.abs(ana - side) <= 2.0 * noise + tol * (np.abs(ana) + np.abs(side))
    # Slopes that differ on the two sides: a kink (or several) lies within h of the point, so
    # no finite difference at this step says what the gradient is there.
    kink = ~(central | one_sided) & (np.abs(forward - backward) >
                                     4.0 * noise + tol * (np.abs(forward) + np.abs(backward)))
    wrong = ~(central | one_sided | kink)  # NaN compares False, so it is wrong too
    if wrong.any():
        worst = float(np.max(np.abs(ana - num)[wrong]))
        return error, (
            f"gradient of {name!r} disagrees with the numerical gradient: relative error "
            f"{error:.2e} > tolerance {tol:.0e}; {int(wrong.sum())} of {ana.size} entries "
            f"differ by up to {worst:.2e}, above the finite-difference noise {noise:.1e} and off "
            f"both one-sided slopes (entries {_entries(wrong)})"), None
    notes = []
    if kink.any():
        notes.append(f"entries {_entries(kink)} of {name!r} not judged: a kink lies within "
                     f"h={h:.0e} (the slopes on its two sides differ)")
    if (central & ~relative).any():
        notes.append(f"entries {_entries(central & ~relative)} of {name!r} judged only to the "
                     f"finite-difference noise {noise:.1e}: the gradient there is that small")
    return error, None, "; ".join(notes) or None


def _compare(
    what: str,
    analytic: dict[str, np.ndarray],
    targets: Mapping[str, tuple[Callable[[np.ndarray], float], np.ndarray]],
    *,
    f0: float,
    scale: float,
    h: float,
    tol: float,
) -> dict[str, float]:
    """Check each analytic gradient against finite differences of ``f`` over its array.

    ``targets`` maps a name to ``(f, array)``: the scalar function and the array perturbed in
    place. ``f0`` is ``f`` at the unperturbed point, ``scale`` the size that sets the rounding
    noise. A gradient that fails at ``h`` is checked again at ``h / 10`` and ``h / 100`` (a
    ReLU kink closer than h to the point drops out of reach; a wrong backward stays wrong).
    Returns the relative error per gradient, at the step that passed.
    """
    errors: dict[str, float] = {}
    problems = []
    for name, (f, array) in targets.items():
        ana = np.asarray(analytic[name], dtype=np.float64)
        if ana.shape != array.shape:
            problems.append(
                f"gradient of {name!r} has shape {ana.shape}, expected {array.shape} "
                "(a missing or extra transpose?)"
            )
            errors[name] = float("inf")
            continue
        original = array.copy()
        tried: list[tuple[float, str | None, str | None]] = []
        try:
            for fraction in _SMALLER_STEPS:
                step = h * fraction
                tried.append(_verdict(name, ana, _numeric(f, array, step, f0), tol,
                                      finite_difference_noise(scale, step), step))
                if tried[-1][1] is None and "kink" not in (tried[-1][2] or ""):
                    break  # judged; a smaller step would only raise the noise
        finally:
            array[...] = original  # bit-for-bit as before
        judged = [verdict for verdict in tried if verdict[1] is None]
        if not judged:
            errors[name] = tried[0][0]
            problems.append(str(tried[0][1]))
            continue
        smooth = [verdict for verdict in judged if "kink" not in (verdict[2] or "")]
        best = smooth[0] if smooth else judged[-1]  # the largest step without kinks, or the least
        errors[name] = best[0]
        if best[2] is not None:  # entries no step could judge: said, never failed
            warnings.warn(GradientCheckWarning(f"{what}: {best[2]}"), stacklevel=3)
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
        Finite-difference step and the largest relative error accepted; a gradient whose
        every coordinate is within :func:`finite_difference_noise` of ``sum(|out * R|)``
        also passes.
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
    upstream = as_generator(random_state).standard_normal(out.shape, dtype=np.float64)
    analytic = {"x": np.asarray(probe.backward(upstream.copy()))}
    analytic.update(probe.grads)

    def scalar(_: np.ndarray) -> float:
        fresh = copy.deepcopy(layer)  # same parameters and random state as the probe
        return float(np.sum(fresh.forward(x) * upstream))

    targets = {"x": (scalar, x), **{name: (scalar, p) for name, p in layer.params.items()}}
    missing = set(targets) - set(analytic)
    if missing:
        raise GradientCheckError(f"{layer!r}: backward stored no gradient for {sorted(missing)}")
    return _compare(repr(layer), analytic, targets, f0=scalar(x), h=h, tol=tol,
                    scale=float(np.sum(np.abs(out * upstream))))


def check_loss(
    loss: Loss, output: ArrayLike, target: ArrayLike, *, h: float = 1e-6, tol: float = 1e-5
) -> float:
    """Check ``loss.backward()`` (dL/d(output)) against central differences.

    ``output`` : ndarray of the shape the loss expects, e.g. (N, C); ``target`` as the loss
    expects it. Returns the relative error; raises :class:`GradientCheckError` when it is
    above ``tol`` and the gradient is not within :func:`finite_difference_noise` of the loss.
    For a clipped loss keep the probabilities inside the clipping range.
    """
    output = _as_float64(output, "output")
    value = loss.forward(output.copy(), target)
    analytic = {"output": np.array(loss.backward(), dtype=np.float64)}
    targets = {"output": (lambda o: loss.forward(o, target), output)}
    return _compare(repr(loss), analytic, targets, f0=value, scale=value, h=h, tol=tol)["output"]


def check_model(
    model: Sequential, loss: Loss, X: ArrayLike, y: ArrayLike, *, h: float = 1e-6,
    tol: float = 1e-5,
) -> dict[str, float]:
    """Check every parameter gradient of a whole network under a loss.

    ``X`` : ndarray of shape (N, n_in); ``y`` : targets as ``loss`` expects them. Returns the
    relative error per parameter, keyed ``"<layer index>.<name>"`` (``"0.W"``); raises
    :class:`GradientCheckError` naming every parameter above ``tol`` whose gradient is not
    within :func:`finite_difference_noise` of the loss (so a correct network with tiny
    gradients, such as a deep ReLU net with ``0.01 * randn`` weights, passes).
    """
    _check_params_float64(model.layers)
    X = _as_float64(X, "X")
    probe = copy.deepcopy(model)
    value = loss.forward(probe.forward(X), y)
    probe.backward(loss.backward())
    analytic = {
        f"{i}.{name}": g for i, layer in enumerate(probe.layers) for name, g in layer.grads.items()
    }

    def scalar(_: np.ndarray) -> float:
        return loss.forward(copy.deepcopy(model).forward(X), y)

    targets = {
        f"{i}.{name}": (scalar, p) for i, layer in enumerate(model.layers)
        for name, p in layer.params.items()
    }
    return _compare(repr(model), analytic, targets, f0=value, scale=value, h=h, tol=tol)
