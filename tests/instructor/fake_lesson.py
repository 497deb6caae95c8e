"""A tiny synthetic lesson (99_fake) with its own check package, for fast grading tests.

The check package ``fakechecks`` sits in the lessons folder, so the grader copies it next to
every submission it runs (the kernel imports it from its working folder) and re-imports it
fresh from the sources it read before grading.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LESSON = "99_fake.ipynb"
PACKAGE = "fakechecks"

SYLLABUS = """\
[[lessons]]
notebook = "99_fake.ipynb"
title = "A fake lesson"
runtime_seconds = 2
objectives = ["double a number", "square a number"]
exercises = [ { id = "99-double", points = 1 }, { id = "99-square", points = 2 } ]
"""

CHECKS_INIT = '''\
"""A check package for tests."""


class ExerciseFailed(AssertionError):
    """A check found a mistake."""
'''

CHECKS_LESSON = '''\
"""Checks of the fake lesson."""

import math

from fakechecks import ExerciseFailed


def _compare(exercise, fn, expected):
    for x in (0, 1, 2.5, -3):
        got = fn(x)
        if not math.isclose(got, expected(x)):
            raise ExerciseFailed(f"✘ {exercise}: at x={x} expected {expected(x)}, got {got}")
    print(f"✔ {exercise}: 4 cases")


def double(fn):
    _compare("99-double", fn, lambda x: 2 * x)


def square(fn):
    _compare("99-square", fn, lambda x: x * x)
'''

DOUBLE_SOLUTION = "return 2 * x  # the doubling solution"
SQUARE_SOLUTION = "return x * x  # the squaring solution"
ANSWER = "Squaring is doubling the logarithm."
HIDDEN = "assert double(21) == 42, 'hidden: double(21)'"


def _meta(exercise: str, role: str, points: int | None = None) -> dict:
    meta: dict = {"exercise": exercise, "role": role}
    if points is not None:
        meta["points"] = points
    return {"coursekit": meta}


def instructor_notebook() -> NotebookNode:
    """The instructor's 99_fake lesson: two exercises, a hidden test, a markdown answer."""
    cells = [
        new_markdown_cell("# 99 · A fake lesson", id="title"),
        new_code_cell(f"%load_ext autoreload\nfrom {PACKAGE} import lesson99 as check",
                      id="setup"),
        new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n"
            f"    {DOUBLE_SOLUTION}\n    ### END SOLUTION",
            id="99-double-solution", metadata=_meta("99-double", "solution")),
        new_code_cell("check.double(double)", id="99-double-check",
                      metadata=_meta("99-double", "check", 1)),
        new_code_cell(HIDDEN, id="99-double-hidden", metadata=_meta("99-double", "hidden")),
        new_code_cell(
            "def square(x):\n    ### BEGIN SOLUTION\n"
            f"    {SQUARE_SOLUTION}\n    ### END SOLUTION",
            id="99-square-solution", metadata=_meta("99-square", "solution")),
        new_code_cell("check.square(square)", id="99-square-check",
                      metadata=_meta("99-square", "check", 2)),
        new_markdown_cell(f"Why?\n\n### BEGIN SOLUTION\n{ANSWER}\n### END SOLUTION",
                          id="why"),
        new_code_cell("print('the end')", id="end"),
    ]
    for cell in cells:
        if cell.cell_type == "code":
            text = f"old output: {SQUARE_SOLUTION}"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
            cell.execution_count = 1
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["widgets"] = {"state": DOUBLE_SOLUTION}
    return nb


def write_lesson(folder: Path) -> tuple[Path, Path]:
    """Write the lesson, its check package and a syllabus; return (lessons dir, syllabus)."""
    lessons = folder / "notebooks"
    (lessons / PACKAGE).mkdir(parents=True)
    (lessons / PACKAGE / "__init__.py").write_text(CHECKS_INIT, encoding="utf-8")
    (lessons / PACKAGE / "lesson99.py").write_text(CHECKS_LESSON, encoding="utf-8")
    nbformat.write(instructor_notebook(), lessons / LESSON)
    syllabus = folder / "syllabus.toml"
    syllabus.write_text(SYLLABUS, encoding="utf-8")
    return lessons, syllabus


def edited(nb: NotebookNode, cell_id: str, source: str) -> NotebookNode:
    """A copy of ``nb`` whose cell ``cell_id`` holds ``source``."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("id") == cell_id:
            cell.source = source
            return nb
    raise KeyError(cell_id)


def without(nb: NotebookNode, cell_id: str) -> NotebookNode:
    """A copy of ``nb`` without cell ``cell_id``."""
    nb = copy.deepcopy(nb)
    nb.cells = [cell for cell in nb.cells if cell.get("id") != cell_id]
    return nb


def moved_before(nb: NotebookNode, cell_id: str, before_id: str) -> NotebookNode:
    """A copy of ``nb`` with cell ``cell_id`` moved just before cell ``before_id``."""
    nb = copy.deepcopy(nb)
    cell = next(cell for cell in nb.cells if cell.get("id") == cell_id)
    nb.cells.remove(cell)
    index = next(i for i, other in enumerate(nb.cells) if other.get("id") == before_id)
    nb.cells.insert(index, cell)
    return nb
