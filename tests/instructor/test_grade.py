"""Grading a batch of synthetic submissions: honest, unfinished, broken and broken-in.

One module-scoped batch runs every submission once through ``python -m coursekit grade``
(a sandbox each, two at a time); the tests then read the run folder's reports. The hostile
submissions of :mod:`tests.instructor.hostile` each try one technique; every one must score
0 and leave the lessons, the package, the virtual environment, the other submissions, the
output folder and the process table as they were.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import nbformat
import pytest

from coursekit.__main__ import main
from coursekit.instructor.plan import match_lesson
from coursekit.instructor.report import csv_cell, shown_name
from coursekit.instructor.student import student_edition
from coursekit.instructor.syllabus import load_syllabus
from tests.instructor import fake_lesson, hostile
from tests.instructor.fake_lesson import edited, moved_before, without

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (make test installs it)")

TIMEOUT = 5  # seconds per cell: the honest cells take milliseconds
NOTEBOOK_TIMEOUT = 20

LOOP_FOREVER = "def double(x):\n    while True:\n        pass"
STUCK = ("import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
         "    except BaseException:\n        pass")


def honest_and_broken() -> dict[str, nbformat.NotebookNode]:
    instructor = fake_lesson.instructor_notebook()
    student = student_edition(instructor, path="99_fake.ipynb")
    return {
        "alice/99_fake.ipynb": instructor,
        "bob/99_fake (1).ipynb": edited(instructor, "99-double-solution",
                                        "def double(x):\n    return x + x"),
        "student/99_fake.ipynb": student,
        "below_raise.ipynb": edited(student, "99-double-solution",
                                    "def double(x):\n    raise NotImplementedError\n"
                                    "    return 2 * x"),
        "deleted_check.ipynb": without(instructor, "99-double-check"),
        "reordered.ipynb": moved_before(instructor, "99-double-check", "99-double-solution"),
        "hidden_ignored.ipynb": edited(instructor, "99-double-hidden", "raise SystemExit"),
        "loops.ipynb": edited(instructor, "99-double-solution", LOOP_FOREVER),
        "stuck.ipynb": edited(instructor, "99-square-solution", STUCK),
        "crashes.ipynb": edited(instructor, "99-double-solution", "import os\nos._exit(1)"),
        "notes.ipynb": nbformat.v4.new_notebook(),
    }


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {path.relative_to(folder).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file() and not path.is_symlink()}


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) \
        if folder.exists() else []


def processes_with(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in command:
                found.append(command)
    return found


def run_grader(out: Path, lessons: Path, syllabus: Path, folder: Path, *extra: str) -> int:
    return main(["grade", "--out", str(out), "--timeout", str(TIMEOUT),
                 "--notebook-timeout", str(NOTEBOOK_TIMEOUT),
                 "--lessons", str(lessons), "--syllabus", str(syllabus),
                 "--check-package", fake_lesson.PACKAGE,
                 "--check-dir", str(lessons / fake_lesson.PACKAGE), *extra, str(folder)])


def read_run(out: Path) -> dict:
    (run,) = [path for path in out.iterdir() if path.name.startswith("grades-")]
    with open(run / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {"run": run, "rows": rows, "summary": (run / "grades.md").read_text("utf-8"),
            "csv": (run / "grades.csv").read_text("utf-8")}


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    lessons, syllabus = fake_lesson.write_lesson(root)
    folder = root / "submissions"
    home = Path.home()
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    package = Path(__import__("coursekit").__file__).parent
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    notebooks = honest_and_broken()
    notebooks.update(hostile.submissions(
        student_edition(fake_lesson.instructor_notebook(), path="99_fake.ipynb"),
        classmate=folder / "alice" / "99_fake.ipynb", lessons=lessons, site=site,
        package=package, out=root / "build", port=listener.getsockname()[1]))
    for name, nb in notebooks.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(nbformat.writes(nb), encoding="utf-8")
    (folder / "99_fake_broken.ipynb").write_bytes(b'{"cells": [{"cell_type": "code", "source')
    out = root / "build"
    out.mkdir()
    (out / "grades.csv").mkdir()  # traps left by a previous run or a hostile hand
    (out / "grades.md").symlink_to(syllabus)
    before = {"submissions": snapshot(folder), "lessons": snapshot(lessons),
              "package": snapshot(package), "site": listing(site),
              "ipython": listing(home / ".ipython"), "syllabus": syllabus.read_bytes()}
    started = time.monotonic()
    status = run_grader(out, lessons, syllabus, folder, "--jobs", "2")
    seconds = time.monotonic() - started
    time.sleep(hostile.DETACHED_DELAY + 1)  # give a detached process time to strike
    listener.close()
    after = {"submissions": snapshot(folder), "lessons": snapshot(lessons),
             "package": snapshot(package), "site": listing(site),
             "ipython": listing(home / ".ipython"), "syllabus": syllabus.read_bytes()}
    return {"status": status, **read_run(out), "before": before, "after": after,
            "out": out, "seconds": seconds, "root": root, "lessons": lessons,
            "syllabus": syllabus, "folder": folder}


def grades(batch, submission):
    """exercise -> (points, passed, message) for one submission (its name as reported)."""
    shown = csv_cell(shown_name(submission))
    return {row["exercise"]: (int(row["points"]), row["passed"] == "true", row["message"])
            for row in batch["rows"] if row["submission"] == shown}


def test_every_submission_is_graded_and_the_command_succeeds(batch):
    assert batch["status"] == 0
    assert len({row["submission"] for row in batch["rows"]}) == len(
        list(batch["folder"].rglob("*.ipynb")))
    assert list(batch["rows"][0]) == ["submission", "lesson", "exercise", "points",
                                      "max_points", "passed", "message", "flags"]


def test_honest_classmates_earn_full_points_next_to_hostile_ones(batch):
    for name in ("alice/99_fake.ipynb", "bob/99_fake (1).ipynb"):
        assert grades(batch, name) == {"99-double": (1, True, "5 cases"),
                                       "99-square": (2, True, "5 cases")}


@pytest.mark.parametrize("technique", sorted(hostile.TECHNIQUES))
def test_a_hostile_submission_earns_nothing(batch, technique):
    graded = grades(batch, hostile.file_name(technique))
    assert graded, f"{technique} was not graded"
    assert {exercise: points for exercise, (points, _, _) in graded.items()} == {
        "99-double": 0, "99-square": 0}, graded


def test_nothing_outside_the_sandbox_changed(batch):
    for what in ("submissions", "lessons", "package", "site", "ipython", "syllabus"):
        assert batch["after"][what] == batch["before"][what], what
    assert not processes_with(hostile.MARKER)
    assert sorted(p.name for p in batch["out"].iterdir() if not p.name.startswith("grades-")) \
        == ["gradebook.sqlite", "grades.csv", "grades.md"]  # the gradebook; the traps, untouched
    assert (batch["out"] / "grades.csv").is_dir()


def test_copying_the_reference_is_flagged(batch):
    rows = [row for row in batch["rows"]
            if row["submission"] == hostile.file_name("copies_reference")]
    assert rows[0]["flags"] == "uses fakechecks"
    honest = [row for row in batch["rows"] if row["submission"] == "alice/99_fake.ipynb"]
    # alice handed in the instructor's edition, as several files of this batch do: that is
    # flagged as identical to them, and nothing of hers as a use of the checks
    assert honest and all("uses" not in row["flags"] for row in honest)
    assert all(part.startswith("identical to ") for row in honest
               for part in row["flags"].split("; ") if part and part != "...")


def test_the_reports_cannot_be_forged_or_injected(batch):
    lines = batch["summary"].splitlines()
    assert not any(line.startswith("| forged") for line in lines)
    assert all(line.count("|") - line.count("\\|") in (0, 5) for line in lines
               if line.startswith("|"))
    for text in (batch["summary"], batch["csv"]):
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    rows = list(csv.reader(batch["csv"].splitlines()))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)
    assert any(row[0].startswith("'=") for row in rows[1:])


def test_a_forged_status_channel_does_not_lift_the_cell_limit(batch):
    graded = grades(batch, hostile.file_name("forges_the_status_channel"))
    for _, _, message in graded.values():  # the first forged line stops the run and voids it
        assert message.startswith("not checked: the run wrote to the grader's status channel")


def test_an_untouched_student_edition_earns_nothing(batch):
    graded = grades(batch, "student/99_fake.ipynb")
    assert [points for points, _, _ in graded.values()] == [0, 0]
    assert "not implemented yet" in graded["99-double"][2]


def test_code_below_the_stub_raise_is_named(batch):
    assert "delete that line once your code is in place (code below it never runs)" in \
        grades(batch, "below_raise.ipynb")["99-double"][2]


def test_a_deleted_check_cell_earns_nothing_and_the_rest_is_graded(batch):
    graded = grades(batch, "deleted_check.ipynb")
    assert graded["99-double"][:2] == (0, False)
    assert "the check cell (99-double-check) was deleted" in graded["99-double"][2]
    assert graded["99-square"][:2] == (2, True)


def test_reordered_cells_are_checked_where_the_submission_put_them(batch):
    graded = grades(batch, "reordered.ipynb")
    assert graded["99-double"][:2] == (0, False)
    assert "NameError" in graded["99-double"][2]
    assert "the check cell comes before its solution cell" in graded["99-double"][2]
    assert graded["99-square"][:2] == (2, True)


def test_the_submissions_hidden_cells_never_run(batch):
    assert grades(batch, "hidden_ignored.ipynb")["99-square"][:2] == (2, True)


def test_an_endless_loop_is_interrupted_and_grading_goes_on(batch):
    graded = grades(batch, "loops.ipynb")
    assert graded["99-double"] == (0, False, f"the check ran longer than {TIMEOUT} s "
                                             "(an endless loop?)")
    assert graded["99-square"][:2] == (2, True)


def test_a_loop_that_ignores_interrupts_costs_only_what_is_left(batch):
    graded = grades(batch, "stuck.ipynb")
    assert graded["99-double"][:2] == (1, True)
    assert graded["99-square"][:2] == (0, False)
    assert graded["99-square"][2].startswith("not checked: a cell ran longer than")


def test_a_crash_scores_zero_with_a_reason(batch):
    graded = grades(batch, "crashes.ipynb")
    assert [points for points, _, _ in graded.values()] == [0, 0]
    assert graded["99-square"][2].startswith("not checked: the run ended early")


def test_invalid_json_is_graded_zero_by_its_file_name(batch):
    graded = grades(batch, "99_fake_broken.ipynb")
    assert [points for points, _, _ in graded.values()] == [0, 0]
    assert graded["99-double"][2].startswith("not a valid notebook (NotJSONError")


def test_an_unrecognisable_notebook_gets_one_row_that_says_so(batch):
    assert grades(batch, "notes.ipynb") == {
        "": (0, False, "cannot tell which lesson this is: no exercise cells of the syllabus "
                       "and no lesson number (NN_) in the file name")}


def test_the_summary_totals_each_submission(batch):
    assert "| alice/99_fake.ipynb | 99_fake.ipynb | 3 / 3 |" in batch["summary"]
    assert "| stuck.ipynb | 99_fake.ipynb | 1 / 3 |" in batch["summary"]


def test_one_job_and_two_jobs_grade_alike(batch, tmp_path):
    folder = tmp_path / "subs"
    chosen = ["alice/99_fake.ipynb", "student/99_fake.ipynb", "deleted_check.ipynb",
              "reordered.ipynb"]
    for name in chosen:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(batch["folder"] / name, folder / name)
    results = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        assert run_grader(out, batch["lessons"], batch["syllabus"], folder, "--jobs", jobs) == 0
        results.append(read_run(out)["rows"])
    assert results[0] == results[1]
    assert [r for r in results[0] if r["submission"] == "alice/99_fake.ipynb"] == \
        [r for r in batch["rows"] if r["submission"] == "alice/99_fake.ipynb"]


def test_a_killed_grader_keeps_every_finished_result(batch, tmp_path):
    import subprocess

    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(batch["folder"] / "alice/99_fake.ipynb", folder / "a_99_fake.ipynb")
    slow = edited(fake_lesson.instructor_notebook(), "99-square-solution",
                  f"import time\ntime.sleep(60)  # {hostile.MARKER}")
    (folder / "b_99_fake.ipynb").write_text(nbformat.writes(slow), encoding="utf-8")
    out = tmp_path / "out"
    lessons = batch["lessons"]
    grader = subprocess.Popen(
        [sys.executable, "-m", "coursekit", "grade", "--jobs", "1", "--timeout", "90",
         "--out", str(out), "--lessons", str(lessons), "--syllabus", str(batch["syllabus"]),
         "--check-package", fake_lesson.PACKAGE, "--check-dir",
         str(lessons / fake_lesson.PACKAGE), str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    deadline = time.monotonic() + 60
    results: list[Path] = []
    while time.monotonic() < deadline and not results:
        results = list(out.glob("grades-*/results/*.json"))
        time.sleep(0.2)
    time.sleep(2)  # the slow one is running now
    grader.kill()
    grader.wait()
    time.sleep(1)
    assert len(results) == 1
    assert '"submission": "a_99_fake.ipynb"' in results[0].read_text("utf-8")
    assert '"points": 1' in results[0].read_text("utf-8")
    assert not processes_with("time.sleep(60)")


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


@pytest.mark.parametrize("technique", sorted(hostile.TECHNIQUES))
def test_every_hostile_technique_is_valid_python(technique):
    # a technique that does not even compile would score 0 without testing anything
    paths = {key: "/x" for key in ("classmate", "lessons", "site", "package", "out")}
    paths["port"] = "1"
    nb = hostile.submissions(fake_lesson.instructor_notebook(), **paths)[
        hostile.file_name(technique)]
    source = next(cell.source for cell in nb.cells if cell.get("id") == "99-double-solution")
    compile(source, technique, "exec")
