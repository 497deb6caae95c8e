"""Lesson 05, the torch classifier (05-predict, 05-loss, 05-update): wrong calc_logits (handed
with the reference's calc_preds), and what no declared mistake covers: shapes, tensors cut
from the graph, values that overflow, arguments changed in place, and every wrong update."""

import pytest
import torch
import torch.nn.functional as F

from coursekit.checks import lesson05 as check
from coursekit.checks import reference05 as torch_ref
from coursekit.checks.lesson05 import forward
from coursekit.exercise import LESSON_SEED, ExerciseFailed
from tests.checks._cells import run_lesson_with


@pytest.mark.parametrize("mistake", forward.LOGIT_MISTAKES, ids=lambda m: m.message[:20])
@pytest.mark.parametrize("seed", [LESSON_SEED, 1, 2])
def test_predict_names_each_declared_mistake_in_the_logits(mistake, seed):
    with pytest.raises(ExerciseFailed, match="calc_logits on .*" + mistake.message[:40]):
        check.predict.check(torch_ref.calc_preds, mistake.wrong, seed=seed)


def _squeezed(c, X):
    return torch.sigmoid(torch.relu(X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out).squeeze()


def _logits_detached(coeffs, X):
    with torch.no_grad():
        return torch_ref.calc_logits(coeffs, X)


def _standardising_in_place(coeffs, X):
    X -= X.mean(0)  # the bug: writes into the caller's X_train
    return torch_ref.calc_logits(coeffs, X)


@pytest.mark.parametrize(
    ("student", "message"),
    [
        ((lambda c, X: torch_ref.calc_preds(c, X)[:, None],), r"got \(7, 1\)"),
        ((lambda c, X: torch_ref.calc_preds(c, X)[:2],), r"expected shape \(7,\)"),
        ((_squeezed,), r"squeeze\(\) also drops the row axis when there is one row; use "
                       r"squeeze\(1\) or \[:, 0\]"),
        ((torch_ref.calc_preds, lambda c, X: torch.relu(X @ c.w_hidden + c.b_hidden) @ c.w_out
          + c.b_out), r"calc_logits on 7 rows: expected shape \(7,\), got \(7, 1\)"),
        ((torch_ref.calc_preds, _logits_detached), r"not connected to the coefficients.*no "
         r"torch.no_grad\(\), no .detach\(\), no .numpy\(\)"),
        ((torch_ref.calc_preds, lambda c, X: torch_ref.calc_logits(c, X).detach().numpy()),
         r"not connected to the coefficients"),
        ((lambda c, X: torch.sigmoid(_standardising_in_place(c, X)), _standardising_in_place),
         r"your function changed `X` in place.*the lesson's later cells use it again"),
    ],
)
def test_predict_names_what_no_declared_mistake_covers(student, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.predict(*student)


def _logits(coeffs, X):
    w_h, b_h, w_o, b_o = coeffs
    return (torch.relu(X @ w_h + b_h) @ w_o + b_o).squeeze(1)


def _with_bce(bce):
    """A calc_loss with the given cross-entropy of (z, y), and the right MAE."""
    def calc_loss(coeffs, X, y, kind="bce"):
        z = _logits(coeffs, X)
        return (torch.sigmoid(z) - y).abs().mean() if kind == "mae" else bce(z, y)

    return calc_loss


def _right(coeffs, X, y, kind="bce"):
    return torch_ref.calc_loss(coeffs, X, y, kind)


def _from_probabilities(z, y):
    p = torch.sigmoid(z)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def _clamped_probabilities(z, y):
    p = torch.sigmoid(z).clamp(1e-7, 1 - 1e-7)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def _unshifted(z, y):
    return (z - z * y + torch.log(1 + torch.exp(-z))).mean()  # e^(−z) overflows for z < −88


def _calls_backward(coeffs, X, y, kind="bce"):
    loss = _right(coeffs, X, y, kind)
    loss.backward()
    return loss


def _under_no_grad(coeffs, X, y, kind="bce"):
    with torch.no_grad():
        return _right(coeffs, X, y, kind)


def _detached_weights(coeffs, X, y, kind="bce"):
    w_h, b_h, w_o, b_o = coeffs
    z = (torch.relu(X @ w_h.detach() + b_h) @ w_o + b_o)[:, 0]
    return F.binary_cross_entropy_with_logits(z, y) if kind == "bce" else \
        (torch.sigmoid(z) - y).abs().mean()


def _stub(coeffs, X, y, kind="bce"):
    raise NotImplementedError("05-loss")


def _reshaping_y_in_place(coeffs, X, y, kind="bce"):
    y.unsqueeze_(1)  # the bug: the caller's y_train becomes (n, 1)
    return torch_ref.calc_loss(coeffs, X, y.squeeze(1), kind)


def _scaling_X_in_place(coeffs, X, y, kind="bce"):
    X /= X.abs().max()
    return torch_ref.calc_loss(coeffs, X, y, kind)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_with_bce(_from_probabilities), r"logits up to ±110 gave (nan|inf): .*σ\(z\) rounds "
         r"to exactly 0 or 1"),
        (_with_bce(_unshifted), r"gave inf: .*e\^\(−z\) overflows"),
        (_with_bce(_clamped_probabilities), r"right on ordinary logits, wrong on confident "
         r"ones.*a clamp or an ε inside the log only hides that"),
        (_with_bce(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="none")),
         r"got shape \(12,\), a loss per row: take their mean"),
        (_with_bce(lambda z, y: F.binary_cross_entropy_with_logits(
            z[:, None].expand(len(y), len(y)), y[None, :].expand(len(y), len(y)),
            reduction="none")), r"got shape \(12, 12\): logits of shape \(12, 1\)"),
        (_with_bce(lambda z, y: F.binary_cross_entropy_with_logits(z, y).item()),
         r"got a number \(.*\), not a tensor: return the loss tensor itself \(no \.item\(\)\)"),
        (_with_bce(lambda z, y: F.binary_cross_entropy_with_logits(z, y).detach()),
         r"not connected to the coefficients \(requires_grad is False\)"),
        (_under_no_grad, r"don't compute it under torch\.no_grad\(\)"),
        (_detached_weights, r"the value is right but no gradient reached w_hidden: part of the "
         r"computation left the graph"),
        (_calls_backward, r"already had gradients when calc_loss returned: calc_loss only "
         r"computes the loss"),
        (lambda coeffs, X, y: _right(coeffs, X, y), r"raised TypeError"),
        (_stub, r"not implemented yet"),
        (_reshaping_y_in_place, r"your function changed `y` in place"),
        (_scaling_X_in_place, r"your function changed `X` in place"),
    ],
)
def test_loss_names_what_no_declared_mistake_covers(wrong, message):
    for seed in (LESSON_SEED, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            check.loss.check(wrong, seed=seed)


@pytest.mark.parametrize("name", ["_loss_softplus", "_loss_float64"])
def test_valid_losses_train_the_lesson_classifier(name):
    """The lesson to its end with the loss in place: both losses train, the common-bug audit
    passes (every cell asserts what it shows)."""
    namespace = run_lesson_with(
        "05_autograd.ipynb", {"05-loss": f"from tests.checks.test_lesson05 import {name} as "
                                         "calc_loss"}, until="26f95a91")
    assert namespace["val_acc"] >= 0.95 and namespace["calc_loss"].__name__ == name


def _no_zero(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c -= lr * c.grad


def _rebinds(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c = c - lr * c.grad  # noqa: PLW2901 - the bug under test
            c.grad = None


def _ascends(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c += lr * c.grad
            c.grad.zero_()


def _rebinds_then_zeroes(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c = c - lr * c.grad  # noqa: PLW2901 - the bug under test: the new c has no .grad
            c.grad.zero_()


def _zeroes_first(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c.grad.zero_()
            c -= lr * c.grad


def _outside_no_grad(coeffs, lr):
    for c in coeffs:
        c -= lr * c.grad
        c.grad.zero_()


def _with_the_lessons_rate(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c -= 0.3 * c.grad
            c.grad.zero_()


def _skipping_the_last(coeffs, lr):
    with torch.no_grad():
        for c in coeffs[:-1]:
            c -= lr * c.grad
            c.grad.zero_()


def _through_data(coeffs, lr):  # the old tutorials' way: slips past PyTorch's refusal
    for c in coeffs:
        c.data -= lr * c.grad
        c.grad.zero_()


def _assigns_data(coeffs, lr):
    for c in coeffs:
        c.data = c.data - lr * c.grad
        c.grad.zero_()


_RECORDING = "the step is right, but it changed the coefficients while autograd was recording"


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_through_data, _RECORDING),
        (_assigns_data, _RECORDING),
        (_no_zero, "grad is not zero after the step"),
        (_rebinds, "did not change: either `c = c - lr \\* c.grad` only rebinds"),
        (_ascends, "moved up the gradient"),
        (_outside_no_grad, "wrap it in `with torch.no_grad\\(\\):`"),
        (_rebinds_then_zeroes, "c.grad is None: after `c = c - lr \\* c.grad`"),
        (_zeroes_first, "or the gradient was zeroed before it was used"),
        (_with_the_lessons_rate, r"stepped by 0.3 × grad, not by the lr=0.\d+ passed in"),
        (_skipping_the_last, r"b_out did not change while the other coefficients stepped: the "
                             r"loop skipped some \(coeffs\[:-1\]"),
        (lambda coeffs, lr: (_ for _ in ()).throw(NotImplementedError), "not implemented yet"),
    ],
)
def test_update_names_the_mistake(wrong, message):
    for seed in (LESSON_SEED, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            check.update.check(wrong, seed=seed)
