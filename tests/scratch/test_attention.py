"""Scaled dot-product attention and SelfAttention equal PyTorch in float64 (forward, weights,
every gradient), pass gradient checks, and keep the future out of a causal model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.scratch import (
    SelfAttention,
    attention_backward,
    causal_mask,
    check_layer,
    numerical_gradient,
    scaled_dot_product_attention,
)

from .strategies import seeds, torch_settings

TOL = {"rtol": 1e-10, "atol": 1e-12}


@st.composite
def qkv_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], int, int, int, int]:
    """(leading axes, T, S, d, d_v): 0 to 2 leading axes, lengths and widths 1 to 5."""
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    t, s, d, dv = (draw(st.integers(1, 5)) for _ in range(4))
    return lead, t, s, d, dv


@torch_settings
@given(shapes=qkv_shapes(), causal=st.booleans(), seed=seeds)
def test_attention_equals_torch_sdpa(shapes, causal, seed):
    lead, t, s, d, dv = shapes
    rng = np.random.default_rng(seed)
    q, k = 2.0 * rng.standard_normal((*lead, t, d)), 2.0 * rng.standard_normal((*lead, s, d))
    v, dout = rng.standard_normal((*lead, s, dv)), rng.standard_normal((*lead, t, dv))
    before = [a.copy() for a in (q, k, v, dout)]
    out, weights = scaled_dot_product_attention(q, k, v, causal=causal)
    dq, dk, dv_ = attention_backward(dout, q, k, v, weights)
    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    t_out = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
    t_out.backward(torch.tensor(dout))
    with torch.no_grad():  # torch's function returns no weights: the softmax it takes
        scores = qt @ kt.transpose(-1, -2) / np.sqrt(d)
        if causal:
            scores = scores.masked_fill(~torch.ones(t, s, dtype=torch.bool).tril(), -torch.inf)
        t_weights = torch.softmax(scores, dim=-1)
    assert out.shape == (*lead, t, dv) and weights.shape == (*lead, t, s)
    assert_allclose(out, t_out.detach().numpy(), **TOL)
    assert_allclose(weights, t_weights.numpy(), **TOL)
    for mine, tensor in ((dq, qt), (dk, kt), (dv_, vt)):
        assert mine.shape == tensor.shape
        assert_allclose(mine, tensor.grad.numpy(), **TOL)
    for a, b in zip((q, k, v, dout), before, strict=True):
        assert_array_equal(a, b)  # inputs never modified


@pytest.mark.parametrize("causal", [True, False])
def test_attention_gradients_equal_finite_differences(causal):
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((2, 4, 3)) for _ in range(3))
    upstream = rng.standard_normal((2, 4, 3))
    _, weights = scaled_dot_product_attention(q, k, v, causal)
    analytic = attention_backward(upstream, q, k, v, weights)
    for index, array in enumerate((q, k, v)):

        def loss(a: np.ndarray, index: int = index) -> float:
            args = [q, k, v]
            args[index] = a
            return float(np.sum(scaled_dot_product_attention(*args, causal)[0] * upstream))

        assert_allclose(analytic[index], numerical_gradient(loss, array.copy()),
                        rtol=1e-6, atol=1e-9)


def test_the_causal_mask_keeps_the_diagonal_and_zeroes_the_future():
    assert_array_equal(causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    assert_array_equal(causal_mask(2, 3), [[1, 0, 0], [1, 1, 0]])
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((5, 4)) * 50.0 for _ in range(3))
    with np.errstate(invalid="raise", over="raise", divide="raise"):  # no inf - inf, no NaN
        _, weights = scaled_dot_product_attention(q, k, v, causal=True)
    assert_array_equal(weights[~causal_mask(5)], 0.0)
    assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-14)
    assert weights[0, 0] == 1.0  # the first position sees only itself


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        (((4,), (4,), (4,)), r"q of shape \(\.\.\., T, d\), got \(4,\)"),
        (((2, 3, 4), (2, 5, 3), (2, 5, 4)), r"k of shape \(2, S, 4\).*got \(2, 5, 3\)"),
        (((2, 3, 4), (1, 5, 4), (1, 5, 4)), r"k of shape \(2, S, 4\).*got \(1, 5, 4\)"),
        (((3, 4), (5, 4), (6, 2)), r"v of shape \(5, d_v\).*got \(6, 2\)"),
    ],
)
def test_attention_refuses_mismatched_shapes(shapes, message):
    q, k, v = (np.zeros(shape) for shape in shapes)
    with pytest.raises(ValueError, match=message):
        scaled_dot_product_attention(q, k, v, causal=False)


def test_attention_backward_refuses_a_wrong_dout_or_weights():
    q, k, v = np.zeros((3, 4)), np.zeros((5, 4)), np.zeros((5, 2))
    _, weights = scaled_dot_product_attention(q, k, v)
    with pytest.raises(ValueError, match=r"dout of the output's shape \(3, 2\), got \(3, 4\)"):
        attention_backward(np.zeros((3, 4)), q, k, v, weights)
    with pytest.raises(ValueError, match=r"weights of shape \(3, 5\), got \(5, 3\)"):
        attention_backward(np.zeros((3, 2)), q, k, v, weights.T)


def attention_twins(e: int, h: int, causal: bool, rng: np.random.Generator):
    """A scratch SelfAttention with non-zero biases and the nn.MultiheadAttention it fills."""
    ours = SelfAttention(e, h, causal=causal, random_state=rng)
    ours.params["b_in"][...] = rng.standard_normal(3 * e)
    ours.params["b_out"][...] = rng.standard_normal(e)
    return ours, ours.to_torch()


@torch_settings
@given(n=st.integers(1, 4), t=st.integers(1, 6), h=st.integers(1, 3), head_dim=st.integers(1, 3),
       causal=st.booleans(), seed=seeds)
def test_self_attention_equals_torch_multihead_attention(n, t, h, head_dim, causal, seed):
    rng = np.random.default_rng(seed)
    e = h * head_dim
    ours, theirs = attention_twins(e, h, causal, rng)
    x, dout = rng.standard_normal((n, t, e)), rng.standard_normal((n, t, e))
    before = x.copy(), dout.copy()
    out = ours.forward(x)
    dx = ours.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    mask = torch.ones(t, t, dtype=torch.bool).triu(1) if causal else None
    t_out, t_weights = theirs(xt, xt, xt, attn_mask=mask, need_weights=True,
                              average_attn_weights=False)
    t_out.backward(torch.tensor(dout))
    assert out.shape == dx.shape == (n, t, e) and out.dtype == np.float64
    assert_allclose(out, t_out.detach().numpy(), **TOL)
    assert ours.weights is not None and ours.weights.shape == (n, h, t, t)
    assert_allclose(ours.weights, t_weights.detach().numpy(), **TOL)
    assert_allclose(dx, xt.grad.numpy(), **TOL)
    torch_grads = {"W_in": theirs.in_proj_weight, "b_in": theirs.in_proj_bias,
                   "W_out": theirs.out_proj.weight, "b_out": theirs.out_proj.bias}
    assert set(ours.grads) == set(ours.params) == set(torch_grads)
    for name, param in torch_grads.items():
        assert ours.grads[name].shape == ours.params[name].shape == param.shape
        assert_allclose(ours.grads[name], param.grad.numpy(), **TOL, err_msg=name)
    assert_array_equal(x, before[0])
    assert_array_equal(dout, before[1])


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("seed", range(3))
def test_self_attention_passes_the_numerical_check(causal, seed):
    rng = np.random.default_rng(seed)
    layer, _ = attention_twins(6, 2, causal, rng)
    errors = check_layer(layer, rng.standard_normal((2, 4, 6)), random_state=seed)
    assert set(errors) == {"x", "W_in", "b_in", "W_out", "b_out"}


def test_a_causal_layer_never_reads_the_future():
    rng = np.random.default_rng(1)
    layer = SelfAttention(8, 4, random_state=0)
    x = rng.standard_normal((2, 6, 8))
    out = layer.forward(x)
    for t in range(5):
        changed = x.copy()
        changed[:, t + 1:] = rng.standard_normal((2, 5 - t, 8))
        assert_allclose(layer.forward(changed)[:, :t + 1], out[:, :t + 1], rtol=1e-14,
                        atol=1e-15)
    full = SelfAttention(8, 4, causal=False, random_state=0)
    changed = x.copy()
    changed[:, -1] += 1.0
    assert not np.allclose(full.forward(changed)[:, 0], full.forward(x)[:, 0])
    assert repr(full) == "SelfAttention(8, 4, causal=False)"


def test_same_seed_same_parameters_drawn_like_torch():
    a, b, c = (SelfAttention(16, 4, random_state=seed) for seed in (3, 3, 4))
    for name in a.params:
        assert_array_equal(a.params[name], b.params[name])
        assert a.params[name].dtype == np.float64
    assert not np.array_equal(a.params["W_in"], c.params["W_in"])
    assert_array_equal(a.params["b_in"], np.zeros(48))
    assert_array_equal(a.params["b_out"], np.zeros(16))
    assert np.abs(a.params["W_in"]).max() <= np.sqrt(6 / 64)  # Xavier-uniform of (3E, E)
    assert np.abs(a.params["W_out"]).max() <= 1 / 4


def test_to_torch_fills_a_given_module_and_refuses_a_mismatched_one():
    layer = SelfAttention(6, 3, random_state=0)
    mha = torch.nn.MultiheadAttention(6, 3, batch_first=True, dtype=torch.float64)
    assert layer.to_torch(mha) is mha
    assert_array_equal(mha.in_proj_weight.detach().numpy(), layer.params["W_in"])
    assert_array_equal(mha.out_proj.weight.detach().numpy(), layer.params["W_out"])
    with pytest.raises(ValueError, match=r"nn.MultiheadAttention\(6, 3\), got \(6, 2\)"):
        layer.to_torch(torch.nn.MultiheadAttention(6, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="bias=True"):
        layer.to_torch(torch.nn.MultiheadAttention(6, 3, bias=False, dtype=torch.float64))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SelfAttention(6, 4), "num_heads must divide embed_dim"),
        (lambda: SelfAttention(0, 1), "embed_dim must be an int >= 1"),
        (lambda: SelfAttention(4, 0), "num_heads must be an int >= 1"),
        (lambda: SelfAttention(8, 2).forward(np.zeros((2, 3, 4))),
         r"SelfAttention\(8, 2\) expects input of shape \(N, T, 8\), got \(2, 3, 4\)"),
        (lambda: SelfAttention(8, 2).forward(np.zeros((3, 8))),
         r"shape \(N, T, 8\), got \(3, 8\)"),
        (lambda: SelfAttention(8, 2).backward(np.zeros((2, 3, 8))), "forward before backward"),
    ],
)
def test_bad_arguments_are_refused_clearly(make, message):
    with pytest.raises((ValueError, RuntimeError), match=message):
        make()


def test_backward_needs_a_dout_of_the_output_shape():
    layer = SelfAttention(4, 2, random_state=0)
    layer.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"shape of the output \(2, 3, 4\), got \(2, 4, 3\)"):
        layer.backward(np.zeros((2, 4, 3)))
