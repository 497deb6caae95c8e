"""Lesson 10 checks: valid versions written differently pass (and run the lesson's later cells);
what no declared mistake covers (a missing return, running statistics changed in evaluation,
a tuple too short, a sum over the wrong axis, arguments changed in place, float32) is named.
Declared mistakes are tested in test_mistakes.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson10 as check
from tests.checks.wire import assert_same_verdict_over_the_wire

# --- exercise 1: the initialisation scale --------------------------------------------------


def _init_math(fan_in, fan_out, nonlinearity):
    gain = {"tanh": 2.0 / (fan_in + fan_out), "relu": 2.0 / fan_in}[nonlinearity]
    return math.sqrt(gain)


def _init_numpy(fan_in, fan_out, nonlinearity):
    variance = 2 / fan_in if nonlinearity == "relu" else 2 / (fan_in + fan_out)
    return np.sqrt(variance)  # a NumPy float64 is a number too


def _init_like_the_lesson(init_std):
    """The lesson's torch comparison and its deep-net use of the scale."""
    gen = torch.Generator().manual_seed(0)
    weight = torch.empty(200, 300, dtype=torch.float64)
    nn.init.kaiming_normal_(weight, nonlinearity="relu", generator=gen)
    assert abs(weight.std().item() / init_std(300, 200, "relu") - 1) < 0.02
    nn.init.xavier_normal_(weight, generator=gen)
    assert abs(weight.std().item() / init_std(300, 200, "tanh") - 1) < 0.02
    W = init_std(64, 64, "relu") * np.random.default_rng(0).standard_normal((64, 64))
    assert W.shape == (64, 64) and W.dtype == np.float64


def _init_match(fan_in, fan_out, nonlinearity):
    match nonlinearity:
        case "relu":  # He
            return (2 / fan_in) ** 0.5
        case "tanh":  # Glorot/Xavier
            return (2 / (fan_in + fan_out)) ** 0.5
    raise ValueError(nonlinearity)


INIT_VALID = [_init_math, _init_numpy, _init_match]


@pytest.mark.parametrize("valid", [check.reference_init_std, *INIT_VALID],
                         ids=["reference", "math", "numpy", "match"])
def test_init_accepts_valid_versions_that_run_the_later_cells(valid, capsys):
    check.init_std(valid)
    assert "✔ 10-init-scale" in capsys.readouterr().out
    _init_like_the_lesson(valid)


def test_init_names_a_missing_return():
    with pytest.raises(ExerciseFailed, match=r"init_std\(64, 10, 'tanh'\): expected a float, got "
                                             r"None \(did you forget to return\?\)"):
        check.init_std(lambda i, o, kind: None)


# --- exercise 2: batchnorm forward ---------------------------------------------------------


def _forward_explicit(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                      eps=1e-5):
    if training:
        n = len(x)
        mean = x.sum(axis=0) / n
        var = ((x - mean) ** 2).sum(axis=0) / n
        unbiased = ((x - mean) ** 2).sum(axis=0) / (n - 1)
        new_mean = running_mean + momentum * (mean - running_mean)
        new_var = running_var + momentum * (unbiased - running_var)
    else:
        mean, var, new_mean, new_var = running_mean, running_var, running_mean, running_var
    return gamma * ((x - mean) / np.sqrt(var + eps)) + beta, new_mean, new_var


def _forward_in_place(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                      eps=1e-5):
    """Updates the running arrays in place, as nn.BatchNorm1d does, and returns them."""
    if training:
        mean, var = x.mean(axis=0), x.var(axis=0)
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * x.var(axis=0, ddof=1)
        x_hat = (x - mean) / np.sqrt(var + eps)
    else:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
    return gamma * x_hat + beta, running_mean, running_var


