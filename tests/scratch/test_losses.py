"""Every loss and its gradient equal PyTorch's in float64; cross-entropy stays finite."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.scratch import (
    MSE,
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    CategoricalCrossEntropy,
    SoftmaxCrossEntropy,
)

from .strategies import logits_and_labels, matrices, one_hot, seeds, torch_settings

TOL = {"rtol": 1e-10, "atol": 1e-12}


def torch_loss(fn, output: np.ndarray, *targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss value and its gradient with respect to ``output``, by torch autograd."""
    out = torch.tensor(output, requires_grad=True)
    loss = fn(out, *(torch.tensor(t) for t in targets))
    loss.backward()
    return loss.item(), out.grad.numpy()


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@torch_settings
@given(output=matrices(), seed=seeds)
def test_mse_equals_torch(output, seed):
    target = np.random.default_rng(seed).standard_normal(output.shape)
    loss = MSE()
    value = loss.forward(output, target)
    t_value, t_grad = torch_loss(F.mse_loss, output, target)
    assert_allclose(value, t_value, **TOL)
    assert_allclose(loss.backward(), t_grad, **TOL)


@torch_settings
@given(
    p=matrices(bound=1.0).map(lambda a: 0.01 + 0.98 * np.abs(a)),  # inside the clipping range
    seed=seeds, soft=st.booleans(),
)
def test_binary_cross_entropy_equals_torch(p, seed, soft):
    rng = np.random.default_rng(seed)
    target = rng.random(p.shape) if soft else rng.integers(0, 2, p.shape).astype(float)
    loss = BinaryCrossEntropy()
    value = loss.forward(p, target)
    t_value, t_grad = torch_loss(F.binary_cross_entropy, p, target)
    assert_allclose(value, t_value, **TOL)
    assert_allclose(loss.backward(), t_grad, **TOL)


@torch_settings
@given(z=matrices(bound=50.0), seed=seeds)
def test_binary_cross_entropy_with_logits_equals_torch(z, seed):
    target = np.random.default_rng(seed).integers(0, 2, z.shape).astype(float)
    loss = BinaryCrossEntropyWithLogits()
    value = loss.forward(z, target)
    t_value, t_grad = torch_loss(F.binary_cross_entropy_with_logits, z, target)
    assert_allclose(value, t_value, **TOL)
    assert_allclose(loss.backward(), t_grad, **TOL)


@torch_settings
@given(data=logits_and_labels(bound=5.0))
def test_categorical_cross_entropy_equals_torch_nll_of_log(data):
    z, labels = data
    p = softmax(z)  # bounded logits keep every p far inside the clipping range
    loss = CategoricalCrossEntropy()
    value = loss.forward(p, labels)
    t_value, t_grad = torch_loss(lambda pt, y: F.nll_loss(torch.log(pt), y), p, labels)
    assert_allclose(value, t_value, **TOL)
    assert_allclose(loss.backward(), t_grad, **TOL)
    # one-hot targets give the same loss and gradient as integer labels
    onehot = CategoricalCrossEntropy()
    assert_allclose(onehot.forward(p, one_hot(labels, p.shape[1])), value, **TOL)
    assert_allclose(onehot.backward(), loss.backward(), **TOL)


@torch_settings
@given(data=logits_and_labels(bound=50.0))
def test_softmax_cross_entropy_equals_torch_cross_entropy(data):
    z, labels = data
    loss = SoftmaxCrossEntropy()
    value = loss.forward(z, labels)
    t_value, t_grad = torch_loss(F.cross_entropy, z, labels)
    assert_allclose(value, t_value, **TOL)
    assert_allclose(loss.backward(), t_grad, **TOL)
    # the fused gradient is (p - onehot) / N
    n, c = z.shape
    assert_allclose(loss.backward(), (softmax(z) - one_hot(labels, c)) / n, **TOL)
    assert_allclose(loss.probs, softmax(z), **TOL)


@torch_settings
@given(z=matrices(min_cols=2, bound=20.0), seed=seeds)
def test_softmax_cross_entropy_with_soft_targets_equals_torch(z, seed):
    target = softmax(np.random.default_rng(seed).standard_normal(z.shape))  # rows sum to 1
    loss = SoftmaxCrossEntropy()
    value = loss.forward(z, target)
    t_value, t_grad = torch_loss(F.cross_entropy, z, target)  # torch: class probabilities
    assert_allclose(value, t_value, **TOL)
    assert_allclose(loss.backward(), t_grad, **TOL)


