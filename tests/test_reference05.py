"""coursekit.checks.reference05: lesson 05's classifier from bare tensors, in the lesson's terms."""

from __future__ import annotations

import math

import pytest
import torch

from coursekit import data
from coursekit.checks import reference05 as ref


def _tensors(n: int = 40, n_features: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_features, generator=gen)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).float()
    return X, y




def test_init_coeffs_shapes_gradients_and_kaiming_scale() -> None:
    c = ref.init_coeffs(400, 300, torch.Generator().manual_seed(0))
    assert [tuple(t.shape) for t in c] == [(400, 300), (300,), (300, 1), (1,)]
    assert all(t.requires_grad and t.is_leaf for t in c)
    assert c.w_hidden.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert c.w_out.std().item() == pytest.approx(math.sqrt(1 / 300), rel=0.2)
    assert torch.count_nonzero(c.b_hidden) == 0 and torch.count_nonzero(c.b_out) == 0
    again = ref.init_coeffs(400, 300, torch.Generator().manual_seed(0))
    assert torch.equal(c.w_hidden, again.w_hidden)


def test_init_coeffs_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="n_hidden must be an int >= 1"):
        ref.init_coeffs(3, 0, torch.Generator())


def test_calc_logits_and_preds_follow_the_formula() -> None:
    X, _ = _tensors()
    c = ref.init_coeffs(3, 5, torch.Generator().manual_seed(1), dtype=torch.float32)
    with torch.no_grad():
        c.b_hidden.fill_(0.1)
        c.b_out.fill_(-0.2)
    expected = torch.relu(X @ c.w_hidden + c.b_hidden) @ c.w_out[:, 0] + c.b_out
    assert torch.allclose(ref.calc_logits(c, X), expected, atol=1e-6)
    p = ref.calc_preds(c, X)
    assert p.shape == (40,) and bool(((p > 0) & (p < 1)).all())


def test_calc_loss_bce_and_mae_match_their_definitions() -> None:
    X, y = _tensors()
    c = ref.init_coeffs(3, 5, torch.Generator().manual_seed(2), dtype=torch.float32)
    p = ref.calc_preds(c, X)
    bce = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    assert ref.calc_loss(c, X, y).item() == pytest.approx(bce.item(), rel=1e-5)
    assert ref.calc_loss(c, X, y, kind="mae").item() == pytest.approx(
        (p - y).abs().mean().item(), rel=1e-6)


def test_calc_loss_validates_its_inputs() -> None:
    X, y = _tensors()
    c = ref.init_coeffs(3, 5, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="kind must be one of 'bce', 'mae'"):
        ref.calc_loss(c, X, y, kind="mse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
        ref.calc_loss(c, X, y[:, None])
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 3\)"):
        ref.calc_logits(c, X[:, :2])


def test_update_coeffs_steps_against_the_gradient_and_zeroes_it() -> None:
    X, y = _tensors()
    c = ref.init_coeffs(3, 5, torch.Generator().manual_seed(0))
    ref.calc_loss(c, X, y).backward()
    before = [t.detach().clone() for t in c]
    grads = [t.grad.clone() for t in c]
    ref.update_coeffs(c, 0.1)
    for t, b, g in zip(c, before, grads, strict=True):
        assert torch.allclose(t.detach(), b - 0.1 * g)
        assert torch.count_nonzero(t.grad) == 0
        assert t.requires_grad and t.is_leaf


def test_update_coeffs_without_backward_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="call loss.backward"):
        ref.update_coeffs(ref.init_coeffs(3, 2, torch.Generator().manual_seed(0)), 0.1)


def test_one_epoch_returns_the_loss_before_the_step() -> None:
    X, y = _tensors()
    c = ref.init_coeffs(3, 5, torch.Generator().manual_seed(0))
    expected = ref.calc_loss(c, X, y).item()
    assert ref.one_epoch(c, X, y, lr=0.5) == pytest.approx(expected)
    assert ref.calc_loss(c, X, y).item() < expected


def test_model_accuracy_is_a_float_fraction() -> None:
    X, y = _tensors(n=3)
    c = ref.init_coeffs(3, 4, torch.Generator().manual_seed(0))
    predicted = (ref.calc_logits(c, X) > 0).float()
    y_two_right = predicted.clone()
    y_two_right[0] = 1 - y_two_right[0]
    acc = ref.model_accuracy(c, X, y_two_right)
    assert isinstance(acc, float)
    assert acc == pytest.approx(2 / 3)  # integer division would give 0


def test_train_model_reaches_the_lesson_accuracy_on_breast_cancer() -> None:
    split = data.load_breast_cancer()
    X_train, X_val = (torch.tensor(a, dtype=torch.float32) for a in split[:2])
    y_train, y_val = (torch.tensor(a, dtype=torch.float32) for a in split[2:])
    coeffs, losses = ref.train_model(X_train, y_train, epochs=200, lr=0.3, n_hidden=10,
                                    seed=0)
    assert len(losses) == 200
    assert losses[-1] < 0.1 < losses[0]
    assert ref.model_accuracy(coeffs, X_val, y_val) >= 0.95


