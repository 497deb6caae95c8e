"""Lesson 06 checks pass the reference and name the mistake in realistic wrong versions."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson06 as check
from coursekit.probes.data import round_trip
from tests.checks.wire import assert_judged_alike_on_fresh_inputs

# ---- 06-loader ----


def test_loader_passes_the_reference(capsys):
    check.make_loader(check.reference_make_loader)
    assert capsys.readouterr().out.startswith("✔ 06-loader")


def _fixed_permutation(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    return DataLoader(TensorDataset(X[order], y[order]), batch_size=batch_size)


def _two_loaders(X, y, batch_size, generator):
    xs = DataLoader(TensorDataset(X), batch_size=batch_size, shuffle=True)
    ys = DataLoader(TensorDataset(y), batch_size=batch_size, shuffle=True)
    return [(a[0], b[0]) for a, b in zip(xs, ys, strict=True)]


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda X, y, b, g: DataLoader(TensorDataset(X, y), batch_size=b, generator=g),
         "pass shuffle=True"),
        (lambda X, y, b, g: DataLoader(TensorDataset(X, y), shuffle=True, generator=g),
         "pass batch_size to the DataLoader"),
        (lambda X, y, b, g: DataLoader(TensorDataset(X, y), batch_size=b, shuffle=True),
         "pass the generator to the DataLoader"),
        (lambda X, y, b, g: DataLoader(TensorDataset(X), batch_size=b, shuffle=True),
         "should be a pair"),
        (lambda X, y, b, g: DataLoader(TensorDataset(X, y[:, 0]), batch_size=b, shuffle=True,
                                       generator=g), r"shape \(batch, 1\)"),
        (_fixed_permutation, "same order"),
        (_two_loaders, "must stay paired"),
        (lambda X, y, b, g: TensorDataset(X, y), "batch sizes"),
        (lambda X, y, b, g: None, "expected something to loop over"),
    ],
)
def test_loader_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.make_loader(wrong)


def test_a_typo_in_the_loader_is_reported_as_a_name_error():
    def seed_version(X, y, batch_size, generator):
        dataset = TensorDataset(*dat_arrays)  # noqa: F821 - the seed's typo
        return DataLoader(dataset, batch_size, shuffle=True)

    with pytest.raises(ExerciseFailed, match="raised NameError"):
        check.make_loader(seed_version)


# ---- 06-train-epoch ----


def test_train_epoch_passes_the_reference(capsys):
    check.train_epoch(check.reference_train_epoch)
    assert "✔ 06-train-epoch" in capsys.readouterr().out


def _no_step(net, loader, loss_fn, optimizer):
    losses = []
    for X, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        losses.append(loss.item())
    return losses


def _no_zero(net, loader, loss_fn, optimizer):
    losses = []
    for X, y in loader:
        loss = loss_fn(net(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _zero_between(net, loader, loss_fn, optimizer, set_to_none=True):
    losses = []
    for X, y in loader:
        loss = loss_fn(net(X), y)
        loss.backward()
        optimizer.zero_grad(set_to_none=set_to_none)  # the bug: after backward, before step
        optimizer.step()
        losses.append(loss.item())
    return losses


def _zero_between_filling_zeros(net, loader, loss_fn, optimizer):
    return _zero_between(net, loader, loss_fn, optimizer, set_to_none=False)


def _tensors(net, loader, loss_fn, optimizer):
    losses = []
    for X, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss)
    return losses


def _last_only(net, loader, loss_fn, optimizer):
    for X, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        optimizer.step()
    return [loss.item()]


def _loss_after_step(net, loader, loss_fn, optimizer):
    losses = []
    for X, y in loader:
        optimizer.zero_grad()
        loss_fn(net(X), y).backward()
        optimizer.step()
        losses.append(loss_fn(net(X), y).item())
    return losses


def _returns_nothing(net, loader, loss_fn, optimizer):
    check.reference_train_epoch(net, loader, loss_fn, optimizer)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_no_step, "call optimizer.step"),
        (_no_zero, "never zeroes gradients"),
        (_zero_between, r"zero_grad\(\) goes before loss.backward\(\), not between "
         r"backward\(\) and step\(\)"),
        (_zero_between_filling_zeros, r"zero_grad\(\) goes before loss.backward\(\)"),
        (_tensors, "store loss.item"),
        (_last_only, "one per batch"),
        (_loss_after_step, "before its step"),
        (_returns_nothing, "return a list"),
    ],
)
def test_train_epoch_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.train_epoch(wrong)


# ---- more versions: valid ones written differently, and mistakes named since probe + judge ----


class _PermutedBatches:
    """A loader written by hand: a fresh permutation from the generator in every pass."""

    def __init__(self, X, y, batch_size, generator):
        self.X, self.y, self.batch_size, self.generator = X, y, batch_size, generator

    def __len__(self):
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.X), generator=self.generator)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            yield self.X[rows], self.y[rows]


class _NoLength(_PermutedBatches):
    __len__ = None


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y, b, g: DataLoader(TensorDataset(X, y), batch_size=b,
                                      sampler=RandomSampler(range(len(X)), generator=g)),
        _PermutedBatches,
    ],
)
def test_loader_accepts_other_valid_versions(make, capsys):
    check.make_loader(make)
    assert "✔ 06-loader" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda X, y, b, g: DataLoader(TensorDataset(X, y), batch_size=b, shuffle=True,
                                       generator=g, drop_last=True),
         r"the last, smaller batch is missing; leave drop_last=False"),
        (_NoLength, r"len\(loader\) should be the number of batches per epoch, 5"),
    ],
)
def test_loader_names_drop_last_and_a_missing_length(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.make_loader(wrong)


def test_train_epoch_accepts_another_valid_loop(capsys):
    def train_epoch(net, loader, loss_fn, optimizer):
        recorded = []
        for inputs, targets in loader:
            net.zero_grad(set_to_none=False)
            loss = loss_fn(net(inputs), targets)
            recorded.append(loss.detach().item())
            loss.backward()
            optimizer.step()
        return recorded

    check.train_epoch(train_epoch)
    assert "✔ 06-train-epoch" in capsys.readouterr().out


# ---- probe + judge: plain data, fresh inputs, hostile data ----

_STUDENT = {"06-loader": check.reference_make_loader,
            "06-train-epoch": check.reference_train_epoch}
_WRONG = {"06-loader": lambda X, y, b, g: DataLoader(TensorDataset(X, y), batch_size=b,
                                                     generator=g),
          "06-train-epoch": _no_zero}


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probe_data_is_plain_and_judged_alike_on_fresh_inputs(exercise_id, seed):
    assert_judged_alike_on_fresh_inputs(check.EXERCISES[exercise_id], _STUDENT[exercise_id],
                                        _WRONG[exercise_id], seed)


def _hostile(data):
    """Malformed variants of a probe's data: wrong lengths, wrong kinds, missing keys."""
    yield from (None, 1.0, "✔ passed", [], {}, {"kind": "none"})
    for key in data:
        yield {k: v for k, v in data.items() if k != key}
        for odd in (None, [], {"kind": "float", "type": "float", "value": 0.5},
                    {"kind": "pass", "batches": []}, {"kind": "list", "type": "list",
                                                     "length": 0, "items": []}):
            yield {**data, key: odd}


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
def test_a_judge_fails_malformed_data(exercise_id):
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(5)))
    data = round_trip(exercise.probe(inputs, _STUDENT[exercise_id]))
    for bad in _hostile(data):
        ok, message = exercise.verdict(inputs, bad)
        assert not ok, (bad, message)
