"""Copy flags: code that uses the checks or the coursekit piece doing an exercise's job.

Copying cannot be prevented (later lessons import coursekit's reference implementations), so
it is flagged for the instructor instead of hidden. Every code cell of the submission is read,
whole: its solution cells, and any other cell that is not one of the instructor's own (an
extra cell, an edited teaching cell), where a name the instructor's cells use is no evidence.
Flagged: importing the check package, running code dynamically, looking a name of coursekit up
by a string (``getattr(scratch, "MS" + "E")``, ``vars(scratch)``, ``"coursekit..."``), and
naming the piece that implements the exercise (``scratch.Dense`` in a Dense exercise; for a
method such as ``Value.backward``, calling ``.backward()`` on an argument the function was
given, as ``backward(root)`` calling ``root.backward()`` does). IPython
magics and shell lines are removed first (``x = %pwd`` included); a cell that is still not
Python is flagged as not analysed, never skipped.

The cells are the submission's, and parsing them can be made to cost minutes (deep
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
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from coursekit.instructor.plan import LessonPlan

#: The analysis's budget: the submission's code in all, CPU seconds, wall seconds, memory.
FLAG_INPUT_LIMIT = 4 * 1024**2
FLAG_CPU_SECONDS = 10
FLAG_WALL_SECONDS = 60
FLAG_MEMORY_BYTES = 2 * 1024**3
NOT_ANALYSED = "not analysed: too large/slow"
UNPARSABLE = "not analysed: not Python once magics are removed"
ELSEWHERE = " (outside its solution cell)"
#: Calls that look a name up by a string computed at run time.
_LOOK_UPS = {"getattr", "vars", "hasattr", "__import__"}
_TIMED = re.compile(r"^(\s*)%(?:time|timeit|prun)\b(?:\s+-\w+(?:\s+[\w.]+)?)*\s+(.*)$")
#: Calls that look up an attribute named by a string, whatever they are called on.
_INDIRECT = {"attrgetter", "methodcaller", "__getattribute__"}
_MAGIC_VALUE = re.compile(r"^(\s*[\w\s,.\[\]()*]+?=\s*)[%!].*$")


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


@dataclass
class Facts:
    """What one cell uses: dotted names, methods called on a function's own arguments (the
    objects an exercise hands over), names bound to coursekit by its imports, what it looks
    up dynamically."""

    names: set[str] = field(default_factory=set)
    methods: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    looked_up: set[str] = field(default_factory=set)
    strings: bool = False


def facts(source: str) -> Facts | str | None:
    """The :class:`Facts` of a cell; :data:`UNPARSABLE` when it is not Python once IPython's
    magics and shell lines are removed; ``None`` over the memory or recursion budget."""
    lines = []
    for line in source.splitlines():
        timed = _TIMED.match(line)
        if timed:  # %time / %timeit / %prun run the rest of the line as Python
            line = timed.group(1) + timed.group(2)
        elif line.lstrip().startswith(("%", "!")):
            line = ""
        lines.append(_MAGIC_VALUE.sub(r"\1None", line))
    try:
        tree = ast.parse("\n".join(lines))
    except (RecursionError, MemoryError):
        return None
    except (SyntaxError, ValueError):
        return UNPARSABLE
    found = Facts()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.names.add(alias.name)
                if alias.name.split(".")[0] == "coursekit":
                    found.aliases[alias.asname or "coursekit"] = \
                        alias.name if alias.asname else "coursekit"
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.names.update(f"{node.module}.{alias.name}" for alias in node.names)
            found.names.add(node.module)
            if node.module.split(".")[0] == "coursekit":
                found.aliases.update({alias.asname or alias.name: f"{node.module}.{alias.name}"
                                      for alias in node.names})
        elif isinstance(node, ast.Attribute | ast.Name):
            dotted = _dotted(node)
            if dotted:
                found.names.add(dotted)
            if isinstance(node, ast.Attribute) and node.attr in ("__dict__", "__getattribute__"):
                found.looked_up.add((_dotted(node.value) or "").split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            given = {a.arg for a in (*node.args.posonlyargs, *node.args.args,
                                     *node.args.kwonlyargs)} - {"self", "cls"}
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) \
                        and isinstance(inner.func.value, ast.Name) \
                        and inner.func.value.id in given:
                    found.methods.add(inner.func.attr)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else ""
            if called in _INDIRECT:
                first = _dotted(node.args[0]) if node.args else None
                found.looked_up.add((first or "*").split(".")[0] if called[0] == "_" else "*")
            if any(isinstance(arg, ast.Name) and arg.id == "getattr" for arg in node.args):
                found.looked_up.add("*")  # getattr handed on: reduce(getattr, ...)
            if isinstance(func, ast.Name) and func.id in _LOOK_UPS and node.args:
                found.looked_up.add((_dotted(node.args[0]) or "").split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.strings |= bool(re.match(r"coursekit(\.|$)", node.value))
    return found


def _reasons(cell: Facts, pieces: list[str], package: str, aliases: dict[str, str],
             given: set[str]) -> list[str]:
    """Why a cell with these facts is flagged for an exercise done by ``pieces``; names the
    instructor's own cells use (``given``) are no evidence. A name reached through an alias
    of coursekit (``P.train_epoch`` after ``import coursekit.pytorch as P``) counts as its
    full name too."""
    names = cell.names - given
    for name in list(names):
        root, _, rest = name.partition(".")
        if root in aliases:
            names.add(f"{aliases[root]}.{rest}" if rest else aliases[root])
    reasons = []
    if any(n == package or n.startswith(package + ".")
           or (n.startswith("check.") and "reference" in n) for n in names):
        reasons.append(f"uses {package}")
    if names & {"importlib", "importlib.import_module", "__import__", "exec", "eval",
                "compile"}:
        reasons.append("imports or runs code dynamically")
    if cell.looked_up & set(aliases) or ("*" in cell.looked_up and aliases) or cell.strings:
        reasons.append("looks coursekit names up dynamically")
    for piece in pieces:
        parts = piece.split(".")
        method = len(parts) > 2 and parts[-2][:1].isupper() and parts[-1] not in given
        tails = {".".join(parts[i:]) for i in range(len(parts) - 1)}
        if method:  # the class whose method does the work: making one is using it
            tails |= {".".join(parts[i:-1]) for i in range(len(parts) - 2)}
        if names & tails or any(n.endswith("." + tail) for n in names for tail in tails) \
                or (method and parts[-1] in cell.methods):
            reasons.append(f"uses {piece}")
    return reasons


def analyse(solutions: list[tuple[str, str]], implemented: dict[str, list[str]],
            package: str, others: Sequence[str] = (), given: Sequence[str] = ()
            ) -> dict[str, str]:
    """Exercise id -> flag, from ``(exercise, solution source)`` pairs (every solution cell
    of an exercise counts), the submission's ``other`` code cells that are not the
    instructor's (``given``), and each exercise's ``implemented_by`` pieces. No budget: see
    :func:`solution_flags`."""
    flags: dict[str, str] = {}

    def add(exercise: str, reasons: list[str]) -> None:
        found = [*flags.get(exercise, "").split("; "), *reasons]
        flags[exercise] = "; ".join(dict.fromkeys(r for r in found if r))

    given_facts = [f for f in map(facts, given) if isinstance(f, Facts)]
    given_names = set().union(*(f.names | f.methods for f in given_facts))
    cells: list[tuple[str | None, Facts | str | None]] = [
        (exercise, facts(source)) for exercise, source in solutions]
    cells += [(None, facts(source)) for source in others]
    aliases: dict[str, str] = {}
    for known in [*given_facts, *(f for _, f in cells if isinstance(f, Facts))]:
        aliases.update(known.aliases)
    for exercise, found in cells:
        targets = [exercise] if exercise is not None else list(implemented)
        for target in targets:
            if not isinstance(found, Facts):
                reasons = [NOT_ANALYSED if found is None else UNPARSABLE]
            elif exercise is not None:
                reasons = _reasons(found, implemented.get(target, []), package, aliases, set())
            else:
                reasons = _reasons(found, implemented.get(target, []), package, aliases,
                                   given_names)
            if exercise is None:
                reasons = [reason + ELSEWHERE for reason in reasons]
            add(target, reasons)
    return {key: value for key, value in flags.items() if value}


def solution_flags(nb: NotebookNode, plan: LessonPlan, package: str) -> dict[str, str]:
    """Exercise id -> why its solution cell is flagged for the instructor (or nothing).

    A solution that imports the check package, or names the coursekit piece implementing the
    same exercise (``Exercise.implemented_by``: ``scratch.Dense`` in a Dense exercise), is
    flagged: it may be a copy rather than the student's own work. Analysed in a child process
    under the budget above; over it, :data:`NOT_ANALYSED`.
    """
    from coursekit.instructor.cells import cell_source, role_by_id, role_by_metadata

    by_id = {item.id: item for item in plan.exercises}
    given = set(plan.given)
    solutions: list[tuple[str, str]] = []
    others: list[str] = []
    for cell in nb.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        tagged = [found for found in (role_by_id(cell, set(by_id)), role_by_metadata(cell))
                  if found is not None and found[0] in by_id]
        source = cell_source(cell)
        if any(role == "solution" for _, role in tagged):
            exercise = next(e for e, role in tagged if role == "solution")
            solutions.append((exercise, source))
        elif not tagged and source.strip() not in given:
            others.append(source)  # check and hidden cells never run; the given ones are ours
    if not solutions and not others:
        return {}
    implemented = {key: list(item.exercise.implemented_by) for key, item in by_id.items()}
    payload = json.dumps({"solutions": solutions, "others": others, "given": sorted(given),
                          "implemented": implemented, "package": package})
    over = {exercise: NOT_ANALYSED for exercise in by_id}
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
    sys.stdout.write(json.dumps(analyse(solutions, data["implemented"], data["package"],
                                        [str(x) for x in data["others"]],
                                        [str(x) for x in data["given"]])))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
