"""Run a lesson's code cells with a student's version of some exercises in place."""

from __future__ import annotations

import contextlib
import io
import json
import linecache
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

from coursekit.exercise.spec import Exercise

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_lesson(notebook: str, *, solutions: Mapping[str, str] | None = None,
               bind: Mapping[str, tuple[Any, ...]] | None = None,
               exercises: Mapping[str, Exercise] | None = None,
               until: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Run ``notebook``'s code cells in order (to the end, or up to and including the cell
    with id ``until``) as a student's version would run them; return the namespace and what
    each cell printed (cell id -> text).

    ``solutions`` replaces solution cells' sources (exercise id -> source). ``bind`` rebinds
    an exercise's names (``exercises[id].names``) to the given objects right after its
    solution cell ran, so that its check cell and every later cell use them. Magics are
    dropped, figures are drawn off screen, and each cell's source is registered with
    ``linecache`` as IPython does (``inspect.getsource`` works on what a cell defined); an
    exception in any cell propagates.
    """
    solutions, bind = solutions or {}, bind or {}
    if bind and exercises is None:
        raise ValueError("bind needs the lesson's exercises (their names)")
    matplotlib.use("Agg")
    namespace: dict[str, Any] = {}
    printed: dict[str, str] = {}
    lesson = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))
    for cell in lesson["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        meta = cell["metadata"].get("coursekit", {})
        solution_of = meta.get("exercise") if meta.get("role") == "solution" else None
        if solution_of in solutions:
            source = solutions[solution_of]
        source = "\n".join(line for line in source.splitlines() if not line.startswith("%"))
        name = f"<cell {cell['id']}>"
        # as IPython does: the cell's source in linecache, so inspect.getsource finds it
        linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown):
            exec(compile(source, name, "exec"), namespace)
        printed[cell["id"]] = shown.getvalue()
        plt.close("all")
        if solution_of in bind:
            assert exercises is not None
            names = exercises[solution_of].names
            objects = bind[solution_of]
            if len(objects) != len(names):
                raise ValueError(f"{solution_of} takes {names}, got {len(objects)} objects")
            namespace.update(zip(names, objects, strict=True))
        if cell["id"] == until:
            return namespace, printed
    if until is not None:
        raise AssertionError(f"{notebook} has no cell {until}")
    return namespace, printed


def run_lesson_with(notebook: str, solutions: dict[str, str], until: str) -> dict[str, Any]:
    """:func:`run_lesson` with solution sources replaced, up to the cell ``until``; returns the
    namespace."""
    return run_lesson(notebook, solutions=solutions, until=until)[0]
