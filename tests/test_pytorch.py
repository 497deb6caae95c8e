"""coursekit.pytorch: devices, the MLP, batching, training and accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit import data
from coursekit import pytorch as tr


def _tensors(n: int = 40, n_features: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_features, generator=gen)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).float()
    return X, y


# ---- devices ----


def test_select_device_uses_cuda_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert tr.select_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert tr.select_device() == torch.device("cuda")


# ---- the MLP ----


def test_mlp_shapes_kaiming_init_and_seeding() -> None:
    model = tr.MLP((200, 300, 3), random_state=0)
    hidden, relu, out = model.layers
    assert isinstance(relu, nn.ReLU)
    assert hidden.weight.std().item() == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    assert out.weight.std().item() == pytest.approx(math.sqrt(1 / 300), rel=0.1)
    assert torch.count_nonzero(hidden.bias) == 0
    assert model(torch.zeros(7, 200)).shape == (7, 3)
    twin = tr.MLP((200, 300, 3), random_state=0)
    assert torch.equal(twin.layers[0].weight, hidden.weight)
    assert tr.MLP((2, 4, 1), dtype=torch.float64).layers[0].weight.dtype == torch.float64


@pytest.mark.parametrize(("sizes", "message"), [
    ((3,), "sizes must be at least two positive ints"),
    ((3, 0, 1), r"sizes\[1\] must be an int >= 1"),
    ((3, 2.5, 1), r"sizes\[1\] must be an int >= 1"),
])
def test_mlp_rejects_bad_sizes(sizes: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tr.MLP(sizes)


# ---- batching and training ----


def test_tensor_batches_cover_every_row_once_in_a_seeded_order() -> None:
    X = torch.arange(10.0)[:, None]
    y = torch.arange(10)
    got = list(tr.tensor_batches(X, y, batch_size=4, random_state=3))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    rows = torch.cat([b[1] for b in got])
    assert sorted(rows.tolist()) == list(range(10))
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in got)  # rows stay paired
    again = torch.cat([b[1] for b in tr.tensor_batches(X, y, batch_size=4, random_state=3)])
    assert torch.equal(rows, again)
    in_order = torch.cat([b[1] for b in tr.tensor_batches(X, y, batch_size=3, shuffle=False)])
    assert torch.equal(in_order, y)


def test_tensor_batches_validate_inputs() -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        tr.tensor_batches(torch.zeros(4, 2), torch.zeros(3), batch_size=2)  # no next() needed
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        tr.tensor_batches(torch.zeros(4, 2), torch.zeros(4), batch_size=0)


def test_train_epoch_records_one_loss_per_batch_and_zeroes_gradients() -> None:
    X, y = _tensors(n=50)
    model = tr.MLP((3, 8, 1), random_state=0)
    twin = tr.MLP((3, 8, 1), random_state=0)
    loss_fn = nn.BCEWithLogitsLoss()
    loader = DataLoader(TensorDataset(X, y[:, None]), batch_size=16, shuffle=False)
    losses = tr.train_epoch(model, loader, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
    assert len(losses) == 4
    # the same steps by hand, zeroing before each backward
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    for start in range(0, 50, 16):
        opt.zero_grad()
        loss_fn(twin(X[start:start + 16]), y[start:start + 16, None]).backward()
        opt.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a, b)


def test_fit_learns_a_line_and_returns_a_loss_per_step() -> None:
    X_np, y_np = data.linear_data(500, random_state=0)
    X = torch.tensor(X_np, dtype=torch.float32)
    y = torch.tensor(y_np, dtype=torch.float32)[:, None]
    model = nn.Sequential(nn.Linear(2, 1))
    losses = tr.fit(model, X, y, loss_fn=nn.MSELoss(),
                    optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
                    epochs=3, batch_size=10, random_state=0)
    assert len(losses) == 3 * 50
    assert torch.allclose(model[0].weight, torch.tensor([data.TRUE_WEIGHTS]), atol=0.01)
    assert model[0].bias.item() == pytest.approx(data.TRUE_BIAS, abs=0.01)


def test_fit_rejects_zero_epochs() -> None:
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        tr.fit(model, torch.zeros(4, 2), torch.zeros(4, 1), loss_fn=nn.MSELoss(),
               optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=0, batch_size=2)


# ---- predictions and accuracy ----


def test_predict_labels_binary_and_multiclass() -> None:
    binary = nn.Linear(1, 1)
    with torch.no_grad():
        binary.weight.fill_(1.0)
        binary.bias.fill_(0.0)
    X = torch.tensor([[-2.0], [0.5], [3.0]])
    assert tr.predict_labels(binary, X).tolist() == [0, 1, 1]
    multi = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        multi.weight.copy_(torch.eye(3))
    assert tr.predict_labels(multi, torch.eye(3)[[2, 0]]).tolist() == [2, 0]


def test_accuracy_is_a_float_fraction_and_checks_shapes() -> None:
    acc = tr.accuracy(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 1]))
    assert isinstance(acc, float) and acc == pytest.approx(2 / 3)
    assert tr.accuracy(np.array([1, 0]), torch.tensor([[1.0], [0.0]])) == 1.0
    with pytest.raises(ValueError, match=r"both have shape \(n_samples,\)"):
        tr.accuracy(torch.zeros(3), torch.zeros(4))
