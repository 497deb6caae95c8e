"""Every lesson's checks, together: registered as the syllabus says, probes where the sandbox
can import them, and copy flags naming real coursekit pieces."""

from __future__ import annotations

import importlib
from pathlib import Path

import nbformat
import pytest

from coursekit.exercise.spec import Exercise
from coursekit.instructor.plan import check_call
from coursekit.instructor.syllabus import load_syllabus

ROOT = Path(__file__).resolve().parents[2]
LESSONS = load_syllabus(ROOT / "syllabus.toml").lessons


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    target: object = importlib.import_module(parts[0])
    for depth, part in enumerate(parts[1:], start=2):
        try:  # a submodule, or else an attribute
            target = importlib.import_module(".".join(parts[:depth]))
        except ModuleNotFoundError:
            target = getattr(target, part)
    return target


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.number for lesson in LESSONS])
def test_each_lesson_registers_its_syllabus_exercises(lesson):
    module = importlib.import_module(f"coursekit.checks.lesson{lesson.number}")
    assert list(module.EXERCISES) == [item.id for item in lesson.exercises]
    for exercise in module.EXERCISES.values():
        assert isinstance(exercise, Exercise)
        assert exercise.probe.__module__.startswith(("coursekit.probes.", "coursekit.exercise.")), \
            exercise.id
        assert callable(_resolve(f"{exercise.probe.__module__}.{exercise.probe.__qualname__}"))
        for dotted in exercise.implemented_by:
            assert callable(_resolve(dotted)), (exercise.id, dotted)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.number for lesson in LESSONS])
def test_each_exercise_names_what_its_check_cell_passes(lesson):
    """``Exercise.names`` (what the score cell looks up) are the check cell's arguments."""
    nb = nbformat.read(ROOT / "notebooks" / lesson.notebook, as_version=4)
    module = importlib.import_module(f"coursekit.checks.lesson{lesson.number}")
    calls = {}
    for cell in nb.cells:
        meta = cell.metadata.get("coursekit", {})
        if meta.get("role") == "check":
            _, args, kwargs = check_call(cell.source, lesson.notebook)
            assert not kwargs, f"{meta['exercise']}: the score cell passes names by position"
            calls[meta["exercise"]] = args
    assert {key: exercise.names for key, exercise in module.EXERCISES.items()} == calls


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.number for lesson in LESSONS])
def test_each_lesson_ends_with_its_score_cell(lesson):
    nb = nbformat.read(ROOT / "notebooks" / lesson.notebook, as_version=4)
    last = nb.cells[-1]
    assert (last.cell_type, last.source, last.id) == ("code", "check.score(globals())", "score")
    shown = "".join(output.get("text", "") for output in last.outputs)
    total = sum(exercise.points for exercise in lesson.exercises)
    assert shown.count("✔") == len(lesson.exercises) and "✘" not in shown
    assert shown.rstrip().endswith(f"total {total}/{total}")
