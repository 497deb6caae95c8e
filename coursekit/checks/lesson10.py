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

from coursekit.checks.score import scorer
from coursekit.exercise import Got, Mistake, Tolerance, function, registry, same
from coursekit.exercise.judging import FLOAT32

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


def _init_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    # fan_in != fan_out everywhere: with equal fans, Glorot's and LeCun's scales coincide
    cases: list[dict[str, Any]] = [{"fan_in": 64, "fan_out": 10, "nonlinearity": "tanh"},
                                   {"fan_in": 64, "fan_out": 10, "nonlinearity": "relu"}]
    for _ in range(3):
        fan_in, fan_out = (int(v) for v in rng.integers(2, 500, size=2))
        if fan_in == fan_out:
            fan_out += 7
        for nonlinearity in ("tanh", "relu"):
            cases.append({"fan_in": fan_in, "fan_out": fan_out, "nonlinearity": nonlinearity})
    return cases


def _other(nonlinearity: str) -> str:
    return "relu" if nonlinearity == "tanh" else "tanh"


def _for(rule: str, wrong: Callable[[int, int], float]) -> Callable[[int, int, str], float]:
    """A version with ``wrong(fan_in, fan_out)`` for the ``rule`` nonlinearity, right for the
    other one."""
    return lambda i, o, kind: wrong(i, o) if kind == rule else reference_init_std(i, o, kind)


init_std = function(
    "10-init-scale", names=("init_std",), args=("fan_in", "fan_out", "nonlinearity"),
    cases=_init_cases, reference=reference_init_std, tolerance=TOLERANCE,
    where=lambda i, o, kind: f"init_std({i}, {o}, {kind!r})",
    passed="standard deviations match Xavier/Glorot and He/Kaiming on {n} layers",
    mistakes=[
        Mistake("that is the variance; return its square root, the standard deviation",
                lambda i, o, kind: reference_init_std(i, o, kind) ** 2),
        Mistake(lambda i, o, kind: f"that is the rule for {_other(kind)!r}: Xavier/Glorot "
                "√(2/(fan_in + fan_out)) is for tanh, He/Kaiming √(2/fan_in) for ReLU",
                lambda i, o, kind: reference_init_std(i, o, _other(kind))),
        Mistake("He/Kaiming uses fan_in, the number of inputs: √(2/fan_in)",
                _for("relu", lambda i, o: np.sqrt(2.0 / o))),
        Mistake("missing the factor 2 that makes up for ReLU zeroing half its inputs",
                _for("relu", lambda i, o: np.sqrt(1.0 / i))),
        Mistake("that is LeCun's √(1/fan_in); Xavier/Glorot averages both fans: "
                "√(2/(fan_in + fan_out))", _for("tanh", lambda i, o: np.sqrt(1.0 / i))),
        Mistake("Xavier/Glorot has a 2 over the sum of the fans: √(2/(fan_in + fan_out))",
                _for("tanh", lambda i, o: np.sqrt(1.0 / (i + o)))),
    ])


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


