"""coursekit.torch_ref: the lesson 05 functions, the MLP, batching, training and accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit import data
from coursekit import torch_ref as tr


def _tensors(n: int = 40, n_features: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_features, generator=gen)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).float()
    return X, y


# ---- generators and devices ----


def test_as_torch_generator_is_reproducible_from_every_kind_of_seed() -> None:
    a = torch.rand(3, generator=tr.as_torch_generator(5))
    b = torch.rand(3, generator=tr.as_torch_generator(5))
    assert torch.equal(a, b)
    c = torch.rand(3, generator=tr.as_torch_generator(np.random.default_rng(1)))
    d = torch.rand(3, generator=tr.as_torch_generator(np.random.default_rng(1)))
    assert torch.equal(c, d)
    gen = torch.Generator()
    assert tr.as_torch_generator(gen) is gen
    assert isinstance(tr.as_torch_generator(None), torch.Generator)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_as_torch_generator_rejects_other_seeds(bad: object) -> None:
    with pytest.raises(ValueError, match="random_state must be"):
        tr.as_torch_generator(bad)  # type: ignore[arg-type]


def test_select_device_uses_cuda_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert tr.select_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert tr.select_device() == torch.device("cuda")


# ---- lesson 05: the functions on bare tensors ----


def test_init_coeffs_shapes_gradients_and_kaiming_scale() -> None:
    c = tr.init_coeffs(400, 300, random_state=0)
    assert [tuple(t.shape) for t in c] == [(400, 300), (300,), (300, 1), (1,)]
    assert all(t.requires_grad and t.is_leaf for t in c)
    assert c.w_hidden.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert c.w_out.std().item() == pytest.approx(math.sqrt(1 / 300), rel=0.2)
    assert torch.count_nonzero(c.b_hidden) == 0 and torch.count_nonzero(c.b_out) == 0
    again = tr.init_coeffs(400, 300, random_state=0)
    assert torch.equal(c.w_hidden, again.w_hidden)


def test_init_coeffs_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="n_hidden must be an int >= 1"):
        tr.init_coeffs(3, 0)


def test_calc_logits_and_preds_follow_the_formula() -> None:
    X, _ = _tensors()
    c = tr.init_coeffs(3, 5, random_state=1, dtype=torch.float32)
    with torch.no_grad():
        c.b_hidden.fill_(0.1)
        c.b_out.fill_(-0.2)
    expected = torch.relu(X @ c.w_hidden + c.b_hidden) @ c.w_out[:, 0] + c.b_out
    assert torch.allclose(tr.calc_logits(c, X), expected, atol=1e-6)
    p = tr.calc_preds(c, X)
    assert p.shape == (40,) and bool(((p > 0) & (p < 1)).all())


def test_calc_loss_bce_and_mae_match_their_definitions() -> None:
    X, y = _tensors()
    c = tr.init_coeffs(3, 5, random_state=2, dtype=torch.float32)
    p = tr.calc_preds(c, X)
    bce = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    assert tr.calc_loss(c, X, y).item() == pytest.approx(bce.item(), rel=1e-5)
    assert tr.calc_loss(c, X, y, loss="mae").item() == pytest.approx(
        (p - y).abs().mean().item(), rel=1e-6)


def test_calc_loss_validates_its_inputs() -> None:
    X, y = _tensors()
    c = tr.init_coeffs(3, 5, random_state=0)
    with pytest.raises(ValueError, match="loss must be 'bce' or 'mae'"):
        tr.calc_loss(c, X, y, loss="mse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
        tr.calc_loss(c, X, y[:, None])
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 3\)"):
        tr.calc_logits(c, X[:, :2])


def test_update_coeffs_steps_against_the_gradient_and_zeroes_it() -> None:
    X, y = _tensors()
    c = tr.init_coeffs(3, 5, random_state=0)
    tr.calc_loss(c, X, y).backward()
    before = [t.detach().clone() for t in c]
    grads = [t.grad.clone() for t in c]
    tr.update_coeffs(c, 0.1)
    for t, b, g in zip(c, before, grads, strict=True):
        assert torch.allclose(t.detach(), b - 0.1 * g)
        assert torch.count_nonzero(t.grad) == 0
        assert t.requires_grad and t.is_leaf


def test_update_coeffs_without_backward_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="call loss.backward"):
        tr.update_coeffs(tr.init_coeffs(3, 2, random_state=0), 0.1)


def test_one_epoch_returns_the_loss_before_the_step() -> None:
    X, y = _tensors()
    c = tr.init_coeffs(3, 5, random_state=0)
    expected = tr.calc_loss(c, X, y).item()
    assert tr.one_epoch(c, X, y, lr=0.5) == pytest.approx(expected)
    assert tr.calc_loss(c, X, y).item() < expected


def test_model_accuracy_is_a_float_fraction() -> None:
    X, y = _tensors(n=3)
    c = tr.init_coeffs(3, 4, random_state=0)
    predicted = (tr.calc_logits(c, X) > 0).float()
    y_two_right = predicted.clone()
    y_two_right[0] = 1 - y_two_right[0]
    acc = tr.model_accuracy(c, X, y_two_right)
    assert isinstance(acc, float)
    assert acc == pytest.approx(2 / 3)  # integer division would give 0


def test_train_model_reaches_the_lesson_accuracy_on_breast_cancer() -> None:
    split = data.load_breast_cancer()
    X_train, X_val = (torch.tensor(a, dtype=torch.float32) for a in split[:2])
    y_train, y_val = (torch.tensor(a, dtype=torch.float32) for a in split[2:])
    coeffs, losses = tr.train_model(X_train, y_train, epochs=200, lr=0.3, n_hidden=10,
                                    random_state=0)
    assert len(losses) == 200
    assert losses[-1] < 0.1 < losses[0]
    assert tr.model_accuracy(coeffs, X_val, y_val) >= 0.95


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


@pytest.mark.parametrize("sizes", [(3,), (3, 0, 1), (3, 2.5, 1)])
def test_mlp_rejects_bad_sizes(sizes: tuple) -> None:
    with pytest.raises(ValueError, match="sizes must be at least two positive ints"):
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
        next(tr.tensor_batches(torch.zeros(4, 2), torch.zeros(3), batch_size=2))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        next(tr.tensor_batches(torch.zeros(4, 2), torch.zeros(4), batch_size=0))


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
    assert torch.allclose(model[0].weight, torch.tensor([[2.0, -3.4]]), atol=0.01)
    assert model[0].bias.item() == pytest.approx(4.2, abs=0.01)


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
