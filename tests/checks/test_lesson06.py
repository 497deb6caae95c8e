"""Lesson 06's checks pass the reference and valid versions written differently, and name the
wrong versions no declared mistake covers: the loader's (its judge's rules are conditions on the
passes), an epoch or an evaluation told by a condition on the run (no step, evaluation mode, no
no_grad, tensors, ...), stubs, crashes, arguments changed in place. Declared mistakes are tested
in test_mistakes.py."""

import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson06 as check
from coursekit.exercise.spec import LESSON_SEED
from tests.checks._cells import run_lesson_with

LESSON = "06_pytorch_linear_regression.ipynb"

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
        (lambda X, y, b, g: TensorDataset(X, y), r"expected a DataLoader, got a TensorDataset.*"
         r"return a DataLoader over the TensorDataset \(with batch_size and the generator\)"),
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


def _returns_nothing(net, loader, loss_fn, optimizer):
    check.reference_train_epoch(net, loader, loss_fn, optimizer)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_no_step, "call optimizer.step"),
        (_zero_between, r"zero_grad\(\) goes before loss.backward\(\), not between "
         r"backward\(\) and step\(\)"),
        (_zero_between_filling_zeros, r"zero_grad\(\) goes before loss.backward\(\)"),
        (_tensors, "store loss.item"),
        (_last_only, "one per batch"),
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


def _loader_with_sampler(X, y, batch_size, generator):
    return DataLoader(TensorDataset(X, y), batch_size=batch_size,
                      sampler=RandomSampler(range(len(X)), generator=generator))


@pytest.mark.parametrize("make", [_loader_with_sampler, _PermutedBatches])
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


def _train_epoch_net_zero_grad(net, loader, loss_fn, optimizer):
    recorded = []
    for inputs, targets in loader:
        net.zero_grad(set_to_none=False)
        loss = loss_fn(net(inputs), targets)
        recorded.append(loss.detach().item())
        loss.backward()
        optimizer.step()
    return recorded


