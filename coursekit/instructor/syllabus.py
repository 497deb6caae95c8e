"""The syllabus: ``syllabus.toml`` lists the lessons in order, with their exercises and points.

Format (one block per lesson, in course order)::

    [[lessons]]
    notebook = "01_gradient_descent.ipynb"
    title = "Gradient descent on three points"
    runtime_seconds = 5
    objectives = [
        { text = "write the cost J(θ)", by = ["01-mse-cost"] },
        { text = "recognise a learning rate that diverges", by = "demonstrated" },
    ]
    exercises = [ { id = "01-mse-cost", points = 1 }, { id = "01-mse-gradient", points = 2 } ]

Every objective names the exercises of its lesson that exercise it, or says ``"demonstrated"``
(the lesson shows it; no exercise checks it); every exercise serves at least one objective.

:func:`load_syllabus` validates the file on its own; :func:`sync_problems` compares it with
the lesson notebooks; :func:`course_map` renders the README's course map.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursekit.instructor.cells import EXERCISE_ID, LessonFormatError, instructor_exercises

#: Lesson files: two digits, an underscore, a lowercase name.
LESSON_FILE = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
LESSON_GLOB = "[0-9][0-9]_*.ipynb"
_LESSON_KEYS = {"notebook", "title", "runtime_seconds", "objectives", "exercises"}
_EXERCISE_KEYS = {"id", "points"}
_OBJECTIVE_KEYS = {"text", "by"}
#: What an objective no exercise checks says instead of exercise ids.
DEMONSTRATED = "demonstrated"


class SyllabusError(ValueError):
    """``syllabus.toml`` is malformed; the message names the lesson and the field."""


@dataclass(frozen=True)
class Graded:
    """One exercise as the syllabus grades it: its id (``01-mse-cost``) and the points it is
    worth (the check itself is a :class:`coursekit.exercise.Exercise`)."""

    id: str
    points: int


@dataclass(frozen=True)
class Objective:
    """A learning objective: ``by`` names the exercises that check it; empty when the lesson
    only demonstrates it."""

    text: str
    by: tuple[str, ...]

    @property
    def demonstrated(self) -> bool:
        """No exercise checks it: the lesson shows it."""
        return not self.by


@dataclass(frozen=True)
class Lesson:
    """One lesson of the syllabus."""

    notebook: str
    title: str
    runtime_seconds: float
    objectives: tuple[Objective, ...]
    exercises: tuple[Graded, ...]

    @property
    def number(self) -> str:
        """The two-digit lesson number, ``"01"``."""
        return self.notebook[:2]

    @property
    def points(self) -> int:
        """Total points of the lesson."""
        return sum(exercise.points for exercise in self.exercises)


@dataclass(frozen=True)
class Syllabus:
    """The lessons, in course order."""

    lessons: tuple[Lesson, ...]

    def lesson(self, notebook: str) -> Lesson:
        """The lesson whose notebook file name is ``notebook``."""
        for lesson in self.lessons:
            if lesson.notebook == notebook:
                return lesson
        raise KeyError(f"no lesson {notebook!r} in the syllabus")

    def lesson_of_exercise(self, exercise: str) -> Lesson | None:
        """The lesson that holds ``exercise``, or None."""
        for lesson in self.lessons:
            if any(item.id == exercise for item in lesson.exercises):
                return lesson
        return None


def load_syllabus(path: Path) -> Syllabus:
    """Read and validate ``syllabus.toml``.

    Raises
    ------
    SyllabusError
        On a missing or unknown field, a wrong type, a badly named notebook, lessons out of
        file-name order, a duplicated lesson number or exercise id, or an exercise id whose
        number is not its lesson's.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SyllabusError(f"{path}: {exc}") from exc
    unknown = set(data) - {"lessons"}
    if unknown:
        raise SyllabusError(
            f"{path}: unknown top-level keys {sorted(unknown)}; expected only [[lessons]]"
        )
    blocks = data.get("lessons", [])
    if not isinstance(blocks, list):
        raise SyllabusError(f"{path}: 'lessons' must be an array of tables ([[lessons]])")
    lessons = tuple(_lesson(block, f"{path}, lesson {i + 1}") for i, block in enumerate(blocks))
    numbers = [lesson.number for lesson in lessons]
    for previous, lesson in zip(lessons, lessons[1:], strict=False):
        if lesson.notebook <= previous.notebook:
            raise SyllabusError(
                f"{path}: lessons must be listed in file-name order; {lesson.notebook} comes "
                f"after {previous.notebook}"
            )
        if lesson.number == previous.number:
            raise SyllabusError(f"{path}: two lessons numbered {lesson.number}: {numbers}")
    seen: set[str] = set()
    for lesson in lessons:
        for exercise in lesson.exercises:
            if exercise.id in seen:
                raise SyllabusError(f"{path}: exercise {exercise.id} is listed twice")
            seen.add(exercise.id)
    return Syllabus(lessons)