def _batchnorm_like_the_lesson(forward, backward, steps=None):
    """The lesson's comparison with nn.BatchNorm1d: two training batches, then evaluation."""
    steps = steps or check.reference_batchnorm_backward_steps
    rng = np.random.default_rng(0)
    d = 5
    gamma, beta = rng.uniform(0.5, 2.0, d), rng.standard_normal(d)
    bn = nn.BatchNorm1d(d, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
    running_mean, running_var = np.zeros(d), np.ones(d)
    for step in range(3):
        training = step < 2
        bn.train(training)
        x = 3.0 * rng.standard_normal((16, d)) + 2.0
        dout = rng.standard_normal((16, d))
        out, running_mean, running_var = forward(x, gamma, beta, running_mean, running_var,
                                                 training)
        xt = torch.tensor(x, requires_grad=True)
        bn.zero_grad()
        out_t = bn(xt)
        out_t.backward(torch.tensor(dout))
        pairs = [(out, out_t), (running_mean, bn.running_mean), (running_var, bn.running_var)]
        if training:
            dx, dgamma, dbeta = backward(dout, x, gamma)
            pairs += [(dx, xt.grad), (dgamma, bn.weight.grad), (dbeta, bn.bias.grad),
                      (steps(dout, x, gamma)[3], xt.grad)]
        for a, b in pairs:
            assert np.abs(a - b.detach().numpy()).max() < 1e-10


def _forward_keepdims(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                      eps=1e-5):
    if not training:
        return (gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta, running_mean,
                running_var)
    mean = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    out = gamma * (x - mean) * (var + eps) ** -0.5 + beta
    new_mean = momentum * mean[0] + (1 - momentum) * running_mean
    new_var = momentum * np.var(x, axis=0, ddof=1) + (1 - momentum) * running_var
    return out, new_mean, new_var


FORWARD_VALID = [_forward_explicit, _forward_in_place, _forward_keepdims]


@pytest.mark.parametrize("valid", [check.reference_batchnorm_forward, *FORWARD_VALID],
                         ids=["reference", "explicit", "in-place", "keepdims"])
def test_forward_accepts_valid_versions_that_run_the_later_cell(valid, capsys):
    check.batchnorm_forward(valid)
    assert "✔ 10-batchnorm-forward" in capsys.readouterr().out
    _batchnorm_like_the_lesson(valid, check.reference_batchnorm_backward)


def _forward_updating_in_evaluation(x, gamma, beta, running_mean, running_var, training,
                                    momentum=0.1, eps=1e-5):
    out, new_mean, new_var = check.reference_batchnorm_forward(
        x, gamma, beta, running_mean, running_var, training, momentum, eps)
    if not training:
        new_mean = 0.9 * running_mean + 0.1 * x.mean(axis=0)  # a fixed update, in evaluation
    return out, new_mean, new_var


def test_forward_must_leave_the_running_statistics_in_evaluation():
    with pytest.raises(ExerciseFailed, match="evaluation mode must return the running mean "
                                             "unchanged"):
        check.batchnorm_forward(_forward_updating_in_evaluation)


def test_forward_must_return_three_things():
    with pytest.raises(ExerciseFailed, match=r"expected a tuple of 3 \(out, new_running_mean, "
                                             r"new_running_var\), got an array"):
        check.batchnorm_forward(lambda x, g, b, rm, rv, training, momentum=0.1, eps=1e-5:
                                check.reference_batchnorm_forward(x, g, b, rm, rv,
                                                                  training)[0])


# --- exercise 3: batchnorm backward --------------------------------------------------------


def _backward_staged(dout, x, gamma, eps=1e-5):
    """The computational-graph version: through var, then mean, step by step."""
    n = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + eps)
    x_hat = xc / std
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * xc * -0.5 * std**-3, axis=0)
    dmu = np.sum(-dx_hat / std, axis=0) + dvar * np.mean(-2.0 * xc, axis=0)
    dx = dx_hat / std + dvar * 2.0 * xc / n + dmu / n
    return dx, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)


def _backward_centred(dout, x, gamma, eps=1e-5):
    """dx as the centred g minus its projection on x_hat."""
    inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    g = dout * gamma
    dx = inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))
    return dx, np.einsum("nd,nd->d", dout, x_hat), dout.sum(axis=0)