def _forward_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Training and evaluation with the default momentum and eps (called without them), then
    both with others (evaluation passes the default momentum, to reach eps by position)."""
    cases = []
    for training, momentum, eps in ((True, None, None), (False, None, None),
                                    (True, 0.3, 1e-3), (False, 0.1, 0.5)):
        n, d = int(rng.integers(5, 10)), int(rng.integers(2, 5))
        case = {"x": rng.normal(loc=2.0, scale=3.0, size=(n, d)),
                "gamma": rng.uniform(0.5, 2.0, d), "beta": rng.normal(size=d),
                "running_mean": rng.normal(size=d), "running_var": rng.uniform(0.5, 3.0, d),
                "training": training}
        if momentum is not None:
            case.update(momentum=momentum, eps=eps)
        cases.append(case)
    return cases


Stats = tuple[np.ndarray, np.ndarray]


def _used(x: np.ndarray, rm: np.ndarray, rv: np.ndarray, training: bool) -> Stats:
    """The mean and variance each mode normalises with."""
    return (x.mean(axis=0), x.var(axis=0)) if training else (rm, rv)


def _out(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
         var: np.ndarray, eps: float) -> np.ndarray:
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _running(x: np.ndarray, rm: np.ndarray, rv: np.ndarray, training: bool,
             momentum: float) -> Stats:
    """The running statistics each mode returns."""
    if not training:
        return rm, rv
    n = x.shape[0]
    return ((1 - momentum) * rm + momentum * x.mean(axis=0),
            (1 - momentum) * rv + momentum * x.var(axis=0) * n / (n - 1))


def _version(stats: Callable[..., Stats] = _used, normalise: Callable[..., np.ndarray] = _out,
             running: Callable[..., Stats] = _running) -> Callable[..., Any]:
    """A forward pass that takes its statistics (``stats(x, rm, rv, training)``), its
    normalisation (``normalise(x, gamma, beta, mean, var, eps)``) and its running statistics
    (``running(x, rm, rv, training, momentum)``) from the arguments: one of them wrong."""

    def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
                running_var: np.ndarray, training: bool, momentum: float = 0.1,
                eps: float = 1e-5) -> Any:
        mean, var = stats(x, running_mean, running_var, training)
        return (normalise(x, gamma, beta, mean, var, eps),
                *running(x, running_mean, running_var, training, momentum))

    return forward


def _running_unchanged(got: Got, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                       rm: np.ndarray, rv: np.ndarray, training: bool, *_: float) -> str | None:
    """In evaluation mode, running statistics that changed (beyond float32 precision)."""
    if training or got.kind != "list" or got.length != 3:
        return None
    for item, before, name in zip(got.items[1:], (rm, rv), ("mean", "variance"), strict=True):
        if item.kind == "array" and item.shape == before.shape and not same(item, before,
                                                                           FLOAT32):
            return f"evaluation mode must return the running {name} unchanged"
    return None


def _forward_where(x: np.ndarray, g: Any, b: Any, rm: Any, rv: Any, training: bool,
                   momentum: float = 0.1, eps: float = 1e-5) -> str:
    mode = "training" if training else "evaluation"
    return f"{mode} mode, x of shape {x.shape}, momentum={momentum:g}, eps={eps:g}"


batchnorm_forward = function(
    "10-batchnorm-forward", names=("batchnorm_forward",),
    args=("x", "gamma", "beta", "running_mean", "running_var", "training", "momentum", "eps"),
    keep=("x", "gamma", "beta"), cases=_forward_cases, reference=reference_batchnorm_forward,
    tolerance=FLOAT64, float64=True, parts=("out", "new_running_mean", "new_running_var"),
    explain=_running_unchanged, where=_forward_where,
    implemented_by=("coursekit.scratch.BatchNorm1d",),
    passed="outputs and running statistics match nn.BatchNorm1d in both modes ({n} cases)",
    mistakes=[
        Mistake("in training mode normalise with the batch's own mean and variance, not the "
                "running ones", _version(stats=lambda x, rm, rv, t: (rm, rv))),
        Mistake("in evaluation mode normalise with the running mean and variance, not the "
                "batch's", _version(stats=lambda x, rm, rv, t: (x.mean(axis=0), x.var(axis=0)))),
        Mistake("the statistics are per feature, over the batch: mean and var over axis 0, not "
                "axis 1", _version(stats=lambda x, rm, rv, t: (
                    x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)) if t else
                    (rm, rv))),
        Mistake("normalise with the biased batch variance (divide by N); only the running "
                "variance uses N − 1", _version(stats=lambda x, rm, rv, t: (
                    x.mean(axis=0), x.var(axis=0, ddof=1)) if t else (rm, rv))),
        Mistake("eps goes inside the square root: (x − μ) / √(σ² + eps)",
                _version(normalise=lambda x, g, b, mean, var, e:
                         g * (x - mean) / (np.sqrt(var) + e) + b)),
        Mistake("use the eps passed in, not a fixed 1e-5",
                _version(normalise=lambda x, g, b, mean, var, e: _out(x, g, b, mean, var, 1e-5))),
        Mistake("gamma scales and beta shifts: gamma * x_hat + beta",
                _version(normalise=lambda x, g, b, mean, var, e: _out(x, b, g, mean, var, e))),
        Mistake("update the running mean, (1 − momentum)·running + momentum·batch mean, don't "
                "just return the batch's mean and variance",
                _version(running=lambda x, rm, rv, t, m: _used(x, rm, rv, t))),
        Mistake("the running variance uses the unbiased batch variance, var · N/(N − 1), as "
                "PyTorch does", _version(running=lambda x, rm, rv, t, m: (
                    _running(x, rm, rv, t, m)[0], (1 - m) * rv + m * x.var(axis=0)) if t else
                    (rm, rv))),
        Mistake("momentum is the weight of the new batch: (1 − momentum)·running + "
                "momentum·batch", _version(running=lambda x, rm, rv, t, m:
                                           _running(x, rm, rv, t, 1 - m) if t else (rm, rv))),
        Mistake("use the momentum passed in, not a fixed 0.1",
                _version(running=lambda x, rm, rv, t, m: _running(x, rm, rv, t, 0.1))),
        Mistake("evaluation mode must return the running mean and variance unchanged: only "
                "training updates them (with the batch's statistics)",
                _version(running=lambda x, rm, rv, t, m: _running(x, rm, rv, True, m))),
    ])


# --- exercise 4: batchnorm backward in one line ----------------------------------------

def reference_batchnorm_backward(
    dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dgamma, dbeta)`` in training mode (batch statistics)."""
    return _backward(dout, x, gamma, eps)


