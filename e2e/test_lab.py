"""A lesson as a student meets it: JupyterLab in Chromium, Run → Run All Cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from e2e.lab import BUILD, LabServer, RunResult, figure_count, run_all_cells, screenshot


def _run(page: Any, lab: LabServer, name: str, timeout: float) -> RunResult:
    try:
        return run_all_cells(page, lab, name, timeout=timeout)
    finally:
        # Taken whatever happened (the first thing to look at when a run fails), but an error
        # here must not hide the run's own error.
        try:
            screenshot(page, BUILD / "e2e" / f"{Path(name).stem}.png")
        except Exception as error:
            print(f"no screenshot of {name}: {error}")
        try:
            lab.close_sessions()
        except Exception as error:
            print(f"could not shut down the kernel of {name}: {error}")


def test_lesson_runs_in_jupyterlab(
    lesson: Path, page: Any, lab: LabServer, request: pytest.FixtureRequest
) -> None:
    timeout = request.config.getoption("--cell-timeout")
    result = _run(page, lab, lesson.name, timeout)
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(lesson, as_version=4).cells)
    print(f"{lesson.stem}: ran {code_cells} code cells in {result.seconds:.1f} s")

    assert not result.errors, f"{lesson.name} shows error output:\n" + "\n---\n".join(
        text[-2000:] for text in result.errors
    )
    assert len(result.prompts) == code_cells, (
        f"the page shows {len(result.prompts)} code cells, the notebook has {code_cells}"
    )
    assert result.execution_counts == list(range(1, code_cells + 1)), (
        f"not every cell ran once, in order: prompts {result.prompts}"
    )
    expected = figure_count(lesson)
    assert expected >= 1, f"{lesson.name} has no figure in its committed outputs"
    assert len(result.figures) == expected, (
        f"{len(result.figures)} figures on the page, the committed lesson has {expected}"
    )
    assert all(width > 0 for width in result.figures), (
        f"a figure did not load (natural widths {result.figures})"
    )


def test_a_failing_cell_is_caught(page: Any, lab: LabServer) -> None:
    """The checks above can fail: a cell that raises shows up as an error, later cells unrun."""
    nb = new_notebook(
        cells=[
            new_code_cell("x = 1\nprint('before', x)"),
            new_code_cell("raise ValueError('deliberate failure for the e2e self-check')"),
            new_code_cell("print('never runs')"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    name = "zz_e2e_selfcheck.ipynb"
    nbformat.write(nb, lab.root / name)

    result = _run(page, lab, name, timeout=120)

    assert len(result.errors) == 1
    assert "ValueError" in result.errors[0]
    assert "deliberate failure" in result.errors[0]
    assert result.execution_counts == [1, 2, None]
    assert result.figures == []
