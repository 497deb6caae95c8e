"""Checks for lesson 08, one network two ways: copying a layer across frameworks, and the
confusion matrix.

A ``coursekit.scratch.Dense`` keeps ``W`` of shape (n_in, n_out) and computes ``x @ W + b``;
a ``torch.nn.Linear`` keeps ``weight`` of shape (n_out, n_in) and computes ``x @ weight.T +
bias``. So copying one into the other transposes ``W``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from coursekit import scratch
from coursekit.checks._legacy import call, expect_array, fail, passed
from coursekit.checks.lesson05 import IN_PLACE_ERROR, IN_PLACE_HINT


def reference_copy_layer(dense: scratch.Dense, linear: nn.Linear) -> None:
    """Copy one Dense layer's ``W`` (transposed) and ``b`` into an nn.Linear, in place."""
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.params["W"].T))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))


def reference_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray,
                               n_classes: int) -> np.ndarray:
    """Counts of shape (n_classes, n_classes): row = true class, column = predicted class."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _pair(n_in: int, n_out: int, seed: int) -> tuple[scratch.Dense, nn.Linear]:
    rng = np.random.default_rng(seed)
    dense = scratch.Dense(n_in, n_out, init="he", random_state=rng)
    dense.params["b"][...] = rng.normal(0.0, 0.5, n_out)  # a bias that matters
    return dense, nn.Linear(n_in, n_out, dtype=torch.float64)


def copy_layer(copy: Callable[[scratch.Dense, nn.Linear], Any]) -> None:
    """Check ``copy_layer(dense, linear)``: same outputs afterwards, and no shared memory.

    The function receives a Dense layer (``params["W"]`` of shape (n_in, n_out), ``params["b"]``
    of shape (n_out,)) and an ``nn.Linear(n_in, n_out)`` in float64, and must change only the
    Linear, in place.
    """
    exercise = "08-copy-weights"
    shapes = ((3, 5), (4, 4), (6, 2))
    for (n_in, n_out), seed in zip(shapes, (81, 82, 83), strict=True):
        dense, linear = _pair(n_in, n_out, seed)
        X = np.random.default_rng(seed + 10).normal(size=(7, n_in))
        where = f"for Dense({n_in}, {n_out})"
        try:
            call(exercise, copy, dense, linear)
        except AssertionError as exc:
            text = str(exc)
            if IN_PLACE_ERROR in text:
                raise fail(exercise, f"{where}: {IN_PLACE_HINT}") from None
            if "cannot assign" in text:
                raise fail(exercise, f"{where}: assigning a plain tensor to .weight is refused; "
                           "copy into the existing parameter under torch.no_grad() with "
                           "weight.copy_(...)") from None
            if "size" in text or "shape" in text:
                raise fail(exercise, f"{where}: shapes do not fit ({text.split(': ', 2)[-1]}): "
                           "Dense W is (n_in, n_out), Linear.weight is (n_out, n_in); "
                           "transpose W") from None
            raise
        want = dense.forward(X)
        if any(p.dtype != torch.float64 for p in linear.parameters()):
            raise fail(exercise, f"{where}: the Linear's parameters are now "
                       f"{linear.weight.dtype}, not float64: copy in float64 "
                       "(torch.from_numpy keeps NumPy's float64)")
        with torch.no_grad():
            got = expect_array(exercise, linear(torch.from_numpy(X)), want.shape,
                               f"Linear output {where}")
        if not np.allclose(got, want, rtol=1e-10, atol=1e-12):
            w = linear.weight.detach().numpy()
            if np.allclose(w, dense.params["W"].reshape(w.shape)):
                raise fail(exercise, f"{where}: the Linear weight is W untransposed (or "
                           "reshaped), which a square layer accepts silently; Linear computes "
                           "x @ weight.T, so copy W.T")
            if not np.allclose(linear.bias.detach().numpy(), dense.params["b"]):
                raise fail(exercise, f"{where}: the bias was not copied")
            if np.allclose(got, want, rtol=1e-5, atol=1e-6) and np.array_equal(
                    w, dense.params["W"].T.astype(np.float32).astype(np.float64)):
                raise fail(exercise, f"{where}: the values were rounded to float32 on the way; "
                           "copy in float64 (torch.from_numpy keeps NumPy's float64)")
            raise fail(exercise, f"{where}: after copying, the two layers give different "
                       "outputs")
        # The copy must be a copy: training one framework must not move the other's weights.
        before = [p.detach().clone() for p in linear.parameters()]
        for p in dense.params.values():
            p += 1.0
        for p, b in zip(linear.parameters(), before, strict=True):
            if not torch.equal(p.detach(), b):
                raise fail(exercise, "the torch parameters share memory with the NumPy arrays "
                           "(torch.from_numpy without a copy): an update to one model changes "
                           "the other; copy the values into the parameters with copy_()")
    passed(exercise, f"outputs agree for {len(shapes)} layers, and the copies are independent")


def confusion_matrix(confusion: Callable[[np.ndarray, np.ndarray, int], Any]) -> None:
    """Check ``confusion_matrix(y_true, y_pred, n_classes)``: rows true, columns predicted."""
    exercise = "08-confusion"
    rng = np.random.default_rng(84)
    cases = [
        (np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 1, 1]), 3),
        (np.array([0, 0, 1, 3]), np.array([0, 1, 1, 3]), 5),  # classes 2 and 4 never occur
    ]
    for _ in range(3):
        n = int(rng.integers(20, 60))
        k = int(rng.integers(2, 11))
        cases.append((rng.integers(0, k, n), rng.integers(0, k, n), k))
    for y_true, y_pred, k in cases:
        raw = call(exercise, confusion, y_true.copy(), y_pred.copy(), k)
        if isinstance(raw, list | tuple):  # a list of lists is a fine answer too
            raw = np.asarray(raw)
        shape = np.shape(raw)
        if len(shape) == 2 and shape != (k, k):
            raise fail(exercise, f"expected shape ({k}, {k}) for {k} classes, got {shape}: "
                       "take the number of classes from n_classes, not from the labels that "
                       "happen to occur")
        got = expect_array(exercise, raw, (k, k), f"confusion matrix for {k} classes")
        want = reference_confusion_matrix(y_true, y_pred, k)
        if np.array_equal(got, want):
            continue
        if np.array_equal(got, want.T):
            raise fail(exercise, "the matrix is transposed: row i should count the points whose "
                       "true class is i, column j those predicted as j")
        buffered = np.zeros((k, k), dtype=np.int64)
        buffered[y_true, y_pred] += 1  # what fancy-index += does with repeated pairs
        if np.array_equal(got, buffered):
            raise fail(exercise, f"the counts add up to {got.sum():g}, not {len(y_true)}: "
                       "`counts[y_true, y_pred] += 1` adds 1 only once per repeated (true, "
                       "predicted) pair; use np.add.at(counts, (y_true, y_pred), 1) or a loop")
        if got.sum() != len(y_true):
            raise fail(exercise, f"the counts should add up to the {len(y_true)} points, got "
                       f"{got.sum():g}")
        raise fail(exercise, f"for {k} classes expected\n{want}\ngot\n{got.astype(int)}")
    passed(exercise, f"confusion matrices match on {len(cases)} cases")
