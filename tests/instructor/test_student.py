"""Student editions of a synthetic lesson: what is stripped, what is kept, what is refused."""

import json
from pathlib import Path

import nbformat
import pytest

from coursekit.__main__ import main
from coursekit.instructor.cells import LessonFormatError
from coursekit.instructor.markers import MarkerError
from coursekit.instructor.student import student_edition, write_student_editions
from tests.instructor import fake_lesson
from tests.instructor.leaks import assert_no_leaks


@pytest.fixture()
def edition():
    return student_edition(fake_lesson.instructor_notebook(), path="notebooks/99_fake.ipynb")


def test_solution_regions_become_not_implemented_at_their_indentation(edition):
    cell = next(cell for cell in edition.cells if cell.id == "99-double-solution")
    assert cell.source == ('def double(x):\n    # YOUR CODE HERE\n'
                           '    raise NotImplementedError("99-double")')


def test_markdown_answers_become_a_placeholder(edition):
    cell = next(cell for cell in edition.cells if cell.id == "why")
    assert cell.source == "Why?\n\nYOUR ANSWER HERE"


def test_hidden_cells_outputs_counts_and_foreign_metadata_are_gone(edition):
    assert "99-double-hidden" not in [cell.id for cell in edition.cells]
    assert_no_leaks(fake_lesson.instructor_notebook(), edition)
    assert set(edition.metadata) == {"kernelspec", "coursekit"}
    assert edition.metadata["coursekit"] == {"edition": "student", "lesson": "99_fake.ipynb"}


def test_check_cells_keep_their_id_and_metadata_and_are_read_only(edition):
    cell = next(cell for cell in edition.cells if cell.id == "99-square-check")
    assert cell.source == "check.square(square)"
    assert cell.metadata == {
        "coursekit": {"exercise": "99-square", "role": "check", "points": 2},
        "editable": False,
        "deletable": False,
    }


def test_solution_cells_and_written_answers_are_editable_but_undeletable(edition):
    for cell_id in ("99-double-solution", "99-square-solution", "why"):
        cell = next(cell for cell in edition.cells if cell.id == cell_id)
        assert cell.metadata["editable"] is True and cell.metadata["deletable"] is False
    # Teaching cells stay as they were: the student may edit or delete them.
    for cell_id in ("title", "setup", "end"):
        cell = next(cell for cell in edition.cells if cell.id == cell_id)
        assert "deletable" not in cell.metadata and "editable" not in cell.metadata


def test_nbgrader_metadata_stays_in_the_instructor_notebook():
    from coursekit.instructor.nbgrader import synced

    nb = synced(fake_lesson.instructor_notebook(), path="99_fake.ipynb")
    edition = student_edition(nb, path="99_fake.ipynb")
    assert not [cell.id for cell in edition.cells if "nbgrader" in cell.metadata]


def test_the_instructor_notebook_is_left_alone():
    nb = fake_lesson.instructor_notebook()
    before = json.dumps(nb, sort_keys=True)
    student_edition(nb, path="nb")
    assert json.dumps(nb, sort_keys=True) == before


def test_attachments_are_kept_only_when_the_student_text_uses_them():
    nb = fake_lesson.instructor_notebook()
    png = {"image/png": "aGVsbG8="}
    nb.cells[0].source += "\n\n![figure](attachment:figure.png)"
    nb.cells[0].attachments = {"figure.png": png, "answer.png": png}
    why = next(cell for cell in nb.cells if cell.id == "why")
    why.source = why.source.replace(fake_lesson.ANSWER, "![a](attachment:answer.png)")
    why.attachments = {"answer.png": png}
    edition = student_edition(nb, path="nb")
    assert edition.cells[0].attachments == {"figure.png": png}
    assert "attachments" not in next(cell for cell in edition.cells if cell.id == "why")


@pytest.mark.parametrize(
    ("cell_id", "source", "complaint"),
    [
        ("99-double-solution", "def double(x):\n    return 2 * x",
         "a solution cell needs a '### BEGIN SOLUTION' region"),
        ("end", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
         "solution markers in a code cell that is not an exercise's solution cell"),
        ("99-square-solution", "def square(x):\n    ### BEGIN SOLUTION\n    return x * x",
         "without an '### END SOLUTION'"),
    ],
    ids=["solution-without-region", "stray-region", "begin-without-end"],
)
def test_malformed_lessons_are_rejected_naming_notebook_and_cell(
    tmp_path, cell_id, source, complaint
):
    lessons, _ = fake_lesson.write_lesson(tmp_path)
    path = lessons / fake_lesson.LESSON
    nbformat.write(fake_lesson.edited(nbformat.read(path, as_version=4), cell_id, source), path)
    index = [cell.id for cell in fake_lesson.instructor_notebook().cells].index(cell_id)
    with pytest.raises(MarkerError) as error:
        write_student_editions([path], tmp_path / "student")
    assert str(error.value).startswith(f"{path}, cell {index + 1} (id {cell_id})")
    assert complaint in str(error.value)


def test_one_malformed_lesson_means_nothing_is_written(tmp_path, capsys):
    lessons, _ = fake_lesson.write_lesson(tmp_path)
    good = lessons / fake_lesson.LESSON
    bad = lessons / "98_bad.ipynb"
    nb = fake_lesson.edited(nbformat.read(good, as_version=4), "end", "x = 1\n### END SOLUTION")
    nbformat.write(nb, bad)
    out = tmp_path / "build" / "student"
    assert main(["student", "--out", str(out), str(good), str(bad)]) == 1
    error = capsys.readouterr().err
    assert f"{bad}, cell 9 (id end), line 2" in error
    assert not out.exists()


def test_exercise_cells_without_their_stable_ids_are_rejected():
    nb = fake_lesson.instructor_notebook()
    nb.cells[3].id = "renamed"
    with pytest.raises(LessonFormatError, match="must have the id '99-double-check'"):
        student_edition(nb, path="nb")


def test_editions_are_never_written_into_the_lessons_folder(tmp_path):
    lessons, _ = fake_lesson.write_lesson(tmp_path)
    before = sorted(path.name for path in lessons.iterdir())
    for out in (lessons, lessons / "student"):
        with pytest.raises(ValueError, match="refusing to write student editions"):
            write_student_editions([lessons / fake_lesson.LESSON], out)
    assert sorted(path.name for path in lessons.iterdir()) == before


def test_the_command_writes_one_valid_edition_per_lesson(tmp_path, capsys):
    lessons, _ = fake_lesson.write_lesson(tmp_path)
    source = lessons / fake_lesson.LESSON
    before = source.read_bytes()
    out = tmp_path / "build" / "student"
    assert main(["student", "--out", str(out), str(source)]) == 0
    assert capsys.readouterr().out == f"wrote {(out / fake_lesson.LESSON).resolve()}\n"
    nbformat.validate(nbformat.read(out / fake_lesson.LESSON, as_version=4))
    assert source.read_bytes() == before
    assert sorted(Path(out).iterdir()) == [out / fake_lesson.LESSON]


def test_the_leak_scan_itself_catches_leaks(edition):
    instructor = fake_lesson.instructor_notebook()
    with pytest.raises(AssertionError, match="solution"):
        assert_no_leaks(instructor, instructor)
    edition.metadata["widgets"] = {"state": f"x\n    {fake_lesson.DOUBLE_SOLUTION}"}
    with pytest.raises(AssertionError, match="solution or hidden-test lines"):
        assert_no_leaks(instructor, edition)
