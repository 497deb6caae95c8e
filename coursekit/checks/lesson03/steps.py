"""03-softmax-ce-steps: the backward pass through softmax and the mean cross-entropy, derived.

For one row p = softmax(z) of a batch of N, and its label y:

1. softmax's Jacobian ``∂p_i/∂z_j = p_i(δ_ij − p_j)``, i.e. ``diag(p) − p pᵀ``, one (C, C)
   matrix per row: ``jacobian[n, i, j]`` for row n;
2. the loss's gradient with respect to the probabilities, ``dp = −onehot / (N p)``;
3. the chain, ``dz_j = Σ_i dp_i ∂p_i/∂z_j``: ``Jᵀ dp`` per row, which simplifies to
   ``(p − onehot) / N``.

Softmax's Jacobian is symmetric, so chaining with J instead of Jᵀ cannot be told apart: the
chain's slips named here are the ones that change the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks.lesson03._shared import _ONEHOT_WIDTH, _batch, _onehot, reference_softmax
from coursekit.exercise import Got, Mistake, Raised, function
from coursekit.exercise.judging import Tolerance, close
from coursekit.probes import lesson03 as probes

#: Float64 rounding, tight: the lesson multiplies the student's Jacobians row by row and
#: compares the result with the vectorised backward and the fused gradient to 1e-10 relative;
#: any float64 way of writing the steps lands within about 1e-14 on these logits.
STEPS_TOLERANCE: Tolerance = {"rtol": 1e-11, "atol": 1e-14}

Steps = tuple[np.ndarray, np.ndarray, np.ndarray]


def _jacobian(p: np.ndarray) -> np.ndarray:
    """p (N, C) -> (N, C, C) with [n, i, j] = p_ni (δ_ij − p_nj)."""
    return p[:, :, None] * (np.eye(p.shape[1]) - p[:, None, :])


def _dp(p: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    return -onehot / (len(p) * p)


def _chain(jacobian: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """Jᵀ dp for every row: dz[n, j] = Σ_i dp[n, i] jacobian[n, i, j]."""
    return np.einsum("nij,ni->nj", jacobian, dp)


def _steps(z: np.ndarray, y: np.ndarray, *,
           jacobian: Callable[[np.ndarray], np.ndarray] = _jacobian,
           dp: Callable[[np.ndarray, np.ndarray], np.ndarray] = _dp,
           chain: Callable[[np.ndarray, np.ndarray], np.ndarray] = _chain) -> Steps:
    """The three steps, each one replaceable by a slip (the defaults are right)."""
    p = reference_softmax(z)
    jac = jacobian(p)
    grad_p = dp(p, _onehot(z, y))
    return jac, grad_p, chain(jac, grad_p)


def reference_softmax_ce_steps(z: np.ndarray, y: np.ndarray) -> Steps:
    """z (N, C) logits, y (N,) labels -> ``(jacobian, dp, dz)`` of shapes (N, C, C), (N, C),
    (N, C): softmax's Jacobian of every row, ∂L/∂p and ∂L/∂z = Jᵀ dp per row."""
    return _steps(z, y)


