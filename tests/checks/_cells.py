"""Run a lesson's code cells with a student's version of some exercises in place."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_lesson_with(notebook: str, solutions: dict[str, str], until: str) -> dict[str, Any]:
    """Run ``notebook``'s code cells in order, up to and including the cell with id ``until``,
    with the solution cells of ``solutions`` (exercise id -> source) replaced, so that the
    later cells use that version; returns the namespace. Magics are dropped, output is
    swallowed and figures are drawn off screen."""
    matplotlib.use("Agg")
    namespace: dict[str, Any] = {}
    lesson = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))
    for cell in lesson["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        meta = cell["metadata"].get("coursekit", {})
        if meta.get("role") == "solution" and meta.get("exercise") in solutions:
            source = solutions[meta["exercise"]]
        source = "\n".join(line for line in source.splitlines() if not line.startswith("%"))
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"<cell {cell['id']}>", "exec"), namespace)
        plt.close("all")
        if cell["id"] == until:
            return namespace
    raise AssertionError(f"{notebook} has no cell {until}")
