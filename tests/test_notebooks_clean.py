"""Every committed lesson is a clean top-to-bottom run that strict nbval can trust.

nbval executes a cell committed without outputs but compares nothing, so a notebook saved with
cleared outputs would pass silently. These tests prove each lesson was stored straight from a
run-all (``make execute``): counts 1..n, no errors, no stderr, ignored outputs backed by asserts.
"""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MARKER = re.compile(r"NBVAL_[A-Z_]+")
WHOLE_LINE_MARKER = re.compile(r"^# NBVAL_[A-Z_]+$")


def _code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_lessons():
    assert LESSONS, "no notebooks/NN_*.ipynb found"
    numbers = [p.name[:2] for p in LESSONS]
    assert len(set(numbers)) == len(numbers), f"two lessons share a number: {numbers}"


def test_no_checkpoint_folders_are_committed():
    assert not list(NOTEBOOKS.rglob(".ipynb_checkpoints"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_is_valid_nbformat_with_the_course_kernel(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_execution_counts_are_one_to_n(path):
    counts = [c.execution_count for c in _code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name} is not a clean run-all (counts {counts}): run `make execute`")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_no_errors_or_stderr_are_stored(path):
    for cell in _code_cells(path):
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {cell.execution_count} stored an error"
            assert out.get("name") != "stderr", (
                f"cell {cell.execution_count} wrote to stderr (a warning?): fix it at the source")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_the_lesson_shows_outputs(path):
    with_outputs = [c for c in _code_cells(path) if c.outputs]
    assert len(with_outputs) >= len(_code_cells(path)) // 2


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_nbval_markers_are_whole_lines_and_ignored_outputs_assert(path):
    for cell in _code_cells(path):
        lines = cell.source.splitlines()
        for line in lines:
            if MARKER.search(line):
                assert WHOLE_LINE_MARKER.match(line.strip()), (
                    f"cell {cell.execution_count}: nbval silently ignores {line.strip()!r}")
        ignored = "# NBVAL_IGNORE_OUTPUT" in (s.strip() for s in lines) or (
            "nbval-ignore-output" in cell.metadata.get("tags", []))
        if ignored:
            assert re.search(r"^\s*assert\b", cell.source, re.M), (
                f"cell {cell.execution_count} ignores its output but asserts nothing")
        assert "nbval-skip" not in cell.metadata.get("tags", [])
        assert "# NBVAL_SKIP" not in lines


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_exercise_has_a_solution_and_a_check(path):
    cells = nbformat.read(path, as_version=4).cells
    roles = {}
    for cell in cells:
        info = cell.metadata.get("coursekit")
        if info:
            roles.setdefault(info["exercise"], []).append(info["role"])
            assert info["exercise"].startswith(path.name[:2] + "-")
    assert len(roles) >= 2, f"{path.name} needs at least two exercises"
    for exercise, found in roles.items():
        assert found.count("solution") == 1 and found.count("check") == 1, (exercise, found)
        assert found.index("solution") < found.index("check"), exercise
