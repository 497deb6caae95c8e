"""Lesson 03's softmax + cross-entropy backward derived step by step (03-softmax-ce-steps): the
reference gives the derivative at each node; its valid versions, written differently, and the
wrong versions no declared mistake expresses (each with the step the judge must name) are
collected here and run by test_lesson03.py with the lesson's others."""

from __future__ import annotations

import numpy as np

from coursekit.checks import lesson03 as check
from tests.checks.test_lesson03_numgrad import _numerical


def test_reference_steps_are_the_derivatives_at_each_node() -> None:
    """The Jacobian is softmax's (central differences of p in z), dp the loss's gradient in p,
    dz the loss's gradient in z, which is the fused (p − onehot)/N."""
    rng = np.random.default_rng(2)
    z, y = rng.uniform(-3.0, 3.0, size=(4, 3)), np.array([2, 0, 1, 1])
    jacobian, dp, dz = check.reference_softmax_ce_steps(z, y)
    for n in range(len(z)):
        for j in range(z.shape[1]):
            def row(n=n, j=j) -> float:  # p[n, j] as a function of z, for one column of J
                return float(check.reference_softmax(z)[n, j])
            np.testing.assert_allclose(jacobian[n, j], _numerical(row, z)[n], rtol=1e-6,
                                       atol=1e-10)
            assert np.all(_numerical(row, z)[np.arange(len(z)) != n] == 0.0)
    p = check.reference_softmax(z)
    np.testing.assert_allclose(
        dp, _numerical(lambda: float(-np.mean(np.log(p[np.arange(4), y]))), p), rtol=1e-6)
    np.testing.assert_allclose(dz, check.reference_softmax_ce_gradient(z, y), rtol=1e-12,
                               atol=1e-15)


def _steps_by_broadcasting(z, y):
    """Every row at once: p_i (δ_ij − p_j) by broadcasting, dp by fancy indexing, Jᵀ dp by
    einsum."""
    n, c = z.shape
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    jacobian = p[:, :, None] * (np.eye(c)[None] - p[:, None, :])
    dp = np.zeros((n, c))
    dp[np.arange(n), y] = -1.0 / (n * p[np.arange(n), y])
    return jacobian, dp, np.einsum("nij,ni->nj", jacobian, dp)


def _steps_quotient_rule(z, y):
    """Entry by entry, as the quotient rule gives it: (δ_ij e_i S − e_i e_j) / S², and the
    chain summed by hand."""
    n, c = z.shape
    jacobian, dp, dz = np.zeros((n, c, c)), np.zeros((n, c)), np.zeros((n, c))
    for row in range(n):
        e = np.exp(z[row] - np.max(z[row]))
        total = e.sum()
        for i in range(c):
            for j in range(c):
                jacobian[row, i, j] = ((i == j) * e[i] * total - e[i] * e[j]) / total**2
        dp[row, y[row]] = -total / (n * e[y[row]])  # −1/(N p), p = e/S
        for j in range(c):
            dz[row, j] = sum(dp[row, i] * jacobian[row, i, j] for i in range(c))
    return jacobian, dp, dz


# J dp instead of Jᵀ dp: the same, softmax's Jacobian being symmetric (a solution cell's source,
# with the lesson's softmax and one_hot)
STEPS_WITH_J = ("def softmax_ce_steps(z, y):\n"
                "    p = softmax(z)\n"
                "    eye = np.eye(z.shape[1])\n"
                "    jacobian = np.einsum('ni,ij->nij', p, eye) - np.einsum('ni,nj->nij', p, p)\n"
                "    dp = -one_hot(y, z.shape[1]) / (len(y) * p)\n"
                "    dz = np.einsum('nij,nj->ni', jacobian, dp)\n"
                "    return jacobian, dp, dz\n")


def _steps_shifting_z(z, y):
    """z -= its row maxima in the caller's logits (the same softmax: valid), a list of rows."""
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    jacobians = np.array([np.diag(row) - np.outer(row, row) for row in p])
    dp = -np.eye(z.shape[1])[y] / p / len(y)
    return jacobians, dp, np.stack([J.T @ d for J, d in zip(jacobians, dp, strict=True)])


def _steps(jacobian=None, dp=None, dz=None):
    """The reference steps with some replaced by ``name(z, y, p, right)`` (``right``: the
    steps so far); dz, unless replaced, chains the jacobian and dp given."""
    def steps(z, y):
        right = list(check.reference_softmax_ce_steps(z, y))
        p = check.reference_softmax(z)
        for k, wrong in enumerate((jacobian, dp)):
            if wrong is not None:
                right[k] = wrong(z, y, p, right)
        right[2] = np.einsum("nij,ni->nj", right[0], right[1])
        if dz is not None:
            right[2] = dz(z, y, p, right)
        return tuple(right)
    return steps


def _jacobian_row_index(z, y, p, right):  # p_i (δ_ij − p_i): the second p's index slipped
    return p[:, :, None] * (np.eye(z.shape[1]) - p[:, :, None])


def _jacobian_plus_on_diagonal(z, y, p, right):  # the case i = j with + p_i²
    return right[0] + 2 * np.eye(z.shape[1]) * (p * p)[:, :, None]


STEPS_VALID = [_steps_by_broadcasting, _steps_quotient_rule, STEPS_WITH_J, _steps_shifting_z]

# the step named when no declared slip fits, shapes, crashes
STEPS_MISTAKES = [
    ("03-softmax-ce-steps", _steps(jacobian=_jacobian_row_index),
     r"jacobian \(step 1\): the diagonal entries \(i = j\) are right.*case i ≠ j"),
    ("03-softmax-ce-steps", _steps(jacobian=_jacobian_plus_on_diagonal),
     r"jacobian \(step 1\): the entries i ≠ j are right, the diagonal \(i = j\) is not"),
    ("03-softmax-ce-steps", lambda z, y: (check.reference_softmax_ce_steps(z, y)[0][-1],
                                          *check.reference_softmax_ce_steps(z, y)[1:]),
     r"jacobian \(step 1\): expected shape \(\d, \d, \d\), got \(\d, \d\): return one C × C "
     r"Jacobian per row"),
    ("03-softmax-ce-steps", _steps(dp=lambda z, y, p, right: -1.0 / p),
     r"dp \(step 2\): L contains only the true class's log p"),
    ("03-softmax-ce-steps", _steps(dz=lambda z, y, p, right: np.einsum("nij,nj->nj", right[0],
                                                                       right[1])),
     r"dz \(step 3\) is 0 everywhere"),
    ("03-softmax-ce-steps", _steps(dz=lambda z, y, p, right: right[2].T),
     r"dz: expected shape .*looks transposed"),
    ("03-softmax-ce-steps", lambda z, y: check.reference_softmax_ce_steps(z, y)[:2],
     r"expected a tuple of 3 \(jacobian, dp, dz\)"),
    ("03-softmax-ce-steps", _steps(dp=lambda z, y, p, right: (
        -np.eye(len(np.unique(y)))[y] / (len(y) * p))),
     r"(raised ValueError|dp \(step 2\): build the).*z.shape.1. columns, not from the classes "
     r"present"),
    ("03-softmax-ce-steps", lambda z, y: tuple(part.astype(np.float32) for part in
                                               check.reference_softmax_ce_steps(z, y)),
     "float32"),
]
