"""Grading a batch of synthetic submissions, honest, unfinished, adversarial and broken.

One module-scoped batch runs every submission once through ``python -m coursekit grade``
(a kernel each, a few seconds in all); the tests then read grades.csv.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from coursekit.__main__ import main
from coursekit.instructor.grade import check_imports, match_lesson
from coursekit.instructor.student import student_edition
from coursekit.instructor.syllabus import load_syllabus
from tests.instructor import fake_lesson
from tests.instructor.fake_lesson import edited, moved_before, without

TIMEOUT = 5  # seconds per cell: the honest cells take milliseconds

LOOP_FOREVER = "def double(x):\n    while True:\n        pass"
STUCK = ("import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
         "    except KeyboardInterrupt:\n        pass")
REDEFINES = """\
def double(x):
    return x
check.double = lambda fn: print("✔ 99-double: 4 cases")
"""
PATCHES_MODULE = """\
import fakechecks
import fakechecks.lesson99 as m
m.square = lambda fn: print("✔ 99-square: 4 cases")
fakechecks.ExerciseFailed = type("Harmless", (Exception,), {})
def square(x):
    return x
"""
PATCHES_MATH = """\
import math
math.isclose = lambda *args, **kwargs: True
def square(x):
    return x
"""
REBINDS = """\
import sys, types
fake = types.SimpleNamespace(double=lambda fn: print("✔"), square=lambda fn: print("✔"))
check = fake
sys.modules["fakechecks.lesson99"] = fake
sys.modules["fakechecks"] = types.SimpleNamespace(lesson99=fake)
get_ipython().showtraceback = lambda *args, **kwargs: None
"""


def submissions() -> dict[str, bytes]:
    """File name -> bytes of every submission in the batch."""
    instructor = fake_lesson.instructor_notebook()
    student = student_edition(instructor, path="99_fake.ipynb")
    notebooks = {
        "99_fake (1).ipynb": instructor,
        "student/99_fake.ipynb": student,
        "always_pass.ipynb": edited(
            edited(student, "99-double-check", 'print("✔ 99-double: 4 cases")'),
            "99-square-check", "pass"),
        "redefines_check.ipynb": edited(
            edited(student, "99-double-solution", REDEFINES),
            "99-square-solution", PATCHES_MODULE),
        "rebinds_check.ipynb": edited(student, "setup", REBINDS),
        "patches_math.ipynb": edited(instructor, "99-square-solution", PATCHES_MATH),
        "deleted_check.ipynb": without(instructor, "99-double-check"),
        "reordered.ipynb": moved_before(instructor, "99-double-check", "99-double-solution"),
        "hidden_fails.ipynb": edited(
            instructor, "99-double-solution",
            "def double(x):\n    return 2 * x if abs(x) < 5 else 0"),
        "loops.ipynb": edited(instructor, "99-double-solution", LOOP_FOREVER),
        "stuck.ipynb": edited(instructor, "99-square-solution", STUCK),
        "crashes.ipynb": edited(instructor, "99-double-solution", "import os\nos._exit(1)"),
        "notes.ipynb": nbformat.v4.new_notebook(),
    }
    files = {name: nbformat.writes(nb).encode() for name, nb in notebooks.items()}
    files["99_fake_broken.ipynb"] = b'{"cells": [{"cell_type": "code", "source": "'
    return files


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {path.relative_to(folder).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    lessons, syllabus = fake_lesson.write_lesson(root)
    folder = root / "submissions"
    for name, data in submissions().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    before = snapshot(folder)
    out = root / "build"
    status = main(["grade", "--out", str(out), "--timeout", str(TIMEOUT),
                   "--lessons", str(lessons), "--syllabus", str(syllabus),
                   "--check-package", fake_lesson.PACKAGE,
                   "--check-dir", str(lessons / fake_lesson.PACKAGE), str(folder)])
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {"status": status, "rows": rows, "before": before, "after": snapshot(folder),
            "summary": (out / "grades.md").read_text(encoding="utf-8")}


def grades(batch, submission):
    """exercise -> (points, passed, message) for one submission."""
    return {row["exercise"]: (int(row["points"]), row["passed"] == "true", row["message"])
            for row in batch["rows"] if row["submission"] == submission}


def test_every_submission_is_graded_and_the_command_succeeds(batch):
    assert batch["status"] == 0
    assert {row["submission"] for row in batch["rows"]} == set(submissions())
    assert list(batch["rows"][0]) == ["submission", "lesson", "exercise", "points",
                                      "max_points", "passed", "message"]


def test_submissions_are_byte_identical_after_grading(batch):
    assert batch["after"] == batch["before"]


def test_the_instructor_notebook_under_a_renamed_file_earns_full_points(batch):
    assert grades(batch, "99_fake (1).ipynb") == {
        "99-double": (1, True, "✔ 99-double: 4 cases"),
        "99-square": (2, True, "✔ 99-square: 4 cases"),
    }


def test_an_untouched_student_edition_earns_nothing(batch):
    graded = grades(batch, "student/99_fake.ipynb")
    assert [points for points, _, _ in graded.values()] == [0, 0]
    assert "NotImplementedError: 99-double" in graded["99-double"][2]


def test_editing_check_cells_to_pass_earns_nothing(batch):
    graded = grades(batch, "always_pass.ipynb")
    assert {exercise: points for exercise, (points, _, _) in graded.items()} == {
        "99-double": 0, "99-square": 0}
    assert "NotImplementedError: 99-double" in graded["99-double"][2]


def test_redefining_the_check_functions_earns_nothing(batch):
    graded = grades(batch, "redefines_check.ipynb")
    assert graded["99-double"] == (0, False, "ExerciseFailed: ✘ 99-double: at x=1 expected 2, "
                                             "got 1")
    assert graded["99-square"][:2] == (0, False)
    assert "ExerciseFailed: ✘ 99-square" in graded["99-square"][2]


def test_rebinding_check_or_the_module_cache_or_hiding_tracebacks_earns_nothing(batch):
    graded = grades(batch, "rebinds_check.ipynb")
    assert [points for points, _, _ in graded.values()] == [0, 0]
    assert graded["99-double"][2] == "the check did not complete (was the kernel tampered with?)"


def test_replacing_a_library_function_the_checks_use_earns_nothing(batch):
    graded = grades(batch, "patches_math.ipynb")
    assert graded["99-double"][:2] == (1, True)  # checked before the patch
    assert graded["99-square"] == (0, False, "AssertionError: the submission replaced library "
                                             "functions that checks rely on: math.isclose")


def test_a_deleted_check_cell_earns_nothing_and_the_rest_is_graded(batch):
    graded = grades(batch, "deleted_check.ipynb")
    assert graded["99-double"][:2] == (0, False)
    assert "the check cell (99-double-check) was deleted" in graded["99-double"][2]
    assert graded["99-square"][:2] == (2, True)


def test_reordered_cells_are_checked_where_the_submission_put_them(batch):
    graded = grades(batch, "reordered.ipynb")
    assert graded["99-double"][:2] == (0, False)
    assert graded["99-double"][2].startswith("NameError: name 'double' is not defined")
    assert "the check cell comes before its solution cell" in graded["99-double"][2]
    assert graded["99-square"][:2] == (2, True)


def test_hidden_tests_run_after_the_check(batch):
    graded = grades(batch, "hidden_fails.ipynb")
    assert graded["99-double"] == (
        0, False, "AssertionError: hidden test 1 failed: AssertionError: hidden: double(21)")
    assert graded["99-square"][:2] == (2, True)


def test_an_endless_loop_is_interrupted_and_grading_goes_on(batch):
    graded = grades(batch, "loops.ipynb")
    assert graded["99-double"] == (0, False, f"the check ran longer than {TIMEOUT} s "
                                             "(an endless loop?)")
    assert graded["99-square"][:2] == (2, True)


def test_a_loop_that_ignores_interrupts_costs_only_what_is_left(batch):
    graded = grades(batch, "stuck.ipynb")
    assert graded["99-double"][:2] == (1, True)
    assert graded["99-square"][:2] == (0, False)
    assert graded["99-square"][2].startswith(
        f"not checked: cell 6 of the submission ran longer than {TIMEOUT} s and the kernel "
        "did not stop when interrupted")


def test_a_crashed_kernel_scores_zero_with_a_reason(batch):
    graded = grades(batch, "crashes.ipynb")
    assert [points for points, _, _ in graded.values()] == [0, 0]
    assert graded["99-square"][2].startswith(
        "not checked: the kernel died while running cell 3 of the submission")


def test_invalid_json_is_graded_zero_by_its_file_name(batch):
    graded = grades(batch, "99_fake_broken.ipynb")
    assert [points for points, _, _ in graded.values()] == [0, 0]
    assert graded["99-double"][2].startswith("not a valid notebook (NotJSONError")


def test_an_unrecognisable_notebook_gets_one_row_that_says_so(batch):
    assert grades(batch, "notes.ipynb") == {
        "": (0, False, "cannot tell which lesson this is: no exercise cells of the syllabus "
                       "and no lesson number (NN_) in the file name")}


def test_the_summary_totals_each_submission(batch):
    assert "| 99_fake (1).ipynb | 99_fake.ipynb | 3 / 3 |" in batch["summary"]
    assert "| stuck.ipynb | 99_fake.ipynb | 1 / 3 |" in batch["summary"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("99_fake (1).ipynb", "99_fake.ipynb"),
        ("alice/Copy of 99_fake.ipynb", "99_fake.ipynb"),
        ("alice_99_homework.ipynb", "99_fake.ipynb"),
        ("homework.ipynb", None),
    ],
)
def test_file_names_identify_lessons_when_the_content_cannot(tmp_path, name, expected):
    _, syllabus_path = fake_lesson.write_lesson(tmp_path)
    lesson, how = match_lesson(name, None, load_syllabus(syllabus_path))
    assert (lesson.notebook if lesson else None) == expected
    assert how == ("its file name" if expected else "nothing")


def test_exercise_cells_win_over_a_misleading_file_name(tmp_path):
    _, syllabus_path = fake_lesson.write_lesson(tmp_path)
    nb = without(fake_lesson.instructor_notebook(), "99-double-check")
    for cell in nb.cells:
        cell.metadata = {}  # only the stable cell ids are left to go by
    lesson, how = match_lesson("01_other.ipynb", nb, load_syllabus(syllabus_path))
    assert (lesson.notebook, how) == ("99_fake.ipynb", "its exercise cells")


def test_the_check_imports_of_a_lesson_are_found_past_magics():
    nb = fake_lesson.instructor_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import numpy as np\nimport fakechecks.lesson99"))
    assert check_imports(nb, "fakechecks") == (
        "from fakechecks import lesson99 as check\nimport fakechecks.lesson99")
