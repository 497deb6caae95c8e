"""Lesson 07 checks: the references pass, valid versions written differently pass (and run the
lesson's later cells), and what no declared mistake covers is named: a forward cut off from the
layers or layers renamed, an accuracy that is a tensor or divides by a global, batches of the
wrong types, built row by row or drawn from the global generator. Declared mistakes are tested
in test_mistakes.py."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coursekit import pytorch
from coursekit.checks import lesson07 as check
from coursekit.exercise import ExerciseFailed
from coursekit.exercise.wire import round_trip
from tests.checks.wire import assert_judged_alike_on_fresh_inputs, assert_same_verdict_over_the_wire

Reference = check.ReferenceClassifier
REFERENCES = {"07-forward": Reference, "07-accuracy": check.reference_accuracy,
              "07-batches": check.reference_batches}


def _variant(forward):
    return type("Variant", (Reference,), {"forward": forward})


# ---- valid versions written differently ----


def _forward_clamp(self, x):
    h = self.hidden(x).clamp(min=0)
    return h @ self.output.weight.T + self.output.bias


def _forward_functional(self, x):
    hidden = F.linear(x, self.hidden.weight, self.hidden.bias)
    return F.linear(F.relu(hidden), self.output.weight, self.output.bias)


def _forward_relu_in_place(self, x):  # what nn.ReLU(inplace=True) does
    h = self.hidden(x)
    h.relu_()
    return self.output(h)


def _accuracy_count(logits, y):
    return ((logits > 0).squeeze(1) == y.bool()).sum().item() / len(y)


def _accuracy_float(logits, y):
    return float(torch.mean(((logits.squeeze(1) > 0) == (y > 0.5)).double()))


def _accuracy_numpy(logits, y):
    predicted = logits.detach().cpu().numpy()[:, 0] > 0
    return float(np.mean(predicted == y.cpu().numpy().astype(bool)))


def _batches_as_list(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    return [(X[order[s:s + batch_size]], y[order[s:s + batch_size]])
            for s in range(0, len(X), batch_size)]


def _batches_by_split(X, y, batch_size, generator):
    order = torch.randperm(X.shape[0], generator=generator)
    return zip(X[order].split(batch_size), y[order].split(batch_size), strict=True)


def _batches_index_select(X, y, batch_size, generator):
    # index_select wants the index on X's device (the lesson's X lives on the GPU when there is one)
    for rows in torch.randperm(len(X), generator=generator).to(X.device).split(batch_size):
        yield X.index_select(0, rows), y.index_select(0, rows)


#: Every exercise of lesson 07 -> valid versions a student could write in its solution cell.
VALID_VERSIONS: dict[str, list[object]] = {
    "07-forward": [_variant(_forward_clamp), _variant(_forward_functional),
                   _variant(_forward_relu_in_place)],
    "07-accuracy": [_accuracy_count, _accuracy_float, _accuracy_numpy],
    "07-batches": [_batches_as_list, _batches_by_split, _batches_index_select],
}


@pytest.mark.parametrize("valid", [check.reference_batches, *VALID_VERSIONS["07-batches"]])
def test_valid_batches_run_the_later_cells(valid):
    """The lesson's later cells on a small stand-in: train with the student's batches, then
    time-style reuse (a fresh generator each call), and compare with tensor_batches."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(50, 2, generator=gen)
    y = (X.norm(dim=1, keepdim=True) < 1).float()
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    shuffle = torch.Generator().manual_seed(26)
    losses = []
    for _ in range(3):
        losses += pytorch.train_epoch(model, valid(X, y, 16, shuffle),
                                      torch.nn.BCEWithLogitsLoss(), opt)
    assert len(losses) == 3 * 4
    ours = list(valid(X, y, 16, torch.Generator().manual_seed(26)))
    theirs = list(pytorch.tensor_batches(X, y, batch_size=16, random_state=26))
    assert all(torch.equal(a, c) and torch.equal(b, d)
               for (a, b), (c, d) in zip(ours, theirs, strict=True))


# ---- what no declared mistake covers: structure, types, gradients, globals, speed ----


class _Renamed(nn.Module):
    def __init__(self, n_hidden, generator):
        super().__init__()
        self.layer_1 = nn.Linear(2, n_hidden)
        self.layer_2 = nn.Linear(n_hidden, 1)

    def forward(self, x):
        return self.layer_2(torch.relu(self.layer_1(x)))


class _WrongWidth(Reference):
    def __init__(self, n_hidden, generator):
        super().__init__(n_hidden, generator)
        self.hidden = nn.Linear(3, n_hidden)


def _no_grad_forward(self, x):
    with torch.no_grad():  # "forward is just inference"
        return self.output(torch.relu(self.hidden(x)))


def _stacks_rows(X, y, batch_size, generator):  # X[i] row by row, as a Dataset would
    order = torch.randperm(len(X), generator=generator).tolist()
    for s in range(0, len(X), batch_size):
        rows = order[s:s + batch_size]
        yield torch.stack([X[i] for i in rows]), torch.stack([y[i] for i in rows])


def _stacks_unbound_rows(X, y, batch_size, generator):  # list(X): one tensor per row
    xs, ys = list(X), list(y)
    order = torch.randperm(len(X), generator=generator).tolist()
    for s in range(0, len(X), batch_size):
        rows = order[s:s + batch_size]
        yield torch.stack([xs[i] for i in rows]), torch.stack([ys[i] for i in rows])


