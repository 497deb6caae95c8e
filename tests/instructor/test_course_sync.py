"""`coursekit sync` writes what syllabus.toml decides where it is used, and --check says what
is out of step without changing anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit.__main__ import main
from coursekit.instructor.course_sync import readme_with_map, sync_course
from coursekit.instructor.syllabus import load_syllabus

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def course(tmp_path):
    """A copy of the syllabus, lessons 01 and 02 and the README."""
    lessons = tmp_path / "notebooks"
    lessons.mkdir()
    for name in ("01_gradient_descent.ipynb", "02_linear_regression.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, lessons / name)
    text = (ROOT / "syllabus.toml").read_text()
    blocks = text.split("[[lessons]]")
    (tmp_path / "syllabus.toml").write_text("[[lessons]]".join(blocks[:3]))
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def _check_cell(path: Path, exercise: str) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    return next(cell for cell in nb.cells if cell.get("id") == f"{exercise}-check")


def test_the_course_as_committed_is_in_step():
    syllabus = load_syllabus(ROOT / "syllabus.toml")
    assert sync_course(syllabus, ROOT / "notebooks", ROOT / "README.md", check=True) == []


def test_points_changed_in_the_syllabus_reach_the_lesson_and_the_map(course, capsys):
    syllabus_path = course / "syllabus.toml"
    syllabus_path.write_text(syllabus_path.read_text().replace(
        '{ id = "01-mse-gradient", points = 2 }', '{ id = "01-mse-gradient", points = 5 }'))
    lesson = course / "notebooks" / "01_gradient_descent.ipynb"
    before = nbformat.read(lesson, as_version=4)
    args = ["sync", "--syllabus", str(syllabus_path), "--lessons", str(course / "notebooks"),
            "--readme", str(course / "README.md")]
    assert main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert "01_gradient_descent.ipynb: points of 1 check cell(s)" in err
    assert "README.md: the course map" in err
    assert nbformat.read(lesson, as_version=4) == before  # --check changes nothing

    assert main(args) == 0
    cell = _check_cell(lesson, "01-mse-gradient")
    assert cell.metadata["coursekit"]["points"] == 5
    assert cell.metadata["nbgrader"]["points"] == 5
    after = nbformat.read(lesson, as_version=4)
    for old, new in zip(before.cells, after.cells, strict=True):
        assert old.source == new.source and old.get("outputs") == new.get("outputs")
    assert "`01-mse-gradient` (5)" in (course / "README.md").read_text()
    assert main([*args, "--check"]) == 0


def test_a_readme_without_markers_is_refused():
    syllabus = load_syllabus(ROOT / "syllabus.toml")
    with pytest.raises(ValueError, match="course-map:start"):
        readme_with_map("# a README without the map\n", syllabus)