def _backward_jacobian_per_feature(dout, x, gamma, eps=1e-5):
    """A loop over features: dx[:, j] = Jᵀ (dout[:, j] γ_j), with the (N, N) Jacobian of
    x̂[:, j] written out, J = (I − 1/N − x̂ x̂ᵀ/N) / σ_j."""
    n, d = x.shape
    dx, dgamma = np.empty_like(x), np.empty(d)
    for j in range(d):
        std = np.sqrt(np.var(x[:, j]) + eps)
        x_hat = (x[:, j] - np.mean(x[:, j])) / std
        jacobian = (np.eye(n) - 1.0 / n - np.outer(x_hat, x_hat) / n) / std
        dx[:, j] = jacobian.T @ (dout[:, j] * gamma[j])
        dgamma[j] = dout[:, j] @ x_hat
    return dx, dgamma, dout.sum(axis=0)


BACKWARD_VALID = [_backward_staged, _backward_centred, _backward_jacobian_per_feature]


@pytest.mark.parametrize("valid", [check.reference_batchnorm_backward, *BACKWARD_VALID],
                         ids=["reference", "staged", "centred", "jacobian"])
def test_backward_accepts_valid_versions_that_run_the_later_cell(valid, capsys):
    check.batchnorm_backward(valid)
    assert "✔ 10-batchnorm-backward" in capsys.readouterr().out
    _batchnorm_like_the_lesson(check.reference_batchnorm_forward, valid)


def test_backward_with_sums_over_the_wrong_axis_is_a_shape_error():
    def wrong_axis(dout, x, gamma, eps=1e-5):
        dx, _, _ = check.reference_batchnorm_backward(dout, x, gamma, eps)
        return dx, dout.sum(axis=1), dout.sum(axis=1)

    with pytest.raises(ExerciseFailed, match="dgamma: expected shape"):
        check.batchnorm_backward(wrong_axis)


# --- exercise 3: the backward pass step by step -------------------------------------------


def _steps_inv_std(dout, x, gamma, eps=1e-5):
    """Written with s = (σ² + ε)^(−1/2) and x̂, keeping the zero term of dmu."""
    n = len(x)
    mu = np.mean(x, axis=0)
    var = np.mean((x - mu) ** 2, axis=0)
    s = (var + eps) ** -0.5
    x_hat = (x - mu) * s
    dx_hat = gamma * dout
    dvar = -0.5 * s**2 * np.einsum("nd,nd->d", dx_hat, x_hat)  # (x − μ) s³ = x̂ s²
    dmu = -s * dx_hat.sum(axis=0) + dvar * (-2.0 / n) * (x - mu).sum(axis=0)
    dx = s * dx_hat + dvar * 2.0 * (x - mu) / n + dmu / n
    return dx_hat, dvar, dmu, dx


def _steps_per_feature(dout, x, gamma, eps=1e-5):
    """A loop over features with the chain rule written as sums over the batch."""
    n, d = x.shape
    dx_hat, dx, dvar, dmu = np.empty_like(x), np.empty_like(x), np.empty(d), np.empty(d)
    for j in range(d):
        mu = sum(x[:, j]) / n
        var = sum((x[:, j] - mu) ** 2) / n
        std = np.sqrt(var + eps)
        dx_hat[:, j] = dout[:, j] * gamma[j]
        dvar[j] = sum(dx_hat[:, j] * (x[:, j] - mu)) * -0.5 / std**3
        dmu[j] = -sum(dx_hat[:, j]) / std
        dx[:, j] = dx_hat[:, j] / std + dvar[j] * 2 * (x[:, j] - mu) / n + dmu[j] / n
    return dx_hat, dvar, dmu, dx


STEPS_VALID = [_steps_inv_std, _steps_per_feature]


@pytest.mark.parametrize("valid", [check.reference_batchnorm_backward_steps, *STEPS_VALID],
                         ids=["reference", "inv-std", "per-feature"])
def test_steps_accept_valid_versions_whose_dx_the_lesson_compares(valid, capsys):
    check.batchnorm_backward_steps(valid)
    assert "✔ 10-batchnorm-steps" in capsys.readouterr().out
    _batchnorm_like_the_lesson(check.reference_batchnorm_forward,
                               check.reference_batchnorm_backward, valid)