def _lesson(block: Any, where: str) -> Lesson:
    if not isinstance(block, dict):
        raise SyllabusError(f"{where}: expected a table")
    missing = _LESSON_KEYS - set(block)
    unknown = set(block) - _LESSON_KEYS
    if missing or unknown:
        raise SyllabusError(
            f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}; "
            f"a lesson has exactly {sorted(_LESSON_KEYS)}"
        )
    notebook = block["notebook"]
    if not isinstance(notebook, str) or not LESSON_FILE.match(notebook):
        raise SyllabusError(f"{where}: notebook {notebook!r} should look like '01_name.ipynb'")
    where = f"{where} ({notebook})"
    title = block["title"]
    if not isinstance(title, str) or not title.strip():
        raise SyllabusError(f"{where}: title must be a non-empty string")
    runtime = block["runtime_seconds"]
    if isinstance(runtime, bool) or not isinstance(runtime, int | float) or runtime <= 0:
        raise SyllabusError(f"{where}: runtime_seconds must be a positive number, got {runtime!r}")
    exercises = block["exercises"]
    if not isinstance(exercises, list):
        raise SyllabusError(f"{where}: exercises must be a list of {{ id = ..., points = ... }}")
    checked = tuple(_exercise(item, where, notebook[:2]) for item in exercises)
    objectives = block["objectives"]
    if not isinstance(objectives, list) or not objectives:
        raise SyllabusError(f"{where}: objectives must be a non-empty list of "
                            '{ text = "...", by = [exercise ids] or "demonstrated" }')
    ids = [exercise.id for exercise in checked]
    goals = tuple(_objective(item, where, ids) for item in objectives)
    unserved = [exercise for exercise in ids if not any(exercise in goal.by for goal in goals)]
    if unserved:
        raise SyllabusError(f"{where}: exercises {unserved} serve no objective; name each in "
                            "the `by` of the objective it checks")
    return Lesson(
        notebook=notebook,
        title=title,
        runtime_seconds=float(runtime),
        objectives=goals,
        exercises=checked,
    )


def _objective(item: Any, where: str, exercises: list[str]) -> Objective:
    shape = '{ text = "...", by = ["NN-exercise", ...] } or { text = "...", by = "demonstrated" }'
    if not isinstance(item, dict) or set(item) != _OBJECTIVE_KEYS:
        raise SyllabusError(f"{where}: each objective is {shape}, got {item!r}")
    text, by = item["text"], item["by"]
    if not isinstance(text, str) or not text.strip():
        raise SyllabusError(f"{where}: an objective's text must be a non-empty string")
    if by == DEMONSTRATED:
        return Objective(text, ())
    if not isinstance(by, list) or not by or not all(isinstance(name, str) for name in by):
        raise SyllabusError(f"{where}: objective {text!r}: by must be a list of exercise ids "
                            f"or \"{DEMONSTRATED}\", got {by!r}")
    unknown = [name for name in by if name not in exercises]
    if unknown:
        raise SyllabusError(f"{where}: objective {text!r} names {unknown}, not exercises of "
                            f"this lesson ({exercises})")
    return Objective(text, tuple(by))


