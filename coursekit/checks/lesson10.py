"""Checks for lesson 10, initialisation and normalisation.

- Initialisation: Xavier/Glorot ``sqrt(2 / (fan_in + fan_out))`` for tanh, He/Kaiming
  ``sqrt(2 / fan_in)`` for ReLU (standard deviations).
- Batch normalisation with PyTorch's conventions: training mode normalises with the batch mean
  and biased variance and updates ``running = (1 - momentum) running + momentum batch`` with the
  unbiased variance; evaluation mode normalises with the running statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks._legacy import diagnose, diagnose_float64
from coursekit.checks.score import scorer
from coursekit.exercise.judging import (
    Data,
    Tolerance,
    describe,
    expect_array,
    expect_scalar,
    fail,
    results,
    value,
)
from coursekit.exercise.spec import Exercise, registry
from coursekit.probes import lesson10 as probes

TOLERANCE: Tolerance = {"rtol": 1e-7, "atol": 1e-10}
#: Float64 rounding: the lesson compares batchnorm's outputs, running statistics and gradients
#: with nn.BatchNorm1d to 1e-10, which float32 arithmetic (about 1e-7 relative) misses.
FLOAT64: Tolerance = {"rtol": 1e-9, "atol": 1e-11}


# --- exercise 1: the initialisation scale --------------------------------------------------

def reference_init_std(fan_in: int, fan_out: int, nonlinearity: str) -> float:
    """Xavier/Glorot for ``"tanh"``, He/Kaiming (fan-in) for ``"relu"``."""
    if nonlinearity == "tanh":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    if nonlinearity == "relu":
        return float(np.sqrt(2.0 / fan_in))
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def _init_inputs(rng: np.random.Generator) -> dict[str, Any]:
    # fan_in != fan_out everywhere: with equal fans, Glorot's and LeCun's scales coincide
    cases = [{"fan_in": 64, "fan_out": 10, "nonlinearity": "tanh"},
             {"fan_in": 64, "fan_out": 10, "nonlinearity": "relu"}]
    for _ in range(3):
        fan_in, fan_out = (int(v) for v in rng.integers(2, 500, size=2))
        if fan_in == fan_out:
            fan_out += 7
        for nonlinearity in ("tanh", "relu"):
            cases.append({"fan_in": fan_in, "fan_out": fan_out, "nonlinearity": nonlinearity})
    return {"cases": cases}


def _judge_init(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        fan_in, fan_out, kind = case["fan_in"], case["fan_out"], case["nonlinearity"]
        number = expect_scalar(got, f"init_std({fan_in}, {fan_out}, {kind!r})")
        want = reference_init_std(fan_in, fan_out, kind)
        other = "relu" if kind == "tanh" else "tanh"
        hints = {
            "that is the variance; return its square root, the standard deviation": want**2,
            f"that is the rule for {other!r}: Xavier/Glorot √(2/(fan_in + fan_out)) is for "
            f"tanh, He/Kaiming √(2/fan_in) for ReLU": reference_init_std(fan_in, fan_out, other),
        }
        if kind == "relu":
            hints.update({
                "He/Kaiming uses fan_in, the number of inputs: √(2/fan_in)":
                    np.sqrt(2.0 / fan_out),
                "missing the factor 2 that makes up for ReLU zeroing half its inputs":
                    np.sqrt(1.0 / fan_in),
            })
        else:
            hints.update({
                "that is LeCun's √(1/fan_in); Xavier/Glorot averages both fans: "
                "√(2/(fan_in + fan_out))": np.sqrt(1.0 / fan_in),
                "Xavier/Glorot has a 2 over the sum of the fans: √(2/(fan_in + fan_out))":
                    np.sqrt(1.0 / (fan_in + fan_out)),
            })
        diagnose(number, want, hints,
                 where=f"init_std({fan_in}, {fan_out}, {kind!r}) should be {want:.5f}, "
                       f"got {number:.5f}", **TOLERANCE)
    return f"standard deviations match Xavier/Glorot and He/Kaiming on {len(cases)} layers"


# --- exercise 2: batchnorm forward ---------------------------------------------------------

def reference_batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
    running_var: np.ndarray, training: bool, momentum: float = 0.1, eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(out, new_running_mean, new_running_var)`` as ``nn.BatchNorm1d`` computes them."""
    if training:
        n = x.shape[0]
        mean, var = x.mean(axis=0), x.var(axis=0)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    else:
        mean, var = running_mean, running_var
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, running_mean, running_var


def _forward_inputs(rng: np.random.Generator) -> dict[str, Any]:
    cases = []
    for training, momentum, eps in ((True, None, None), (False, None, None),
                                    (True, 0.3, 1e-3), (False, None, 0.5)):
        n, d = int(rng.integers(5, 10)), int(rng.integers(2, 5))
        case = {"x": rng.normal(loc=2.0, scale=3.0, size=(n, d)),
                "gamma": rng.uniform(0.5, 2.0, d), "beta": rng.normal(size=d),
                "running_mean": rng.normal(size=d), "running_var": rng.uniform(0.5, 3.0, d),
                "training": training}
        if momentum is not None:
            case["momentum"] = momentum
        if eps is not None:
            case["eps"] = eps
        cases.append(case)
    return {"cases": cases}