@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_the_reference_steps_are_autograds_gradients_at_each_node(eps):
    """dx_hat, dvar, dmu and dx are what autograd gives at x̂, σ², μ and x."""
    rng = np.random.default_rng(3)
    dout, x, gamma = rng.normal(size=(7, 3)), rng.normal(1.0, 2.0, (7, 3)), rng.uniform(0.5, 2, 3)
    xt = torch.tensor(x, requires_grad=True)
    mu = xt.mean(axis=0)
    var = ((xt - mu) ** 2).mean(axis=0)
    x_hat = (xt - mu) / torch.sqrt(var + eps)
    for node in (mu, var, x_hat):
        node.retain_grad()
    (torch.tensor(gamma) * x_hat).backward(torch.tensor(dout))
    steps = check.reference_batchnorm_backward_steps(dout, x, gamma, eps)
    for got, node in zip(steps, (x_hat, var, mu, xt), strict=True):
        np.testing.assert_allclose(got, node.grad.numpy(), rtol=1e-12, atol=1e-13)


def test_steps_must_return_four_things():
    with pytest.raises(ExerciseFailed, match=r"expected a tuple of 4 \(dx_hat, dvar, dmu, dx\)"):
        check.batchnorm_backward_steps(
            lambda dout, x, gamma, eps=1e-5:
            check.reference_batchnorm_backward_steps(dout, x, gamma, eps)[1:])


# ---- every exercise's valid versions, for tests/checks/test_valid_versions.py ----

VALID_VERSIONS: dict[str, list[object]] = {
    "10-init-scale": INIT_VALID,
    "10-batchnorm-forward": FORWARD_VALID,
    "10-batchnorm-steps": STEPS_VALID,
    "10-batchnorm-backward": BACKWARD_VALID,
}


# --- accepted once, then cell l10-15 failed: refused now ---------------------------------
# It hands the same x to nn.BatchNorm1d after your forward, and compares everything to 1e-10.


def _forward_normalising_x(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                           eps=1e-5):
    if training:
        n, mean, var = len(x), x.mean(axis=0), x.var(axis=0)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    else:
        mean, var = running_mean, running_var
    x -= mean  # in place, to save an array
    x /= np.sqrt(var + eps)
    return gamma * x + beta, running_mean, running_var


def _forward_float32(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                     eps=1e-5):
    out, new_mean, new_var = check.reference_batchnorm_forward(
        x.astype(np.float32), gamma, beta, running_mean, running_var, training, momentum, eps)
    return out.astype(np.float64), new_mean, new_var


def _backward_float32(dout, x, gamma, eps=1e-5):
    return check.reference_batchnorm_backward(dout.astype(np.float32), x.astype(np.float32),
                                              gamma.astype(np.float32), eps)


@pytest.mark.parametrize(
    ("exercise_id", "wrong", "message"),
    [("10-batchnorm-forward", _forward_normalising_x, r"changed `x` in place"),
     ("10-batchnorm-forward", _forward_float32, r"right only to about float32 precision: an "
                                                "array made float32 somewhere"),
     ("10-batchnorm-backward", _backward_float32, r"your answer is float32; keep every array "
                                                  "float64")],
    ids=["forward-x-in-place", "forward-float32", "backward-float32"],
)
def test_answers_cell_l10_15_cannot_use_are_refused(exercise_id, wrong, message):
    for seed in (None, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            check.EXERCISES[exercise_id].check(wrong, **({} if seed is None else {"seed": seed}))


@pytest.mark.parametrize(
    ("exercise_id", "student"),
    [("10-init-scale", check.reference_init_std), ("10-init-scale", lambda i, o, kind: None),
     ("10-batchnorm-forward", check.reference_batchnorm_forward),
     ("10-batchnorm-forward", _forward_normalising_x),
     ("10-batchnorm-forward", _forward_float32),
     ("10-batchnorm-steps", check.reference_batchnorm_backward_steps),
     ("10-batchnorm-steps", _steps_per_feature),
     ("10-batchnorm-backward", check.reference_batchnorm_backward),
     ("10-batchnorm-backward", "not a function"),
     ("10-batchnorm-backward", _backward_float32)],
)
def test_probe_data_survives_the_wire(exercise_id, student):
    assert_same_verdict_over_the_wire(check.EXERCISES[exercise_id], student)
