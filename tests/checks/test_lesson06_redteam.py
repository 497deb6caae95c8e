"""Lesson 06 checks: red-team cases (wrong answers once accepted, messages that named
nothing), and probe data that is plain, judged alike on fresh inputs, and refused when odd."""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit.checks import ExerciseFailed
from coursekit.checks import lesson06 as check
from coursekit.exercise.wire import round_trip
from tests.checks.test_lesson06 import LESSON_SEED, _evaluation, _no_step
from tests.checks.wire import assert_judged_alike_on_fresh_inputs

# ---- red-team cases (REDTEAM-A) ----

_NOTEBOOK_NET = nn.Sequential(nn.Linear(2, 1))
_NOTEBOOK_OPTIMIZER = torch.optim.SGD(_NOTEBOOK_NET.parameters(), lr=0.03)
_NOTEBOOK_LOADER = DataLoader(TensorDataset(torch.randn(1000, 2, generator=torch.Generator()
                                                        .manual_seed(0)),
                                            torch.randn(1000, 1, generator=torch.Generator()
                                                        .manual_seed(1))), batch_size=10)


def _loader_own_generator(X, y, batch_size, generator):
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


def _loader_global_seed(X, y, batch_size, generator):
    torch.manual_seed(0)
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True)


@pytest.mark.parametrize("wrong", [_loader_own_generator, _loader_global_seed])
def test_loader_must_follow_the_generator_passed_in(wrong):
    state = torch.get_rng_state()
    try:
        with pytest.raises(ExerciseFailed, match="generators seeded differently gave the same "
                                                 "order: the order must come from the generator "
                                                 "passed in"):
            check.make_loader(wrong)
    finally:
        torch.set_rng_state(state)


def _epoch_steps(net, loader, loss_fn, optimizer, *, model=None, step=None, batches=None):
    losses = []
    for X_batch, y_batch in batches or loader:
        optimizer.zero_grad()
        loss = loss_fn((model or net)(X_batch), y_batch)
        loss.backward()
        (step or optimizer).step()
        losses.append(loss.item())
    return losses


def _epoch_in_eval_mode(net, loader, loss_fn, optimizer):
    net.eval()
    return _epoch_steps(net, loader, loss_fn, optimizer)


def _epoch_global_optimizer(net, loader, loss_fn, optimizer):
    return _epoch_steps(net, loader, loss_fn, optimizer, step=_NOTEBOOK_OPTIMIZER)


def _epoch_global_net(net, loader, loss_fn, optimizer):
    losses = []
    for X_batch, y_batch in loader:
        optimizer.zero_grad()
        loss = loss_fn(_NOTEBOOK_NET(X_batch), y_batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _epoch_global_loader(net, loader, loss_fn, optimizer):
    return _epoch_steps(net, loader, loss_fn, optimizer, batches=_NOTEBOOK_LOADER)


def _epoch_as_tuple(net, loader, loss_fn, optimizer):
    return tuple(_epoch_steps(net, loader, loss_fn, optimizer))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_epoch_in_eval_mode, r"ran with the model in evaluation mode \(net.eval\(\)\)"),
        (_epoch_global_optimizer, "the optimizer passed in never stepped; call optimizer.step"
                                  r"\(\) on the optimizer argument"),
        (_epoch_global_net, "the model passed in was never called"),
        (_epoch_global_loader, "the model was called 100 times, but the loader passed in has 4 "
                               "batches: loop once over the loader argument"),
    ],
)
def test_train_epoch_names_the_red_team_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.train_epoch(wrong)


def test_train_epoch_accepts_a_tuple_of_losses(capsys):
    check.train_epoch(_epoch_as_tuple)
    assert "✔ 06-train-epoch" in capsys.readouterr().out


def _loader_iterator(X, y, batch_size, generator):
    return iter(DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                           generator=generator))


