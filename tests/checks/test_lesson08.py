"""Lesson 08 checks pass the reference and name the mistake in realistic wrong versions."""

import numpy as np
import pytest
import torch

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson08 as check

# ---- 08-copy-weights ----


def test_copy_layer_passes_the_reference(capsys):
    check.copy_layer(check.reference_copy_layer)
    assert capsys.readouterr().out.startswith("✔ 08-copy-weights")


def test_copy_layer_accepts_torch_tensor_copies(capsys):
    def copy_layer(dense, linear):
        linear.weight.data = torch.tensor(dense.params["W"].T)
        linear.bias.data = torch.tensor(dense.params["b"])

    check.copy_layer(copy_layer)
    assert "✔ 08-copy-weights" in capsys.readouterr().out


def _untransposed_reshaped(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"]).reshape(linear.weight.shape))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _untransposed(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"]))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def _no_bias(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"].T))


def _shared_memory(dense, linear):
    linear.weight.data = torch.from_numpy(dense.params["W"].T)
    linear.bias.data = torch.from_numpy(dense.params["b"])


def _plain_assignment(dense, linear):
    linear.weight = torch.tensor(dense.params["W"].T)
    linear.bias = torch.tensor(dense.params["b"])


def _float32_copy(dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(dense.params["W"].T, dtype=torch.float32))
        linear.bias.copy_(torch.tensor(dense.params["b"], dtype=torch.float32))


def _float32_data(dense, linear):
    linear.weight.data = torch.tensor(dense.params["W"].T, dtype=torch.float32)
    linear.bias.data = torch.tensor(dense.params["b"], dtype=torch.float32)


def _without_no_grad(dense, linear):
    linear.weight.copy_(torch.from_numpy(dense.params["W"].T))
    linear.bias.copy_(torch.from_numpy(dense.params["b"]))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_float32_copy, "the values were rounded to float32 on the way; copy in float64"),
        (_float32_data, "not float64: copy in float64"),
        (_without_no_grad, r"refused an in-place change of a tensor that requires grad: wrap "
         r"it in `with torch.no_grad\(\):`"),
        (_untransposed_reshaped, r"weight is W untransposed \(or reshaped\)"),
        (_untransposed, "transpose W"),
        (_no_bias, "bias was not copied"),
        (_shared_memory, "share memory with the NumPy arrays"),
        (_plain_assignment, "copy into the existing parameter"),
    ],
)
def test_copy_layer_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.copy_layer(wrong)


def test_copy_layer_works_with_a_freshly_imported_scratch(capsys):
    """The grader re-imports coursekit; the student's function must not depend on classes."""
    import importlib
    import sys

    saved = {n: m for n, m in sys.modules.items() if n.startswith("coursekit")}
    try:
        for name in saved:
            del sys.modules[name]
        fresh = importlib.import_module("coursekit.checks.lesson08")
        fresh.copy_layer(check.reference_copy_layer)
    finally:
        sys.modules.update(saved)
    assert "✔ 08-copy-weights" in capsys.readouterr().out


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


def test_confusion_accepts_a_list_of_lists(capsys):
    def confusion(y_true, y_pred, n_classes):
        return check.reference_confusion_matrix(y_true, y_pred, n_classes).tolist()

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
        (_fancy_index_assign, r"`counts\[y_true, y_pred\] \+= 1` adds 1 only once per "
         r"repeated \(true, predicted\) pair; use np.add.at"),
        (lambda t, p, k: None, "expected an array of shape"),
    ],
)
def test_confusion_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.confusion_matrix(wrong)
