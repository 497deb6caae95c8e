"""Copies between classmates: flagged through renaming and re-commenting, honest work not."""

from __future__ import annotations

import json
import random
import re

from coursekit.instructor.similarity import (
    fingerprints,
    own_code,
    similar_pairs,
    similarity_flags,
    starter_cells,
    tokens,
)

ORIGINAL = '''
def train(X, y, hidden=16, lr=0.1, epochs=200, seed=0):
    rng = np.random.default_rng(seed)
    W1 = rng.normal(0, np.sqrt(2 / X.shape[1]), (X.shape[1], hidden))
    b1 = np.zeros(hidden)
    W2 = rng.normal(0, np.sqrt(2 / hidden), (hidden, 1))
    b2 = np.zeros(1)
    for epoch in range(epochs):
        h = np.maximum(0, X @ W1 + b1)   # hidden layer
        out = h @ W2 + b2
        err = out[:, 0] - y
        loss = np.mean(err ** 2)
        d_out = (2 / len(y)) * err[:, None]
        dW2 = h.T @ d_out
        db2 = d_out.sum(axis=0)
        dh = d_out @ W2.T * (h > 0)
        dW1 = X.T @ dh
        db1 = dh.sum(axis=0)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
    return W1, b1, W2, b2, loss
'''

RENAMED = '''
# my own network!!
def fit(inputs, targets, width=16, step=0.1, rounds=200, seed=0):
    g = np.random.default_rng(seed)
    A = g.normal(0, np.sqrt(2 / inputs.shape[1]), (inputs.shape[1], width))
    a = np.zeros(width)
    B = g.normal(0, np.sqrt(2 / width), (width, 1))
    c = np.zeros(1)
    for r in range(rounds):
        hid = np.maximum(0, inputs @ A + a)      # relu
        pred = hid @ B + c
        e = pred[:, 0] - targets
        cost = np.mean(e ** 2)
        g_pred = (2 / len(targets)) * e[:, None]
        gB = hid.T @ g_pred
        gc = g_pred.sum(axis=0)
        g_hid = g_pred @ B.T * (hid > 0)
        gA = inputs.T @ g_hid
        ga = g_hid.sum(axis=0)
        A -= step * gA
        a -= step * ga
        B -= step * gB
        c -= step * gc
    return A, a, B, c, cost
'''

INDEPENDENT = '''
class Net:
    def __init__(self, n_in, n_hidden, seed):
        r = np.random.default_rng(seed)
        self.params = {"W1": r.standard_normal((n_in, n_hidden)) * (2 / n_in) ** 0.5,
                       "b1": np.zeros(n_hidden),
                       "W2": r.standard_normal((n_hidden, 1)) * (2 / n_hidden) ** 0.5,
                       "b2": np.zeros(1)}

    def forward(self, X):
        self.X, self.z = X, X @ self.params["W1"] + self.params["b1"]
        self.a = np.where(self.z > 0, self.z, 0.0)
        return (self.a @ self.params["W2"] + self.params["b2"]).ravel()

    def backward(self, residual):
        n = residual.shape[0]
        g = 2.0 * residual.reshape(-1, 1) / n
        grads = {"W2": self.a.T @ g, "b2": g.sum(0)}
        back = (g @ self.params["W2"].T) * (self.z > 0)
        grads["W1"] = self.X.T @ back
        grads["b1"] = back.sum(0)
        return grads

def train(X, y, hidden=16, lr=0.1, epochs=200, seed=0):
    net = Net(X.shape[1], hidden, seed)
    for _ in range(epochs):
        residual = net.forward(X) - y
        for key, grad in net.backward(residual).items():
            net.params[key] -= lr * grad
    return net, float((residual ** 2).mean())
'''


def test_renaming_re_spacing_and_comments_leave_the_tokens_as_they_were():
    assert tokens(ORIGINAL) == tokens(RENAMED)
    assert tokens("x = 1  # note") == ["V", "=", "N"]


def test_a_renamed_copy_is_flagged_both_ways_and_independent_work_is_not():
    flags = similarity_flags({"alice/04.ipynb": ORIGINAL, "bob/04.ipynb": RENAMED,
                              "carol/04.ipynb": INDEPENDENT}, [])
    shares = {}
    for name, partner in (("alice/04.ipynb", "bob/04.ipynb"), ("bob/04.ipynb", "alice/04.ipynb")):
        found = re.fullmatch(rf"similar to {partner} \((\d+)% of fingerprints shared\)",
                             flags[name])
        assert found, flags[name]
        shares[name] = int(found.group(1))
    assert min(shares.values()) >= 80  # (what carol's code also has is common, not counted)
    assert "carol/04.ipynb" not in flags


