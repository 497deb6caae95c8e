"""`make nbval` (the notebook half of `make test`) really compares outputs.

A flag switched to --nbval-lax, or a sanitizer that rewrites numbers, would turn every stored
output into decoration while the suite stays green. This runs the real target on a copy of
lesson 01 with one printed digit changed and expects it to fail on exactly that cell.
"""

import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "01_gradient_descent.ipynb"


def _make_nbval(notebook: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "nbval", f"LESSONS={notebook}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_changed_digit_in_a_stored_output_fails_make_nbval(tmp_path):
    nb = nbformat.read(LESSON, as_version=4)
    for cell in nb.cells:
        outputs = [o for o in cell.get("outputs", []) if o.get("name") == "stdout"]
        if outputs and "J(0.5) = 1.1667" in outputs[0].text:
            outputs[0].text = outputs[0].text.replace("1.1667", "1.1668")
            tampered_cell = cell.execution_count
            break
    else:
        pytest.fail("lesson 01 no longer prints J(0.5) = 1.1667; update this test")
    copy = tmp_path / LESSON.name
    nbformat.write(nb, copy)

    result = _make_nbval(copy)
    assert result.returncode != 0, "strict nbval accepted a changed number"
    assert f"Cell {tampered_cell - 1}" in result.stdout  # nbval counts cells from 0
    assert "1 failed" in result.stdout


@pytest.mark.slow
def test_the_untouched_copy_passes_make_nbval(tmp_path):
    copy = tmp_path / LESSON.name
    shutil.copy(LESSON, copy)
    result = _make_nbval(copy)
    assert result.returncode == 0, result.stdout[-2000:]