def _cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Batches holding every class, a batch of one, then a batch with no sample of its last
    two classes. Logits in [−3, 3]: every probability is above 5e-4, so a student's p clipped
    at 1e-7 (as the lesson's loss does) changes nothing."""
    cases = []
    for n, n_classes in [(4, 3), (6, 4), (5, 2), (1, 3)]:
        y = np.concatenate([np.arange(min(n, n_classes)),
                            rng.integers(0, n_classes, max(n - n_classes, 0))])
        cases.append({"z": rng.uniform(-3.0, 3.0, size=(n, n_classes)),
                      "y": rng.permutation(y).astype(np.int64)})
    cases.append({"z": rng.uniform(-3.0, 3.0, size=(4, 4)),
                  "y": np.array([0, 1, 1, 0], dtype=np.int64)})
    return cases


def _off_diagonal(jacobian: np.ndarray) -> np.ndarray:
    return jacobian[:, ~np.eye(jacobian.shape[1], dtype=bool)]


def _explained(got: Got, z: np.ndarray, y: np.ndarray) -> str | None:
    """Which step is wrong when no declared slip gives the answer: one Jacobian instead of one
    per row, the Jacobian's diagonal or off-diagonal entries, a dp that is not 0 off the true
    class, a chain that gives 0."""
    if got.kind != "list" or got.length != 3 or len(got.items) != 3:
        return None
    c, want = z.shape[1], reference_softmax_ce_steps(z, y)
    jac, dp, dz = got.items
    if jac.kind == "array" and jac.shape == (c, c):
        return (f"jacobian (step 1): expected shape {want[0].shape}, got {jac.shape}: return "
                "one C × C Jacobian per row, stacked, jacobian[n] for row n")
    if jac.kind != "array" or jac.shape != want[0].shape:
        return None
    if not close(jac.array, want[0], **STEPS_TOLERANCE):
        if close(np.diagonal(jac.array, axis1=1, axis2=2), np.diagonal(want[0], axis1=1, axis2=2),
                 **STEPS_TOLERANCE):
            return ("jacobian (step 1): the diagonal entries (i = j) are right, the others "
                    "(i ≠ j) are not: redo step 1's case i ≠ j, where only the denominator "
                    "depends on z_j")
        if c > 1 and close(_off_diagonal(jac.array), _off_diagonal(want[0]), **STEPS_TOLERANCE):
            return ("jacobian (step 1): the entries i ≠ j are right, the diagonal (i = j) is "
                    "not: redo step 1's case i = j, where the numerator depends on z_j too")
        return None
    if dp.kind == "array" and dp.shape == want[1].shape and not close(dp.array, want[1],
                                                                      **STEPS_TOLERANCE):
        if np.any(np.abs(dp.array[_onehot(z, y) == 0]) > STEPS_TOLERANCE["atol"]):
            return _DP_EVERY_CLASS
        return None
    if dz.kind == "array" and dz.shape == want[2].shape and close(dz.array, 0.0 * want[2],
                                                                  **STEPS_TOLERANCE):
        return _ZERO_CHAIN
    return None


_DP_EVERY_CLASS = ("dp (step 2): L contains only the true class's log p, so ∂L/∂p is 0 for "
                   "every other class: multiply by the one-hot of y")
_ZERO_CHAIN = ("dz (step 3) is 0 everywhere: dp was lined up with the Jacobian's index you "
               "kept, not the one you summed over, so each sum adds up a whole column (or row) "
               "of the Jacobian times one number, and those add up to 0 (the p's always sum to "
               "1). In dz_j = Σ_i dp_i·J_ij, dp's index is the one summed over")


def _diag(p: np.ndarray) -> np.ndarray:
    """p (N, C) -> (N, C, C): diag(p) of every row."""
    return np.eye(p.shape[1]) * p[:, :, None]


def _outer(p: np.ndarray) -> np.ndarray:
    """p (N, C) -> (N, C, C): p pᵀ of every row."""
    return p[:, :, None] * p[:, None, :]


softmax_ce_steps = function(
    "03-softmax-ce-steps", names=("softmax_ce_steps",), args=("z", "y"), keep=("y",),
    cases=_cases, probe=probes.softmax_ce_cases, reference=reference_softmax_ce_steps,
    tolerance=STEPS_TOLERANCE, float64=True, parts=("jacobian", "dp", "dz"),
    explain=_explained, where=_batch,
    implemented_by=("coursekit.scratch.Softmax.backward",
                    "coursekit.scratch.CategoricalCrossEntropy"),
    passed="jacobian, dp and dz match the exact derivatives, step by step, on {n} batches",
    raised=[Raised(kind, f"your function raised {kind}: {{message}}. Build the {_ONEHOT_WIDTH}")
            for kind in ("ValueError", "IndexError")],
    mistakes=[
        Mistake("jacobian (step 1): this is diag(p) alone. p_i depends on every z_j through the "
                "sum S in its denominator, so ∂p_i/∂z_j is not 0 for i ≠ j, and S adds a "
                "second term to the diagonal too",
                lambda z, y: _steps(z, y, jacobian=_diag)),
        Mistake("jacobian (step 1): check the sign of the p_i·p_j term: the quotient rule "
                "subtracts the denominator's derivative (raising z_j enlarges S, which lowers "
                "p_i)", lambda z, y: _steps(z, y, jacobian=lambda p: _diag(p) + _outer(p))),
        Mistake("jacobian (step 1): the δ_ij term is missing: for i = j the numerator e^(z_i) "
                "depends on z_j too, and the quotient rule differentiates it as well",
                lambda z, y: _steps(z, y, jacobian=lambda p: -_outer(p))),
        Mistake("jacobian (step 1): only the case i = j is there (its p_i(1 − p_i) is right); "
                "for i ≠ j the entries are not 0, since p_i depends on z_j through S: softmax "
                "does not act entry by entry like a sigmoid",
                lambda z, y: _steps(z, y, jacobian=lambda p: _diag(p * (1 - p)))),
        Mistake(f"dp (step 2): build the {_ONEHOT_WIDTH}", lambda z, y: _steps(
            z, y, dp=lambda p, onehot: -np.eye(len(np.unique(y)))[y] / (len(p) * p))),
        Mistake(_DP_EVERY_CLASS,
                lambda z, y: _steps(z, y, dp=lambda p, onehot: -1.0 / (len(p) * p))),
        Mistake(lambda z, y: f"dp (step 2): this is N={len(y)} times too large: L is the mean "
                "over the batch, so every sample's −log p carries a factor 1/N",
                lambda z, y: _steps(z, y, dp=lambda p, onehot: -onehot / p)),
        Mistake("dp (step 2): check the sign: d(−log p)/dp = −1/p (more probability on the true "
                "class lowers the loss)",
                lambda z, y: _steps(z, y, dp=lambda p, onehot: onehot / (len(p) * p))),
        Mistake("dp (step 2): the derivative of log p is 1/p: divide by p too",
                lambda z, y: _steps(z, y, dp=lambda p, onehot: -onehot / len(p))),
        Mistake("dz (step 3): that multiplies dp by the Jacobian's diagonal only, as if softmax "
                "acted entry by entry; every p_i depends on z_j, so dz_j sums dp_i·∂p_i/∂z_j "
                "over all i: one matrix–vector product per row",
                lambda z, y: _steps(z, y, chain=lambda jac, dp: np.diagonal(
                    jac, axis1=1, axis2=2) * dp)),
        Mistake(_ZERO_CHAIN, lambda z, y: _steps(
            z, y, chain=lambda jac, dp: (jac * dp[:, None, :]).sum(axis=1))),
        Mistake("dz (step 3) is dp itself: chain it through softmax, dz_j = Σ_i dp_i·∂p_i/∂z_j",
                lambda z, y: _steps(z, y, chain=lambda jac, dp: dp.copy())),
    ])
