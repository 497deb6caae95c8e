"""Sequential: training, evaluation, files, and clear errors instead of silent NaNs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from coursekit.data import spiral
from coursekit.scratch import (
    MSE,
    SGD,
    Adam,
    BatchNorm1d,
    Dense,
    Dropout,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    Tanh,
    TrainingDiverged,
)


def small_net(seed: int = 0, dropout: float = 0.0, hidden: int = 32) -> Sequential:
    layers = [Dense(2, hidden, init="he", random_state=seed), ReLU()]
    if dropout:
        layers.append(Dropout(dropout, random_state=seed + 1))
    layers.append(Dense(hidden, 3, init="he", random_state=seed + 2))
    return Sequential(*layers)


@pytest.fixture(scope="module")
def data():
    return spiral(100, random_state=0)


def test_fit_learns_the_spiral_and_keeps_a_history(data):
    X, y = data
    model = small_net(hidden=64)
    X_val, y_val = spiral(100, random_state=1)
    history = model.fit(X, y, loss=SoftmaxCrossEntropy(), optimizer=Adam(model.layers, lr=0.02),
                        epochs=300, batch_size=32, random_state=0, validation_data=(X_val, y_val))
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 300 for values in history.values())
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.78
    loss, accuracy = model.evaluate(X_val, y_val, loss=SoftmaxCrossEntropy())
    assert loss == history["val_loss"][-1] and accuracy == history["val_accuracy"][-1]
    assert accuracy > 0.72
    assert accuracy == np.mean(model.predict(X_val).argmax(axis=1) == y_val)


def test_regression_history_has_no_accuracy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    model = Sequential(Dense(3, 1, random_state=0))
    history = model.fit(X, y, loss=MSE(), optimizer=SGD(model.layers, lr=0.1), epochs=100)
    assert set(history) == {"loss"}
    assert history["loss"][-1] < 1e-6
    assert_allclose(model.layers[0].params["W"], [[1.0], [-2.0], [0.5]], atol=1e-3)
    assert model.evaluate(X, y, loss=MSE())[1] is None


def test_seeded_shuffling_is_reproducible(data):
    X, y = data

    def train(seed):
        model = small_net(dropout=0.1)
        history = model.fit(X, y, loss=SoftmaxCrossEntropy(), epochs=3, batch_size=50,
                            optimizer=SGD(model.layers, lr=0.5, momentum=0.9), random_state=seed)
        return history, model.state_dict()

    (h1, p1), (h2, p2), (_, p3) = train(7), train(7), train(8)
    assert h1 == h2
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert not np.array_equal(p1["0.W"], p3["0.W"])


def test_training_equals_torch_on_the_same_batches(data):
    """Same initial weights, same mini-batches: the same epoch losses and weights."""
    X, y = data
    model = Sequential(Dense(2, 16, init="he", random_state=3), Tanh(),
                       Dense(16, 3, init="he", random_state=4))
    first, second = model.layers[0].params, model.layers[2].params
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 3)).double()
    with torch.no_grad():
        for linear, params in ((net[0], first), (net[2], second)):
            linear.weight.copy_(torch.from_numpy(params["W"].T))
            linear.bias.copy_(torch.from_numpy(params["b"]))
    history = model.fit(X, y, loss=SoftmaxCrossEntropy(), epochs=5, batch_size=64, shuffle=False,
                        optimizer=SGD(model.layers, lr=0.3, momentum=0.9, nesterov=True))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.9, nesterov=True)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    torch_losses = []
    for _ in range(5):
        total = 0.0
        for start in range(0, len(X), 64):
            xb, yb = Xt[start:start + 64], yt[start:start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
        torch_losses.append(total / len(X))
    assert_allclose(history["loss"], torch_losses, rtol=1e-10)
    assert_allclose(first["W"], net[0].weight.detach().numpy().T, rtol=1e-10, atol=1e-12)
    assert_allclose(second["b"], net[2].bias.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_predict_and_evaluate_use_eval_mode_and_restore_the_mode(data):
    X, _ = data
    model = small_net(dropout=0.5)
    assert model.training
    assert_array_equal(model.predict(X), model.predict(X))  # no dropout: deterministic
    assert model.training and all(layer.training for layer in model)
    assert not np.array_equal(model.forward(X), model.forward(X))  # training mode: dropout
    model.eval()
    assert_array_equal(model.forward(X), model.predict(X))
    # Row blocks of another size may take another BLAS kernel: equal up to rounding only.
    assert_allclose(model.predict(X, batch_size=7), model.predict(X), rtol=1e-12, atol=1e-15)


def test_save_and_load_round_trip(data, tmp_path):
    X, y = data
    model = small_net(seed=0)
    model.fit(X, y, loss=SoftmaxCrossEntropy(), optimizer=Adam(model.layers, lr=0.01), epochs=5)
    path = tmp_path / "spiral.npz"
    model.save(path)
    other = small_net(seed=99)
    W_object = other.layers[0].params["W"]
    other.load(path)
    assert other.layers[0].params["W"] is W_object  # loaded in place
    assert_array_equal(other.predict(X), model.predict(X))
    with np.load(path) as saved:
        assert sorted(saved.files) == ["0.W", "0.b", "2.W", "2.b"]


def test_batchnorm_running_statistics_are_saved_and_loaded(data, tmp_path):
    """Evaluation mode normalises with the running statistics: a model loaded without them
    would predict with the initial mean 0 and variance 1."""
    X, y = data
    model = Sequential(Dense(2, 16, random_state=0), BatchNorm1d(16), ReLU(),
                       Dense(16, 3, random_state=1))
    model.fit(X, y, loss=SoftmaxCrossEntropy(), optimizer=Adam(model.layers, lr=0.01),
              epochs=3, batch_size=32, random_state=2)
    path = tmp_path / "batchnorm.npz"
    model.save(path)
    other = Sequential(Dense(2, 16, random_state=5), BatchNorm1d(16), ReLU(),
                       Dense(16, 3, random_state=6))
    running = other.layers[1].running_mean
    other.load(path)
    assert other.layers[1].running_mean is running  # loaded in place
    assert_array_equal(other.layers[1].running_var, model.layers[1].running_var)
    assert not np.allclose(model.layers[1].running_var, 1.0)
    assert_array_equal(other.predict(X), model.predict(X))
    with np.load(path) as saved:
        assert sorted(saved.files) == ["0.W", "0.b", "1.beta", "1.gamma", "1.running_mean",
                                       "1.running_var", "3.W", "3.b"]


def test_load_refuses_another_architecture(tmp_path):
    path = tmp_path / "model.npz"
    small_net().save(path)
    with pytest.raises(ValueError, match="parameters do not match this model"):
        Sequential(Dense(2, 32), ReLU(), Dense(32, 3), ReLU(), Dense(3, 3)).load(path)
    with pytest.raises(ValueError, match=r"parameter '0.W': expected shape \(2, 16\)"):
        Sequential(Dense(2, 16), ReLU(), Dense(32, 3)).load(path)


def test_a_wrong_input_shape_is_a_clear_error(data):
    model = small_net()
    with pytest.raises(ValueError, match=r"Dense\(2, 32\) expects input of shape \(N, 2\)"):
        model.predict(np.zeros((4, 3)))
    X, y = data
    with pytest.raises(ValueError, match="y must have 300 rows"):
        model.fit(X, y[:-1], loss=SoftmaxCrossEntropy(), optimizer=SGD(model.layers))
    with pytest.raises(ValueError, match="X contains NaN"):
        model.fit(np.full_like(X, np.nan), y, loss=SoftmaxCrossEntropy(),
                  optimizer=SGD(model.layers))


def test_a_label_out_of_range_is_a_clear_error(data):
    X, y = data
    model = small_net()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\] for 3 classes"):
        model.fit(X, y + 1, loss=SoftmaxCrossEntropy(), optimizer=SGD(model.layers))


def test_a_diverging_loss_stops_fit_with_advice_and_no_warning():
    rng = np.random.default_rng(0)
    X = 3.0 * rng.standard_normal((40, 1))
    y = 2.0 * X
    model = Sequential(Dense(1, 1, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail the test
        with pytest.raises(TrainingDiverged, match=r"became (inf|nan).*lower learning rate"):
            model.fit(X, y, loss=MSE(), optimizer=SGD(model.layers, lr=10.0), epochs=500)
    assert model.training  # the mode is restored even on error


def test_the_optimizer_must_hold_this_models_layers(data):
    X, y = data
    model, other = small_net(), small_net()
    with pytest.raises(ValueError, match=r"does not train Dense\(2, 32\) of this model"):
        model.fit(X, y, loss=SoftmaxCrossEntropy(), optimizer=SGD(other.layers))


def test_print_every(data, capsys):
    X, y = data
    model = small_net()
    model.fit(X, y, loss=SoftmaxCrossEntropy(), optimizer=SGD(model.layers), epochs=5,
              print_every=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 2", "epoch 4", "epoch 5"]
    assert "loss" in lines[0] and "accuracy" in lines[0]


def test_sequential_takes_layers():
    with pytest.raises(ValueError, match="Sequential takes Layer objects, got int"):
        Sequential(Dense(2, 3), 3)
    model = Sequential(Dense(2, 3), ReLU())
    assert len(model) == 2 and list(model) == model.layers
    assert repr(model) == "Sequential(Dense(2, 3), ReLU())"
