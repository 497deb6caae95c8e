"""Copy flags: solution cells that use the checks or the coursekit piece doing the same job.

Copying cannot be prevented (later lessons import coursekit's reference implementations), so
it is flagged for the instructor instead of hidden.
"""

from __future__ import annotations

import ast

from nbformat import NotebookNode

from coursekit.instructor.cells import cell_source, role_by_id, role_by_metadata
from coursekit.instructor.plan import LessonPlan

#: Largest solution cell the copy flags look into.
FLAG_SOURCE_LIMIT = 200_000


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def solution_flags(nb: NotebookNode, plan: LessonPlan, package: str) -> dict[str, str]:
    """Exercise id -> why its solution cell is flagged for the instructor (or nothing).

    A solution that imports the check package, or names the coursekit piece implementing the
    same exercise (``Exercise.implemented_by``: ``scratch.Dense`` in a Dense exercise), is
    flagged: it may be a copy rather than the student's own work.
    """
    flags: dict[str, str] = {}
    by_id = {item.id: item for item in plan.exercises}
    for cell in nb.cells:
        tagged = [found for found in (role_by_id(cell, set(by_id)), role_by_metadata(cell))
                  if found is not None and found[0] in by_id and found[1] == "solution"]
        if not tagged:
            continue
        exercise = tagged[0][0]
        source = cell_source(cell)[:FLAG_SOURCE_LIMIT]
        # Magics and shell lines blanked cheaply (IPython's own transform is slow on
        # hostile cells), so the rest parses as Python.
        plain = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                          for line in source.splitlines())
        try:
            tree = ast.parse(plain)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
                names.add(node.module)
            elif isinstance(node, ast.Attribute | ast.Name):
                dotted = _dotted(node)
                if dotted:
                    names.add(dotted)
        reasons = []
        if any(n == package or n.startswith(package + ".")
               or (n.startswith("check.") and "reference" in n) for n in names):
            reasons.append(f"uses {package}")
        if names & {"importlib", "importlib.import_module", "__import__", "exec", "eval",
                    "compile"}:
            reasons.append("imports or runs code dynamically")
        for piece in by_id[exercise].exercise.implemented_by:
            parts = piece.split(".")
            tails = {".".join(parts[i:]) for i in range(len(parts) - 1)}
            if names & tails or any(n.endswith("." + tail) for n in names for tail in tails):
                reasons.append(f"uses {piece}")
        if reasons:
            flags[exercise] = "; ".join(dict.fromkeys(reasons))
    return flags
