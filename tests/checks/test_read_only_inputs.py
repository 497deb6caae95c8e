"""Arguments a later cell uses again reach the student's function over immutable memory: a
function that writes into one fails by what it does, even when everything the probe could use
to compare before and after is patched in the student's kernel (issue 24's exploits)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from coursekit.checks import lesson01 as check
from coursekit.exercise import probing
from coursekit.exercise.probing import attempt_keeping, read_only
from coursekit.exercise.spec import ExerciseFailed
from coursekit.exercise.wire import round_trip


def cost_then_doubles_x(theta, x, y):
    result = np.mean((theta * x - y) ** 2)
    x *= 2  # the caller's x: the lesson's later cells see it doubled
    return result


def gradient_then_scrubs_y(theta, x, y):
    result = np.mean(2 * (theta * x - y) * x)
    y[...] = 0.0
    return result


def max_rate_then_sorts_x(x):
    rate = 1.0 / np.mean(x**2)
    x.sort()
    return rate


def _hide_the_instruments(monkeypatch):
    """The three ways the red team hid the write from an in-kernel comparison."""
    monkeypatch.setattr(probing, "_unchanged", lambda *a, **k: True)
    monkeypatch.setattr(np, "array_equal", lambda *a, **k: True)
    monkeypatch.setattr(copy, "deepcopy", lambda value, memo=None: value)


@pytest.mark.parametrize(("exercise", "student", "name"), [
    ("01-mse-cost", cost_then_doubles_x, "x"),
    ("01-mse-gradient", gradient_then_scrubs_y, "y"),
    ("01-max-learning-rate", max_rate_then_sorts_x, "x"),
])
@pytest.mark.parametrize("hidden", [False, True])
def test_writing_into_an_argument_fails_even_with_the_instruments_patched(
        monkeypatch, exercise, student, name, hidden):
    if hidden:
        _hide_the_instruments(monkeypatch)
    with pytest.raises(ExerciseFailed, match=f"changed `{name}` in place"):
        check.EXERCISES[exercise].check(student)


def test_a_read_only_argument_cannot_be_made_writable_again():
    frozen = read_only(np.arange(6.0).reshape(2, 3))
    assert not frozen.flags.writeable
    for attempt in (lambda: frozen.setflags(write=True),
                    lambda: setattr(frozen.flags, "writeable", True),
                    lambda: frozen.view().setflags(write=True)):
        with pytest.raises(ValueError):
            attempt()
    assert read_only({"W": np.ones(2)})["W"].flags.writeable is False


def test_a_function_that_reads_only_is_untouched_and_names_are_precise():
    def honest(theta, x, y):
        x = x * 2  # a new array: fine
        return float(np.mean((theta * x - y) ** 2))

    args = [1.5, np.arange(3.0), np.ones(3)]
    assert attempt_keeping(honest, args, ["", "x", "y"])["kind"] == "float"
    got = attempt_keeping(gradient_then_scrubs_y, args, ["", "x", "y"])
    assert got["kind"] == "changed" and got["names"] == ["y"]


def cost_writing_only_when_it_may(theta, x, y):
    """Sniffs whether its argument is read-only and writes only when it is not."""
    result = np.mean((theta * x - y) ** 2)
    if x.flags.writeable:
        x *= 2
    return result


@pytest.mark.parametrize("hidden", [False, True])
def test_a_function_that_writes_only_into_writable_arrays_is_seen(monkeypatch, hidden):
    """The probe also calls on writable copies and hands the judge those arguments as they
    were left: compared with the drawn inputs outside the kernel (here: after the patches of
    the probe's process are undone), whatever was patched."""
    exercise = check.EXERCISES["01-mse-cost"]
    inputs = round_trip(exercise.inputs(np.random.default_rng(3)))
    with monkeypatch.context() as patched:
        if hidden:
            _hide_the_instruments(patched)
        data = round_trip(exercise.probe(inputs, cost_writing_only_when_it_may))
    ok, message = exercise.verdict(inputs, data)
    assert not ok and "changed `x` in place" in message, message


def test_the_judge_refuses_arguments_reported_changed_or_missing():
    """What the second call left is plain data: a report that drops or alters it fails."""
    exercise = check.EXERCISES["01-mse-cost"]
    inputs = exercise.inputs(np.random.default_rng(0))
    data = exercise.probe(inputs, check.reference_cost)
    assert exercise.verdict(inputs, data)[0]
    dropped = [{k: v for k, v in got.items() if k != "kept_after"} for got in data]
    assert exercise.verdict(inputs, dropped) == (False, "the check received malformed data")
    altered = copy.deepcopy(data)
    altered[0]["kept_after"]["x"]["value"] = altered[0]["kept_after"]["x"]["value"] * 2
    ok, message = exercise.verdict(inputs, altered)
    assert not ok and "changed `x` in place" in message