def test_two_files_of_one_student_are_not_a_copy():
    codes = {"ann/04.ipynb": ORIGINAL, "ann/04 (1).ipynb": RENAMED}
    assert similarity_flags(codes, [], {name: "ann" for name in codes}) == {}


def test_a_partial_copy_inside_more_own_code_is_still_seen():
    half = "\n".join(ORIGINAL.splitlines()[:14]) + "\n" + INDEPENDENT
    pairs = similar_pairs({"a": fingerprints(ORIGINAL), "b": fingerprints(half)}, set())
    assert pairs and pairs[0][:2] == ("a", "b") and pairs[0][3] >= 12


def test_starter_code_and_code_most_of_the_class_shares_are_not_evidence():
    starter = ORIGINAL  # everyone was given it
    codes = {f"s{i}": ORIGINAL + f"\nprint({i})" for i in range(6)}
    assert similarity_flags(codes, [starter]) == {}
    common = {f"s{i}": ORIGINAL for i in range(12)}  # the one obvious way, for all twelve
    assert similarity_flags(common, []) == {}


def test_a_ring_of_copiers_in_a_small_class_is_flagged():
    rng = random.Random(1)
    words = ["x", "=", "(", ")", "+", "*", "for", "in", "if", ":", "1", "return"]
    codes = {f"s{i}": " ".join(rng.choice(words) for _ in range(200)) for i in range(7)}
    codes.update({f"ring{i}": RENAMED for i in range(3)})
    flags = similarity_flags(codes, [])
    assert set(flags) == {"ring0", "ring1", "ring2"}


def test_short_answers_alike_are_not_flagged():
    assert similarity_flags({"a": "return np.mean((theta * x - y) ** 2)",
                             "b": "return np.mean((theta * x - y) ** 2)"}, []) == {}


def test_only_the_students_own_cells_are_compared():
    starter_nb = {"cells": [{"cell_type": "code", "source": ["import numpy as np\n"]},
                            {"cell_type": "markdown", "source": "text"}]}
    submission = {"cells": [{"cell_type": "code", "source": "import numpy as np\n"},
                            {"cell_type": "code", "source": ["x = 1\n", "y = 2"]}]}
    starter = starter_cells(starter_nb)
    assert own_code(json.dumps(submission).encode(), starter) == "x = 1\ny = 2"
    assert own_code(b"\xff not json", starter) == ""


def test_a_class_of_eight_hundred_is_compared_through_the_index():
    rng = random.Random(0)
    words = ["x", "=", "(", ")", "+", "*", "for", "in", "if", ":", "1", "return"]
    codes = {f"s{i}/04.ipynb": " ".join(rng.choice(words) for _ in range(300))
             for i in range(800)}
    codes["copy/04.ipynb"] = codes["s7/04.ipynb"]
    flags = similarity_flags(codes, [])
    assert set(flags) == {"s7/04.ipynb", "copy/04.ipynb"}


def test_a_copy_character_for_character_is_flagged_however_short():
    """Too few fingerprints for the similarity rule, but the same code and comments in two
    students' files, however re-spaced: flagged as identical; the same few lines with a
    comment of one's own are not."""
    answer = ("def cost(theta, x, y):\n    # mean of the squared residuals, as in the notes\n"
              "    residuals = theta * x - y\n    return np.mean(residuals ** 2)\n\n"
              "def gradient(theta, x, y):\n    # chain rule: 2/N * sum(r * x)\n"
              "    return 2 * np.mean((theta * x - y) * x)\n")
    assert len(fingerprints(answer)) < 12
    respaced = answer.replace("\n\n", "\n\n\n").replace("residuals = ", "residuals  =  ")
    flags = similarity_flags({"ann/01.ipynb": answer, "bo/01.ipynb": respaced,
                              "cy/01.ipynb": answer.replace("# mean", "# the mean")},
                             [], {"ann/01.ipynb": "ann", "bo/01.ipynb": "bo",
                                  "cy/01.ipynb": "cy"})
    assert flags == {"ann/01.ipynb": "identical to bo/01.ipynb (but for spacing)",
                     "bo/01.ipynb": "identical to ann/01.ipynb (but for spacing)"}
    assert similarity_flags({"ann/a.ipynb": answer, "ann/b.ipynb": answer}, [],
                            {"ann/a.ipynb": "ann", "ann/b.ipynb": "ann"}) == {}
