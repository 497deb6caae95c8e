"""Dropout and weight decay equal PyTorch's (nn.Dropout with the same mask, train()/eval(),
weight_decay= in torch.optim); the L2 penalty is the loss whose gradient weight decay adds;
early stopping reads a validation curve as a real run would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.scratch import (
    SGD,
    Adam,
    Dense,
    Dropout,
    Sequential,
    SoftmaxCrossEntropy,
    Tanh,
    early_stopping_epoch,
    l2_penalty,
    numerical_gradient,
)

from .strategies import away_from_zero, seeds, torch_settings

TOL = {"rtol": 1e-10, "atol": 1e-12}
rates = st.floats(0.0, 0.9)


def torch_dropout(x: np.ndarray, rate: float, seed: int, dout: np.ndarray):
    """nn.Dropout in training mode on x: (output, dL/dx), drawn from a forked, seeded RNG."""
    with torch.random.fork_rng(devices=[]):  # leaves torch's global generator as it was
        torch.manual_seed(seed)
        xt = torch.tensor(x, requires_grad=True)
        out = torch.nn.Dropout(rate).train()(xt)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


@torch_settings
@given(x=away_from_zero(), rate=rates, seed=seeds)
def test_dropout_equals_nn_dropout_with_the_same_mask(x, rate, seed):
    dout = np.random.default_rng(seed).standard_normal(x.shape)
    t_out, t_dx = torch_dropout(x, rate, seed % 2**31, dout)
    keep = t_out != 0.0  # x has no zeros, so a zero output is a dropped input
    layer = Dropout(rate, random_state=seed)
    out = layer.forward(x, keep)
    assert_allclose(out, t_out, **TOL)
    assert_allclose(layer.backward(dout), t_dx, **TOL)


@torch_settings
@given(x=away_from_zero(), rate=rates)
def test_dropout_in_eval_mode_is_the_identity_like_torch(x, rate):
    layer = Dropout(rate, random_state=0)
    layer.training = False
    t_out = torch.nn.Dropout(rate).eval()(torch.tensor(x)).numpy()
    assert_array_equal(layer.forward(x), t_out)
    assert_array_equal(layer.forward(x), x)


def test_dropout_refuses_a_mask_of_the_wrong_shape_or_type():
    layer = Dropout(0.5, random_state=0)
    with pytest.raises(ValueError, match=r"boolean array of shape \(2, 3\)"):
        layer.forward(np.ones((2, 3)), np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="boolean array"):
        layer.forward(np.ones((2, 3)), np.ones((2, 3)))


def _twin_networks(rng: np.random.Generator, rate: float):
    """Dense(5, 8) -> Tanh -> Dropout -> Dense(8, 3) in scratch and torch, the same weights."""
    ours = Sequential(Dense(5, 8, init="he", random_state=rng), Tanh(),
                      Dropout(rate, random_state=rng), Dense(8, 3, init="he", random_state=rng))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Dropout(rate),
                                 torch.nn.Linear(8, 3)).to(torch.float64)
    with torch.no_grad():
        for index in (0, 3):
            theirs[index].weight.copy_(torch.from_numpy(ours.layers[index].params["W"].T))
            theirs[index].bias.copy_(torch.from_numpy(ours.layers[index].params["b"]))
    return ours, theirs


@pytest.mark.parametrize(
    ("make_ours", "make_theirs"),
    [
        (lambda ls: SGD(ls, lr=0.1, weight_decay=0.05),
         lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.05)),
        (lambda ls: SGD(ls, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.3),
         lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.3)),
        (lambda ls: Adam(ls, lr=0.01, weight_decay=0.1),
         lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    ],
    ids=["sgd", "sgd-nesterov", "adam"],
)
@pytest.mark.parametrize("seed", range(3))
def test_training_with_dropout_and_weight_decay_equals_torch(make_ours, make_theirs, seed):
    """train(): torch draws each dropout mask and we replay it; eval(): both deterministic."""
    rng = np.random.default_rng(seed)
    ours, theirs = _twin_networks(rng, rate=0.3)
    masks: list[np.ndarray] = []
    theirs[2].register_forward_hook(lambda module, inputs, out: masks.append(
        (out != 0).numpy()))
    loss = SoftmaxCrossEntropy()
    opt, t_opt = make_ours(ours.layers), make_theirs(theirs.parameters())
    X, y = rng.standard_normal((30, 5)), rng.integers(0, 3, 30)
    ours.train()
    theirs.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(6):
            rows = slice(5 * step, 5 * step + 5)
            t_opt.zero_grad()
            t_loss = torch.nn.functional.cross_entropy(
                theirs(torch.from_numpy(X[rows])), torch.from_numpy(y[rows]))
            t_loss.backward()
            t_opt.step()
            h = X[rows]
            for layer in ours.layers:  # replay torch's mask in our Dropout
                h = layer.forward(h, masks[-1]) if isinstance(layer, Dropout) else \
                    layer.forward(h)
            assert_allclose(loss.forward(h, y[rows]), t_loss.item(), **TOL)
            ours.backward(loss.backward())
            opt.step()
    for index in (0, 3):
        assert_allclose(ours.layers[index].params["W"], theirs[index].weight.detach().numpy().T,
                        **TOL)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(X)).numpy()
    assert_allclose(ours.forward(X), expected, **TOL)
    assert_array_equal(ours.forward(X), ours.forward(X))  # no randomness left in eval mode


@given(seed=seeds, weight_decay=st.floats(0.0, 10.0))
def test_l2_penalty_has_the_gradient_that_weight_decay_adds(seed, weight_decay):
    rng = np.random.default_rng(seed)
    layers = [Dense(3, 4, random_state=rng), Dense(4, 2, random_state=rng)]
    for layer in layers:
        layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    for layer in layers:
        for name, param in layer.params.items():
            numeric = numerical_gradient(lambda _: l2_penalty(layers, weight_decay), param)
            assert_allclose(numeric, weight_decay * param, rtol=1e-6, atol=1e-8,
                            err_msg=f"{layer!r} {name}")


def test_an_sgd_step_with_weight_decay_descends_the_penalised_loss():
    """SGD(weight_decay=lam) takes the step of plain SGD on loss + l2_penalty(lam)."""
    rng = np.random.default_rng(3)
    model = Sequential(Dense(4, 3, init="he", random_state=rng))
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    loss, lam, lr = SoftmaxCrossEntropy(), 0.2, 0.5
    W = model.layers[0].params["W"]

    def penalised(_: np.ndarray) -> float:
        return loss.forward(model.forward(X), y) + l2_penalty(model.layers, lam)

    expected = W - lr * numerical_gradient(penalised, W)
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    SGD(model.layers, lr=lr, weight_decay=lam).step()
    assert_allclose(W, expected, rtol=1e-7, atol=1e-9)


def test_l2_penalty_value_and_bad_weight_decay():
    layer = Dense(2, 2, random_state=0)
    layer.params["W"][...] = [[1.0, 2.0], [0.0, -2.0]]
    layer.params["b"][...] = [1.0, 0.0]
    assert l2_penalty([layer], 0.1) == pytest.approx(0.5 * 0.1 * 10.0)
    with pytest.raises(ValueError, match="weight_decay must be"):
        l2_penalty([layer], -1.0)


@pytest.mark.parametrize(
    ("curve", "patience", "expected"),
    [
        ([5.0, 4.0, 3.0, 3.5, 3.6, 2.0], 2, 2),  # stops at index 4 and never sees the 2.0
        ([5.0, 4.0, 3.0, 3.5, 3.6, 2.0], 3, 5),  # one more epoch of patience finds it
        ([1.0, 1.0, 1.0], 5, 0),                 # a tie is no improvement: the first is kept
        ([3.0, 2.0, 1.0], 1, 2),                 # still improving at the end
        ([7.0], 1, 0),
    ],
)
def test_early_stopping_epoch_examples(curve, patience, expected):
    assert early_stopping_epoch(curve, patience=patience) == expected


@given(curve=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=40),
       patience=st.integers(1, 50))
def test_early_stopping_keeps_the_best_epoch_it_saw(curve, patience):
    best = early_stopping_epoch(curve, patience=patience)
    assert curve[best] == min(curve[:best + patience + 1])
    if patience >= len(curve):  # never runs out of patience: the minimum of the whole curve
        assert best == int(np.argmin(curve))


@pytest.mark.parametrize(
    ("curve", "patience", "message"),
    [([], 1, "non-empty"), ([[1.0]], 1, "1-d"), ([1.0], 0, "patience must be"),
     ([1.0], 1.5, "patience must be")],
)
def test_early_stopping_refuses_bad_arguments(curve, patience, message):
    with pytest.raises(ValueError, match=message):
        early_stopping_epoch(curve, patience=patience)
