"""Embedding equals torch.nn.Embedding, forward and backward, repeated indices included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.scratch import Embedding, numerical_gradient

from .strategies import seeds, torch_settings

TOL = {"rtol": 1e-12, "atol": 1e-12}


@st.composite
def tables_and_indices(draw: st.DrawFn) -> tuple[int, int, np.ndarray]:
    """(V, D, ix): 1 <= V <= 6 rows (so indices repeat often), ix of 1 to 3 axes."""
    v = draw(st.integers(1, 6))
    d = draw(st.integers(1, 5))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    ix = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, v - 1)))
    return v, d, ix


@torch_settings
@given(case=tables_and_indices(), seed=seeds)
def test_embedding_equals_torch(case, seed):
    v, d, ix = case
    rng = np.random.default_rng(seed)
    layer = Embedding(v, d, random_state=rng)
    dout = rng.standard_normal((*ix.shape, d))
    out = layer.forward(ix)
    dx = layer.backward(dout)
    reference = torch.nn.Embedding(v, d, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.params["W"]))
    t_out = reference(torch.from_numpy(ix))
    t_out.backward(torch.from_numpy(dout))
    assert out.shape == (*ix.shape, d) and out.dtype == np.float64
    assert_allclose(out, t_out.detach().numpy(), **TOL)
    assert_allclose(layer.grads["W"], reference.weight.grad.numpy(), **TOL)
    assert_array_equal(dx, np.zeros(ix.shape))


def test_repeated_indices_add_their_gradients_and_the_numerical_gradient_agrees():
    layer = Embedding(4, 3, random_state=0)
    ix = np.array([[1, 1, 3], [1, 0, 3]])
    upstream = np.random.default_rng(1).standard_normal((2, 3, 3))
    layer.forward(ix)
    layer.backward(upstream)
    W = layer.params["W"]

    def loss(_: np.ndarray) -> float:
        return float(np.sum(W[ix] * upstream))

    assert_allclose(layer.grads["W"], numerical_gradient(loss, W), rtol=1e-7, atol=1e-9)
    assert_allclose(layer.grads["W"][1], upstream[0, 0] + upstream[0, 1] + upstream[1, 0])
    assert_array_equal(layer.grads["W"][2], np.zeros(3))  # never looked up: no gradient


def test_the_buffered_update_loses_repeated_rows():
    # why backward uses np.add.at: dW[ix] += g keeps one write per repeated index
    dW = np.zeros((2, 1))
    dW[np.array([0, 0])] += np.ones((2, 1))
    assert dW[0, 0] == 1.0


@pytest.mark.parametrize(("ix", "message"), [
    (np.array([0.0, 1.0]), "integer indices"),
    (np.array([0, 4]), r"indices in \[0, 4\)"),
    (np.array([-1, 0]), r"indices in \[0, 4\)"),
])
def test_bad_indices_are_refused(ix, message):
    with pytest.raises(ValueError, match=message):
        Embedding(4, 2, random_state=0).forward(ix)


def test_backward_needs_forward_and_the_output_shape():
    layer = Embedding(4, 2, random_state=0)
    with pytest.raises(RuntimeError, match="forward before backward"):
        layer.backward(np.zeros((3, 2)))
    layer.forward(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        layer.backward(np.zeros((3, 3)))


def test_same_seed_same_table():
    assert_array_equal(Embedding(5, 3, random_state=7).params["W"],
                       Embedding(5, 3, random_state=7).params["W"])


def test_backward_equals_np_add_at_bit_for_bit():
    rng = np.random.default_rng(3)
    layer = Embedding(9, 5, random_state=rng)
    ix = rng.integers(0, 9, (40, 3))
    dout = rng.normal(size=(40, 3, 5)) * 10.0 ** rng.uniform(-6, 6, (40, 3, 1))
    layer.forward(ix)
    layer.backward(dout)
    expected = np.zeros((9, 5))
    np.add.at(expected, ix.reshape(-1), dout.reshape(-1, 5))
    assert_array_equal(layer.grads["W"], expected)