def test_cross_entropy_is_finite_at_p_zero():
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    labels = np.array([0, 0])  # the first sample's true class has probability exactly 0
    for target in (labels, one_hot(labels, 3)):
        loss = CategoricalCrossEntropy()
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            value = loss.forward(p, target)
        assert np.isfinite(value) and value > 5  # -log(1e-7) / 2 ≈ 8.06
        assert np.all(np.isfinite(loss.backward()))
    bce = BinaryCrossEntropy()
    assert np.isfinite(bce.forward(np.array([0.0, 1.0]), np.array([1.0, 0.0])))
    assert np.all(np.isfinite(bce.backward()))


def test_softmax_cross_entropy_is_finite_at_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    loss = SoftmaxCrossEntropy()
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        value = loss.forward(z, np.array([1, 2]))
    assert_allclose(value, 1e4)  # sample 0 is wrong by 2e4 in logit: loss 2e4 / 2
    assert np.all(np.isfinite(loss.backward()))
    assert_allclose(loss.probs.sum(axis=1), 1.0)
    logits_loss = BinaryCrossEntropyWithLogits()
    assert_allclose(logits_loss.forward(np.array([1e4, -1e4]), np.array([0.0, 0.0])), 5e3)


def test_a_batch_may_lack_classes():
    """The number of classes comes from the output, never from the labels present."""
    z = np.array([[2.0, 0.0, -1.0, 0.5], [1.0, 3.0, 0.0, 0.0]])
    labels = np.array([0, 0])  # classes 1, 2 and 3 are absent from this batch
    loss = SoftmaxCrossEntropy()
    loss.forward(z, labels)
    assert loss.backward().shape == (2, 4)
    assert_allclose(loss.backward(), (softmax(z) - one_hot(labels, 4)) / 2)
    p = softmax(z)
    cce = CategoricalCrossEntropy()
    cce.forward(p, labels)
    assert cce.backward().shape == (2, 4)


@given(labels=hnp.arrays(np.int64, 5, elements=st.integers(0, 2)))
def test_accuracy(labels):
    z = one_hot(labels, 3) * 5.0
    assert SoftmaxCrossEntropy().accuracy(z, labels) == 1.0
    assert CategoricalCrossEntropy().accuracy(softmax(z), one_hot(labels, 3)) == 1.0
    assert SoftmaxCrossEntropy().accuracy(z, (labels + 1) % 3) == 0.0
    binary = (labels > 0).astype(float)
    assert BinaryCrossEntropyWithLogits().accuracy(binary * 4 - 2, binary) == 1.0
    assert BinaryCrossEntropy().accuracy(1.0 - binary, binary) == 0.0
    assert MSE().accuracy(z, z) is None


@pytest.mark.parametrize(
    ("loss", "output", "target", "message"),
    [
        (SoftmaxCrossEntropy(), np.zeros((3, 4)), np.array([0, 4, 1]),
         r"labels must lie in \[0, 3\] for 4 classes, got values in \[0, 4\]"),
        (SoftmaxCrossEntropy(), np.zeros((3, 4)), np.array([0, -1, 1]), r"in \[-1, 1\]"),
        (CategoricalCrossEntropy(), np.full((2, 3), 1 / 3), np.array([3, 0]),
         r"labels must lie in \[0, 2\]"),
        (SoftmaxCrossEntropy(), np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]),
         "must be integers, got dtype float64"),
        (SoftmaxCrossEntropy(), np.zeros((3, 4)), np.array([0, 1]), r"expected 3 labels"),
        (SoftmaxCrossEntropy(), np.zeros((3, 4)), np.zeros((3, 3)), r"one-hot of shape \(3, 4\)"),
        (SoftmaxCrossEntropy(), np.zeros(4), np.array([0]), r"output must have shape \(N, C\)"),
        (MSE(), np.zeros((4, 1)), np.zeros(4), r"would broadcast to \(N, N\)"),
        (BinaryCrossEntropy(), np.full(3, 0.5), np.array([0.0, 2.0, 1.0]),
         r"labels must lie in \[0, 1\]"),
        (BinaryCrossEntropyWithLogits(), np.zeros(3), np.array([-1.0, 0.0, 1.0]),
         r"labels must lie in \[0, 1\]"),
    ],
)
def test_bad_targets_raise_clear_errors(loss, output, target, message):
    with pytest.raises(ValueError, match=message):
        loss.forward(output, target)


def test_backward_needs_forward():
    with pytest.raises(RuntimeError, match="call forward before backward"):
        SoftmaxCrossEntropy().backward()


def test_labels_accept_any_integer_dtype():
    z = np.array([[1.0, 2.0], [0.5, -1.0]])
    values = [SoftmaxCrossEntropy().forward(z, np.array([1, 0], dtype=dt))
              for dt in (np.uint8, np.int32, np.int64)]
    assert_array_equal(values, values[0])
