"""BatchNorm1d equals torch.nn.BatchNorm1d in float64, in both modes, and passes gradient checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from coursekit.scratch import (
    SGD,
    BatchNorm1d,
    Dense,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    check_layer,
    check_model,
)

from .strategies import float_arrays, seeds, torch_settings

TOL = {"rtol": 1e-9, "atol": 1e-10}
momenta = st.floats(0.0, 1.0)


@st.composite
def batches(draw: st.DrawFn, min_rows: int = 2) -> np.ndarray:
    """A float64 batch of shape (N, D), 2 <= N <= 8, 1 <= D <= 6."""
    n = draw(st.integers(min_rows, 8))
    d = draw(st.integers(1, 6))
    return draw(float_arrays((n, d)))


def twins(d: int, momentum: float, rng: np.random.Generator):
    """A scratch and a torch BatchNorm1d with the same random gamma and beta."""
    ours = BatchNorm1d(d, momentum=momentum)
    ours.params["gamma"][...] = rng.uniform(0.5, 2.0, d)
    ours.params["beta"][...] = rng.standard_normal(d)
    theirs = torch.nn.BatchNorm1d(d, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.params["gamma"]))
        theirs.bias.copy_(torch.from_numpy(ours.params["beta"]))
    return ours, theirs


def step_both(ours, theirs, x: np.ndarray, dout: np.ndarray):
    """Forward and backward in both; returns the pairs (ours, torch) to compare."""
    theirs.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    t_out = theirs(xt)
    t_out.backward(torch.tensor(dout))
    out = ours.forward(x)
    dx = ours.backward(dout)
    return [
        (out, t_out.detach().numpy()),
        (dx, xt.grad.numpy()),
        (ours.grads["gamma"], theirs.weight.grad.numpy()),
        (ours.grads["beta"], theirs.bias.grad.numpy()),
        (ours.running_mean, theirs.running_mean.numpy()),
        (ours.running_var, theirs.running_var.numpy()),
    ]


@torch_settings
@given(first=batches(), seed=seeds, momentum=momenta, data=st.data())
def test_training_mode_equals_torch_over_two_batches(first, seed, momentum, data):
    rng = np.random.default_rng(seed)
    d = first.shape[1]
    second = data.draw(float_arrays((data.draw(st.integers(2, 8)), d)))
    ours, theirs = twins(d, momentum, rng)
    for x in (first, second):  # the running statistics must accumulate the same way
        dout = rng.standard_normal(x.shape)
        for mine, torch_value in step_both(ours, theirs, x, dout):
            assert_allclose(mine, torch_value, **TOL)


@torch_settings
@given(train=batches(), test=batches(min_rows=1), seed=seeds, momentum=momenta)
def test_evaluation_mode_equals_torch(train, test, seed, momentum):
    rng = np.random.default_rng(seed)
    d = train.shape[1]
    test = test[:, :1].repeat(d, axis=1) + rng.standard_normal((test.shape[0], d))
    ours, theirs = twins(d, momentum, rng)
    step_both(ours, theirs, train, rng.standard_normal(train.shape))
    ours.training = False
    theirs.eval()
    dout = rng.standard_normal(test.shape)
    running_before = ours.running_mean.copy(), ours.running_var.copy()
    for mine, torch_value in step_both(ours, theirs, test, dout):
        assert_allclose(mine, torch_value, **TOL)
    # evaluation leaves the running statistics alone
    assert_allclose(ours.running_mean, running_before[0], rtol=0, atol=0)
    assert_allclose(ours.running_var, running_before[1], rtol=0, atol=0)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("seed", range(5))
def test_gradients_pass_the_numerical_check(training, seed):
    rng = np.random.default_rng(seed)
    layer = BatchNorm1d(4)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, 4)
    layer.params["beta"][...] = rng.standard_normal(4)
    layer.forward(3.0 * rng.standard_normal((16, 4)) + 1.0)  # non-trivial running statistics
    layer.training = training
    # h = 1e-5: with batch statistics the output is flat along shifts of a column, and the
    # smaller default step leaves more rounding noise than signal in those directions
    errors = check_layer(layer, rng.standard_normal((6, 4)), h=1e-5, random_state=seed)
    assert set(errors) == {"x", "gamma", "beta"}


def test_a_network_with_batchnorm_passes_the_model_check():
    rng = np.random.default_rng(0)
    model = Sequential(Dense(5, 8, init="he", random_state=rng), BatchNorm1d(8), ReLU(),
                       Dense(8, 3, init="he", random_state=rng))
    X = rng.standard_normal((12, 5))
    y = rng.integers(0, 3, 12)
    errors = check_model(model, SoftmaxCrossEntropy(), X, y, h=1e-5)
    assert {"1.gamma", "1.beta", "0.W"} <= set(errors)


def test_training_a_network_equals_torch_step_by_step():
    """Dense -> BatchNorm1d -> ReLU -> Dense with SGD(momentum, weight_decay), then eval."""
    rng = np.random.default_rng(1)
    ours = Sequential(Dense(4, 6, init="he", random_state=rng), BatchNorm1d(6, momentum=0.2),
                      ReLU(), Dense(6, 3, init="he", random_state=rng))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6, momentum=0.2), torch.nn.ReLU(),
        torch.nn.Linear(6, 3)).to(torch.float64)
    with torch.no_grad():
        for index in (0, 3):
            theirs[index].weight.copy_(torch.from_numpy(ours.layers[index].params["W"].T))
            theirs[index].bias.copy_(torch.from_numpy(ours.layers[index].params["b"]))
    loss = SoftmaxCrossEntropy()
    opt = SGD(ours.layers, lr=0.1, momentum=0.9, weight_decay=0.01)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    for step in range(10):
        rows = slice(4 * step, 4 * step + 4)
        value = loss.forward(ours.forward(X[rows]), y[rows])
        ours.backward(loss.backward())
        opt.step()
        t_opt.zero_grad()
        t_loss = torch.nn.functional.cross_entropy(
            theirs(torch.from_numpy(X[rows])), torch.from_numpy(y[rows]))
        t_loss.backward()
        t_opt.step()
        assert_allclose(value, t_loss.item(), **TOL)
    assert_allclose(ours.layers[1].running_var, theirs[1].running_var.numpy(), **TOL)
    theirs.eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(X)).numpy()
    assert_allclose(ours.predict(X), expected, **TOL)


def test_evaluation_mode_predicts_each_sample_on_its_own():
    rng = np.random.default_rng(2)
    layer = BatchNorm1d(3)
    layer.forward(rng.standard_normal((20, 3)))
    layer.training = False
    x = rng.standard_normal((5, 3))
    together = layer.forward(x)
    alone = np.concatenate([layer.forward(x[i:i + 1]) for i in range(5)])
    assert_allclose(together, alone, rtol=1e-15)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BatchNorm1d(0), "n_features >= 1"),
        (lambda: BatchNorm1d(3, momentum=1.5), r"momentum must be in \[0, 1\]"),
        (lambda: BatchNorm1d(3, eps=0.0), "eps must be > 0"),
        (lambda: BatchNorm1d(3).forward(np.ones((4, 2))), r"expects input of shape \(N, 3\)"),
        (lambda: BatchNorm1d(3).forward(np.ones((1, 3))), "at least 2 rows"),
        (lambda: BatchNorm1d(3).backward(np.ones((2, 3))), "call forward before backward"),
    ],
)
def test_bad_arguments_are_refused_clearly(make, message):
    with pytest.raises((ValueError, RuntimeError), match=message):
        make()
