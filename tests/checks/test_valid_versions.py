"""A check never accepts an answer that breaks a later cell of its lesson.

Each ``tests/checks/test_lessonNN.py`` lists, in ``VALID_VERSIONS``, valid alternatives for
every exercise of its lesson (written differently from the notebook's solution): a solution
cell's source, or the object(s) a student's cell would define, in the check call's order. Here
each lesson runs from its first cell to its score cell with them in place: version ``k`` of
every exercise at once, for every ``k``. Every check cell must pass, every later cell must run,
and the score cell must show full points.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from coursekit.instructor.syllabus import Lesson, load_syllabus
from tests.checks._cells import run_lesson

ROOT = Path(__file__).resolve().parents[2]
LESSONS = load_syllabus(ROOT / "syllabus.toml").lessons


def _tests_of(lesson: Lesson) -> ModuleType:
    return importlib.import_module(f"tests.checks.test_lesson{lesson.number}")


def _versions(lesson: Lesson) -> dict[str, list[Any]]:
    return getattr(_tests_of(lesson), "VALID_VERSIONS", {})


def _runs() -> list[tuple[Lesson, int]]:
    return [(lesson, k) for lesson in LESSONS
            for k in range(max((len(v) for v in _versions(lesson).values()), default=0))]


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.number for lesson in LESSONS])
def test_every_exercise_has_two_valid_versions(lesson):
    versions = _versions(lesson)
    assert sorted(versions) == sorted(exercise.id for exercise in lesson.exercises)
    assert all(len(alternatives) >= 2 for alternatives in versions.values()), {
        key: len(alternatives) for key, alternatives in versions.items()}


@pytest.mark.slow
@pytest.mark.parametrize(("lesson", "k"), _runs(),
                         ids=[f"{lesson.number}-v{k}" for lesson, k in _runs()])
def test_the_lesson_runs_to_its_end_with_valid_versions_in_place(lesson, k):
    check = importlib.import_module(f"coursekit.checks.lesson{lesson.number}")
    solutions: dict[str, str] = {}
    bind: dict[str, tuple[Any, ...]] = {}
    for exercise, alternatives in _versions(lesson).items():
        version = alternatives[k % len(alternatives)]
        if isinstance(version, str):
            solutions[exercise] = version
        else:
            bind[exercise] = version if isinstance(version, tuple) else (version,)
    _, printed = run_lesson(lesson.notebook, solutions=solutions, bind=bind,
                            exercises=check.EXERCISES)
    shown = "".join(printed.values())
    for exercise in lesson.exercises:
        assert f"✔ {exercise.id}:" in shown, exercise.id
    total = sum(exercise.points for exercise in lesson.exercises)
    assert "✘" not in printed["score"]
    assert printed["score"].rstrip().endswith(f"total {total}/{total}")
