"""A tiny synthetic lesson (99_fake) with its own check package, for fast grading tests.

The judges (``fakechecks``) and probes (``fakeprobes``) sit in the lessons folder. The grader
imports the judges itself and gives the sandbox the probes and stubs of the judges, next to
every submission it runs (the runner imports them from its working folder).
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
objectives = [
    { text = "double a number", by = ["99-double"] },
    { text = "square a number", by = ["99-square"] },
]
exercises = [ { id = "99-double", points = 1 }, { id = "99-square", points = 2 } ]
"""

CHECKS_INIT = '''\
"""A check package for tests: judges of the fake lesson (kept from the sandbox)."""
'''

CHECKS_LESSON = '''\
"""Judges of the fake lesson: 2x and x², on four fixed points and one drawn at random."""

import math

from coursekit.exercise.judging import expect_scalar, fail

from coursekit.exercise.spec import Exercise, registry
from fakeprobes import lesson99 as probes


def reference_double(x):
    return 2 * x


def _inputs(rng):
    return {"xs": [0.0, 1.0, 2.5, -3.0, round(float(rng.uniform(4.0, 9.0)), 3)]}


def _judge(expected):
    def judge(inputs, results):
        for x, got in zip(inputs["xs"], results, strict=True):
            number = expect_scalar(got, f"at x={x:g}")
            if not math.isclose(number, expected(x)):
                raise fail(f"at x={x:g} expected {expected(x):g}, got {number:g}")
        return f"{len(inputs['xs'])} cases"
    return judge


DOUBLE = Exercise("99-double", _inputs, probes.each_x, _judge(lambda x: 2 * x),
                  implemented_by=("fakekit.double",))
SQUARE = Exercise("99-square", _inputs, probes.each_x, _judge(lambda x: x * x))
EXERCISES = registry(DOUBLE, SQUARE)


def double(fn):
    DOUBLE.check(fn)


def square(fn):
    SQUARE.check(fn)
'''

PROBES_LESSON = '''\
"""Probes of the fake lesson (run next to the submission)."""

from coursekit.exercise.probing import attempt, guarded


@guarded
def each_x(inputs, fn):
    return [attempt(fn, x) for x in inputs["xs"]]
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
    (lessons / "fakeprobes").mkdir()
    (lessons / "fakeprobes" / "__init__.py").write_text("", encoding="utf-8")
    (lessons / "fakeprobes" / "lesson99.py").write_text(PROBES_LESSON, encoding="utf-8")
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
