"""Lesson 11's exercises that ask for a derivation: the output shape of a convolution
(11-conv-shape) and dx as a full convolution with the flipped kernel (11-conv-dx-full). Their
valid versions, imported into test_lesson11.VALID_VERSIONS; the reference equals col2im's dx
and PyTorch's; what no declared mistake covers is named. Declared mistakes are tested in
test_mistakes.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coursekit.checks import lesson11 as check
from coursekit.checks.lesson11.dx_full import _dx_cases
from coursekit.exercise import ExerciseFailed
from tests.checks.wire import assert_same_verdict_over_the_wire

# ---- valid versions written differently ----


def shape_by_counting(x_shape, W_shape, stride, padding):
    """Counts the window's starting rows and columns instead of using the formula."""
    n, _, h, w = x_shape
    f, _, kh, kw = W_shape
    return (n, f, len(range(0, h + 2 * padding - kh + 1, stride)),
            len(range(0, w + 2 * padding - kw + 1, stride)))


def shape_by_ceiling(x_shape, W_shape, stride, padding):
    """⌈(H + 2p − K + 1) / s⌉, with NumPy arrays over both axes, turned back into ints."""
    sizes = np.array(x_shape[2:]) + 2 * padding - np.array(W_shape[2:]) + 1
    oh, ow = (-(-sizes // stride)).tolist()
    return [x_shape[0], W_shape[0], oh, ow]


def shape_by_math(x_shape, W_shape, stride, padding):
    return tuple([x_shape[0], W_shape[0]] + [
        math.floor((size + 2 * padding - k) / stride) + 1
        for size, k in zip(x_shape[2:], W_shape[2:], strict=True)])


#: A solution-cell source: the derived call of the student's own conv_forward, flipped with
#: np.flip and swapped with swapaxes.
DX_WITH_CONV_FORWARD = """
def conv_dx_full(dout, W, padding):
    kernel = np.flip(W, axis=(2, 3)).swapaxes(0, 1)
    return conv_forward(dout, kernel, np.zeros(kernel.shape[0]), 1, W.shape[-1] - 1 - padding)
"""


def dx_by_scatter(dout, W, padding):
    """The sum of exercise 4's step 1 as it stands: every output pixel sends dout·W back onto
    the window it read, over the kernel's offsets, then the padding is cropped."""
    n, _, oh, ow = dout.shape
    _, c, k, _ = W.shape
    dxp = np.zeros((n, c, oh + k - 1, ow + k - 1))
    for u in range(k):
        for v in range(k):
            dxp[:, :, u:u + oh, v:v + ow] += np.einsum("nfij,fc->ncij", dout, W[:, :, u, v])
    return dxp[:, :, padding:dxp.shape[2] - padding, padding:dxp.shape[3] - padding]


def dx_with_torch(dout, W, padding):
    return F.conv_transpose2d(torch.tensor(dout), torch.tensor(W), padding=padding).numpy()


SHAPE_VERSIONS = [shape_by_counting, shape_by_ceiling, shape_by_math]
DX_VERSIONS = [DX_WITH_CONV_FORWARD, dx_by_scatter, dx_with_torch]


@pytest.mark.parametrize(("exercise_id", "student"),
                         [("11-conv-shape", v) for v in SHAPE_VERSIONS] +
                         [("11-conv-dx-full", v) for v in DX_VERSIONS if callable(v)])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_valid_versions_pass_on_any_inputs(exercise_id, student, seed, capsys):
    exercise = check.EXERCISES[exercise_id]
    exercise(student) if seed is None else exercise.check(student, seed=seed)
    assert f"✔ {exercise_id}:" in capsys.readouterr().out


def test_the_solution_source_passes_with_the_lessons_conv_forward(capsys):
    names = {"np": np, "conv_forward": check.reference_conv_forward}
    exec(DX_WITH_CONV_FORWARD, names)
    check.conv_dx_full(names["conv_dx_full"])
    assert "✔ 11-conv-dx-full:" in capsys.readouterr().out


# ---- the references ----


@pytest.mark.parametrize("case", check._conv_cases(np.random.default_rng(0)))
def test_reference_shape_is_the_forward_passs(case):
    x, W, s, p = case["x"], case["W"], case["stride"], case["padding"]
    assert check.reference_conv_output_shape(x.shape, W.shape, s, p) == \
        check.reference_conv_forward(x, W, case["b"], s, p).shape == \
        tuple(F.conv2d(torch.tensor(x), torch.tensor(W), stride=s, padding=p).shape)


@pytest.mark.parametrize("case", _dx_cases(np.random.default_rng(0)))
def test_reference_dx_full_equals_col2im_and_torch(case):
    dout, W, p = case["dout"], case["W"], case["padding"]
    k = W.shape[2]
    x = np.zeros((dout.shape[0], W.shape[1], dout.shape[2] + k - 1 - 2 * p,
                  dout.shape[3] + k - 1 - 2 * p))
    dx = check.reference_conv_dx_full(dout, W, p)
    np.testing.assert_allclose(dx, check.reference_conv_backward(dout, x, W, 1, p)[0],
                               rtol=1e-10, atol=1e-12)
    xt = torch.tensor(x, requires_grad=True)
    F.conv2d(xt, torch.tensor(W), padding=p).backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---- what no declared mistake covers ----


def _swapped_by_reshape(dout, W, padding):
    """Swaps F and C with a reshape: the right shape, the numbers in the wrong places (and
    no swap at all on the first layer, where F = C)."""
    f, c, k, _ = W.shape
    kernel = W[:, :, ::-1, ::-1].reshape(c, f, k, k)
    return check.reference_conv_forward(dout, kernel, np.zeros(c), 1, k - 1 - padding)


NOT_DECLARED = [
    ("11-conv-shape", lambda x, W, s, p: (x[0], W[0], *(float(v) for v in
                                                         check.reference_conv_output_shape(
                                                             x, W, s, p)[2:])),
     "expected an int, got a number"),
    ("11-conv-shape", lambda x, W, s, p: check.reference_conv_output_shape(x, W, s, p)[1:],
     "expected a tuple of 4"),
    ("11-conv-dx-full", lambda d, W, p: check.reference_conv_dx_full(d, W, p).astype(np.float32),
     "float32"),
    ("11-conv-dx-full", lambda d, W, p: torch.tensor(check.reference_conv_dx_full(d, W, p)),
     "expected a NumPy array, got a Tensor"),
    ("11-conv-dx-full", _swapped_by_reshape, "the filters and channels are not swapped"),
    ("11-conv-dx-full", lambda d, W, p: 1.001 * check.reference_conv_dx_full(d, W, p),
     r"entries differ.*; dx\[n, c, a, b\] = "),
]


@pytest.mark.parametrize(("exercise_id", "wrong", "message"), NOT_DECLARED)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_what_no_declared_mistake_covers_is_named(exercise_id, wrong, message, seed):
    exercise = check.EXERCISES[exercise_id]
    with pytest.raises(ExerciseFailed, match=message):
        exercise(wrong) if seed is None else exercise.check(wrong, seed=seed)


def test_a_conv_forward_that_cannot_take_f_channels_is_explained():
    """A student whose im2col product fails to multiply where F ≠ C (after a right answer where
    F = C) is told what the shapes mean, not only that numpy raised."""
    def fails_where_f_differs_from_c(dout, W, padding):
        f, c, k, _ = W.shape
        cols = np.zeros((dout.shape[0] * dout.shape[2] * dout.shape[3], f * k * k))
        product = cols @ W.reshape(f, -1).T  # (F·k·k) against (C·k·k): raises where F ≠ C
        return check.reference_conv_dx_full(dout, W, padding) + 0 * product.sum()

    with pytest.raises(ExerciseFailed, match="dout has F channels and dx has C"):
        check.conv_dx_full(fails_where_f_differs_from_c)


def test_dout_and_W_changed_in_place_are_refused():
    for index, name in enumerate(("dout", "W")):
        def changed(*args, index=index):
            result = check.reference_conv_dx_full(*args)
            args[index][...] = 0.0
            return result

        with pytest.raises(ExerciseFailed, match=f"changed `{name}` in place"):
            check.conv_dx_full(changed)


@pytest.mark.parametrize(("exercise_id", "student"),
                         [("11-conv-shape", check.reference_conv_output_shape),
                          ("11-conv-dx-full", check.reference_conv_dx_full)] +
                         [(key, wrong) for key, wrong, _ in NOT_DECLARED])
def test_probe_data_survives_the_wire(exercise_id, student):
    assert_same_verdict_over_the_wire(check.EXERCISES[exercise_id], student)
