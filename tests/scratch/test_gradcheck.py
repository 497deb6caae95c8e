"""The gradient check passes on every layer and loss, and catches mutated backward passes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.scratch import (
    MSE,
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    CategoricalCrossEntropy,
    Dense,
    Dropout,
    GradientCheckError,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    check_layer,
    check_loss,
    check_model,
    finite_difference_noise,
    numerical_gradient,
    relative_error,
)

from .strategies import away_from_zero, logits_and_labels, matrices, seeds

gradcheck_settings = settings(max_examples=15, deadline=None)


@gradcheck_settings
@given(
    x=away_from_zero(), n_out=st.integers(1, 5), seed=seeds, init=st.sampled_from(["small", "he"])
)
def test_dense_passes(x, n_out, seed, init):
    rng = np.random.default_rng(seed)
    layer = Dense(x.shape[1], n_out, init=init, random_state=rng)
    layer.params["b"][...] = rng.standard_normal(n_out)
    errors = check_layer(layer, x, random_state=seed)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < 1e-5


@pytest.mark.parametrize("layer_class", [ReLU, Sigmoid, Tanh, Softmax])
@gradcheck_settings
@given(x=away_from_zero(), seed=seeds)
def test_activations_pass(layer_class, x, seed):
    errors = check_layer(layer_class(), x, random_state=seed)
    assert set(errors) == {"x"} and errors["x"] < 1e-5


@pytest.mark.parametrize("training", [True, False])
def test_dropout_passes_in_both_modes(training):
    layer = Dropout(0.4, random_state=3)
    layer.training = training
    x = np.random.default_rng(0).standard_normal((6, 5))
    assert check_layer(layer, x, random_state=1)["x"] < 1e-5


@gradcheck_settings
@given(data=logits_and_labels(bound=5.0), one_hot=st.booleans())
def test_classification_losses_pass(data, one_hot):
    z, labels = data
    target = np.eye(z.shape[1])[labels] if one_hot else labels
    assert check_loss(SoftmaxCrossEntropy(), z, target) < 1e-5
    # -log p curves hard near p = 0 (the third derivative is 2 / p**3), where central
    # differences with h = 1e-6 lose digits; mixing with the uniform keeps p >= 1 / (2C).
    p = 0.5 * np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) + 0.5 / z.shape[1]
    assert check_loss(CategoricalCrossEntropy(), p, target) < 1e-5


@gradcheck_settings
@given(output=matrices(bound=3.0), seed=seeds)
def test_regression_and_binary_losses_pass(output, seed):
    rng = np.random.default_rng(seed)
    assert check_loss(MSE(), output, rng.standard_normal(output.shape)) < 1e-5
    labels = rng.integers(0, 2, output.shape).astype(float)
    assert check_loss(BinaryCrossEntropyWithLogits(), output, labels) < 1e-5
    probs = 0.05 + 0.9 * rng.random(output.shape)  # inside the clipping range
    assert check_loss(BinaryCrossEntropy(), probs, labels) < 1e-5


def test_a_whole_network_passes():
    rng = np.random.default_rng(0)
    model = Sequential(
        Dense(2, 6, init="he", random_state=1), Tanh(), Dense(6, 5, init="he", random_state=2),
        ReLU(), Dropout(0.2, random_state=3), Dense(5, 3, init="he", random_state=4),
    )
    errors = check_model(model, SoftmaxCrossEntropy(), rng.standard_normal((8, 2)),
                         rng.integers(0, 3, 8))
    assert set(errors) == {"0.W", "0.b", "2.W", "2.b", "5.W", "5.b"}
    assert max(errors.values()) < 1e-5


# --- realistic bugs the check must catch ---------------------------------------------------


class ReLUTimesInput(ReLU):
    """The seed's bug: backward multiplies by the input instead of the 0/1 mask."""

    def forward(self, x):
        self._input = np.asarray(x)
        return super().forward(x)

    def backward(self, dout):
        return dout * np.where(self._input > 0, self._input, 0.0)


class DenseNoTransposeInput(Dense):
    """dx = dout @ W instead of dout @ W.T (runs without error when W is square)."""

    def backward(self, dout):
        super().backward(dout)
        return dout @ self.params["W"]


class DenseTransposedWeightGrad(Dense):
    """dW = dout.T @ x instead of x.T @ dout."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] = dout.T @ self._x
        return dx


class DenseMeanBias(Dense):
    """db = mean instead of sum over the batch."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["b"] = dout.mean(axis=0)
        return dx


class MSEMissingFactor(MSE):
    def backward(self):
        return super().backward() / 2.0  # forgot the 2 of the square's derivative


class SoftmaxCrossEntropyNoMean(SoftmaxCrossEntropy):
    def backward(self):
        return super().backward() * len(self.probs)  # p - onehot, without the 1/N


X = np.random.default_rng(42).standard_normal((5, 4))


def test_catches_relu_backward_that_multiplies_by_the_input():
    with pytest.raises(GradientCheckError, match=r"gradient of 'x' disagrees .* relative error"):
        check_layer(ReLUTimesInput(), X)


def test_catches_dense_backward_missing_a_transpose():
    with pytest.raises(GradientCheckError, match=r"Dense\(4, 4\): gradient of 'x' disagrees"):
        check_layer(DenseNoTransposeInput(4, 4, random_state=0), X)


