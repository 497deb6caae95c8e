"""Lesson 08 checks pass the reference and name the mistake in realistic wrong versions."""

import numpy as np
import pytest
import torch
from torch import nn

from coursekit import scratch
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson08 as check


def _pairs(source, target):
    dense = [layer for layer in source.layers if isinstance(layer, scratch.Dense)]
    linear = [m for m in target if isinstance(m, nn.Linear)]
    return list(zip(dense, linear, strict=True))


# ---- 08-copy-weights ----


def test_copy_weights_passes_the_reference(capsys):
    check.copy_weights(check.reference_copy_weights)
    assert capsys.readouterr().out.startswith("✔ 08-copy-weights")


def test_copy_weights_accepts_torch_tensor_copies(capsys):
    def copy_weights(source, target):
        for d, lin in _pairs(source, target):
            lin.weight.data = torch.tensor(d.params["W"].T)
            lin.bias.data = torch.tensor(d.params["b"])

    check.copy_weights(copy_weights)
    assert "✔ 08-copy-weights" in capsys.readouterr().out


def _untransposed(source, target):
    with torch.no_grad():
        for d, lin in _pairs(source, target):
            lin.weight.copy_(torch.from_numpy(d.params["W"]).reshape(lin.weight.shape))
            lin.bias.copy_(torch.from_numpy(d.params["b"]))


def _untransposed_plain(source, target):
    with torch.no_grad():
        for d, lin in _pairs(source, target):
            lin.weight.copy_(torch.from_numpy(d.params["W"]))
            lin.bias.copy_(torch.from_numpy(d.params["b"]))


def _no_bias(source, target):
    with torch.no_grad():
        for d, lin in _pairs(source, target):
            lin.weight.copy_(torch.from_numpy(d.params["W"].T))


def _shared_memory(source, target):
    for d, lin in _pairs(source, target):
        lin.weight.data = torch.from_numpy(d.params["W"].T)
        lin.bias.data = torch.from_numpy(d.params["b"])


def _plain_assignment(source, target):
    for d, lin in _pairs(source, target):
        lin.weight = torch.tensor(d.params["W"].T)
        lin.bias = torch.tensor(d.params["b"])


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_untransposed, r"weight is W untransposed \(or reshaped\)"),
        (_untransposed_plain, "transpose W"),
        (_no_bias, "bias was not copied"),
        (_shared_memory, "share memory with the NumPy arrays"),
        (_plain_assignment, "copy into the existing parameter"),
    ],
)
def test_copy_weights_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.copy_weights(wrong)


# ---- 08-confusion ----


def test_confusion_passes_the_reference(capsys):
    check.confusion_matrix(check.reference_confusion_matrix)
    assert "✔ 08-confusion" in capsys.readouterr().out


def test_confusion_accepts_a_loop(capsys):
    def confusion(y_true, y_pred, n_classes):
        counts = np.zeros((n_classes, n_classes), dtype=int)
        for t, p in zip(y_true, y_pred, strict=True):
            counts[t, p] += 1
        return counts

    check.confusion_matrix(confusion)
    assert "✔ 08-confusion" in capsys.readouterr().out


def _from_present_classes(y_true, y_pred, n_classes):
    k = len(np.unique(np.concatenate([y_true, y_pred])))
    counts = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        counts[t % k, p % k] += 1
    return counts


def _fancy_index_assign(y_true, y_pred, n_classes):
    counts = np.zeros((n_classes, n_classes), dtype=int)
    counts[y_true, y_pred] += 1  # repeated pairs count once
    return counts


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda t, p, k: check.reference_confusion_matrix(p, t, k), "transposed"),
        (_from_present_classes, "not from the labels that happen to occur"),
        (_fancy_index_assign, "add up to the"),
        (lambda t, p, k: None, "expected an array of shape"),
    ],
)
def test_confusion_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.confusion_matrix(wrong)