def _global_generator(X, y, batch_size, generator):
    order = torch.randperm(len(X))
    for s in range(0, len(X), batch_size):
        yield X[order[s:s + batch_size]], y[order[s:s + batch_size]]


def _batches_with(convert):
    def batches(X, y, batch_size, generator):
        for Xb, yb in check.reference_batches(X, y, batch_size, generator):
            yield convert(Xb, yb)
    return batches


_TEST_SET_SIZE = 1200  # a global len(y_test), not this call's
_CONNECTED = r"tensor connected to the layers.*"

UNDECLARED = [
    (check.module_forward, _Renamed, "an nn.Linear called `hidden`"),
    (check.module_forward, _WrongWidth, r"with n_hidden=5 the layers should be nn.Linear\(2, 5\) "
                                        r"and nn.Linear\(5, 1\)"),
    (check.module_forward, _variant(lambda self, x: None),
     r"expected an array of shape \(9, 1\), got None"),
    # the training cell's first loss.backward() fails on each of these forwards
    (check.module_forward, _variant(lambda self, x: Reference.forward(self, x).detach()),
     _CONNECTED + "do not require grad"),
    (check.module_forward, _variant(_no_grad_forward), _CONNECTED + "do not require grad"),
    (check.module_forward, _variant(lambda self, x: Reference.forward(self, x).numpy()),
     _CONNECTED + r"no \.numpy\(\).*RuntimeError"),
    (check.accuracy, lambda z, y: ((z[:, 0] > 0).long() == y).float().mean(), r"call \.item\(\)"),
    (check.accuracy, lambda z, y: None, "expected a float, got None"),
    # σ(0) = 0.5 is not > 0.5: a tie at logit 0 is class 0, as with logit > 0
    (check.accuracy, lambda z, y: ((torch.sigmoid(z[:, 0]) >= 0.5).long() == y).float().mean()
     .item(), r"the accuracy on 9 points: a logit of exactly 0 is class 0"),
    (check.accuracy, lambda z, y: ((z[:, 0] > 0).long() == y).sum().item() / _TEST_SET_SIZE,
     "out of 1200, but this call has 4 points: divide by len"),
    # accepted before, then cell 1661796e failed: it needs batches several times faster than
    # per-item loading
    (check.batches, _stacks_rows, r"200 rows in batches of 50: the batches are built row by row"),
    (check.batches, _stacks_unbound_rows, r"built row by row \(\d+ tensors went through torch "
                                          "for 200 rows"),
    (check.batches, _global_generator, r"identically seeded generators gave different orders"),
    (check.batches, lambda X, y, b, g: pytorch.tensor_batches(X, y, batch_size=b),
     r"identically seeded generators"),
    (check.batches, lambda X, y, b, g: None, r"expected an iterable of \(X_batch, y_batch\) "
                                             "pairs"),
    # later cells feed the batches to the model and BCEWithLogitsLoss
    (check.batches, _batches_with(lambda Xb, yb: (Xb.numpy(), yb.numpy())),
     "X_batch 0 is an array of shape .*, not a tensor"),
    (check.batches, _batches_with(lambda Xb, yb: (Xb, yb.long())),
     "y_batch 0 is a int64 tensor, but y is float32"),
    (check.batches, _batches_with(lambda Xb, yb: (Xb.double(), yb)),
     "X_batch 0 is a float64 tensor, but X is float32"),
]


@pytest.mark.parametrize(("exercise", "wrong", "message"), UNDECLARED)
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_what_no_declared_mistake_covers_is_named(exercise, wrong, message, seed):
    with pytest.raises(ExerciseFailed, match=message):
        exercise.check(wrong, **({} if seed is None else {"seed": seed}))


# ---- the wire, and data no probe of ours gives ----


@pytest.mark.parametrize(("exercise", "student"),
                         [(check.EXERCISES[key], fn) for key, fn in REFERENCES.items()] +
                         [(exercise, wrong) for exercise, wrong, _ in UNDECLARED[::3]])
def test_probe_data_survives_the_wire(exercise, student):
    assert_same_verdict_over_the_wire(exercise, student)


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_judged_alike_on_fresh_inputs(exercise_id, seed):
    exercise = check.EXERCISES[exercise_id]
    wrong = exercise.student(exercise.mistakes[0].wrong)[0]
    assert_judged_alike_on_fresh_inputs(exercise, REFERENCES[exercise_id], wrong, seed)


def _hostile(data):
    """Malformed variants of a probe's data: wrong lengths, wrong kinds, missing keys."""
    yield from (None, 1.0, "✔ passed", [], {}, {"kind": "none"}, data[:-1], data + data[-1:])
    yield [{"kind": "float", "type": "float", "value": 0.5}] * len(data)
    yield [{"kind": "bool", "value": True}] * len(data)
    if isinstance(data[0], dict) and "made" in data[0]:
        for key in data[0]:
            yield [{k: v for k, v in case.items() if k != key} for case in data]
            yield [{**case, key: None} for case in data]
            yield [{**case, key: {"kind": "none"}} for case in data]
    if isinstance(data[0], dict) and "first" in data[0]:
        for odd in (None, -1, True, "38", 1.5):  # tensor counts
            yield [{**case, "first": {**case["first"], "tensors": odd}} for case in data]


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
def test_a_judge_fails_malformed_data(exercise_id):
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(5)))
    data = round_trip(exercise.probe(inputs, REFERENCES[exercise_id]))
    assert exercise.verdict(inputs, data)[0]
    for bad in _hostile(data):
        ok, message = exercise.verdict(inputs, bad)
        assert not ok, (bad, message)