def _exercise(item: Any, where: str, number: str) -> Graded:
    if not isinstance(item, dict) or set(item) != _EXERCISE_KEYS:
        raise SyllabusError(f"{where}: each exercise is {{ id = \"{number}-name\", points = N }}, "
                            f"got {item!r}")
    exercise, points = item["id"], item["points"]
    if not isinstance(exercise, str) or not EXERCISE_ID.match(exercise):
        raise SyllabusError(f"{where}: exercise id {exercise!r} should look like '{number}-name'")
    if not exercise.startswith(f"{number}-"):
        raise SyllabusError(f"{where}: exercise {exercise} should start with its lesson's "
                            f"number, '{number}-'")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise SyllabusError(f"{where}: exercise {exercise}: points must be a positive integer")
    return Graded(exercise, points)


def lesson_files(folder: Path) -> list[Path]:
    """The lesson notebooks of ``folder`` (``NN_*.ipynb``), in file-name order."""
    return sorted(Path(folder).glob(LESSON_GLOB))


def select_lessons(folder: Path, spec: str) -> list[Path]:
    """The lessons of ``folder`` named by ``spec``, in course order.

    ``spec`` is ``"all"`` or numbers and names separated by commas or spaces: ``"01,03"``,
    ``"03_layers_from_scratch"`` or ``"03_layers_from_scratch.ipynb"``. Raises ``ValueError``
    naming every item that matches no lesson.
    """
    paths = lesson_files(folder)
    if spec.strip() == "all":
        return paths
    wanted = spec.replace(",", " ").split()
    unknown = [w for w in wanted if not any(w in (p.stem[:2], p.stem, p.name) for p in paths)]
    if unknown:
        raise ValueError(f"no lesson matches {unknown}; have {[p.stem for p in paths]}")
    return [p for p in paths if p.stem[:2] in wanted or p.stem in wanted or p.name in wanted]


def sync_problems(syllabus: Syllabus, folder: Path) -> list[str]:
    """Every way ``syllabus`` and the lessons in ``folder`` disagree (empty when in step).

    Checks that the same notebooks appear in both; that each notebook's exercises (by cell
    metadata, in notebook order) are the syllabus's, in the same order, with the points of
    the check cells; and that each notebook's exercise cells are well formed.
    """
    problems: list[str] = []
    files = {path.name: path for path in lesson_files(folder)}
    listed = [lesson.notebook for lesson in syllabus.lessons]
    for name in files:
        if name not in listed:
            problems.append(f"{name} is in {folder} but not in the syllabus")
    for name in listed:
        if name not in files:
            problems.append(f"{name} is in the syllabus but not in {folder}")
    for lesson in syllabus.lessons:
        path = files.get(lesson.notebook)
        if path is None:
            continue
        try:
            import nbformat  # here, not at the top: lessons import this module (via the score)

            nb = nbformat.read(path, as_version=4)
            found = instructor_exercises(nb, str(path))
        except LessonFormatError as exc:
            problems.append(str(exc))
            continue
        except Exception as exc:  # unreadable JSON and friends
            problems.append(f"{path}: not a readable notebook: {exc}")
            continue
        in_notebook = [(exercise, entry.points[0]) for exercise, entry in found.items()]
        in_syllabus = [(exercise.id, exercise.points) for exercise in lesson.exercises]
        if in_notebook != in_syllabus:
            problems.append(
                f"{lesson.notebook}: the notebook's exercises (id, points) are {in_notebook} "
                f"but the syllabus lists {in_syllabus}"
            )
    return problems


def course_map(syllabus: Syllabus) -> str:
    """The course map as a Markdown table (for the README), generated from the syllabus."""
    rows = [
        "| # | Lesson | You will | Exercises (points) | Runtime |",
        "|---|---|---|---|---|",
    ]
    for lesson in syllabus.lessons:
        objectives = "; ".join(objective.text for objective in lesson.objectives)
        exercises = ", ".join(f"`{item.id}` ({item.points})" for item in lesson.exercises)
        rows.append(
            f"| {lesson.number} | [{lesson.title}](notebooks/{lesson.notebook}) | {objectives} "
            f"| {exercises or '—'} | ~{_duration(lesson.runtime_seconds)} |"
        )
    total = sum(lesson.points for lesson in syllabus.lessons)
    rows.append("")
    rows.append(f"{len(syllabus.lessons)} lessons, {total} points in all.")
    return "\n".join(rows) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
