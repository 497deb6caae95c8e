"""Sequential: layers run in order, with fit / predict / evaluate and .npz save and load."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from coursekit.scratch.layers import Layer
from coursekit.scratch.losses import Loss
from coursekit.scratch.optim import Optimizer
from coursekit.seeding import RandomState, as_generator
from coursekit.validation import check_int

__all__ = ["Sequential", "TrainingDiverged"]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite during ``fit``."""


class Sequential:
    """A network that applies its layers one after the other.

    Parameters
    ----------
    *layers : Layer
        The layers, first to last, e.g. ``Sequential(Dense(2, 64), ReLU(), Dense(64, 3))``.

    Examples
    --------
    >>> from coursekit.data import spiral
    >>> from coursekit.scratch import Adam, Dense, ReLU, Sequential, SoftmaxCrossEntropy
    >>> X, y = spiral(100, random_state=0)
    >>> model = Sequential(Dense(2, 64, random_state=0), ReLU(), Dense(64, 3, random_state=1))
    >>> history = model.fit(X, y, loss=SoftmaxCrossEntropy(), epochs=100, batch_size=32,
    ...                     optimizer=Adam(model.layers, lr=0.02), random_state=0)
    >>> len(history["loss"]), model.predict(X).shape
    (100, (300, 3))
    """

    def __init__(self, *layers: Layer) -> None:
        for layer in layers:
            if not isinstance(layer, Layer):
                raise ValueError(f"Sequential takes Layer objects, got {type(layer).__name__}")
        self.layers: list[Layer] = list(layers)
        self.training = True

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(repr(layer) for layer in self.layers) + ")"

    # --- the forward and backward passes -------------------------------------------------

    def forward(self, x: ArrayLike) -> np.ndarray:
        """x : ndarray of shape (N, n_in) -> output of the last layer, shape (N, n_out)."""
        out = np.asarray(x)
        for layer in self.layers:
            out = layer.forward(out)
        return out

    __call__ = forward

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Backpropagate dL/d(output) through every layer; returns dL/dx."""
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def train(self) -> Sequential:
        """Training mode (dropout active). Returns the model."""
        return self._set_mode(True)

    def eval(self) -> Sequential:
        """Evaluation mode (dropout is the identity). Returns the model."""
        return self._set_mode(False)

    def _set_mode(self, training: bool) -> Sequential:
        self.training = training
        for layer in self.layers:
            layer.training = training
        return self

    # --- training and evaluation ---------------------------------------------------------

    def fit(
        self, X: ArrayLike, y: ArrayLike, *, loss: Loss, optimizer: Optimizer,
        epochs: int = 1, batch_size: int | None = None, shuffle: bool = True,
        random_state: RandomState = None,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        print_every: int | None = None,
    ) -> dict[str, list[float]]:
        """Train with mini-batch gradient descent.

        Parameters
        ----------
        X : ndarray of shape (N, n_in)
            Training inputs.
        y : ndarray of shape (N,) or (N, K)
            Targets, in the form ``loss`` expects (e.g. integer labels).
        loss : Loss
            E.g. ``SoftmaxCrossEntropy()`` for a network that ends in logits.
        optimizer : Optimizer
            Built on this model's layers, e.g. ``Adam(model.layers, lr=0.01)``.
        epochs : int
            Passes over the training data.
        batch_size : int or None
            Samples per step; None means the full batch (one step per epoch).
        shuffle : bool
            Visit the samples in a new random order every epoch: with ``rng =
            coursekit.seeding.as_generator(random_state)`` (``numpy.random.default_rng`` for
            an int seed), epoch k's order is the k-th
            ``rng.permutation(N)`` (so another framework can replay the same batches).
        random_state : int, numpy.random.Generator or None
            Seed or generator of the shuffling.
        validation_data : (X_val, y_val) or None
            Scored in evaluation mode after every epoch.
        print_every : int or None
            Print a one-line summary every ``print_every`` epochs (and after the last).

        Returns
        -------
        history : dict of lists, one entry per epoch
            ``"loss"`` (the mean over the epoch's batches, as trained) and, for a
            classification loss, ``"accuracy"``; with validation data also ``"val_loss"``
            and ``"val_accuracy"``.

        Raises
        ------
        TrainingDiverged
            When the loss becomes NaN or infinite; the message suggests a lower learning rate.
        """
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got {X.shape}")
        n = X.shape[0]
        if n == 0:
            raise ValueError("X is empty: fit needs at least one sample")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values: clean the data before fit")
        if y.shape[:1] != (n,):
            raise ValueError(f"y must have {n} rows to match X of shape {X.shape}, got {y.shape}")
        epochs = check_int("epochs", epochs, minimum=0)
        batch = n if batch_size is None else check_int("batch_size", batch_size)
        self._check_optimizer(optimizer)
        rng = as_generator(random_state)

        history: dict[str, list[float]] = {"loss": []}
        was_training = self.training
        try:
            # Overflow in a diverging network is reported once, as TrainingDiverged.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for epoch in range(1, epochs + 1):
                    self._fit_epoch(X, y, loss, optimizer, batch, shuffle, rng, epoch, history)
                    if validation_data is not None:
                        val_loss, val_acc = self.evaluate(*validation_data, loss=loss)
                        history.setdefault("val_loss", []).append(val_loss)
                        if val_acc is not None:
                            history.setdefault("val_accuracy", []).append(val_acc)
                    if print_every and (epoch % print_every == 0 or epoch == epochs):
                        print(f"epoch {epoch}: " + ", ".join(
                            f"{key} {values[-1]:.4f}" for key, values in history.items()))
        finally:
            self._set_mode(was_training)
        return history

    def _fit_epoch(
        self, X: np.ndarray, y: np.ndarray, loss: Loss, optimizer: Optimizer, batch: int,
        shuffle: bool, rng: np.random.Generator, epoch: int, history: dict[str, list[float]],
    ) -> None:
        """One pass over (X, y) in training mode; appends the epoch's loss and accuracy."""
        n = X.shape[0]
        order = rng.permutation(n) if shuffle else np.arange(n, dtype=np.int64)
        total_loss, correct, scored = 0.0, 0.0, False
        self.train()
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb, yb = X[idx], y[idx]
            out = self.forward(xb)
            value = loss.forward(out, yb)
            if not np.isfinite(value):
                raise TrainingDiverged(
                    f"the loss became {value} at epoch {epoch}, batch {start // batch + 1}: "
                    f"training diverged. Try a lower learning rate "
                    f"(the optimizer's is now {optimizer.current_lr:.3g})."
                )
            self.backward(loss.backward())
            optimizer.step()
            total_loss += value * len(idx)
            acc = loss.accuracy(out, yb)
            if acc is not None:
                correct, scored = correct + acc * len(idx), True
        for i, layer in enumerate(self.layers):
            for name, p in layer.params.items():
                if not np.all(np.isfinite(p)):
                    raise TrainingDiverged(
                        f"parameter {name!r} of layer {i} ({layer!r}) became NaN or infinite "
                        f"at epoch {epoch}: training diverged. Try a lower learning rate "
                        f"(the optimizer's is now {optimizer.current_lr:.3g})."
                    )
        history["loss"].append(total_loss / n)
        if scored:
            history.setdefault("accuracy", []).append(correct / n)

    def _check_optimizer(self, optimizer: Optimizer) -> None:
        held = {id(layer) for layer in getattr(optimizer, "layers", [])}
        missing = [layer for layer in self.layers if layer.params and id(layer) not in held]
        if missing:
            raise ValueError(
                f"the optimizer does not train {missing[0]!r} of this model: build it on "
                "this model's layers, e.g. Adam(model.layers, lr=0.01)"
            )

    def predict(self, X: ArrayLike, *, batch_size: int | None = None) -> np.ndarray:
        """X : ndarray of shape (N, n_in) -> network output of shape (N, n_out), eval mode.

        The output is what the last layer gives (logits for a network trained with
        ``SoftmaxCrossEntropy``): ``predict(X).argmax(axis=1)`` are the predicted classes.
        """
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got {X.shape}")
        if batch_size is not None:
            batch_size = check_int("batch_size", batch_size)
        was_training = self.training
        self.eval()
        try:
            if batch_size is None or X.shape[0] <= batch_size:
                return self.forward(X)
            step = int(batch_size)
            return np.concatenate([self.forward(X[i:i + step]) for i in range(0, len(X), step)])
        finally:
            self._set_mode(was_training)

    def evaluate(self, X: ArrayLike, y: ArrayLike, *, loss: Loss) -> tuple[float, float | None]:
        """Return ``(loss, accuracy)`` on (X, y) in evaluation mode.

        X : ndarray of shape (N, n_in); y : targets as ``loss`` expects them. The accuracy is
        None for a regression loss.
        """
        out = self.predict(X)
        return loss.forward(out, y), loss.accuracy(out, y)

    # --- parameters on disk --------------------------------------------------------------

    def _state(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer (not copies), keyed ``"<layer index>.<name>"``."""
        return {
            f"{i}.{name}": array
            for i, layer in enumerate(self.layers)
            for name, array in (*layer.params.items(), *layer.buffers.items())
        }

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer (BatchNorm's running statistics), keyed
        ``"<layer index>.<name>"`` (e.g. ``"0.W"``, ``"1.running_mean"``)."""
        return {key: array.copy() for key, array in self._state().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters and buffers into this model's arrays in place (optimizers keep
        working)."""
        expected = self._state()
        if set(state) != set(expected):
            raise ValueError(
                f"parameters do not match this model: expected {sorted(expected)}, "
                f"got {sorted(state)}"
            )
        for key, param in expected.items():
            value = np.asarray(state[key])
            if value.shape != param.shape:
                raise ValueError(
                    f"parameter {key!r}: expected shape {param.shape}, got {value.shape}"
                )
        for key, param in expected.items():
            param[...] = state[key]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write every parameter to an ``.npz`` file (see ``state_dict`` for the keys).

        NumPy appends ``.npz`` to a path that lacks it.
        """
        arrays: dict[str, Any] = self.state_dict()  # Any: so no key reads as a savez option
        np.savez(path, **arrays)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Read parameters written by ``save`` into this model (same architecture)."""
        with np.load(path) as data:
            self.load_state_dict({key: data[key] for key in data.files})
