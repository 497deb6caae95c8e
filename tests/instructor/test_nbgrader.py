"""nbgrader's metadata on the lessons: derived from the course's own, kept in step, and good
enough for nbgrader itself to generate and autograde two lessons.

The last test installs nbgrader in its own virtual environment (``build/nbgrader-venv``, kept
between runs and rebuilt when NBGRADER or constraints.txt changes), never in the course's
.venv, and points nbgrader's ``python3`` kernel at the course's interpreter, as an instructor
whose nbgrader lives elsewhere would.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from coursekit.__main__ import main
from coursekit.instructor.cells import LessonFormatError
from coursekit.instructor.nbgrader import SCHEMA_VERSION, out_of_step, sync_files, synced
from coursekit.instructor.syllabus import load_syllabus
from tests.instructor import fake_lesson

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NBGRADER = "nbgrader==0.9.6"
NBGRADER_VENV = ROOT / "build" / "nbgrader-venv"
#: Two lessons, one NumPy and one PyTorch, autograded by nbgrader itself.
GRADED = ("01_gradient_descent.ipynb", "06_pytorch_linear_regression.ipynb")


def _by_id(nb: nbformat.NotebookNode) -> dict[str, dict]:
    return {cell.id: cell.metadata.get("nbgrader") for cell in nb.cells}


def test_each_exercise_cell_gets_nbgraders_metadata_next_to_the_courses():
    nb = synced(fake_lesson.instructor_notebook(), path="99_fake.ipynb")
    meta = _by_id(nb)
    common = {"schema_version": SCHEMA_VERSION, "task": False}
    assert meta["99-double-solution"] == {
        **common, "grade": False, "grade_id": "99-double-solution", "locked": False,
        "solution": True}
    assert meta["99-square-check"] == {
        **common, "grade": True, "grade_id": "99-square-check", "locked": True, "points": 2,
        "solution": False}
    # A written answer is graded by hand; a hidden test is shown read-only, worth nothing.
    assert meta["why"] == {**common, "grade": True, "grade_id": "why", "locked": False,
                           "points": 0, "solution": True}
    assert meta["99-double-hidden"] == {**common, "grade": False, "grade_id": "99-double-hidden",
                                        "locked": True, "solution": False}
    assert meta["title"] is None and meta["setup"] is None and meta["end"] is None
    # The course's own metadata is left as it was.
    check = next(cell for cell in nb.cells if cell.id == "99-square-check")
    assert check.metadata["coursekit"] == {"exercise": "99-square", "role": "check", "points": 2}


def test_sync_removes_stale_entries_and_reports_what_is_out_of_step():
    nb = synced(fake_lesson.instructor_notebook(), path="99_fake.ipynb")
    assert out_of_step(nb, path="99_fake.ipynb") == []
    nb.cells[0].metadata["nbgrader"] = {"solution": True}  # the title cell is no answer
    nb.cells[6].metadata["nbgrader"]["points"] = 5  # 99-square-check, by hand
    problems = out_of_step(nb, path="99_fake.ipynb")
    assert len(problems) == 2 and "cell 1" in problems[0] and "99-square-check" in problems[1]
    again = synced(nb, path="99_fake.ipynb")
    assert "nbgrader" not in again.cells[0].metadata
    assert again.cells[6].metadata["nbgrader"]["points"] == 2


def test_a_malformed_lesson_is_refused():
    nb = fake_lesson.instructor_notebook()
    nb.cells[3].metadata["coursekit"]["points"] = 0
    with pytest.raises(LessonFormatError, match="positive integer"):
        synced(nb, path="99_fake.ipynb")


def test_the_command_writes_only_metadata_and_check_mode_reports(tmp_path, capsys):
    path = tmp_path / fake_lesson.LESSON
    nbformat.write(fake_lesson.instructor_notebook(), path)
    before = nbformat.read(path, as_version=4)
    assert main(["nbgrader-sync", "--check", str(path)]) == 1
    assert "out of step" in capsys.readouterr().err
    assert main(["nbgrader-sync", str(path)]) == 0
    after = nbformat.read(path, as_version=4)
    for old, new in zip(before.cells, after.cells, strict=True):
        assert old.source == new.source and old.get("outputs") == new.get("outputs")
        assert {k: v for k, v in new.metadata.items() if k != "nbgrader"} == old.metadata
    assert main(["nbgrader-sync", "--check", str(path)]) == 0
    assert sync_files([path]) == []  # in step: not rewritten


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem for path in LESSONS])
def test_every_lesson_carries_nbgraders_metadata_in_step(lesson):
    nb = nbformat.read(lesson, as_version=4)
    problems = out_of_step(nb, path=str(lesson.relative_to(ROOT)))
    assert not problems, (
        "nbgrader metadata out of step (never edit it by hand): run "
        f"`.venv/bin/python -m coursekit nbgrader-sync notebooks/*.ipynb`; {problems}")
    graded = [cell.metadata["nbgrader"] for cell in nb.cells
              if cell.metadata.get("nbgrader", {}).get("grade")]
    syllabus = load_syllabus(ROOT / "syllabus.toml").lesson(lesson.name)
    assert sum(meta["points"] for meta in graded) == sum(e.points for e in syllabus.exercises)


# --- nbgrader itself, in its own environment -------------------------------------------------

def _nbgrader_venv() -> Path:
    """build/nbgrader-venv with NBGRADER installed at the lock's versions where they overlap."""
    lock = (ROOT / "constraints.txt").read_bytes()
    key = hashlib.sha256(NBGRADER.encode() + sys.version.encode() + lock).hexdigest()
    stamp = NBGRADER_VENV / ".coursekit-stamp"
    python = NBGRADER_VENV / "bin" / "python"
    if stamp.is_file() and stamp.read_text() == key and python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", NBGRADER_VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-c", ROOT / "constraints.txt", NBGRADER], check=True, timeout=900)
    stamp.write_text(key)
    return python


