"""Optimizers: each holds the layers it trains and updates their parameters *in place*.

Usage, the same for every optimizer::

    opt = Adam(model.layers, lr=0.01)   # or any list of layers, e.g. [dense1, dense2]
    ...                                 # forward, loss, backward fill layer.grads
    opt.step()                          # updates every layer.params array in place

``step`` reads ``layer.grads`` afresh every time, so a backward that replaces the gradient
arrays is fine. There is no ``zero_grad``: our ``backward`` overwrites gradients instead of
adding to them as PyTorch does.

Every optimizer takes

- ``lr`` and ``decay``: the step at iteration t (t = 0, 1, 2, ...) uses
  ``lr / (1 + decay * t)``, recomputed at every step (``current_lr``), so the first step uses
  ``lr`` and the decay shows from the second step on;
- ``weight_decay``: L2 regularisation, ``grad + weight_decay * param`` (as ``torch.optim``,
  applied to every parameter, biases included).

The update rules are PyTorch's, so trajectories agree with ``torch.optim`` to rounding.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from coursekit.scratch.layers import Layer
from coursekit.validation import check_number

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam"]

State = dict[str, np.ndarray]


class Optimizer:
    """Base class: learning-rate decay, weight decay and per-parameter state.

    Parameters
    ----------
    layers : iterable of Layer
        Anything with ``params`` and ``grads`` dicts of the same keys (``model.layers``).
    lr : float > 0
        Learning rate.
    decay : float >= 0
        Learning-rate decay: step t uses ``lr / (1 + decay * t)``.
    weight_decay : float >= 0
        L2 penalty coefficient added to every gradient.
    """

    def __init__(
        self, layers: Iterable[Layer], *, lr: float, decay: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ValueError(f"{type(self).__name__} got no layers to train")
        for layer in self.layers:
            if not (hasattr(layer, "params") and hasattr(layer, "grads")):
                raise ValueError(
                    f"{type(self).__name__} expects layers with params and grads dicts, "
                    f"got {layer!r}"
                )
        check_number("lr", lr, low=0.0, low_open=True)
        check_number("decay", decay, low=0.0)
        check_number("weight_decay", weight_decay, low=0.0)
        self.lr, self.decay, self.weight_decay = float(lr), float(decay), float(weight_decay)
        self.iterations = 0
        # state[i][name] holds the buffers of layers[i].params[name]
        self.state: list[dict[str, State]] = [{} for _ in self.layers]

    @property
    def current_lr(self) -> float:
        """The learning rate the next ``step`` will use: ``lr / (1 + decay * iterations)``."""
        return self.lr / (1.0 + self.decay * self.iterations)

    def step(self) -> None:
        """Update every parameter in place from its gradient, then count the iteration."""
        lr = self.current_lr
        for layer, layer_state in zip(self.layers, self.state, strict=True):
            for name, param in layer.params.items():
                grad = layer.grads[name]
                if grad.shape != param.shape:
                    raise ValueError(
                        f"{layer!r}: grads[{name!r}] has shape {grad.shape}, "
                        f"params[{name!r}] {param.shape}"
                    )
                if self.weight_decay:
                    grad = grad + self.weight_decay * param
                if name not in layer_state:
                    layer_state[name] = {}
                self._update(param, grad, layer_state[name], lr)
        self.iterations += 1

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State, lr: float) -> None:
        """Change ``param`` in place; ``state`` is this parameter's own dict of buffers."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, decay={self.decay})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Without momentum: ``p -= lr * g``. With momentum ``m`` the velocity is
    ``v = m v + g`` (``v = g`` at the first step) and ``p -= lr * v``; Nesterov uses
    ``p -= lr * (g + m v)``, a look-ahead along the velocity.
    """

    def __init__(
        self, layers: Iterable[Layer], *, lr: float = 1.0, momentum: float = 0.0,
        nesterov: bool = False, decay: float = 0.0, weight_decay: float = 0.0,
    ) -> None:
        super().__init__(layers, lr=lr, decay=decay, weight_decay=weight_decay)
        check_number("momentum", momentum, low=0.0)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State, lr: float) -> None:
        if self.momentum:
            if "velocity" not in state:
                state["velocity"] = grad.copy()
            else:
                state["velocity"] *= self.momentum
                state["velocity"] += grad
            velocity = state["velocity"]
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        param -= lr * grad


class Adagrad(Optimizer):
    """Adagrad: ``s += g**2``, ``p -= lr * g / (sqrt(s) + eps)``.

    Each parameter gets its own step size, shrinking where gradients have been large.
    """

    def __init__(
        self, layers: Iterable[Layer], *, lr: float = 0.01, eps: float = 1e-10,
        decay: float = 0.0, weight_decay: float = 0.0,
    ) -> None:
        super().__init__(layers, lr=lr, decay=decay, weight_decay=weight_decay)
        check_number("eps", eps, low=0.0)
        self.eps = float(eps)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State, lr: float) -> None:
        if "sum_sq" not in state:
            state["sum_sq"] = np.zeros_like(param)
        state["sum_sq"] += grad * grad
        param -= lr * grad / (np.sqrt(state["sum_sq"]) + self.eps)


class RMSprop(Optimizer):
    """RMSprop: ``s = alpha s + (1 - alpha) g**2``, ``p -= lr * g / (sqrt(s) + eps)``.

    Like Adagrad, but the squared gradients are a moving average, so steps do not die out.
    """

    def __init__(
        self, layers: Iterable[Layer], *, lr: float = 0.01, alpha: float = 0.99,
        eps: float = 1e-8, decay: float = 0.0, weight_decay: float = 0.0,
    ) -> None:
        super().__init__(layers, lr=lr, decay=decay, weight_decay=weight_decay)
        check_number("alpha", alpha, low=0.0, high=1.0, high_open=True)
        check_number("eps", eps, low=0.0)
        self.alpha, self.eps = float(alpha), float(eps)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State, lr: float) -> None:
        if "mean_sq" not in state:
            state["mean_sq"] = np.zeros_like(param)
        mean_sq = state["mean_sq"]
        mean_sq *= self.alpha
        mean_sq += (1.0 - self.alpha) * grad * grad
        param -= lr * grad / (np.sqrt(mean_sq) + self.eps)


class Adam(Optimizer):
    """Adam: momentum on the gradient and RMSprop on its square, both bias-corrected.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``, and at step t = 1, 2, ...
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1**t)``,
    ``v_hat = v / (1 - b2**t)``.
    """

    def __init__(
        self, layers: Iterable[Layer], *, lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, decay: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(layers, lr=lr, decay=decay, weight_decay=weight_decay)
        beta1, beta2 = betas
        for name, beta in (("betas[0]", beta1), ("betas[1]", beta2)):
            check_number(name, beta, low=0.0, high=1.0, high_open=True)
        check_number("eps", eps, low=0.0)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State, lr: float) -> None:
        if "m" not in state:
            state["m"] = np.zeros_like(param)
            state["v"] = np.zeros_like(param)
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * grad * grad
        t = self.iterations + 1
        m_hat = m / (1.0 - self.beta1**t)
        v_hat = v / (1.0 - self.beta2**t)
        param -= lr * m_hat / (np.sqrt(v_hat) + self.eps)
