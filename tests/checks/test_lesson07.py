"""Lesson 07 checks pass the reference and name the mistake in realistic wrong versions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coursekit import pytorch
from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson07 as check
from coursekit.exercise.wire import round_trip
from tests.checks.wire import assert_judged_alike_on_fresh_inputs


class Reference(nn.Module):
    """The lesson's module: given __init__, the forward the student writes."""

    def __init__(self, n_hidden, generator):
        super().__init__()
        self.hidden = nn.Linear(2, n_hidden)
        self.output = nn.Linear(n_hidden, 1)
        nn.init.kaiming_normal_(self.hidden.weight, nonlinearity="relu", generator=generator)
        nn.init.kaiming_normal_(self.output.weight, nonlinearity="linear", generator=generator)
        nn.init.zeros_(self.hidden.bias)
        nn.init.zeros_(self.output.bias)

    def forward(self, x):
        return self.output(torch.relu(self.hidden(x)))


def _variant(forward):
    return type("Variant", (Reference,), {"forward": forward})


# ---- 07-forward ----


def test_forward_passes_the_reference(capsys):
    check.module_forward(Reference)
    assert capsys.readouterr().out.startswith("✔ 07-forward")


class _Renamed(nn.Module):
    def __init__(self, n_hidden, generator):
        super().__init__()
        self.layer_1 = nn.Linear(2, n_hidden)
        self.layer_2 = nn.Linear(n_hidden, 1)

    def forward(self, x):
        return self.layer_2(torch.relu(self.layer_1(x)))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_variant(lambda self, x: torch.sigmoid(self.output(torch.relu(self.hidden(x))))),
         "apply no sigmoid in forward"),
        (_variant(lambda self, x: self.output(self.hidden(x))), "needs its ReLU"),
        (_variant(lambda self, x: torch.relu(self.output(torch.relu(self.hidden(x))))),
         "a ReLU on the output"),
        (_variant(lambda self, x: self.output(torch.relu(self.hidden(x)))[:, 0]),
         r"got \(9,\): keep the column"),
        (_variant(lambda self, x: None), r"expected an array of shape \(9, 1\), got None"),
        (_Renamed, "an nn.Linear called `hidden`"),
    ],
)
def test_forward_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.module_forward(wrong)


# ---- 07-accuracy ----


def test_accuracy_passes_the_reference(capsys):
    check.accuracy(check.reference_accuracy)
    assert "✔ 07-accuracy" in capsys.readouterr().out


def _integer_division(logits, y):
    correct = int(((logits[:, 0] > 0).long() == y).sum())
    return correct // len(y)


def _percentage_integer_division(logits, y):  # the blog post's formula
    correct = int(((logits[:, 0] > 0).long() == y).sum())
    return 100 * correct // len(y)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_integer_division, "integer division"),
        (_percentage_integer_division, r"a percentage with integer division \(100 \* correct "
         r"// total\), which also floors it; return the fraction"),
        (lambda z, y: 100 * check.reference_accuracy(z, y), "not a percentage"),
        (lambda z, y: check.reference_accuracy(z - 0.5, y), "threshold at 0"),
        (lambda z, y: ((z > 0).long() == y).float().mean().item(), "broadcasts to a"),
        (lambda z, y: ((z[:, 0] > 0).long() == y).float().mean(), r"call \.item\(\)"),
        (lambda z, y: None, "expected a float, got None"),
    ],
)
def test_accuracy_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.accuracy(wrong)


# ---- more versions: valid ones written differently, and mistakes named since probe + judge ----


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


FORWARD_VALID = [_variant(_forward_clamp), _variant(_forward_functional),
                 _variant(_forward_relu_in_place)]


@pytest.mark.parametrize("valid", FORWARD_VALID, ids=["clamp", "functional", "in-place"])
def test_forward_accepts_valid_versions(valid, capsys):
    check.module_forward(valid)
    assert "✔ 07-forward" in capsys.readouterr().out


class _WrongWidth(Reference):
    def __init__(self, n_hidden, generator):
        super().__init__(n_hidden, generator)
        self.hidden = nn.Linear(3, n_hidden)


def test_forward_names_layers_of_the_wrong_shape():
    with pytest.raises(ExerciseFailed, match=r"with n_hidden=5 the layers should be "
                       r"nn.Linear\(2, 5\) and nn.Linear\(5, 1\)"):
        check.module_forward(_WrongWidth)


def _accuracy_count(logits, y):
    return ((logits > 0).squeeze(1) == y.bool()).sum().item() / len(y)


def _accuracy_float(logits, y):
    return float(torch.mean(((logits.squeeze(1) > 0) == (y > 0.5)).double()))