def _run(python: Path, course: Path, env: dict[str, str], *args: str) -> None:
    result = subprocess.run([python, "-m", "nbgrader", *args], cwd=course, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)}:\n{result.stdout}{result.stderr}"


SCORES = """\
import json, sys
from nbgrader.api import Gradebook
with Gradebook("sqlite:///gradebook.db") as gb:
    out = {}
    for student in ("solved", "untouched"):
        for nb in gb.find_submission("course", student).notebooks:
            out[f"{student}/{nb.name}"] = [nb.score, nb.max_score]
json.dump(out, sys.stdout)
"""


@pytest.mark.slow
def test_nbgrader_generates_and_autogrades_two_lessons(tmp_path):
    python = _nbgrader_venv()
    course = tmp_path / "course"
    source = course / "source" / "course"
    source.mkdir(parents=True)
    for name in GRADED:
        (source / name).write_bytes((ROOT / "notebooks" / name).read_bytes())
    (course / "nbgrader_config.py").write_text(textwrap.dedent("""\
        c = get_config()
        c.CourseDirectory.course_id = "nn-from-scratch"
        c.ExecutePreprocessor.timeout = 600
        """))
    # nbgrader's "python3" kernel is the course's interpreter, where coursekit is installed.
    kernel = tmp_path / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (course)", "language": "python"}))
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "jupyter"),
           # nbgrader runs its own tools (alembic) from its environment's bin/.
           "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")}

    _run(python, course, env, "generate_assignment", "course", "--create")
    for name in GRADED:
        release = nbformat.read(course / "release" / "course" / name, as_version=4)
        text = "\n".join(cell.source for cell in release.cells)
        assert "BEGIN SOLUTION" not in text and "raise NotImplementedError" in text
        solved = course / "submitted" / "solved" / "course" / name
        untouched = course / "submitted" / "untouched" / "course" / name
        solved.parent.mkdir(parents=True, exist_ok=True)
        untouched.parent.mkdir(parents=True, exist_ok=True)
        solved.write_bytes((ROOT / "notebooks" / name).read_bytes())
        nbformat.write(release, untouched)
    _run(python, course, env, "autograde", "course", "--create")

    scores = json.loads(subprocess.run([python, "-c", SCORES], cwd=course, env=env, check=True,
                                       capture_output=True, text=True).stdout)
    syllabus = load_syllabus(ROOT / "syllabus.toml")
    for name in GRADED:
        maximum = sum(e.points for e in syllabus.lesson(name).exercises)
        stem = Path(name).stem
        assert scores[f"solved/{stem}"] == [maximum, maximum]
        assert scores[f"untouched/{stem}"] == [0, maximum]
