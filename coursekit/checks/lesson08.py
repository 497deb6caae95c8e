"""Checks for lesson 08, one network two ways: copying weights across frameworks, and the
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
from coursekit.checks._core import call, expect_array, fail, passed


def reference_copy_weights(source: scratch.Sequential, target: nn.Sequential) -> None:
    """Copy every Dense layer of ``source`` into the matching nn.Linear of ``target``."""
    dense = [layer for layer in source.layers if isinstance(layer, scratch.Dense)]
    linear = [module for module in target if isinstance(module, nn.Linear)]
    with torch.no_grad():
        for d, lin in zip(dense, linear, strict=True):
            lin.weight.copy_(torch.from_numpy(d.params["W"].T))
            lin.bias.copy_(torch.from_numpy(d.params["b"]))


def reference_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray,
                               n_classes: int) -> np.ndarray:
    """Counts of shape (n_classes, n_classes): row = true class, column = predicted class."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _pair(sizes: tuple[int, ...], seed: int) -> tuple[scratch.Sequential, nn.Sequential]:
    rng = np.random.default_rng(seed)
    layers: list[scratch.Layer] = []
    modules: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        dense = scratch.Dense(n_in, n_out, init="he", random_state=rng)
        dense.params["b"][...] = rng.normal(0.0, 0.5, n_out)  # biases that matter
        layers.append(dense)
        modules.append(nn.Linear(n_in, n_out, dtype=torch.float64))
        if i < len(sizes) - 2:
            layers.append(scratch.ReLU())
            modules.append(nn.ReLU())
    return scratch.Sequential(*layers), nn.Sequential(*modules)


def copy_weights(copy: Callable[[scratch.Sequential, nn.Sequential], Any]) -> None:
    """Check ``copy_weights(scratch_model, torch_model)``: same outputs, no shared memory."""
    exercise = "08-copy-weights"
    for sizes, seed in (((3, 5, 2), 81), ((4, 4, 4), 82), ((2, 6, 6, 3), 83)):
        source, target = _pair(sizes, seed)
        X = np.random.default_rng(seed + 10).normal(size=(7, sizes[0]))
        try:
            call(exercise, copy, source, target)
        except AssertionError as exc:
            text = str(exc)
            if "cannot assign" in text:
                raise fail(exercise, "assigning a plain tensor to .weight is refused; copy "
                           "into the existing parameter under torch.no_grad() with "
                           "weight.copy_(...)") from None
            if "size" in text or "shape" in text:
                raise fail(exercise, f"shapes do not fit ({text.split(': ', 2)[-1]}): Dense.W "
                           "is (n_in, n_out), Linear.weight is (n_out, n_in); transpose W"
                           ) from None
            raise
        want = source.forward(X)
        with torch.no_grad():
            got = expect_array(exercise, target(torch.from_numpy(X)), want.shape,
                               f"torch output for the {sizes} network")
        if not np.allclose(got, want, rtol=1e-10, atol=1e-12):
            where = f"after copying, the {sizes} networks give different outputs"
            dense = [layer for layer in source.layers if isinstance(layer, scratch.Dense)]
            linear = [m for m in target if isinstance(m, nn.Linear)]
            for i, (d, lin) in enumerate(zip(dense, linear, strict=True)):
                w = lin.weight.detach().numpy()
                if np.allclose(w, d.params["W"].reshape(w.shape)):
                    raise fail(exercise, f"{where}: layer {i}'s weight is W untransposed (or "
                               "reshaped), which a square layer accepts silently; Linear "
                               "computes x @ weight.T, so copy W.T")
                if not np.allclose(lin.bias.detach().numpy(), d.params["b"]):
                    raise fail(exercise, f"{where}: layer {i}'s bias was not copied")
            raise fail(exercise, where)
        # The copy must be a copy: training one framework must not move the other's weights.
        before = [p.detach().clone() for p in target.parameters()]
        for layer in source.layers:
            for p in layer.params.values():
                p += 1.0
        for p, b in zip(target.parameters(), before, strict=True):
            if not torch.equal(p.detach(), b):
                raise fail(exercise, "the torch parameters share memory with the NumPy arrays "
                           "(torch.from_numpy without a copy): an update to one model changes "
                           "the other; copy the values into the parameters with copy_()")
    passed(exercise, "outputs agree on 3 networks, and the copies are independent")


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
        if got.sum() != len(y_true):
            raise fail(exercise, f"the counts should add up to the {len(y_true)} points, got "
                       f"{got.sum():g}")
        raise fail(exercise, f"for {k} classes expected\n{want}\ngot\n{got.astype(int)}")
    passed(exercise, f"confusion matrices match on {len(cases)} cases")
