"""The copy flagger reads the submission's text, so it works under a budget: a solution
written to make its analysis slow or huge is flagged "not analysed", fast, never passed over
in silence and never a hang of the grader."""

from __future__ import annotations

import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from coursekit.instructor import flags, sandbox
from coursekit.instructor.plan import lesson_plan
from coursekit.instructor.syllabus import load_syllabus
from tests.instructor import fake_lesson
from tests.instructor.sandboxed import grade_one


def _solution_cell(source: str, exercise: str = "99-double") -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"coursekit": {"exercise": exercise,
                                                        "role": "solution"}})


def _chains(cells: int) -> tuple[nbformat.NotebookNode, ...]:
    """Never-run 900-deep attribute chains, distinct names, about 200 kB a cell."""
    out = []
    for cell in range(cells):
        lines = [f"    x = a{cell}_{i}" + ".b" * 900 for i in range(110)]
        out.append(_solution_cell("if False:\n" + "\n".join(lines) + "\n"))
    return tuple(out)


def _flags(tmp_path, extra=(), solution=None):
    lessons, syllabus = fake_lesson.write_lesson(tmp_path)
    if str(lessons) not in sys.path:
        sys.path.insert(0, str(lessons))
    (lesson,) = load_syllabus(syllabus).lessons
    plan = lesson_plan(lesson, lessons / fake_lesson.LESSON, package=fake_lesson.PACKAGE)
    nb = fake_lesson.instructor_notebook()
    if solution is not None:
        nb = fake_lesson.edited(nb, "99-double-solution", solution)
    nb.cells.extend(extra)
    started = time.monotonic()
    found = flags.solution_flags(nb, plan, fake_lesson.PACKAGE)
    return found, time.monotonic() - started


def test_the_flagger_in_its_child_still_flags_a_copy_and_not_an_honest_solution(tmp_path):
    found, _ = _flags(tmp_path, solution="from fakechecks.lesson99 import reference_double "
                                          "as double")
    assert found == {"99-double": "uses fakechecks"}
    assert _flags(tmp_path / "honest")[0] == {}


def test_a_solution_too_slow_to_analyse_is_flagged_not_passed(tmp_path, monkeypatch):
    monkeypatch.setattr(flags, "FLAG_CPU_SECONDS", 1)
    found, seconds = _flags(tmp_path, extra=_chains(3))
    assert found["99-double"] == flags.NOT_ANALYSED
    assert seconds < flags.FLAG_WALL_SECONDS


def test_a_solution_too_large_to_analyse_is_flagged_at_once(tmp_path):
    padding = "# " + "x" * (flags.FLAG_SOURCE_LIMIT - 3)
    extra = [_solution_cell(padding) for _ in range(flags.FLAG_INPUT_LIMIT
                                                    // flags.FLAG_SOURCE_LIMIT + 1)]
    found, seconds = _flags(tmp_path, extra=extra)
    assert found == {"99-double": flags.NOT_ANALYSED, "99-square": flags.NOT_ANALYSED}
    assert seconds < 5


def test_a_child_that_runs_out_of_memory_is_flagged_not_passed(tmp_path, monkeypatch):
    monkeypatch.setattr(flags, "FLAG_MEMORY_BYTES", 64 * 1024**2)
    found, _ = _flags(tmp_path, extra=_chains(1))
    assert found["99-double"] == flags.NOT_ANALYSED


@pytest.mark.slow
@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed")
def test_a_submission_cannot_stall_grading_through_the_flagger(tmp_path):
    # 600 kB of never-run chains in extra solution cells: minutes to analyse unbounded
    graded, seconds = grade_one(tmp_path, {}, extra_cells=_chains(3))
    assert graded["99-double"][2] == flags.NOT_ANALYSED
    assert graded["99-square"][:2] == (2, "5 cases")  # graded as usual
    assert seconds < flags.FLAG_WALL_SECONDS + 60
