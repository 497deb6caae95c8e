"""Lesson 05 checks pass the reference and name the mistake in realistic wrong versions."""

import math

import pytest
import torch

from coursekit.autograd import Value
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson05 as check
from coursekit.checks import reference05 as torch_ref

# ---- 05-sigmoid-op ----


def test_sigmoid_passes_the_reference(capsys):
    check.sigmoid_op(check.reference_sigmoid)
    assert capsys.readouterr().out.startswith("✔ 05-sigmoid-op")


def test_sigmoid_built_from_engine_operations_also_passes(capsys):
    check.sigmoid_op(lambda x: 1 / (1 + (-x).exp()))
    assert "✔ 05-sigmoid-op" in capsys.readouterr().out


def _s(x):
    return 1 / (1 + math.exp(-x.data))


def _fresh_value(x):
    return Value(_s(x))


def _no_chain(x):
    out = Value(_s(x))
    out._parents = (x,)

    def backward():
        x.grad += _s(x) * (1 - _s(x))  # forgets out.grad

    out._backward = backward
    return out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda x: x.unary(1 / (1 + math.exp(x.data)), 0.0), "that is σ\\(−x\\)"),
        (lambda x: x.unary(_s(x), _s(x)), r"not σ\(x\)"),
        (_fresh_value, "no gradient reached x"),
        (_no_chain, "chain rule"),
        (lambda x: _s(x), "should return a Value, got a number"),
    ],
)
def test_sigmoid_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.sigmoid_op(wrong)


# ---- 05-predict ----


def test_predict_passes_the_reference(capsys):
    check.predict(torch_ref.calc_preds)
    assert "✔ 05-predict" in capsys.readouterr().out


def test_predict_accepts_plain_tuple_unpacking(capsys):
    def calc_preds(coeffs, X):
        w_h, b_h, w_o, b_o = coeffs
        return torch.sigmoid(torch.relu(X @ w_h + b_h) @ w_o + b_o)[:, 0]

    check.predict(calc_preds)
    assert "✔ 05-predict" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda c, X: torch_ref.calc_logits(c, X), "these are the logits"),
        (lambda c, X: torch.sigmoid((X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out)[:, 0],
         "needs its ReLU"),
        (lambda c, X: torch.sigmoid(torch.relu(X @ c.w_hidden) @ c.w_out)[:, 0],
         "add the biases"),
        (lambda c, X: torch_ref.calc_preds(c, X)[:, None], r"got \(7, 1\)"),
        (lambda c, X: torch_ref.calc_preds(c, X)[:2], r"expected shape \(7,\)"),
    ],
)
def test_predict_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.predict(wrong)


def test_predict_checks_logits_too(capsys):
    check.predict(torch_ref.calc_preds, torch_ref.calc_logits)
    assert "✔ 05-predict: logits and probabilities match" in capsys.readouterr().out


def _squeezed_preds(c, X):
    return torch.sigmoid(torch.relu(X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out).squeeze()


def test_predict_names_squeeze_dropping_the_row_axis():
    with pytest.raises(ExerciseFailed, match=r"squeeze\(\) also drops the row axis when there "
                       r"is one row; use squeeze\(1\) or \[:, 0\]"):
        check.predict(_squeezed_preds)


@pytest.mark.parametrize(
    ("wrong_logits", "message"),
    [
        (torch_ref.calc_preds, "these are probabilities"),
        (lambda c, X: ((X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out)[:, 0],
         "needs its ReLU"),
        (lambda c, X: (torch.relu(X @ c.w_hidden) @ c.w_out)[:, 0], "add the biases"),
        (lambda c, X: torch.relu(X @ c.w_hidden + c.b_hidden) @ c.w_out + c.b_out,
         r"calc_logits on 7 rows: expected shape \(7,\), got \(7, 1\)"),
    ],
)
def test_predict_names_the_mistake_in_logits(wrong_logits, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.predict(torch_ref.calc_preds, wrong_logits)


# ---- 05-update ----


def test_update_passes_the_reference(capsys):
    check.update(torch_ref.update_coeffs)
    assert "✔ 05-update" in capsys.readouterr().out


def test_update_accepts_set_to_none(capsys):
    def update_coeffs(coeffs, lr):
        with torch.no_grad():
            for c in coeffs:
                c -= lr * c.grad
                c.grad = None

    check.update(update_coeffs)
    assert "✔ 05-update" in capsys.readouterr().out


def _no_zero(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c -= lr * c.grad


def _rebinds(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c = c - lr * c.grad  # the bug under test
            c.grad = None


def _ascends(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c += lr * c.grad
            c.grad.zero_()


def _rebinds_then_zeroes(coeffs, lr):
    with torch.no_grad():
        for c in coeffs:
            c = c - lr * c.grad  # the bug under test: the new c has no .grad
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


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_no_zero, "grad is not zero after the step"),
        (_rebinds, "did not change: either `c = c - lr \\* c.grad` only rebinds"),
        (_ascends, "moved up the gradient"),
        (_outside_no_grad, "wrap it in `with torch.no_grad\\(\\):`"),
        (_rebinds_then_zeroes, "c.grad is None: after `c = c - lr \\* c.grad`"),
        (_zeroes_first, "or the gradient was zeroed before it was used"),
    ],
)
def test_update_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.update(wrong)