def test_catches_a_transposed_weight_gradient_by_shape_or_value():
    with pytest.raises(GradientCheckError, match=r"'W' has shape \(3, 4\), expected \(4, 3\)"):
        check_layer(DenseTransposedWeightGrad(4, 3, random_state=0), X)
    with pytest.raises(GradientCheckError, match=r"gradient of 'W' disagrees"):
        check_layer(DenseTransposedWeightGrad(4, 4, random_state=0), X)


def test_the_error_names_only_the_wrong_parameter_and_its_error():
    with pytest.raises(GradientCheckError) as info:
        check_layer(DenseMeanBias(4, 3, random_state=0), X)
    message = str(info.value)
    assert "'b'" in message and "'W'" not in message and "'x'" not in message
    assert "relative error 6.67e-01 > tolerance 1e-05" in message  # |sum - sum/5| / (sum + sum/5)


def test_catches_wrong_loss_gradients():
    expected = r"MSEMissingFactor\(\): gradient of 'output' disagrees"
    with pytest.raises(GradientCheckError, match=expected):
        check_loss(MSEMissingFactor(), X, np.zeros_like(X))
    with pytest.raises(GradientCheckError, match="relative error"):
        check_loss(SoftmaxCrossEntropyNoMean(), X, np.array([0, 1, 2, 3, 0]))


def test_catches_a_bug_inside_a_network():
    model = Sequential(Dense(4, 5, random_state=0), ReLUTimesInput(), Dense(5, 3, random_state=1))
    with pytest.raises(GradientCheckError, match=r"'0\.W' disagrees.*'0\.b' disagrees"):
        check_model(model, SoftmaxCrossEntropy(), X, np.array([0, 1, 2, 0, 1]))


# --- the tools themselves ------------------------------------------------------------------


def test_numerical_gradient_of_a_known_function_and_x_is_restored():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    grad = numerical_gradient(lambda v: float(np.sum(v**3)), x)
    assert_allclose(grad, 3 * before**2, rtol=1e-8)
    assert_array_equal(x, before)


def test_numerical_gradient_needs_float64():
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda v: float(v.sum()), np.ones(3, dtype=np.float32))


def test_check_layer_leaves_the_layer_and_the_input_untouched():
    layer = Dense(4, 3, random_state=0)
    W, b, x = layer.params["W"].copy(), layer.params["b"].copy(), X.copy()
    check_layer(layer, x)
    assert_array_equal(layer.params["W"], W)
    assert_array_equal(layer.params["b"], b)
    assert_array_equal(x, X)


def test_check_layer_refuses_float32_parameters():
    layer = Dense(4, 3)
    layer.params["W"] = layer.params["W"].astype(np.float32)
    with pytest.raises(ValueError, match="float32; gradient checks need float64"):
        check_layer(layer, X)


def test_relative_error():
    a = np.array([1.0, 2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert_allclose(relative_error(a, -a), 1.0)
    assert relative_error(a, a + 1e-9) == relative_error(a + 1e-9, a)
    assert relative_error(np.zeros(3), np.full(3, 1e-12)) < 1e-3  # the floor: both are ~0
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.zeros(3), np.zeros(4))


# --- tiny gradients: a correct network passes, a wrong one still fails ---------------------


class ReLUWithoutMask(ReLU):
    def backward(self, dout):
        return dout  # lets the gradient through dead units too


def _tiny_gradient_net(seed: int, relu=ReLU) -> Sequential:
    """1-7-6-4-5 ReLU net with Dense's default 0.01·randn init: gradients near 1e-7."""
    rng = np.random.default_rng(seed)
    return Sequential(Dense(1, 7, random_state=rng), relu(), Dense(7, 6, random_state=rng),
                      relu(), Dense(6, 4, random_state=rng), relu(),
                      Dense(4, 5, random_state=rng))


TINY_X = np.random.default_rng(0).standard_normal((20, 1))
TINY_Y = np.random.default_rng(1).integers(0, 5, 20)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("h", [1e-5, 1e-6, 1e-7])
def test_a_correct_network_with_tiny_gradients_passes(seed, h):
    model = _tiny_gradient_net(seed)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(TINY_X), TINY_Y)
    model.backward(loss.backward())
    assert np.abs(model.layers[0].grads["W"]).max() < 1e-5  # the situation: tiny gradients
    errors = check_model(model, loss, TINY_X, TINY_Y, h=h)
    assert set(errors) == {f"{i}.{p}" for i in (0, 2, 4, 6) for p in "Wb"}


@pytest.mark.parametrize("seed", range(4))
def test_a_wrong_backward_on_the_tiny_gradient_network_still_fails(seed):
    model = _tiny_gradient_net(seed, relu=ReLUWithoutMask)
    with pytest.raises(GradientCheckError, match=r"off both one-sided slopes"):
        check_model(model, SoftmaxCrossEntropy(), TINY_X, TINY_Y)


def test_the_noise_bound_grows_with_the_loss_and_shrinks_with_h():
    assert finite_difference_noise(1.6, 1e-6) == pytest.approx(4 * 2.22e-16 * 1.6 / 1e-6,
                                                                rel=1e-3)
    assert finite_difference_noise(3.2, 1e-6) == pytest.approx(2 * finite_difference_noise(1.6,
                                                                                        1e-6))
    assert finite_difference_noise(1.6, 1e-7) == pytest.approx(10 * finite_difference_noise(
        1.6, 1e-6))
    with pytest.raises(ValueError, match="h must be > 0"):
        finite_difference_noise(1.0, 0.0)
