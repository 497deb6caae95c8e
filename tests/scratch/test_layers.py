"""Every layer's forward and backward equal PyTorch autograd in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.scratch import Dense, Dropout, ReLU, Sigmoid, Softmax, Tanh

from .strategies import float_arrays, matrices, seeds, torch_settings, widths

TOL = {"rtol": 1e-10, "atol": 1e-12}


def torch_reference(fn, x: np.ndarray, dout: np.ndarray, *params: np.ndarray):
    """Forward ``fn(x, *params)`` in torch and backpropagate ``dout``: (out, dx, *dparams)."""
    xt = torch.tensor(x, requires_grad=True)
    pts = [torch.tensor(p, requires_grad=True) for p in params]
    out = fn(xt, *pts)
    out.backward(torch.tensor(dout))
    return (out.detach().numpy(), xt.grad.numpy(), *(p.grad.numpy() for p in pts))


@torch_settings
@given(x=matrices(), n_out=widths, seed=seeds, init=st.sampled_from(["small", "he"]))
def test_dense_equals_torch(x, n_out, seed, init):
    rng = np.random.default_rng(seed)
    layer = Dense(x.shape[1], n_out, init=init, random_state=rng)
    layer.params["b"][...] = rng.standard_normal(n_out)  # a non-zero bias is a better test
    dout = rng.standard_normal((x.shape[0], n_out))
    out = layer.forward(x)
    dx = layer.backward(dout)
    # torch.nn.functional.linear keeps the weight as (out, in): pass W.T
    t_out, t_dx, t_dW, t_db = torch_reference(
        lambda xt, W, b: torch.nn.functional.linear(xt, W.T, b), x, dout,
        layer.params["W"], layer.params["b"],
    )
    assert_allclose(out, t_out, **TOL)
    assert_allclose(dx, t_dx, **TOL)
    assert_allclose(layer.grads["W"], t_dW, **TOL)
    assert_allclose(layer.grads["b"], t_db, **TOL)
    assert layer.grads["W"].shape == layer.params["W"].shape == (x.shape[1], n_out)
    assert layer.grads["b"].shape == layer.params["b"].shape == (n_out,)


ACTIVATIONS = [
    (ReLU, torch.relu),
    (Sigmoid, torch.sigmoid),
    (Tanh, torch.tanh),
    (Softmax, lambda t: torch.softmax(t, dim=1)),
]


@pytest.mark.parametrize(
    ("layer_class", "torch_fn"), ACTIVATIONS, ids=["ReLU", "Sigmoid", "Tanh", "Softmax"]
)
@torch_settings
@given(x=matrices(bound=30.0), seed=seeds)
def test_activation_equals_torch(layer_class, torch_fn, x, seed):
    dout = np.random.default_rng(seed).standard_normal(x.shape)
    x_before = x.copy()
    layer = layer_class()
    out = layer.forward(x)
    dx = layer.backward(dout)
    t_out, t_dx = torch_reference(torch_fn, x, dout)
    assert_allclose(out, t_out, **TOL)
    assert_allclose(dx, t_dx, **TOL)
    assert layer.params == {} and layer.grads == {}
    assert_array_equal(x, x_before)  # forward and backward never change their input


def test_relu_gradient_at_zero_is_zero_like_torch():
    x = np.array([[-1.0, 0.0, 2.0]])
    layer = ReLU()
    layer.forward(x)
    assert_array_equal(layer.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


def test_sigmoid_and_softmax_stay_finite_at_huge_inputs():
    x = np.array([[-1e4, 0.0, 1e4], [1e4, 1e4, -1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no warning either
        s = Sigmoid().forward(x)
        p = Softmax().forward(x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(p))
    assert_allclose(s, [[0.0, 0.5, 1.0], [1.0, 1.0, 0.0]])
    assert_allclose(p.sum(axis=1), 1.0)
    assert_allclose(p, [[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])


@torch_settings
@given(x=matrices(bound=1e4))
def test_softmax_rows_sum_to_one(x):
    p = Softmax().forward(x)
    assert np.all(np.isfinite(p))
    assert np.all((p >= 0) & (p <= 1))
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@torch_settings
@given(x=matrices(), seed=seeds, rate=st.floats(0.0, 0.9))
def test_dropout_backward_is_torch_autograd_of_the_same_mask(x, seed, rate):
    layer = Dropout(rate, random_state=seed)
    dout = np.random.default_rng(seed + 1).standard_normal(x.shape)
    out = layer.forward(x)
    dx = layer.backward(dout)
    mask = np.ones_like(x) if layer.mask is None else layer.mask
    t_out, t_dx = torch_reference(lambda t: t * torch.tensor(mask), x, dout)
    assert_allclose(out, t_out, **TOL)
    assert_allclose(dx, t_dx, **TOL)
    assert set(np.unique(mask)) <= {0.0, 1.0 / (1.0 - rate)}


def test_dropout_drops_the_right_fraction_and_keeps_the_mean():
    x = np.ones((400, 500))
    out = Dropout(0.3, random_state=0).forward(x)
    assert abs(np.mean(out == 0.0) - 0.3) < 0.01
    assert_allclose(out[out != 0.0], 1.0 / 0.7)
    assert abs(out.mean() - 1.0) < 0.01


def test_dropout_is_the_identity_in_eval_mode():
    layer = Dropout(0.5, random_state=0)
    layer.training = False
    x = np.arange(12.0).reshape(3, 4)
    assert_array_equal(layer.forward(x), x)
    assert_array_equal(layer.backward(np.ones((3, 4))), np.ones((3, 4)))


def test_dropout_same_seed_same_masks_and_a_new_mask_each_call():
    x = np.ones((20, 30))
    a, b = Dropout(0.5, random_state=7), Dropout(0.5, random_state=7)
    first, second = a.forward(x), a.forward(x)
    assert_array_equal(first, b.forward(x))
    assert_array_equal(second, b.forward(x))
    assert not np.array_equal(first, second)


def test_dense_initialisations():
    small = Dense(400, 300, random_state=0)
    he = Dense(400, 300, init="he", random_state=0)
    assert abs(small.params["W"].std() - 0.01) < 0.0005
    assert abs(he.params["W"].std() - np.sqrt(2 / 400)) < 0.05 * np.sqrt(2 / 400)
    for layer in (small, he):
        assert layer.params["W"].dtype == np.float64
        assert_array_equal(layer.params["b"], np.zeros(300))


def test_dense_weights_are_seeded():
    def weights(random_state):
        return Dense(3, 2, random_state=random_state).params["W"]

    assert_array_equal(weights(5), weights(5))
    assert not np.array_equal(weights(5), weights(6))
    rng = np.random.default_rng(0)
    assert not np.array_equal(weights(rng), weights(rng))  # a Generator is advanced


@given(x=float_arrays((4, 3)))
def test_float64_in_float64_out(x):
    layer = Dense(3, 2, random_state=0)
    assert layer.forward(x).dtype == np.float64
    assert layer.backward(np.ones((4, 2))).dtype == np.float64
    assert layer.grads["W"].dtype == np.float64


def test_dense_rejects_a_wrong_input_shape():
    layer = Dense(2, 4)
    expected = r"Dense\(2, 4\) expects input of shape \(N, 2\), got \(5, 3\)"
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, 2\), got \(2,\)"):
        layer.forward(np.zeros(2))


def test_backward_needs_forward_and_a_dout_of_the_output_shape():
    layer = Dense(2, 4)
    with pytest.raises(RuntimeError, match="call forward before backward"):
        layer.backward(np.zeros((5, 4)))
    layer.forward(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"dout must have the shape of the output \(5, 4\)"):
        layer.backward(np.zeros((4, 5)))
    with pytest.raises(RuntimeError, match="call forward before backward"):
        ReLU().backward(np.zeros(3))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Dense(0, 3), "n_in must be an int >= 1"),
        (lambda: Dense(2, 3.5), "n_out must be an int >= 1"),
        (lambda: Dense(2, 3, init="xavier"), "init must be one of 'small', 'he'"),
        (lambda: Dense(2, 3, random_state=-1), "random_state must be a non-negative int"),
        (lambda: Dropout(1.0), "rate must be a finite number >= 0 and < 1"),
        (lambda: Dropout(-0.1), "rate must be a finite number >= 0 and < 1"),
    ],
)
def test_bad_layer_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_softmax_needs_a_matrix():
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        Softmax().forward(np.zeros(3))
