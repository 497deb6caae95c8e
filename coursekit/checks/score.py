"""The last cell of every lesson: the student's score for that lesson, before handing it in.

``check.score(globals())`` checks every exercise of the lesson again, on cases the check cells
did not use (grading draws new ones too), with the objects the lesson's names hold *now*, and
prints the same table as ``python -m coursekit check NOTEBOOK``: exercise, ✔/✘, points. Nothing
is remembered between cells: the table says what the notebook's current definitions earn.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import coursekit
from coursekit.exercise.spec import LESSON_SEED, Exercise
from coursekit.instructor.report import Row, SubmissionResult, score_table
from coursekit.instructor.syllabus import Lesson, SyllabusError, load_syllabus

#: The seed of the score cell's cases: not the check cells' (:data:`LESSON_SEED`).
SCORE_SEED = LESSON_SEED + 1

#: The course's syllabus, next to the package (``pip install -e .`` from the course folder).
SYLLABUS = Path(coursekit.__file__).resolve().parent.parent / "syllabus.toml"


def _lesson(exercises: Mapping[str, Exercise], syllabus: Path) -> Lesson | None:
    """The syllabus's lesson of these exercises, or None when there is no readable syllabus."""
    try:
        course = load_syllabus(syllabus)
    except (OSError, SyllabusError):
        return None
    return course.lesson_of_exercise(next(iter(exercises)))


def score_rows(exercises: Mapping[str, Exercise], namespace: Mapping[str, Any], *,
               points: Mapping[str, int], seed: int = SCORE_SEED) -> list[Row]:
    """One :class:`~coursekit.instructor.report.Row` per exercise, in the order of ``points``.

    An exercise passes when its names are all defined in ``namespace`` and its check passes on
    the cases drawn from ``seed``; what the student's code prints meanwhile is swallowed.
    """
    rows = []
    for exercise_id, max_points in points.items():
        exercise = exercises[exercise_id]
        missing = [name for name in exercise.names if name not in namespace]
        if missing:
            passed, message = False, (f"`{missing[0]}` is not defined: run the exercise's "
                                      "solution cell")
        else:
            with contextlib.redirect_stdout(io.StringIO()):
                passed, message = exercise.run(*(namespace[name] for name in exercise.names),
                                               seed=seed)
        rows.append(Row(submission="", lesson="", exercise=exercise_id,
                        points=max_points if passed else 0, max_points=max_points,
                        passed=passed, message=message))
    return rows


def scorer(exercises: Mapping[str, Exercise], *, syllabus: Path = SYLLABUS
           ) -> Callable[[Mapping[str, Any]], None]:
    """The ``score(namespace)`` function of a lesson's check module, for ``EXERCISES``."""

    def score(namespace: Mapping[str, Any]) -> None:
        """Print this lesson's score table: every exercise checked again, on new cases, with
        what ``namespace`` (pass ``globals()``) holds now."""
        if not isinstance(namespace, Mapping):
            raise TypeError(f"score(globals()): expected the notebook's namespace, a dict, got "
                            f"{type(namespace).__name__}")
        lesson = _lesson(exercises, syllabus)
        if lesson is None:  # no syllabus beside the package: every exercise counts 1 point
            points = dict.fromkeys(exercises, 1)
            name, label = "your notebook (no syllabus.toml: 1 point each)", \
                f"lesson {next(iter(exercises))[:2]}"
        else:
            points = {entry.id: entry.points for entry in lesson.exercises}
            name, label = "your notebook, as it is now", lesson.notebook
        rows = score_rows(exercises, namespace, points=points)
        print(score_table(SubmissionResult(name, label, "the score cell", rows)))

    return score
