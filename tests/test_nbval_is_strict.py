"""`make nbval` (the notebook half of `make test`) really compares outputs.

A flag switched to --nbval-lax, or a sanitizer that rewrites numbers, would turn every stored
output into decoration while the suite stays green. This runs the real target on a copy of
lesson 01 with one printed digit changed and expects it to fail on exactly that cell.
"""

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "01_gradient_descent.ipynb"


def _make_nbval(folder: Path, *notebooks: Path) -> subprocess.CompletedProcess:
    lessons = " ".join(str(n) for n in notebooks)
    # Outside the rootdir every notebook's cells would get the same node ids ("::Cell 0"),
    # and xdist would run only one of the copies: make the copies' folder the rootdir.
    env = {**os.environ, "PYTEST_ADDOPTS": f"--rootdir={folder}"}
    return subprocess.run(["make", "-s", "nbval", f"LESSONS={lessons}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_make_nbval_passes_an_untouched_copy_and_fails_a_changed_digit(tmp_path):
    # One run of the real target over two copies (one pytest, its two workers in parallel).
    untouched = tmp_path / "untouched" / LESSON.name
    untouched.parent.mkdir()
    shutil.copy(LESSON, untouched)
    nb = nbformat.read(LESSON, as_version=4)
    for cell in nb.cells:
        outputs = [o for o in cell.get("outputs", []) if o.get("name") == "stdout"]
        if outputs and "J(0.5) = 1.1667" in outputs[0].text:
            outputs[0].text = outputs[0].text.replace("1.1667", "1.1668")
            tampered_cell = cell.execution_count
            break
    else:
        pytest.fail("lesson 01 no longer prints J(0.5) = 1.1667; update this test")
    # another file name: pytest would collect two paths with the same name only once
    tampered = tmp_path / "tampered" / f"tampered_{LESSON.name}"
    tampered.parent.mkdir()
    nbformat.write(nb, tampered)

    result = _make_nbval(tmp_path, untouched, tampered)
    assert result.returncode != 0, "strict nbval accepted a changed number"
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    # nbval counts cells from 0; only the changed cell of the tampered copy fails, and every
    # cell of both copies ran
    assert len(failed) == 1 and "tampered_" in failed[0], result.stdout[-2000:]
    n_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    assert f"1 failed, {2 * n_cells - 1} passed" in result.stdout, result.stdout[-2000:]
    assert f"Cell {tampered_cell - 1}" in failed[0]
