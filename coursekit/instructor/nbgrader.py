"""nbgrader's cell metadata, derived from the course's own, so nbgrader accepts the lessons.

``python -m coursekit nbgrader-sync notebooks/*.ipynb`` (run by ``make student``) writes it;
``--check`` only reports (a test runs the same check on every lesson). Nobody edits it by hand:
the course's ``coursekit`` metadata and solution markers (CONTRIBUTING.md's exercise format)
are the source, and this module maps them onto nbgrader's schema version 3:

=========================================  ==============================================
course cell                                ``metadata["nbgrader"]``
=========================================  ==============================================
solution (code, ``role: solution``)        autograded answer: solution, not graded, unlocked
check (``role: check``, ``points: N``)     autograder tests: graded, locked, ``points: N``
hidden (``role: hidden``)                  read-only, not graded (nbgrader shows it: see below)
markdown cell with a solution region       manually graded answer, ``points`` from its
                                           ``coursekit`` metadata (0 when it has none)
any other cell                             none (a stale ``nbgrader`` entry is removed)
=========================================  ==============================================

``grade_id`` is the cell's nbformat id (``01-mse-cost-check``), unique and stable. nbgrader has
no cells hidden from students: under nbgrader a ``hidden`` cell is shown and locked, and it
does not change the score.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from coursekit.instructor.cells import (
    LessonFormatError,
    cell_label,
    cell_source,
    coursekit_metadata,
    instructor_exercises,
    role_by_metadata,
)
from coursekit.instructor.markers import find_regions

#: The nbgrader cell-metadata schema these entries follow (nbgrader 0.6 and later).
SCHEMA_VERSION = 3


def _entry(cell_id: str, *, solution: bool, grade: bool, locked: bool,
           points: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "grade": grade,
        "grade_id": cell_id,
        "locked": locked,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        entry["points"] = points
    return entry


def nbgrader_metadata(cell: NotebookNode, *, where: str) -> dict[str, Any] | None:
    """The ``nbgrader`` metadata the course's format gives ``cell``, or None for none.

    Parameters
    ----------
    cell : NotebookNode
        A cell of an instructor notebook (nbformat 4.5 or later: it has an ``id``).
    where : str
        The cell's label for error messages (notebook and cell).

    Raises
    ------
    LessonFormatError
        A cell that needs nbgrader metadata but has no id, or a markdown answer whose
        ``points`` is not a non-negative integer.
    """
    tagged = role_by_metadata(cell)
    answer = cell.cell_type == "markdown" and bool(find_regions(cell_source(cell), where=where))
    if tagged is None and not answer:
        return None
    cell_id = cell.get("id")
    if not isinstance(cell_id, str) or not cell_id:
        raise LessonFormatError(f"{where}: an exercise cell needs a cell id (nbformat 4.5)")
    if answer:
        points = coursekit_metadata(cell).get("points", 0)
        if isinstance(points, bool) or not isinstance(points, int) or points < 0:
            raise LessonFormatError(
                f"{where}: a written answer's 'points' must be an integer >= 0, got {points!r}")
        return _entry(cell_id, solution=True, grade=True, locked=False, points=points)
    assert tagged is not None
    role = tagged[1]
    if role == "solution":
        return _entry(cell_id, solution=True, grade=False, locked=False)
    if role == "check":
        return _entry(cell_id, solution=False, grade=True, locked=True,
                      points=coursekit_metadata(cell)["points"])
    return _entry(cell_id, solution=False, grade=False, locked=True)  # hidden


def synced(nb: NotebookNode, *, path: str) -> NotebookNode:
    """A copy of the instructor notebook ``nb`` with every cell's nbgrader metadata in step.

    Raises
    ------
    LessonFormatError
        The lesson breaks the exercise format (naming notebook and cell).
    """
    instructor_exercises(nb, path)  # points are positive integers, ids as the format says
    result = copy.deepcopy(nb)
    for index, cell in enumerate(result.cells):
        wanted = nbgrader_metadata(cell, where=cell_label(path, index, cell))
        if wanted is None:
            cell.metadata.pop("nbgrader", None)
        else:
            cell.metadata["nbgrader"] = wanted
    return result


def out_of_step(nb: NotebookNode, *, path: str) -> list[str]:
    """Labels of the cells whose stored nbgrader metadata differs from what the sync writes."""
    wanted = synced(nb, path=path)
    return [
        cell_label(path, index, cell)
        for index, (cell, expected) in enumerate(zip(nb.cells, wanted.cells, strict=True))
        if cell.metadata.get("nbgrader") != expected.metadata.get("nbgrader")
    ]


def sync_files(paths: Sequence[Path], *, check: bool = False) -> list[Path]:
    """Bring each lesson's nbgrader metadata in step; returns the files that were (or, with
    ``check``, would be) changed. Only metadata changes: sources and outputs are untouched,
    and a lesson already in step is not rewritten."""
    changed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if not out_of_step(nb, path=str(path)):
            continue
        changed.append(path)
        if not check:
            nbformat.write(synced(nb, path=str(path)), path)
    return changed
