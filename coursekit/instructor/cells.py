"""What an exercise cell is: its exercise id and role, from metadata or its stable cell id.

The lead convention (CONTRIBUTING.md): solution, check and hidden cells carry
``metadata["coursekit"] = {"exercise": ID, "role": ...}``; the check cell's nbformat id is
``ID + "-check"`` and the solution cell's ``ID + "-solution"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # nbformat pulls in jsonschema (1.5 s): every lesson imports this module
    from nbformat import NotebookNode

ROLES = ("solution", "check", "hidden")
#: Exercise ids look like ``01-mse-gradient``: the lesson number, then a lowercase slug.
EXERCISE_ID = re.compile(r"^(\d{2})-[a-z0-9]+(?:-[a-z0-9]+)*$")


class LessonFormatError(ValueError):
    """An instructor notebook breaks the exercise format; the message names notebook and cell."""


def coursekit_metadata(cell: Any) -> dict[str, Any]:
    """The cell's ``coursekit`` metadata dict, or ``{}`` when absent or not a dict."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    value = metadata.get("coursekit") if isinstance(metadata, dict) else None
    return value if isinstance(value, dict) else {}


def cell_label(path: str, index: int, cell: Any) -> str:
    """``"notebooks/01_x.ipynb, cell 7 (id 01-mse-cost-check)"``, cells counted from 1."""
    cell_id = cell.get("id") if isinstance(cell, dict) else None
    return f"{path}, cell {index + 1}" + (f" (id {cell_id})" if cell_id else "")


def cell_source(cell: Any) -> str:
    """A cell's source as one string, whether stored as a string or a list of lines."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(source) if isinstance(source, list) else str(source)


def role_by_metadata(cell: Any) -> tuple[str, str] | None:
    """``(exercise, role)`` from the cell's metadata, or None."""
    meta = coursekit_metadata(cell)
    exercise, role = meta.get("exercise"), meta.get("role")
    if isinstance(exercise, str) and role in ROLES:
        return exercise, role
    return None


def role_by_id(cell: Any, exercises: set[str]) -> tuple[str, str] | None:
    """``(exercise, role)`` from a cell id ``ID-check`` / ``ID-solution`` of a known exercise."""
    cell_id = cell.get("id") if isinstance(cell, dict) else None
    if not isinstance(cell_id, str):
        return None
    for role in ("check", "solution"):
        exercise = cell_id.removesuffix(f"-{role}")
        if exercise != cell_id and exercise in exercises:
            return exercise, role
    return None


@dataclass
class ExerciseCells:
    """Where one exercise lives in a notebook (0-based cell indices)."""

    exercise: str
    solution: list[int] = field(default_factory=list)
    check: list[int] = field(default_factory=list)
    hidden: list[int] = field(default_factory=list)
    points: list[Any] = field(default_factory=list)  # from each check cell's metadata


def exercises_by_metadata(nb: NotebookNode) -> dict[str, ExerciseCells]:
    """The exercises of an instructor notebook, in order of first appearance, by metadata."""
    found: dict[str, ExerciseCells] = {}
    for index, cell in enumerate(nb.cells):
        tagged = role_by_metadata(cell)
        if tagged is None:
            continue
        exercise, role = tagged
        entry = found.setdefault(exercise, ExerciseCells(exercise))
        getattr(entry, role).append(index)
        if role == "check":
            entry.points.append(coursekit_metadata(cell).get("points"))
    return found


def instructor_exercises(nb: NotebookNode, path: str) -> dict[str, ExerciseCells]:
    """The exercises of an instructor notebook, checked against the exercise format.

    Each exercise needs a well-formed id, at least one solution cell and exactly one check
    cell, both with their stable ids (``ID-solution`` for the first solution cell,
    ``ID-check``), and a positive integer ``points`` on the check cell.

    Raises
    ------
    LessonFormatError
        Naming the notebook and the cell at fault.
    """
    for index, cell in enumerate(nb.cells):
        meta = coursekit_metadata(cell)
        if meta and role_by_metadata(cell) is None:
            raise LessonFormatError(
                f"{cell_label(path, index, cell)}: coursekit metadata {meta!r} needs an "
                f"'exercise' id and a 'role' among {ROLES}"
            )
        if meta and cell.cell_type != "code" and meta.get("role") in ("check", "hidden"):
            raise LessonFormatError(
                f"{cell_label(path, index, cell)}: a {meta['role']} cell must be a code cell"
            )
    found = exercises_by_metadata(nb)
    for exercise, entry in found.items():
        if not EXERCISE_ID.match(exercise):
            raise LessonFormatError(
                f"{path}: exercise id {exercise!r} should look like '01-mse-cost' "
                "(two digits, a dash, a lowercase slug)"
            )
        if len(entry.check) != 1:
            raise LessonFormatError(
                f"{path}: exercise {exercise} has {len(entry.check)} check cells; it needs one"
            )
        if not entry.solution:
            raise LessonFormatError(f"{path}: exercise {exercise} has no solution cell")
        for index, expected in ((entry.check[0], "check"), (entry.solution[0], "solution")):
            cell = nb.cells[index]
            if cell.get("id") != f"{exercise}-{expected}":
                raise LessonFormatError(
                    f"{cell_label(path, index, cell)}: the {expected} cell of {exercise} "
                    f"must have the id '{exercise}-{expected}'"
                )
        points = entry.points[0]
        if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
            raise LessonFormatError(
                f"{cell_label(path, entry.check[0], nb.cells[entry.check[0]])}: "
                f"'points' must be a positive integer, got {points!r}"
            )
    return found
