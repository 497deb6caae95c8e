"""The student's workspace: new lessons added, a student's file never overwritten."""

from __future__ import annotations

import nbformat

from coursekit.__main__ import main
from coursekit.instructor.workspace import sync_workspace
from tests.instructor import fake_lesson
from tests.instructor.fake_lesson import edited


def test_lessons_are_added_as_student_editions(tmp_path):
    lessons, _ = fake_lesson.write_lesson(tmp_path)
    lesson = lessons / fake_lesson.LESSON
    changes = sync_workspace([lesson], tmp_path / "ws")
    assert [(c.lesson, c.action) for c in changes] == [("99_fake.ipynb", "added")]
    text = (tmp_path / "ws" / "99_fake.ipynb").read_text()
    assert fake_lesson.DOUBLE_SOLUTION not in text and "NotImplementedError" in text
    assert [c.action for c in sync_workspace([lesson], tmp_path / "ws")] == ["current"]


def test_an_edited_file_survives_and_a_changed_lesson_is_offered_beside_it(tmp_path, capsys):
    lessons, _ = fake_lesson.write_lesson(tmp_path)
    lesson = lessons / fake_lesson.LESSON
    workspace = tmp_path / "ws"
    sync_workspace([lesson], workspace)
    mine = workspace / "99_fake.ipynb"
    mine.write_text(mine.read_text().replace("NotImplementedError", "my work"))
    before = mine.read_bytes()
    assert [c.action for c in sync_workspace([lesson], workspace)] == ["current"]
    assert mine.read_bytes() == before
    changed = edited(fake_lesson.instructor_notebook(), "end", "print('a new ending')")
    nbformat.write(changed, lesson)
    assert main(["workspace", "--out", str(workspace), str(lesson)]) == 0
    out = capsys.readouterr().out
    assert "99_fake.ipynb changed in the course: the new edition is" in out
    assert "99_fake (updated).ipynb" in out
    assert mine.read_bytes() == before
    assert "a new ending" in (workspace / "99_fake (updated).ipynb").read_text()
    sync_workspace([lesson], workspace)  # again: nothing new is written
    assert sorted(p.name for p in workspace.glob("*.ipynb")) == [
        "99_fake (updated).ipynb", "99_fake.ipynb"]


def test_a_deleted_lesson_comes_back(tmp_path):
    lessons, _ = fake_lesson.write_lesson(tmp_path)
    lesson = lessons / fake_lesson.LESSON
    sync_workspace([lesson], tmp_path / "ws")
    (tmp_path / "ws" / "99_fake.ipynb").unlink()
    assert [c.action for c in sync_workspace([lesson], tmp_path / "ws")] == ["added"]
