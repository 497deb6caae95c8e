"""LayerNorm equals torch.nn.LayerNorm in float64 on inputs of any shape (..., D), and passes
gradient checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.scratch import LayerNorm, check_layer, numerical_gradient

from .strategies import float_arrays, seeds, torch_settings

TOL = {"rtol": 1e-9, "atol": 1e-10}


@st.composite
def inputs(draw: st.DrawFn) -> np.ndarray:
    """A float64 array of 1 to 4 axes, each of length 1 to 5 (the last one is D)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=5))
    return draw(float_arrays(shape))


def twins(d: int, eps: float, rng: np.random.Generator) -> tuple[LayerNorm, torch.nn.LayerNorm]:
    """A scratch and a torch LayerNorm with the same random gamma and beta."""
    ours = LayerNorm(d, eps=eps)
    ours.params["gamma"][...] = rng.uniform(0.5, 2.0, d)
    ours.params["beta"][...] = rng.standard_normal(d)
    theirs = torch.nn.LayerNorm(d, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.params["gamma"]))
        theirs.bias.copy_(torch.from_numpy(ours.params["beta"]))
    return ours, theirs


@torch_settings
@given(x=inputs(), seed=seeds, eps=st.sampled_from([1e-5, 1e-3, 0.5]))
def test_layernorm_equals_torch(x, seed, eps):
    rng = np.random.default_rng(seed)
    d = x.shape[-1]
    ours, theirs = twins(d, eps, rng)
    dout = rng.standard_normal(x.shape)
    x_before, dout_before = x.copy(), dout.copy()
    out = ours.forward(x)
    dx = ours.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    t_out = theirs(xt)
    t_out.backward(torch.tensor(dout))
    assert out.shape == dx.shape == x.shape and out.dtype == dx.dtype == np.float64
    assert_allclose(out, t_out.detach().numpy(), **TOL)
    assert_allclose(dx, xt.grad.numpy(), **TOL)
    assert_allclose(ours.grads["gamma"], theirs.weight.grad.numpy(), **TOL)
    assert_allclose(ours.grads["beta"], theirs.bias.grad.numpy(), **TOL)
    assert ours.grads["gamma"].shape == ours.grads["beta"].shape == (d,)
    assert_array_equal(x, x_before)  # forward and backward never change their arguments
    assert_array_equal(dout, dout_before)


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 5), (7,)], ids=str)
@pytest.mark.parametrize("seed", range(3))
def test_gradients_pass_the_numerical_check(shape, seed):
    rng = np.random.default_rng(seed)
    layer = LayerNorm(shape[-1])
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, shape[-1])
    layer.params["beta"][...] = rng.standard_normal(shape[-1])
    # h = 1e-5, as for BatchNorm1d: the output is flat along shifts of a whole row
    errors = check_layer(layer, 2.0 * rng.standard_normal(shape) + 1.0, h=1e-5,
                         random_state=seed)
    assert set(errors) == {"x", "gamma", "beta"}


def test_the_input_gradient_goes_through_the_mean_and_the_variance():
    # a gradient that ignored them (dout * gamma / std) is wrong: compare with finite differences
    rng = np.random.default_rng(3)
    x, upstream = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    layer = LayerNorm(5)
    layer.forward(x)
    dx = layer.backward(upstream)

    def loss(z: np.ndarray) -> float:
        return float(np.sum(LayerNorm(5).forward(z) * upstream))

    numeric = numerical_gradient(loss, x.copy(), h=1e-5)
    assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)
    naive = upstream / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)
    assert not np.allclose(naive, numeric, rtol=1e-3)


def test_each_row_is_standardised_whatever_the_other_rows():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 6)) * [[1.0], [10.0], [0.1], [100.0]] + 3.0
    out = LayerNorm(6, eps=1e-12).forward(x)
    assert_allclose(out.mean(axis=-1), 0.0, atol=1e-12)
    assert_allclose(out.std(axis=-1), 1.0, rtol=1e-9)
    assert_allclose(LayerNorm(6).forward(x[1:2]), LayerNorm(6).forward(x)[1:2], rtol=1e-15)


def test_starts_as_the_identity_affine_map_and_ignores_the_mode():
    layer = LayerNorm(3)
    assert_array_equal(layer.params["gamma"], np.ones(3))
    assert_array_equal(layer.params["beta"], np.zeros(3))
    assert all(p.dtype == np.float64 for p in layer.params.values())
    x = np.array([[1.0, 2.0, 4.0], [0.0, -1.0, 3.0]])
    train = layer.forward(x)
    layer.training = False
    assert_array_equal(layer.forward(x), train)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LayerNorm(0), "normalized_shape must be an int >= 1"),
        (lambda: LayerNorm(2.5), "normalized_shape must be an int >= 1"),
        (lambda: LayerNorm(3, eps=0.0), "eps must be a finite number > 0"),
        (lambda: LayerNorm(3).forward(np.ones((4, 2))),
         r"LayerNorm\(3\) expects input of shape \(\.\.\., 3\), got \(4, 2\)"),
        (lambda: LayerNorm(3).forward(np.float64(1.0)), r"shape \(\.\.\., 3\), got \(\)"),
        (lambda: LayerNorm(3).backward(np.ones((2, 3))), "call forward before backward"),
    ],
)
def test_bad_arguments_are_refused_clearly(make, message):
    with pytest.raises((ValueError, RuntimeError), match=message):
        make()


def test_backward_needs_a_dout_of_the_output_shape():
    layer = LayerNorm(3)
    layer.forward(np.ones((2, 4, 3)))
    with pytest.raises(ValueError, match=r"shape of the output \(2, 4, 3\), got \(2, 3\)"):
        layer.backward(np.ones((2, 3)))
