"""Conv2d, MaxPool2d, Flatten and Unflatten equal PyTorch (float64) and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.scratch import (
    SGD,
    Conv2d,
    Dense,
    Flatten,
    MaxPool2d,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    Unflatten,
    check_layer,
    check_model,
)

from .strategies import float_arrays, seeds, torch_settings

TOL = {"rtol": 1e-10, "atol": 1e-12}

pairs = st.tuples(st.integers(1, 4), st.integers(1, 4))


@st.composite
def conv_cases(draw: st.DrawFn):
    """(x, layer arguments) for a convolution whose padded input fits the kernel."""
    kernel = draw(pairs)
    stride = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)))
    h = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 9))
    w = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 9))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = draw(float_arrays((n, c, h, w)))
    return x, {"kernel_size": kernel, "stride": stride, "padding": padding}


@torch_settings
@given(case=conv_cases(), out_channels=st.integers(1, 4), seed=seeds)
def test_conv2d_equals_torch(case, out_channels, seed):
    x, args = case
    rng = np.random.default_rng(seed)
    layer = Conv2d(x.shape[1], out_channels, args["kernel_size"], stride=args["stride"],
                   padding=args["padding"], random_state=rng)
    layer.params["b"][...] = rng.standard_normal(out_channels)
    x_before = x.copy()
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)

    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(layer.params["W"], requires_grad=True)
    bt = torch.tensor(layer.params["b"], requires_grad=True)
    t_out = F.conv2d(xt, Wt, bt, stride=args["stride"], padding=args["padding"])
    t_out.backward(torch.tensor(dout))

    assert out.shape == tuple(t_out.shape) == layer.output_shape(x.shape)
    assert_allclose(out, t_out.detach().numpy(), **TOL)
    assert_allclose(dx, xt.grad.numpy(), **TOL)
    assert_allclose(layer.grads["W"], Wt.grad.numpy(), **TOL)
    assert_allclose(layer.grads["b"], bt.grad.numpy(), **TOL)
    assert dx.shape == x.shape and dx.dtype == np.float64
    assert layer.grads["W"].shape == layer.params["W"].shape
    assert_array_equal(x, x_before)


@st.composite
def pool_cases(draw: st.DrawFn):
    """(x, layer arguments) with padding at most half the kernel, as PyTorch requires."""
    kernel = draw(pairs)
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(st.tuples(st.integers(0, kernel[0] // 2), st.integers(0, kernel[1] // 2)))
    h = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 9))
    w = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 9))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # Few distinct values: ties inside a window are common, as after a ReLU.
    x = draw(st.one_of(
        float_arrays((n, c, h, w)),
        float_arrays((n, c, h, w)).map(lambda a: np.round(np.maximum(a, 0.0))),
    ))
    return x, {"kernel_size": kernel, "stride": stride, "padding": padding}


@torch_settings
@given(case=pool_cases(), seed=seeds)
def test_maxpool2d_equals_torch_ties_included(case, seed):
    x, args = case
    layer = MaxPool2d(args["kernel_size"], stride=args["stride"], padding=args["padding"])
    out = layer.forward(x)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx = layer.backward(dout)

    xt = torch.tensor(x, requires_grad=True)
    t_out = F.max_pool2d(xt, args["kernel_size"], stride=args["stride"] or args["kernel_size"],
                         padding=args["padding"])
    t_out.backward(torch.tensor(dout))
    assert out.shape == tuple(t_out.shape)
    assert_allclose(out, t_out.detach().numpy(), **TOL)
    assert_allclose(dx, xt.grad.numpy(), **TOL)
    assert dx.shape == x.shape and dx.dtype == np.float64
    assert layer.params == {} and layer.grads == {}


def test_maxpool_gives_a_tied_window_gradient_to_its_first_maximum_only():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, 1, 3] = 1.0
    layer = MaxPool2d(2)
    assert_array_equal(layer.forward(x), [[[[0.0, 1.0]]]])
    dx = layer.backward(np.array([[[[5.0, 7.0]]]]))
    assert_array_equal(dx, [[[[5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 7.0]]]])


def test_overlapping_windows_add_their_gradients():
    x = np.array([[[[0.0, 1.0, 9.0, 1.0, 0.0]]]])  # the 9 is the maximum of three windows
    layer = MaxPool2d((1, 3), stride=1)
    assert_array_equal(layer.forward(x), [[[[9.0, 9.0, 9.0]]]])
    assert_array_equal(layer.backward(np.array([[[[1.0, 2.0, 3.0]]]])),
                       [[[[0.0, 0.0, 6.0, 0.0, 0.0]]]])


@pytest.mark.parametrize(
    ("args", "shape"),
    [({"kernel_size": 3, "padding": 1}, (2, 2, 5, 5)),
     ({"kernel_size": (2, 3), "stride": (2, 1), "padding": (0, 2)}, (2, 2, 5, 4)),
     ({"kernel_size": 2, "stride": 3}, (1, 3, 7, 6))],
)
def test_conv2d_passes_the_gradient_check(args, shape):
    rng = np.random.default_rng(11)
    layer = Conv2d(shape[1], 3, random_state=rng, **args)
    layer.params["b"][...] = rng.standard_normal(3)
    errors = check_layer(layer, rng.standard_normal(shape), random_state=12)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < 1e-7


@pytest.mark.parametrize(
    ("args", "shape"),
    [({"kernel_size": 2}, (2, 2, 4, 4)),
     ({"kernel_size": 3, "stride": 2, "padding": 1}, (1, 2, 5, 6))],
)
def test_maxpool2d_passes_the_gradient_check(args, shape):
    # Distinct values at least 1e-3 apart: no tie is closer than the finite difference step.
    rng = np.random.default_rng(13)
    x = rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) * 1e-3
    assert check_layer(MaxPool2d(**args), x, random_state=14)["x"] < 1e-7


def test_flatten_and_unflatten_are_reshapes_both_ways():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    flat = Flatten()
    assert_array_equal(flat.forward(x), x.reshape(2, 12))
    assert_array_equal(flat.backward(np.ones((2, 12))), np.ones((2, 3, 2, 2)))
    unflat = Unflatten((3, 2, 2))
    assert_array_equal(unflat.forward(x.reshape(2, 12)), x)
    assert_array_equal(unflat.backward(np.ones((2, 3, 2, 2))), np.ones((2, 12)))
    # torch.nn.Flatten keeps the same (C, H, W) order
    assert_array_equal(flat.forward(x), torch.nn.Flatten()(torch.tensor(x)).numpy())


def test_a_small_cnn_trains_and_passes_the_model_gradient_check():
    rng = np.random.default_rng(5)
    model = Sequential(
        Unflatten((1, 6, 6)), Conv2d(1, 4, 3, padding=1, random_state=rng), ReLU(),
        MaxPool2d(2), Conv2d(4, 3, 2, random_state=rng), ReLU(), Flatten(),
        Dense(12, 3, init="he", random_state=rng),
    )
    X = rng.standard_normal((24, 36))
    y = np.arange(24, dtype=np.int64) % 3
    X[y == 1, :18] += 2.0  # three classes a CNN can tell apart
    X[y == 2, 18:] += 2.0
    errors = check_model(model, SoftmaxCrossEntropy(), X[:4], y[:4])
    assert max(errors.values()) < 1e-6
    history = model.fit(X, y, loss=SoftmaxCrossEntropy(),
                        optimizer=SGD(model.layers, lr=0.05, momentum=0.9),
                        epochs=30, batch_size=8, random_state=6)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert model.predict(X).shape == (24, 3)


def test_conv2d_weights_are_seeded_he_by_default_and_float64():
    a = Conv2d(2, 8, 3, random_state=0).params["W"]
    assert_array_equal(a, Conv2d(2, 8, 3, random_state=0).params["W"])
    assert a.shape == (8, 2, 3, 3) and a.dtype == np.float64
    big = Conv2d(16, 64, 3, random_state=1).params["W"]
    assert abs(big.std() - np.sqrt(2 / (16 * 9))) < 0.05 * np.sqrt(2 / (16 * 9))
    assert abs(Conv2d(16, 64, 3, init="small", random_state=1).params["W"].std() - 0.01) < 1e-3


def test_reprs():
    assert repr(Conv2d(1, 16, 3, padding=1)) == "Conv2d(1, 16, 3, padding=1)"
    assert repr(Conv2d(2, 4, (3, 2), stride=2)) == "Conv2d(2, 4, (3, 2), stride=2)"
    assert repr(MaxPool2d(2)) == "MaxPool2d(2)"
    assert repr(MaxPool2d(3, stride=1, padding=1)) == "MaxPool2d(3, stride=1, padding=1)"
    assert repr(Unflatten((1, 8, 8))) == "Unflatten((1, 8, 8))"


@pytest.mark.parametrize(
    ("layer", "x_shape", "message"),
    [
        (Conv2d(1, 4, 3), (2, 3, 8, 8),
         r"Conv2d\(1, 4, 3\) expects input of shape \(N, 1, H, W\), got \(2, 3, 8, 8\)"),
        (Conv2d(1, 4, 3), (2, 64),
         r"expects input of shape \(N, 1, H, W\), got \(2, 64\)"),
        (Conv2d(1, 4, 5, padding=1), (2, 1, 2, 8),
         r"expects images of at least \(3, 3\) \(rows, columns\), got input of shape "
         r"\(2, 1, 2, 8\)"),
        (MaxPool2d(2), (2, 8, 8), r"expects input of shape \(N, C, H, W\), got \(2, 8, 8\)"),
        (MaxPool2d(3), (1, 1, 2, 5), r"cannot pool input of shape \(1, 1, 2, 5\)"),
        (Unflatten((1, 8, 8)), (3, 60), r"expects input of shape \(N, 64\), got \(3, 60\)"),
    ],
)
def test_inputs_that_do_not_fit_name_expected_and_given_shapes(layer, x_shape, message):
    with pytest.raises(ValueError, match=message):
        layer.forward(np.zeros(x_shape))


def test_backward_needs_forward_and_a_dout_of_the_output_shape():
    for layer in (Conv2d(1, 2, 3), MaxPool2d(2), Flatten(), Unflatten((4,))):
        with pytest.raises(RuntimeError, match="call forward before backward"):
            layer.backward(np.zeros((1, 2, 2, 2)))
    conv = Conv2d(1, 2, 3)
    conv.forward(np.zeros((5, 1, 6, 6)))
    with pytest.raises(ValueError, match=r"shape of the output \(5, 2, 4, 4\), got \(5, 4, 4, 2\)"):
        conv.backward(np.zeros((5, 4, 4, 2)))
    pool = MaxPool2d(2)
    pool.forward(np.zeros((5, 3, 6, 6)))
    with pytest.raises(ValueError, match=r"shape of the output \(5, 3, 3, 3\), got \(5, 3, 6, 6\)"):
        pool.backward(np.zeros((5, 3, 6, 6)))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Conv2d(0, 3, 3), "in_channels >= 1"),
        (lambda: Conv2d(1, 3, 0), r"kernel_size must be an int >= 1 or a pair of them, got 0"),
        (lambda: Conv2d(1, 3, (3, 3, 3)), "kernel_size must be"),
        (lambda: Conv2d(1, 3, 3, stride=0), "stride must be an int >= 1"),
        (lambda: Conv2d(1, 3, 3, padding=-1), "padding must be an int >= 0"),
        (lambda: Conv2d(1, 3, 3, init="xavier"), "init must be 'he' or 'small'"),
        (lambda: MaxPool2d(2, padding=2), "padding must be at most half the kernel size"),
        (lambda: Unflatten((1, 0, 8)), "positive ints"),
    ],
)
def test_bad_arguments_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()
