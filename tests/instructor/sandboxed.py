"""Grade one edited copy of the fake lesson in the sandbox, for the hostile tests that need
their own run (a timing, a trap that must not disturb the shared batch of test_grade)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from coursekit.instructor import sandbox
from coursekit.instructor.grade import Grader
from coursekit.instructor.syllabus import load_syllabus
from tests.instructor import fake_lesson


def grade_one(tmp_path: Path, edits: dict[str, str], *, timeout: int = 5,
              notebook_seconds: float = 60.0, extra_cells: tuple[NotebookNode, ...] = (),
              disk_bytes: int = 1024**3) -> tuple[dict[str, tuple[int, str, str]], float]:
    """``exercise -> (points, message, flags)`` of the instructor notebook with ``edits``
    (cell id -> new source) and ``extra_cells`` after the first solution cell, and the
    seconds grading it took."""
    lessons, syllabus = fake_lesson.write_lesson(tmp_path)
    if str(lessons) not in sys.path:
        sys.path.insert(0, str(lessons))  # the judges, as `coursekit grade --lessons` does
    nb = fake_lesson.instructor_notebook()
    for cell_id, source in edits.items():
        nb = fake_lesson.edited(nb, cell_id, source)
    at = next(i for i, cell in enumerate(nb.cells) if cell.get("id") == "99-double-solution")
    nb.cells[at + 1:at + 1] = list(extra_cells)
    path = tmp_path / "99_fake.ipynb"
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    grader = Grader(load_syllabus(syllabus), lessons, timeout=timeout,
                    package=fake_lesson.PACKAGE, package_dir=lessons / fake_lesson.PACKAGE,
                    limits=sandbox.Limits(notebook_seconds=notebook_seconds,
                                          disk_bytes=disk_bytes))
    try:
        started = time.monotonic()
        result = grader.grade_file(path, path.name)
        seconds = time.monotonic() - started
    finally:
        grader.close()
    return {row.exercise: (row.points, row.message, row.flags) for row in result.rows}, seconds