def _accuracy_numpy(logits, y):
    predicted = logits.detach().cpu().numpy()[:, 0] > 0
    return float(np.mean(predicted == y.cpu().numpy().astype(bool)))


ACCURACY_VALID = [_accuracy_count, _accuracy_float, _accuracy_numpy]


@pytest.mark.parametrize("valid", ACCURACY_VALID, ids=["count", "float", "numpy"])
def test_accuracy_accepts_valid_versions(valid, capsys):
    check.accuracy(valid)
    assert "✔ 07-accuracy" in capsys.readouterr().out


# ---- probe + judge: plain data, fresh inputs, hostile data ----

# ---- 07-batches ----


def _batches_as_list(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    return [(X[order[s:s + batch_size]], y[order[s:s + batch_size]])
            for s in range(0, len(X), batch_size)]


def _batches_by_split(X, y, batch_size, generator):
    order = torch.randperm(X.shape[0], generator=generator)
    return zip(X[order].split(batch_size), y[order].split(batch_size), strict=True)


def _lesson_training(batches_fn):
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
        losses += pytorch.train_epoch(model, batches_fn(X, y, 16, shuffle),
                                      torch.nn.BCEWithLogitsLoss(), opt)
    assert len(losses) == 3 * 4
    ours = list(batches_fn(X, y, 16, torch.Generator().manual_seed(26)))
    theirs = list(pytorch.tensor_batches(X, y, batch_size=16, random_state=26))
    assert all(torch.equal(a, c) and torch.equal(b, d)
               for (a, b), (c, d) in zip(ours, theirs, strict=True))


def _batches_index_select(X, y, batch_size, generator):
    # index_select wants the index on X's device (the lesson's X lives on the GPU when there is one)
    for rows in torch.randperm(len(X), generator=generator).to(X.device).split(batch_size):
        yield X.index_select(0, rows), y.index_select(0, rows)


BATCHES_VALID = [_batches_as_list, _batches_by_split, _batches_index_select]


@pytest.mark.parametrize("valid", [check.reference_batches, *BATCHES_VALID])
def test_batches_accepts_valid_versions_and_they_run_the_later_cells(valid, capsys):
    check.batches(valid)
    assert "✔ 07-batches" in capsys.readouterr().out
    _lesson_training(valid)


def _unshuffled(X, y, batch_size, generator):
    for s in range(0, len(X), batch_size):
        yield X[s:s + batch_size], y[s:s + batch_size]


def _global_generator(X, y, batch_size, generator):
    order = torch.randperm(len(X))
    for s in range(0, len(X), batch_size):
        yield X[order[s:s + batch_size]], y[order[s:s + batch_size]]


def _drops_last(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    for s in range(0, len(X) - batch_size + 1, batch_size):
        yield X[order[s:s + batch_size]], y[order[s:s + batch_size]]


def _y_unshuffled(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    for s in range(0, len(X), batch_size):
        yield X[order[s:s + batch_size]], y[s:s + batch_size]


def _numpy_permutation(X, y, batch_size, generator):
    seed = int(torch.randint(0, 1000, (1,), generator=generator))
    order = np.random.default_rng(seed).permutation(len(X))
    for s in range(0, len(X), batch_size):
        yield X[order[s:s + batch_size]], y[order[s:s + batch_size]]


def _permutation_per_batch(X, y, batch_size, generator):
    for s in range(0, len(X), batch_size):
        order = torch.randperm(len(X), generator=generator)
        yield X[order[s:s + batch_size]], y[order[s:s + batch_size]]


def _returns_one_pair(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    return X[order], y[order]


def _squeezes_y(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    for s in range(0, len(X), batch_size):
        yield X[order[s:s + batch_size]], y[order[s:s + batch_size]][:, 0]


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


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        # accepted before, then cell 1661796e failed: it needs batches several times faster than
        # per-item loading
        (_stacks_rows, r"200 rows in batches of 50: the batches are built row by row"),
        (_stacks_unbound_rows, r"built row by row \(\d+ tensors went through torch for 200 rows"),
        (_unshuffled, r"original order: shuffle them with torch\.randperm"),
        (_global_generator, r"identically seeded generators gave different orders"),
        (_drops_last, r"the last, shorter batch of 2 rows is missing"),
        (_y_unshuffled, r"hold different rows: index both with the same indices"),
        (_numpy_permutation, r"the order should be torch\.randperm\(n, generator=generator\)'s"),
        (_permutation_per_batch, r"repeated or missing.*don't draw a new one per batch"),
        (_returns_one_pair, r"not a pair \(X_batch, y_batch\): yield one pair per batch"),
        (_squeezes_y, r"y_batch 0 \(y has shape \(n, 1\)\): expected shape \(6, 1\)"),
        (lambda X, y, b, g: None, r"expected an iterable of \(X_batch, y_batch\) pairs"),
        (lambda X, y, b, g: pytorch.tensor_batches(X, y, batch_size=b),
         r"identically seeded generators"),
    ],
)
def test_batches_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.batches(wrong)


_STUDENT = {"07-forward": Reference, "07-accuracy": check.reference_accuracy,
            "07-batches": check.reference_batches}
_WRONG = {"07-forward": _variant(lambda self, x: self.output(self.hidden(x))),
          "07-accuracy": _integer_division, "07-batches": _drops_last}


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probe_data_is_plain_and_judged_alike_on_fresh_inputs(exercise_id, seed):
    assert_judged_alike_on_fresh_inputs(check.EXERCISES[exercise_id], _STUDENT[exercise_id],
                                        _WRONG[exercise_id], seed)


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


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
def test_a_judge_fails_malformed_data(exercise_id):
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(5)))
    data = round_trip(exercise.probe(inputs, _STUDENT[exercise_id]))
    for bad in _hostile(data):
        ok, message = exercise.verdict(inputs, bad)
        assert not ok, (bad, message)


# ---- every exercise's valid versions, for tests/checks/test_valid_versions.py ----

VALID_VERSIONS: dict[str, list[object]] = {
    "07-forward": FORWARD_VALID,
    "07-accuracy": ACCURACY_VALID,
    "07-batches": BATCHES_VALID,
}


def test_the_batches_judge_refuses_odd_tensor_counts():
    exercise = check.EXERCISES["07-batches"]
    inputs = round_trip(exercise.inputs(np.random.default_rng(5)))
    data = round_trip(exercise.probe(inputs, check.reference_batches))
    assert exercise.verdict(inputs, data)[0]
    for odd in (None, -1, True, "38", 1.5):
        bad = [{**case, "first": {**case["first"], "tensors": odd}} for case in data]
        ok, message = exercise.verdict(inputs, bad)
        assert not ok and "malformed" in message, (odd, message)


# ---- an independent review's answers (accepted, or named vaguely, before) ----


def _no_grad_forward(self, x):
    with torch.no_grad():  # "forward is just inference"
        return self.output(torch.relu(self.hidden(x)))


def _batches_with(convert):
    def batches(X, y, batch_size, generator):
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            yield convert(X[index], y[index])
    return batches


_TEST_SET_SIZE = 1200  # a global len(y_test), not this call's


REVIEW_MISTAKES = [
    # the training cell's first loss.backward() fails on each of these forwards
    (check.FORWARD, _variant(lambda self, x: self.output(torch.relu(self.hidden(x))).detach()),
     r"tensor connected to the layers.*do not require grad"),
    (check.FORWARD, _variant(_no_grad_forward), r"tensor connected to the layers.*do not "
                                                r"require grad"),
    (check.FORWARD, _variant(lambda self, x: self.output(torch.relu(self.hidden(x))).numpy()),
     r"tensor connected to the layers.*no \.numpy\(\).*RuntimeError"),
    # later cells feed the batches to the model and BCEWithLogitsLoss
    (check.BATCHES, _batches_with(lambda Xb, yb: (Xb.numpy(), yb.numpy())),
     "X_batch 0 is an array of shape .*, not a tensor"),
    (check.BATCHES, _batches_with(lambda Xb, yb: (Xb, yb.long())),
     "y_batch 0 is a int64 tensor, but y is float32"),
    (check.BATCHES, _batches_with(lambda Xb, yb: (Xb.double(), yb)),
     "X_batch 0 is a float64 tensor, but X is float32"),
    (check.ACCURACY, lambda logits, y: (logits.argmax(dim=1) == y).float().mean().item(),
     r"argmax\(dim=1\) is always class 0"),
    (check.ACCURACY, lambda logits, y: float(((logits[:, 0] > 0).long() == y).sum().item()),
     "that is the number of correct predictions"),
    (check.ACCURACY, lambda logits, y: ((logits[:, 0] > 0).long() == y).sum().item()
     / _TEST_SET_SIZE, "out of 1200, but this call has 4 points: divide by len"),
    (check.ACCURACY, lambda logits, y: ((logits[:, 0] > 0).long() != y).float().mean().item(),
     r"the error rate, 1 − accuracy"),
]


@pytest.mark.parametrize(("exercise", "wrong", "message"), REVIEW_MISTAKES)
def test_the_reviews_answers_are_named(exercise, wrong, message):
    for seed in (None, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            exercise.check(wrong, **({} if seed is None else {"seed": seed}))
