"""The gradient check tells "your gradient is wrong" from "this entry cannot be judged here":
correct networks never fail, whatever their scale and kinks; entries no finite difference can
judge are named in a warning with the reason; wrong backward passes still fail."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from coursekit.scratch import (
    MSE,
    Dense,
    GradientCheckError,
    GradientCheckWarning,
    ReLU,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    check_model,
)


class ReLUTimesInput(ReLU):
    def backward(self, dout):
        return dout * self._mask * self._saved_input  # the seeds' bug: times x, not the mask

    def forward(self, x):
        self._saved_input = np.asarray(x)
        return super().forward(x)


class SigmoidWithoutOneMinus(Sigmoid):
    def backward(self, dout):
        s = self.forward(self._x)
        return dout * s  # s·(1 − s) without the (1 − s)

    def forward(self, x):
        self._x = np.asarray(x)
        return super().forward(x)


class DenseMeanBias(Dense):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["b"] = dout.mean(axis=0)
        return dx


def _net(seed: int, scale: float, *, relu=ReLU, sigmoid=Sigmoid, dense=Dense) -> Sequential:
    """The 1-7-6-4-5 net of the report (Tanh, ReLU, Sigmoid), weights scaled by ``scale``
    after Dense's default 0.01·randn initialisation."""
    sizes = (1, 7, 6, 4, 5)
    layers = []
    for i, activation in enumerate((Tanh, relu, sigmoid, None)):
        layer = dense(sizes[i], sizes[i + 1], random_state=100 * seed + i)
        layer.params["W"] *= scale
        layers += [layer] + ([activation()] if activation is not None else [])
    return Sequential(*layers)


def _data(seed: int, x_scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=x_scale, size=(7, 1)), rng.integers(0, 5, 7)


def _judged(model, X, y, loss=None) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_model(model, loss or SoftmaxCrossEntropy(), X, y)
    return [str(w.message) for w in caught if issubclass(w.category, GradientCheckWarning)]


@pytest.mark.parametrize("scale", [1.0, 0.1, 100.0])
@pytest.mark.parametrize("x_scale", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("seed", range(6))
def test_a_correct_network_never_fails_at_any_scale(seed, x_scale, scale):
    X, y = _data(seed, x_scale)
    for message in _judged(_net(seed, scale), X, y):
        assert "not judged: a kink lies within" in message or "judged only to the " \
            "finite-difference noise" in message, message


def _kinked(last_dense=Dense) -> tuple[Sequential, np.ndarray, np.ndarray]:
    """A ReLU whose two samples sit 1e-9 either side of its kink: every step the check tries
    (down to 1e-8) carries both across, so no finite difference of the first bias says what
    its gradient is."""
    first, last = Dense(1, 1, random_state=0), last_dense(1, 1, random_state=1)
    first.params["W"][...], first.params["b"][...] = 1.0, 0.0
    last.params["W"][...], last.params["b"][...] = 2.0, 0.5
    X = np.array([[1e-9], [-1e-9]])
    return Sequential(first, ReLU(), last), X, np.array([[1.0], [-1.0]])


def test_entries_straddling_a_kink_are_named_not_failed():
    model, X, y = _kinked()
    messages = _judged(model, X, y, MSE())
    assert any("of '0.b' not judged: a kink lies within h=1e-08 (the slopes on its two sides "
               "differ)" in m for m in messages), messages


def test_a_wrong_backward_fails_beside_a_kink_too():
    model, X, y = _kinked(last_dense=DenseMeanBias)
    with pytest.raises(GradientCheckError, match=r"'2\.b' disagrees"):
        _judged(model, X, y, MSE())


@pytest.mark.parametrize("wrong", [dict(relu=ReLUTimesInput), dict(sigmoid=SigmoidWithoutOneMinus),
                                   dict(dense=DenseMeanBias)], ids=["relu-x", "sigmoid", "db-mean"])
@pytest.mark.parametrize("scale", [1.0, 100.0])
@pytest.mark.parametrize("seed", range(3))
def test_a_wrong_backward_still_fails_at_any_scale(seed, scale, wrong):
    X, y = _data(seed, 1.0)
    with pytest.raises(GradientCheckError, match="disagrees with the numerical gradient"):
        _judged(_net(seed, scale, **wrong), X, y)
