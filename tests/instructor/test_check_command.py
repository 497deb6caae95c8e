"""`python -m coursekit check`: a student's own score, computed as grading would."""

from __future__ import annotations

import nbformat

from coursekit.__main__ import main
from coursekit.instructor.student import student_edition
from tests.instructor import fake_lesson


def test_check_prints_a_table_per_notebook(tmp_path, capsys, monkeypatch):
    lessons, syllabus = fake_lesson.write_lesson(tmp_path)
    monkeypatch.syspath_prepend(str(lessons))
    folder = tmp_path / "work"
    folder.mkdir()
    nbformat.write(fake_lesson.instructor_notebook(), folder / "99_fake.ipynb")
    nbformat.write(student_edition(fake_lesson.instructor_notebook(), path="99_fake.ipynb"),
                   folder / "99_fake (new).ipynb")
    monkeypatch.setattr("coursekit.instructor.plan.check_module",
                        lambda package, lesson: __import__("fakechecks.lesson99").lesson99)
    assert main(["check", "--lessons", str(lessons), "--syllabus", str(syllabus),
                 "--timeout", "20", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "99_fake.ipynb (99_fake.ipynb)\n  ✔ 99-double  1/1\n  ✔ 99-square  2/2\n  total 3/3" \
        in out
    assert "✘ 99-double  0/1  not implemented yet" in out and "total 0/3" in out