def _loader_yielding(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    for start in range(0, len(X), batch_size):
        rows = order[start:start + batch_size]
        yield X[rows], y[rows]


_NOTEBOOK_X = torch.randn(1000, 2, generator=torch.Generator().manual_seed(2))
_NOTEBOOK_Y = torch.randn(1000, 1, generator=torch.Generator().manual_seed(3))


def _loader_global_data(X, y, batch_size, generator):
    return DataLoader(TensorDataset(_NOTEBOOK_X, _NOTEBOOK_Y), batch_size=batch_size,
                      shuffle=True, generator=generator)


@pytest.mark.parametrize("wrong", [_loader_iterator, _loader_yielding])
def test_a_one_shot_loader_is_named(wrong):
    with pytest.raises(ExerciseFailed, match=r"the first pass over the loader gave batches, but "
                                             r"a second pass \(the next epoch\) gave none.*return "
                                             r"the DataLoader itself, which can be iterated once "
                                             r"per epoch"):
        check.make_loader(wrong)


def test_a_loader_on_the_global_data_names_the_arguments_in_a_short_message():
    with pytest.raises(ExerciseFailed, match=r"the X passed in has 23 rows, but one pass over "
                                             r"the loader gave 1000 rows or more \(batch sizes "
                                             r"\[5, 5, 5, 5, 5, 5, 5, 5, …\] \(200 batches\)\): "
                                             r"build the TensorDataset from the X and y passed "
                                             r"in") as failed:
        check.make_loader(_loader_global_data)
    assert len(str(failed.value)) < 300


def test_evaluate_names_net_train_inside_the_loop():
    def evaluate(net, loader, loss_fn):
        net.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for X_batch, y_batch in loader:
                total += loss_fn(net(X_batch), y_batch).item() * len(X_batch)
                count += len(X_batch)
                net.train()
        return total / count

    with pytest.raises(ExerciseFailed, match=r"that is the loss with the model back in training "
                                             r"mode after the first batch: call net\.eval\(\) "
                                             r"before the loop"):
        check.evaluate(evaluate)


def _evaluate_hiding_training_mode(net, loader, loss_fn):
    """No net.eval(): every module's recorded modes and calls rewritten, and every module but
    batch normalisation told it is evaluating (the red team's spy rewrite, and more)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for X_batch, y_batch in loader:
            total += loss_fn(net(X_batch), y_batch).item() * len(X_batch)
            count += len(X_batch)
    for module in net.modules():
        for name in ("calls", "modes", "recorded"):
            if isinstance(getattr(module, name, None), list):
                setattr(module, name, [])
        if not isinstance(module, torch.nn.BatchNorm1d):
            module.training = False
    return total / count


def _evaluate_faking_train_mode(net, loader, loss_fn):
    """Evaluates right, then sets only the outer model's flag back: net.training reads True,
    its layers still evaluate."""
    net.eval()
    with torch.no_grad():
        total = sum(loss_fn(net(X), y).item() * len(X) for X, y in loader)
    net.training = True
    return total / len(loader.dataset)


def _evaluate_switching_autograd_off(net, loader, loss_fn):
    """Autograd off for good (set_grad_enabled(False) on its own line): the next epoch's
    backward() fails."""
    torch.set_grad_enabled(False)
    net.eval()
    total = sum(loss_fn(net(X), y).item() * len(X) for X, y in loader)
    net.train()
    return total / len(loader.dataset)


def _evaluate_copy_recording(net, loader, loss_fn):
    """Evaluates a copy in evaluation mode, but autograd records every pass."""
    model = copy.deepcopy(net)
    model.eval()
    return sum(loss_fn(model(X), y).item() * len(X) for X, y in loader) / len(loader.dataset)


def _evaluate_then_moves_the_statistics(net, loader, loss_fn):
    """Right value, back in training mode, but a pass in training mode afterwards moved the
    running statistics and a bias was shifted (batch statistics hide both in training mode)."""
    value = check.reference_evaluate(net, loader, loss_fn)
    with torch.no_grad():
        for X_batch, _ in loader:
            net(X_batch)
        net[0].bias += 1.0
    return value


def _evaluate_a_copy(net, loader, loss_fn):
    """A valid version: a copy of the model, evaluated in evaluation mode without gradients;
    the model passed in never changes mode."""
    model = copy.deepcopy(net).eval()
    with torch.no_grad():
        predictions = torch.cat([model(X) for X, _ in loader])
        targets = torch.cat([y for _, y in loader])
    return loss_fn(predictions, targets).item()


def test_evaluating_a_copy_without_gradients_is_valid():
    for seed in (LESSON_SEED, 1, 2):
        check.evaluate.check(_evaluate_a_copy, seed=seed)


@pytest.mark.parametrize(("wrong", "message"), [
    (_evaluate_hiding_training_mode, r"that is the loss of the model in training mode"),
    (_evaluate_faking_train_mode, r"the model was left in evaluation mode: call net\.train\(\)"),
    (_evaluate_switching_autograd_off, r"autograd was still switched off, so the next "
                                       r"loss\.backward\(\) fails"),
    (_evaluate_copy_recording, r"autograd recorded the passes"),
    (_evaluate_then_moves_the_statistics, r"its running statistics or parameters were changed"),
])
def test_evaluate_judges_modes_by_value_whatever_the_model_records(wrong, message):
    """Whether the passes ran in evaluation mode and the model was put back shows in values
    (the model has batch normalisation): nothing the function rewrites in it hides either."""
    for seed in (LESSON_SEED, 1, 2):
        try:
            with pytest.raises(ExerciseFailed, match=message):
                check.evaluate.check(wrong, seed=seed)
        finally:
            torch.set_grad_enabled(True)


def _loader_standardising_in_place(X, y, batch_size, generator):
    X -= X.mean(0)  # the bug: the notebook's X is used again after the call
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                      generator=generator)


def _loader_yielding_scaled(X, y, batch_size, generator):
    y *= 2  # runs on the first pass only: still the caller's y
    yield from _loader_yielding(X, y, batch_size, generator)


@pytest.mark.parametrize(("wrong", "name"), [(_loader_standardising_in_place, "X"),
                                             (_loader_yielding_scaled, "y")])
def test_loader_names_an_argument_changed_in_place(wrong, name):
    with pytest.raises(ExerciseFailed, match=rf"your function changed `{name}` in place.*the "
                                             r"lesson's later cells use it again"):
        check.make_loader(wrong)


# ---- probe + judge: plain data, fresh inputs, hostile data ----

_STUDENT = {"06-loader": check.reference_make_loader,
            "06-train-epoch": check.reference_train_epoch,
            "06-evaluate": check.reference_evaluate}
_WRONG = {"06-loader": lambda X, y, b, g: DataLoader(TensorDataset(X, y), batch_size=b,
                                                     generator=g),
          "06-train-epoch": _no_step,
          "06-evaluate": _evaluation(weigh=False, divide="batches")}


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probe_data_is_plain_and_judged_alike_on_fresh_inputs(exercise_id, seed):
    assert_judged_alike_on_fresh_inputs(check.EXERCISES[exercise_id], _STUDENT[exercise_id],
                                        _WRONG[exercise_id], seed)


_ODD = (None, [], {"kind": "float", "type": "float", "value": 0.5},
        {"kind": "pass", "batches": []}, {"kind": "list", "type": "list", "length": 0,
                                          "items": []})


def _hostile_keys(data):
    for key in data:
        yield {k: v for k, v in data.items() if k != key}
        for odd in _ODD:
            yield {**data, key: odd}


def _hostile(data):
    """Malformed variants of a probe's data: wrong lengths, wrong kinds, missing keys (in each
    case's dict, where the probe returns one per case)."""
    yield from (None, 1.0, "✔ passed", [], {}, {"kind": "none"})
    if isinstance(data, list):
        yield data[:-1]
        yield data + data[-1:]
        for i, case in enumerate(data):
            for bad in _hostile_keys(case):
                yield [*data[:i], bad, *data[i + 1:]]
    else:
        yield from _hostile_keys(data)


@pytest.mark.parametrize("exercise_id", sorted(check.EXERCISES))
def test_a_judge_fails_malformed_data(exercise_id):
    exercise = check.EXERCISES[exercise_id]
    inputs = round_trip(exercise.inputs(np.random.default_rng(5)))
    data = round_trip(exercise.probe(inputs, _STUDENT[exercise_id]))
    for bad in _hostile(data):
        ok, message = exercise.verdict(inputs, bad)
        assert not ok, (bad, message)
