"""Every mistake an exercise declares is caught by its check and named by its own message:
on the lesson's cases and on fresh ones, the same before and after the wire."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coursekit.exercise import LESSON_SEED, Exercise, Mistake
from coursekit.exercise.wire import round_trip
from coursekit.instructor.syllabus import load_syllabus

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> list[tuple[Exercise, int, Mistake]]:
    found = []
    for lesson in load_syllabus(ROOT / "syllabus.toml").lessons:
        module = importlib.import_module(f"coursekit.checks.lesson{lesson.number}")
        for exercise in module.EXERCISES.values():
            found += [(exercise, k, mistake) for k, mistake in enumerate(exercise.mistakes)]
    return found


DECLARED = _declared()


def _messages(exercise: Exercise, mistake: Mistake, inputs: Any) -> set[str]:
    """What ``mistake`` says on each case of ``inputs``."""
    cases = inputs["cases"] if isinstance(inputs, dict) and "cases" in inputs else []
    assert exercise.arguments is not None, exercise.id
    return {mistake.says(*exercise.arguments(case)) for case in cases}


@pytest.mark.parametrize(("exercise", "k", "mistake"), DECLARED,
                         ids=[f"{exercise.id}-{k}" for exercise, k, _ in DECLARED])
@pytest.mark.parametrize("seed", [LESSON_SEED, 1, 2])
def test_each_declared_mistake_is_named_by_its_message(exercise, k, mistake, seed):
    assert exercise.student is not None
    student = exercise.student(mistake.wrong)
    inputs = round_trip(exercise.inputs(np.random.default_rng(seed)))
    with np.errstate(all="ignore"):
        data = exercise.probe(inputs, *student)
    passed, message = exercise.verdict(inputs, round_trip(data))
    assert not passed, f"{exercise.id}: mistake {k} passed"
    assert any(said in message for said in _messages(exercise, mistake, inputs)), message
    assert exercise.verdict(inputs, data) == (passed, message)  # the wire changes nothing


def test_every_lesson_declares_mistakes():
    assert {exercise.id[:2] for exercise, _, _ in DECLARED} >= {"01"}
