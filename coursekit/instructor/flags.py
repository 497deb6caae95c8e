"""Copy flags: solution cells that use the checks or the coursekit piece doing the same job.

Copying cannot be prevented (later lessons import coursekit's reference implementations), so
it is flagged for the instructor instead of hidden.

The solution cells are the submission's, and parsing them can be made to cost minutes (deep
attribute chains, huge cells), so the analysis runs in a child process under a budget: the
text it is given (:data:`FLAG_INPUT_LIMIT`), CPU seconds and memory (resource limits the
child sets on itself before it reads anything) and wall-clock seconds (the parent kills it).
Over budget, each exercise with a solution cell is flagged :data:`NOT_ANALYSED`: never
passed over in silence, never a hang. The child runs this file as a script (``python -I``),
importing nothing of coursekit.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from coursekit.instructor.plan import LessonPlan

#: Largest solution cell the copy flags look into.
FLAG_SOURCE_LIMIT = 200_000
#: The analysis's budget: solution text in all, CPU seconds, wall seconds, memory.
FLAG_INPUT_LIMIT = 4 * 1024**2
FLAG_CPU_SECONDS = 10
FLAG_WALL_SECONDS = 60
FLAG_MEMORY_BYTES = 2 * 1024**3
NOT_ANALYSED = "not analysed: too large/slow"


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _reasons(source: str, pieces: list[str], package: str) -> list[str] | None:
    """Why ``source`` is flagged; None when it could not be analysed within the memory or
    recursion budget."""
    # Magics and shell lines blanked cheaply (IPython's own transform is slow on
    # hostile cells), so the rest parses as Python.
    plain = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                      for line in source.splitlines())
    try:
        tree = ast.parse(plain)
    except (RecursionError, MemoryError):
        return None
    except (SyntaxError, ValueError):
        return []
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
    for piece in pieces:
        parts = piece.split(".")
        tails = {".".join(parts[i:]) for i in range(len(parts) - 1)}
        if names & tails or any(n.endswith("." + tail) for n in names for tail in tails):
            reasons.append(f"uses {piece}")
    return reasons


def analyse(solutions: list[tuple[str, str]], implemented: dict[str, list[str]],
            package: str) -> dict[str, str]:
    """Exercise id -> flag, from ``(exercise, solution source)`` pairs (every solution cell
    of an exercise counts) and each exercise's ``implemented_by`` pieces. No budget: see
    :func:`solution_flags`."""
    flags: dict[str, str] = {}
    for exercise, source in solutions:
        reasons = _reasons(source, implemented.get(exercise, []), package)
        if reasons is None or reasons:
            found = [*flags.get(exercise, "").split("; "), *(reasons or [NOT_ANALYSED])]
            flags[exercise] = "; ".join(dict.fromkeys(r for r in found if r))
    return flags


def solution_flags(nb: NotebookNode, plan: LessonPlan, package: str) -> dict[str, str]:
    """Exercise id -> why its solution cell is flagged for the instructor (or nothing).

    A solution that imports the check package, or names the coursekit piece implementing the
    same exercise (``Exercise.implemented_by``: ``scratch.Dense`` in a Dense exercise), is
    flagged: it may be a copy rather than the student's own work. Analysed in a child process
    under the budget above; over it, :data:`NOT_ANALYSED`.
    """
    from coursekit.instructor.cells import cell_source, role_by_id, role_by_metadata

    by_id = {item.id: item for item in plan.exercises}
    solutions: list[tuple[str, str]] = []
    for cell in nb.cells:
        tagged = [found for found in (role_by_id(cell, set(by_id)), role_by_metadata(cell))
                  if found is not None and found[0] in by_id and found[1] == "solution"]
        if tagged:
            solutions.append((tagged[0][0], cell_source(cell)[:FLAG_SOURCE_LIMIT]))
    if not solutions:
        return {}
    implemented = {key: list(item.exercise.implemented_by) for key, item in by_id.items()}
    payload = json.dumps({"solutions": solutions, "implemented": implemented,
                          "package": package})
    over = {exercise: NOT_ANALYSED for exercise, _ in solutions}
    if len(payload) > FLAG_INPUT_LIMIT:
        return over
    try:
        done = subprocess.run(
            [sys.executable, "-I", __file__, str(FLAG_CPU_SECONDS), str(FLAG_MEMORY_BYTES)],
            input=payload.encode(), capture_output=True, timeout=FLAG_WALL_SECONDS,
            check=False)
        flags = json.loads(done.stdout) if done.returncode == 0 else None
    except (subprocess.TimeoutExpired, OSError, ValueError):
        flags = None
    if not isinstance(flags, dict):
        return over
    return {str(key): str(value) for key, value in flags.items()}


def _child(argv: list[str]) -> int:
    """The analysis, in its own process: limits first, then the submission's text."""
    import resource

    cpu, memory = int(argv[0]), int(argv[1])
    for which, value in ((resource.RLIMIT_CPU, (cpu, cpu + 1)),
                         (resource.RLIMIT_AS, (memory, memory)),
                         (resource.RLIMIT_CORE, (0, 0))):
        resource.setrlimit(which, value)
    data: Any = json.loads(sys.stdin.buffer.read(FLAG_INPUT_LIMIT + 1))
    solutions = [(str(exercise), str(source)) for exercise, source in data["solutions"]]
    sys.stdout.write(json.dumps(analyse(solutions, data["implemented"], data["package"])))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