def _backward(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5, *,
              ddof: int = 0, by_gamma: bool = True, mean_path: bool = True,
              variance_path: bool = True, swap: bool = False,
              eps_outside: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backward pass with the variance's ``ddof``, with or without multiplying by gamma
    and each path of dx through the batch statistics, dgamma and dbeta maybe swapped, and eps
    maybe added outside the square root."""
    n = x.shape[0]
    var = x.var(axis=0, ddof=ddof)
    inv_std = 1.0 / (np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps))
    x_hat = (x - x.mean(axis=0)) * inv_std
    g = dout * gamma if by_gamma else dout
    dx = inv_std / n * (n * g - mean_path * g.sum(axis=0)
                        - variance_path * x_hat * (g * x_hat).sum(axis=0))
    dgamma, dbeta = (dout * x_hat).sum(axis=0), dout.sum(axis=0)
    return (dx, dbeta, dgamma) if swap else (dx, dgamma, dbeta)


def _backward_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for n, d, eps in ((8, 3, None), (5, 4, None), (12, 2, 0.1)):
        case: dict[str, Any] = {"dout": rng.normal(size=(n, d)),
                                "x": rng.normal(loc=1.0, scale=2.0, size=(n, d)),
                                "gamma": rng.uniform(0.5, 2.0, d)}
        if eps is not None:
            case["eps"] = eps
        cases.append(case)
    return cases


batchnorm_backward = function(
    "10-batchnorm-backward", names=("batchnorm_backward",), args=("dout", "x", "gamma", "eps"),
    keep=("gamma",), cases=_backward_cases, reference=reference_batchnorm_backward,
    tolerance=FLOAT64, float64=True, parts=("dx", "dgamma", "dbeta"),
    where=lambda dout, x, gamma, eps=1e-5: f"x of shape {x.shape}, eps={eps:g}",
    implemented_by=("coursekit.scratch.BatchNorm1d",),
    passed="dx, dgamma and dbeta match autograd on {n} batches",
    mistakes=[
        Mistake("dx: the batch mean and variance depend on x too: this treats them as "
                "constants (dout·γ/σ, the evaluation-mode gradient)",
                lambda dout, x, gamma, eps=1e-5: _backward(dout, x, gamma, eps, mean_path=False,
                                                           variance_path=False)),
        Mistake("dx: the path through the variance is missing: subtract x_hat·Σ(g·x_hat) too",
                lambda dout, x, gamma, eps=1e-5: _backward(dout, x, gamma, eps,
                                                           variance_path=False)),
        Mistake("dx: the path through the mean is missing: subtract Σg too",
                lambda dout, x, gamma, eps=1e-5: _backward(dout, x, gamma, eps,
                                                           mean_path=False)),
        Mistake("dx: multiply dout by gamma first: g = dout·γ is the gradient with respect to "
                "x_hat", lambda dout, x, gamma, eps=1e-5: _backward(dout, x, gamma, eps,
                                                                    by_gamma=False)),
        Mistake("use the biased variance (divide by N), as the forward pass does",
                lambda dout, x, gamma, eps=1e-5: _backward(dout, x, gamma, eps, ddof=1)),
        Mistake("eps goes inside the square root, σ = √(var + eps), as in the forward pass; "
                "√var + eps is another number (the gradient then misses by about eps/σ)",
                lambda dout, x, gamma, eps=1e-5: _backward(dout, x, gamma, eps,
                                                           eps_outside=True)),
        Mistake("use the eps passed in, not a fixed 1e-5",
                lambda dout, x, gamma, eps=1e-5: _backward(dout, x, gamma)),
        Mistake("dgamma and dbeta are swapped: dgamma = Σ dout·x_hat, dbeta = Σ dout",
                lambda dout, x, gamma, eps=1e-5: _backward(dout, x, gamma, eps, swap=True)),
        Mistake("dgamma = Σ dout·x_hat, with the normalised x_hat, not the raw x",
                lambda dout, x, gamma, eps=1e-5: (_backward(dout, x, gamma, eps)[0],
                                                  (dout * x).sum(axis=0), dout.sum(axis=0))),
    ])

# --- exercise 3: the backward pass derived step by step --------------------------------

Steps = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def reference_batchnorm_backward_steps(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray,
                                       eps: float = 1e-5) -> Steps:
    """``(dx_hat, dvar, dmu, dx)``: the chain rule through x̂, σ², μ and x, node by node."""
    return _steps(dout, x, gamma, eps)


def _steps(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5, *,
           by_gamma: bool = True, power: float = 3.0, half: float = -0.5, mu_sign: float = -1.0,
           ddof: int = 0, two: float = 2.0, var_n: bool = True, mean_n: bool = True,
           var_path: bool = True, mean_path: bool = True) -> Steps:
    """The steps with one slip chosen by the keywords (the defaults are right)."""
    n = x.shape[0]
    xc = x - x.mean(axis=0)
    s = 1.0 / np.sqrt(x.var(axis=0, ddof=ddof) + eps)
    dx_hat = dout * gamma if by_gamma else dout.copy()
    dvar = (dx_hat * xc).sum(axis=0) * half * s**power
    dmu = mu_sign * (dx_hat * s).sum(axis=0) + dvar * -2.0 * xc.mean(axis=0)
    dx = (dx_hat * s + var_path * dvar * two * xc / (n if var_n else 1)
          + mean_path * dmu / (n if mean_n else 1))
    return dx_hat, dvar, dmu, dx


def _slip(**slip: Any) -> Callable[..., Steps]:
    return lambda dout, x, gamma, eps=1e-5: _steps(dout, x, gamma, eps, **slip)


batchnorm_backward_steps = function(
    "10-batchnorm-steps", names=("batchnorm_backward_steps",),
    args=("dout", "x", "gamma", "eps"), keep=("dout", "x", "gamma"), cases=_backward_cases,
    reference=reference_batchnorm_backward_steps, tolerance=FLOAT64, float64=True,
    parts=("dx_hat", "dvar", "dmu", "dx"),
    where=lambda dout, x, gamma, eps=1e-5: f"x of shape {x.shape}, eps={eps:g}",
    implemented_by=("coursekit.scratch.BatchNorm1d",),
    passed="dx_hat, dvar, dmu and dx match autograd's, node by node, on {n} batches",
    mistakes=[
        Mistake("dx_hat: y = γ·x̂ + β, so ∂L/∂x̂ = dout·γ: the factor γ is missing",
                _slip(by_gamma=False)),
        Mistake("dvar: use the biased variance (divide by N), as the forward pass does",
                _slip(ddof=1)),
        Mistake("use the eps passed in, not a fixed 1e-5",
                lambda dout, x, gamma, eps=1e-5: _steps(dout, x, gamma)),
        Mistake("dvar: d/dσ² of (σ² + ε)^(−1/2) is −½·(σ² + ε)^(−3/2): the power is −3/2, "
                "not −1/2", _slip(power=1.0)),
        Mistake("dvar: d/dσ² of (σ² + ε)^(−1/2) is −½·(σ² + ε)^(−3/2): the factor ½ is "
                "missing", _slip(half=-1.0)),
        Mistake("dvar: d/dσ² of (σ² + ε)^(−1/2) is negative (a larger variance shrinks x̂): "
                "−½·(σ² + ε)^(−3/2)", _slip(half=0.5)),
        Mistake("dmu: x̂_n = (x_n − μ)·s falls when μ rises: ∂x̂_n/∂μ = −s, so the direct "
                "term is −Σ ∂L/∂x̂_n · s", _slip(mu_sign=1.0)),
        Mistake("dx: the path through μ is missing: add ∂L/∂μ · ∂μ/∂x_n",
                _slip(mean_path=False)),
        Mistake("dx: the path through σ² is missing: add ∂L/∂σ² · ∂σ²/∂x_n",
                _slip(var_path=False)),
        Mistake("dx: μ and σ² depend on x too: this treats them as constants (dx_hat·s, the "
                "evaluation-mode gradient)", _slip(var_path=False, mean_path=False)),
        Mistake("dx: μ = (1/N)·Σ x_n, so ∂μ/∂x_n = 1/N: divide ∂L/∂μ by N",
                _slip(mean_n=False)),
        Mistake("dx: ∂σ²/∂x_n = 2(x_n − μ)/N: divide by N", _slip(var_n=False)),
        Mistake("dx: ∂σ²/∂x_n = 2(x_n − μ)/N: the factor 2 is missing", _slip(two=1.0)),
    ])

EXERCISES = registry(init_std, batchnorm_forward, batchnorm_backward_steps, batchnorm_backward)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)
