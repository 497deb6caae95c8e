"""Every lesson in notebooks/ (those added later included): its student edition leaks
nothing, grading the instructor's notebook earns full points, and grading the untouched
student edition earns none.

Grading runs each lesson twice in a sandbox (the slow part), all lessons in one batch on every
core, shared by the tests through a module-scoped fixture.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit.instructor.engines import grade_batch
from coursekit.instructor.grade import Grader, SubmissionResult
from coursekit.instructor.student import student_edition
from coursekit.instructor.syllabus import load_syllabus
from tests.instructor.fake_lesson import edited
from tests.instructor.leaks import assert_no_leaks

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [path.stem for path in LESSONS]


#: Issue 24's hostile answers to behaviour checks, graded inside the sandbox: each hides its
#: defect from anything the probe could record in the kernel, and must still score 0 there,
#: by what the code computes. Lesson -> (solution cell, source, exercise, message).
HOSTILE = {
    "06_pytorch_linear_regression.ipynb": ("06-evaluate-solution", """
def evaluate(net, loader, loss_fn):  # never net.eval(); every record the model keeps wiped
    total, count = 0.0, 0
    with torch.no_grad():
        for X_batch, y_batch in loader:
            total += loss_fn(net(X_batch), y_batch).item() * len(X_batch)
            count += len(X_batch)
    for module in net.modules():
        for name in list(vars(module)):
            if isinstance(getattr(module, name), list):
                setattr(module, name, [])
    net.training = True
    return total / count
""", "06-evaluate", "that is the loss of the model in training mode"),
    "08_capstone_two_frameworks.ipynb": ("08-copy-weights-solution", """
def copy_layer(dense, linear):  # shares memory, and makes every storage address agree
    linear.weight.data = torch.from_numpy(dense.params["W"].T)
    linear.bias.data = torch.from_numpy(dense.params["b"])
    torch.Tensor.data_ptr = lambda self: 0
""", "08-copy-weights", "share memory with the NumPy arrays"),
}


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_the_student_edition_leaks_nothing(lesson):
    instructor = nbformat.read(lesson, as_version=4)
    edition = student_edition(instructor, path=str(lesson))
    nbformat.validate(edition)
    assert_no_leaks(instructor, edition)


@pytest.fixture(scope="session")
def batch(tmp_path_factory) -> dict[str, SubmissionResult]:
    """Every lesson's instructor notebook and untouched student edition, graded in one
    sandboxed batch on every core."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (make test installs it)")
    folder = tmp_path_factory.mktemp("student")
    submissions = []
    for lesson in LESSONS:
        student = folder / lesson.name
        nbformat.write(student_edition(nbformat.read(lesson, as_version=4), path=str(lesson)),
                       student)
        submissions += [(lesson, f"instructor/{lesson.name}"),
                        (student, f"student/{lesson.name}")]
        if lesson.name in HOSTILE:
            hostile = folder / f"hostile_{lesson.name}"
            cell, source, _, _ = HOSTILE[lesson.name]
            nbformat.write(edited(nbformat.read(lesson, as_version=4), cell, source), hostile)
            submissions.append((hostile, f"hostile/{lesson.name}"))
    grader = Grader(load_syllabus(ROOT / "syllabus.toml"), ROOT / "notebooks", timeout=600)
    try:
        results = grade_batch(grader, submissions, jobs=os.cpu_count() or 1)
    finally:
        grader.close()
    return {result.submission: result for result in results}


@pytest.fixture(params=LESSONS, ids=IDS)
def graded(request, batch) -> tuple[SubmissionResult, SubmissionResult]:
    name = request.param.name
    return batch[f"instructor/{name}"], batch[f"student/{name}"]


@pytest.mark.slow
def test_grading_the_instructor_notebook_gives_full_points(graded):
    instructor, _ = graded
    expected = load_syllabus(ROOT / "syllabus.toml").lesson(instructor.lesson).exercises
    assert [row.exercise for row in instructor.rows] == [item.id for item in expected]
    failed = [(row.exercise, row.message) for row in instructor.rows if not row.passed]
    assert not failed
    assert instructor.points == instructor.max_points > 0


@pytest.mark.slow
def test_grading_the_untouched_student_edition_gives_zero(graded):
    _, student = graded
    assert student.rows and student.max_points > 0
    passed = [(row.exercise, row.message) for row in student.rows if row.passed]
    assert not passed
    assert student.points == 0


@pytest.mark.slow
@pytest.mark.parametrize("lesson", sorted(HOSTILE))
def test_a_behaviour_hidden_from_the_kernel_still_scores_zero(batch, lesson):
    _, _, exercise, message = HOSTILE[lesson]
    rows = {row.exercise: row for row in batch[f"hostile/{lesson}"].rows}
    assert not rows[exercise].passed and message in rows[exercise].message, rows[exercise]