def _train_epoch_zero_after_step(net, loader, loss_fn, optimizer):
    """Training mode first; the gradients cleared before the loop and after every step."""
    net.train()
    optimizer.zero_grad()
    losses = []
    for batch in loader:
        inputs, targets = batch
        loss = loss_fn(net(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("train_epoch", [_train_epoch_net_zero_grad, _train_epoch_zero_after_step])
def test_train_epoch_accepts_other_valid_loops(train_epoch, capsys):
    check.train_epoch(train_epoch)
    assert "✔ 06-train-epoch" in capsys.readouterr().out


# ---- 06-evaluate ----


def _evaluate_concatenated(net, loader, loss_fn):
    """One loss over every prediction at once; inference_mode; the previous mode restored."""
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            pairs = [(net(X_batch), y_batch) for X_batch, y_batch in loader]
            predictions, targets = zip(*pairs, strict=True)
            return loss_fn(torch.cat(predictions), torch.cat(targets)).item()
    finally:
        net.train(was_training)


def _evaluate_over_dataset(net, loader, loss_fn):
    """A tensor sum of loss × rows, divided by len(loader.dataset), float() at the end."""
    net.eval()
    with torch.no_grad():
        total = sum(loss_fn(net(X_batch), y_batch) * X_batch.shape[0]
                    for X_batch, y_batch in loader)
    net.train()
    return float(total / len(loader.dataset))


def _evaluate_running_mean(net, loader, loss_fn):
    """A running mean, updated batch by batch with each batch's weight."""
    net.eval()
    mean, seen = 0.0, 0
    with torch.no_grad():
        for X_batch, y_batch in loader:
            seen += len(y_batch)
            mean += (loss_fn(net(X_batch), y_batch).item() - mean) * len(y_batch) / seen
    net.train()
    return mean


EVALUATE_VALID = [check.reference_evaluate, _evaluate_concatenated, _evaluate_over_dataset,
                  _evaluate_running_mean]


@pytest.mark.parametrize("valid", EVALUATE_VALID)
def test_evaluate_accepts_valid_versions(valid, capsys):
    for seed in (LESSON_SEED, 1, 2, 3):
        check.evaluate.check(valid, seed=seed)
    assert capsys.readouterr().out.count("✔ 06-evaluate") == 4


@pytest.mark.parametrize("name", ["_evaluate_concatenated", "_evaluate_over_dataset"])
def test_valid_evaluations_run_the_later_cells(name):
    """The lesson with the evaluation in place, up to the leftover-name bug: training, the
    held-out floor, the learned parameters (every cell asserts what it shows; the ruff cell
    after it reads the source of functions, which exec'd cells do not have)."""
    namespace = run_lesson_with(LESSON, {"06-evaluate": f"from {__name__} import {name} as "
                                                       "evaluate"}, until="c8d399dc")
    assert namespace["net"].training and namespace["val_loss"] < 2e-4


def _evaluate_stub(net, loader, loss_fn):
    raise NotImplementedError("06-evaluate")


def _evaluation(*, weigh=True, divide="rows", eval_mode=True, no_grad=True, restore=True,
                item=True):
    """An evaluation with one realistic mistake no declared mistake covers: no eval() or
    no_grad() or no train() afterwards, tensors rather than floats, batch means over the rows
    (or, for the wire test, over the batches)."""
    def evaluate(net, loader, loss_fn):
        if eval_mode:
            net.eval()
        total, count, batches = 0.0, 0, 0
        with torch.no_grad() if no_grad else torch.enable_grad():
            for X_batch, y_batch in loader:
                batch_loss = loss_fn(net(X_batch), y_batch)
                batch_loss = batch_loss.item() if item else batch_loss.detach()
                total += batch_loss * (len(X_batch) if weigh else 1)
                count += len(X_batch)
                batches += 1
        if restore:
            net.train()
        return total / (count if divide == "rows" else batches)

    return evaluate


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_evaluation(eval_mode=False), r"that is the loss of the model in training mode, where "
         r"batch normalisation \(this model has it\) normalises each batch by its own "
         r"statistics and dropout drops units: call net\.eval\(\) before the loop"),
        (_evaluation(no_grad=False), r"autograd recorded the passes: put them inside "
         r"`with torch\.no_grad\(\):`"),
        (_evaluation(restore=False), r"the model was left in evaluation mode: call net\.train\(\) "
         r"before returning"),
        (_evaluation(item=False), r"expected a float, got a 0-d tensor: call \.item\(\)"),
        (_evaluation(weigh=False, divide="rows"), r"expected the mean loss per row"),
        (lambda net, loader, loss_fn: [loss_fn(net(X), y).item() for X, y in loader],
         r"expected one float for the whole loader, got a list of length 5"),
        (lambda net, loader, loss_fn: None, r"got None \(did you forget to return\?\)"),
        (_evaluate_stub, r"not implemented yet"),
    ],
)
def test_evaluate_names_the_mistake(wrong, message):
    for seed in (LESSON_SEED, 1, 2):
        with pytest.raises(ExerciseFailed, match=message):
            check.evaluate.check(wrong, seed=seed)


# ---- every exercise's valid alternatives, for the test that runs the whole lesson with each ----

#: Exercise id -> versions a student could write in its solution cell, each written differently
#: from the lesson's solution; every later cell of the lesson must pass with it in place.
VALID_VERSIONS: dict[str, list[object]] = {
    "06-loader": [_loader_with_sampler, _PermutedBatches],
    "06-train-epoch": [_train_epoch_net_zero_grad, _train_epoch_zero_after_step],
    "06-evaluate": [_evaluate_concatenated, _evaluate_over_dataset, _evaluate_running_mean],
}


def test_valid_versions_cover_every_exercise():
    assert list(VALID_VERSIONS) == list(check.EXERCISES)
    assert all(len(versions) >= 2 for versions in VALID_VERSIONS.values())


@pytest.mark.parametrize(("exercise_id", "version"), [
    (exercise_id, version) for exercise_id, versions in VALID_VERSIONS.items()
    for version in versions])
def test_valid_versions_pass_their_check(exercise_id, version, capsys):
    check.EXERCISES[exercise_id].check(version)
    assert f"✔ {exercise_id}" in capsys.readouterr().out