def _normalise(x: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float,
               gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _judge_forward(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        x, gamma, beta = case["x"], case["gamma"], case["beta"]
        rm, rv, training = case["running_mean"], case["running_var"], case["training"]
        momentum, eps = case.get("momentum", 0.1), case.get("eps", 1e-5)
        mode = "training" if training else "evaluation"
        where = f"{mode} mode, x of shape {x.shape}, momentum={momentum:g}, eps={eps:g}"
        got = value(got)
        if got["kind"] != "list" or got.get("length") != 3:
            raise fail(f"{where}: expected (out, new_running_mean, new_running_var), got "
                       f"{describe(got)}")
        out = expect_array(got["items"][0], x.shape, f"{where}: out")
        new_rm = expect_array(got["items"][1], rm.shape, f"{where}: new running_mean")
        new_rv = expect_array(got["items"][2], rv.shape, f"{where}: new running_var")
        want_out, want_rm, want_rv = reference_batchnorm_forward(
            x, gamma, beta, rm, rv, training, momentum, eps)
        n = x.shape[0]
        mean, var = x.mean(axis=0), x.var(axis=0)
        used_mean, used_var = (mean, var) if training else (rm, rv)
        row_mean, row_var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
        diagnose_float64(out, want_out, {
            "in training mode normalise with the batch's own mean and variance, not the "
            "running ones": _normalise(x, rm, rv, eps, gamma, beta) if training else None,
            "in evaluation mode normalise with the running mean and variance, not the "
            "batch's": _normalise(x, mean, var, eps, gamma, beta) if not training else None,
            "the statistics are per feature, over the batch: mean and var over axis 0, "
            "not axis 1": _normalise(x, row_mean, row_var, eps, gamma, beta)
            if training else None,
            "normalise with the biased batch variance (divide by N); only the running "
            "variance uses N − 1": _normalise(x, mean, var * n / (n - 1), eps, gamma, beta)
            if training else None,
            "eps goes inside the square root: (x − μ) / √(σ² + eps)":
                gamma * (x - used_mean) / (np.sqrt(used_var) + eps) + beta,
            "use the eps passed in, not a fixed 1e-5":
                _normalise(x, used_mean, used_var, 1e-5, gamma, beta) if eps != 1e-5 else None,
            "gamma scales and beta shifts: gamma * x_hat + beta":
                _normalise(x, used_mean, used_var, eps, beta, gamma),
        }, where=f"{where}: out differs from nn.BatchNorm1d's",
           what=f"{where}: out", precise=FLOAT64, **TOLERANCE)
        if not training:
            diagnose_float64(new_rm, want_rm, {}, where=f"{where}: evaluation mode must return "
                             "the running mean unchanged", what=f"{where}: new running_mean",
                             precise=FLOAT64, **TOLERANCE)
            diagnose_float64(new_rv, want_rv, {}, where=f"{where}: evaluation mode must return "
                             "the running variance unchanged", what=f"{where}: new running_var",
                             precise=FLOAT64, **TOLERANCE)
            continue
        diagnose_float64(new_rm, want_rm, {
            "momentum is the weight of the new batch: (1 − momentum)·running + "
            "momentum·batch mean": momentum * rm + (1 - momentum) * mean,
            "update the running mean, (1 − momentum)·running + momentum·batch mean, "
            "don't just return the batch mean": mean,
            "use the momentum passed in, not a fixed 0.1":
                0.9 * rm + 0.1 * mean if momentum != 0.1 else None,
        }, where=f"{where}: new running_mean differs from nn.BatchNorm1d's",
           what=f"{where}: new running_mean", precise=FLOAT64, **TOLERANCE)
        diagnose_float64(new_rv, want_rv, {
            "the running variance uses the unbiased batch variance, var · N/(N − 1), as "
            "PyTorch does": (1 - momentum) * rv + momentum * var,
            "momentum is the weight of the new batch: (1 − momentum)·running + "
            "momentum·batch variance": momentum * rv + (1 - momentum) * var * n / (n - 1),
        }, where=f"{where}: new running_var differs from nn.BatchNorm1d's",
           what=f"{where}: new running_var", precise=FLOAT64, **TOLERANCE)
    return (f"outputs and running statistics match nn.BatchNorm1d in both modes "
            f"({len(cases)} cases)")


# --- exercise 3: batchnorm backward --------------------------------------------------------

def reference_batchnorm_backward(
    dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dgamma, dbeta)`` in training mode (batch statistics)."""
    n = x.shape[0]
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    g = dout * gamma
    dx = inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def _backward_inputs(rng: np.random.Generator) -> dict[str, Any]:
    cases = []
    for n, d, eps in ((8, 3, None), (5, 4, None), (12, 2, 0.1)):
        case: dict[str, Any] = {"dout": rng.normal(size=(n, d)), "x": rng.normal(loc=1.0, scale=2.0,
                                                                 size=(n, d)),
                "gamma": rng.uniform(0.5, 2.0, d)}
        if eps is not None:
            case["eps"] = eps
        cases.append(case)
    return {"cases": cases}


def _judge_backward(inputs: Data, data: Data) -> str:
    cases = inputs["cases"]
    for case, got in zip(cases, results(data, len(cases)), strict=True):
        dout, x, gamma = case["dout"], case["x"], case["gamma"]
        eps = case.get("eps", 1e-5)
        n, d = x.shape
        where = f"x of shape {x.shape}, eps={eps:g}"
        got = value(got)
        if got["kind"] != "list" or got.get("length") != 3:
            raise fail(f"{where}: expected (dx, dgamma, dbeta), got {describe(got)}")
        dx = expect_array(got["items"][0], (n, d), f"{where}: dx")
        dgamma = expect_array(got["items"][1], (d,), f"{where}: dgamma")
        dbeta = expect_array(got["items"][2], (d,), f"{where}: dbeta")
        want_dx, want_dgamma, want_dbeta = reference_batchnorm_backward(dout, x, gamma, eps)
        inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
        x_hat = (x - x.mean(axis=0)) * inv_std
        g = dout * gamma
        diagnose_float64(dx, want_dx, {
            "the batch mean and variance depend on x too: this treats them as constants "
            "(dout·γ/σ, the evaluation-mode gradient)": g * inv_std,
            "the path through the variance is missing: subtract x_hat·Σ(g·x_hat) too":
                inv_std / n * (n * g - g.sum(axis=0)),
            "the path through the mean is missing: subtract Σg too":
                inv_std / n * (n * g - x_hat * (g * x_hat).sum(axis=0)),
            "multiply dout by gamma first: g = dout·γ is the gradient with respect to x_hat":
                inv_std / n * (n * dout - dout.sum(axis=0)
                               - x_hat * (dout * x_hat).sum(axis=0)),
            "use the biased variance (divide by N), as the forward pass does":
                _unbiased_dx(dout, x, gamma, eps),
            "use the eps passed in, not a fixed 1e-5":
                reference_batchnorm_backward(dout, x, gamma)[0] if eps != 1e-5 else None,
        }, where=f"{where}: dx differs from autograd's",
           what=f"{where}: dx", precise=FLOAT64, **TOLERANCE)
        diagnose_float64(dgamma, want_dgamma, {
            "dgamma and dbeta are swapped: dgamma = Σ dout·x_hat, dbeta = Σ dout": want_dbeta,
            "dgamma = Σ dout·x_hat, with the normalised x_hat, not the raw x":
                (dout * x).sum(axis=0),
        }, where=f"{where}: dgamma should be Σ_n dout·x_hat",
           what=f"{where}: dgamma", precise=FLOAT64, **TOLERANCE)
        diagnose_float64(dbeta, want_dbeta, {
            "dgamma and dbeta are swapped: dbeta = Σ dout": want_dgamma,
        }, where=f"{where}: dbeta should be Σ_n dout",
           what=f"{where}: dbeta", precise=FLOAT64, **TOLERANCE)
    return f"dx, dgamma and dbeta match autograd on {len(cases)} batches"


def _unbiased_dx(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float) -> np.ndarray:
    """dx by the right formula but with the unbiased variance (a realistic slip)."""
    n = x.shape[0]
    inv_std = 1.0 / np.sqrt(x.var(axis=0, ddof=1) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    g = dout * gamma
    return inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))


INIT_SCALE = Exercise("10-init-scale", _init_inputs, probes.init_cases, _judge_init,
                      names=("init_std",))
BATCHNORM_FORWARD = Exercise("10-batchnorm-forward", _forward_inputs, probes.forward_cases,
                             _judge_forward, implemented_by=("coursekit.scratch.BatchNorm1d",),
                             names=("batchnorm_forward",))
BATCHNORM_BACKWARD = Exercise("10-batchnorm-backward", _backward_inputs, probes.backward_cases,
                              _judge_backward,
                              implemented_by=("coursekit.scratch.BatchNorm1d",),
                              names=("batchnorm_backward",))
EXERCISES = registry(INIT_SCALE, BATCHNORM_FORWARD, BATCHNORM_BACKWARD)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)


def init_std(fn: Callable[[int, int, str], float]) -> None:
    """Check ``fn(fan_in, fan_out, nonlinearity)`` against Xavier/Glorot and He/Kaiming."""
    INIT_SCALE.check(fn)


def batchnorm_forward(fn: Callable[..., Any]) -> None:
    """Check ``fn(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
    eps=1e-5) -> (out, new_running_mean, new_running_var)`` against nn.BatchNorm1d."""
    BATCHNORM_FORWARD.check(fn)


def batchnorm_backward(fn: Callable[..., Any]) -> None:
    """Check ``fn(dout, x, gamma, eps=1e-5) -> (dx, dgamma, dbeta)`` (training mode)."""
    BATCHNORM_BACKWARD.check(fn)
