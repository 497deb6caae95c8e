"""Grading, phase 1: read every instructor input before any submission runs.

A :class:`LessonPlan` holds, per exercise, the trusted :class:`~coursekit.exercise.spec.Exercise`
(inputs, probe, judge) and the arguments the instructor's check cell passes to it
(``check.mse_cost(cost)`` gives ``["cost"]``). :func:`build_view` writes the copy of coursekit
that the sandbox sees: the package as installed, except that the check package becomes stubs
(so a lesson's ``from coursekit.checks import lesson01 as check`` still imports, but no judge
or reference answer is there to read or call).
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType

import nbformat
from nbformat import NotebookNode

from coursekit.exercise.spec import Exercise
from coursekit.instructor.cells import (
    LessonFormatError,
    cell_source,
    instructor_exercises,
    role_by_id,
    role_by_metadata,
)
from coursekit.instructor.syllabus import Lesson, Syllabus


@dataclass(frozen=True)
class ExercisePlan:
    """One exercise as the grader runs it."""

    id: str
    points: int
    exercise: Exercise
    args: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...]

    @property
    def probe(self) -> tuple[str, str]:
        """``(module, function)`` of the probe, as the sandbox imports it."""
        return self.exercise.probe.__module__, self.exercise.probe.__qualname__


@dataclass(frozen=True)
class LessonPlan:
    """Everything needed to grade submissions of one lesson."""

    lesson: Lesson
    exercises: tuple[ExercisePlan, ...]
    #: The instructor's code cells that are not solutions (set-up, teaching, checks), as
    #: text: what every submission holds that is not the student's own work.
    given: tuple[str, ...] = ()


def python_source(source: str) -> str:
    """Plain Python for IPython source (``%matplotlib inline`` becomes a function call)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def check_call(source: str, where: str) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """``(function, args, kwargs)`` of a check cell that is one call ``check.f(a, k=b)``.

    Raises
    ------
    LessonFormatError
        When the cell is anything else (the grader must know what to pass to the probe).
    """
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError as exc:
        raise LessonFormatError(f"{where}: the check cell is not valid Python ({exc})") from None
    body = tree.body
    if (len(body) != 1 or not isinstance(body[0], ast.Expr)
            or not isinstance(body[0].value, ast.Call)
            or not isinstance(body[0].value.func, ast.Attribute)):
        raise LessonFormatError(f"{where}: a check cell must be exactly one call "
                                f"`check.<name>(...)`, got {source.strip()[:80]!r}")
    call = body[0].value
    assert isinstance(call.func, ast.Attribute)
    if any(isinstance(arg, ast.Starred) for arg in call.args) or any(
            keyword.arg is None for keyword in call.keywords):
        raise LessonFormatError(f"{where}: no *args or **kwargs in a check call")
    return (call.func.attr, tuple(ast.unparse(arg) for arg in call.args),
            tuple((str(keyword.arg), ast.unparse(keyword.value)) for keyword in call.keywords))


def check_module(package: str, lesson: Lesson) -> ModuleType:
    """The trusted check module of ``lesson`` (``coursekit.checks.lesson01``)."""
    return importlib.import_module(f"{package}.lesson{lesson.number}")


def lesson_plan(lesson: Lesson, notebook: Path, *, package: str = "coursekit.checks"
                ) -> LessonPlan:
    """Read the instructor's ``notebook`` of ``lesson`` into a :class:`LessonPlan`.

    Raises
    ------
    LessonFormatError
        When the notebook's exercises or points disagree with the syllabus, a check cell is
        not one call, or the check module has no such exercise.
    """
    nb = nbformat.read(notebook, as_version=4)
    found = instructor_exercises(nb, str(notebook))
    in_notebook = [(exercise, entry.points[0]) for exercise, entry in found.items()]
    in_syllabus = [(exercise.id, exercise.points) for exercise in lesson.exercises]
    if in_notebook != in_syllabus:
        raise LessonFormatError(
            f"{notebook}: exercises (id, points) {in_notebook} disagree with the syllabus's "
            f"{in_syllabus}; fix one of them (python -m coursekit syllabus lists every problem)"
        )
    module = check_module(package, lesson)
    registered = getattr(module, "EXERCISES", {})
    plans = []
    for item in lesson.exercises:
        where = f"{notebook}, check cell of {item.id}"
        function, args, kwargs = check_call(cell_source(nb.cells[found[item.id].check[0]]),
                                            where)
        exercise = registered.get(item.id)
        if not isinstance(exercise, Exercise):
            raise LessonFormatError(f"{where}: {module.__name__}.EXERCISES has no Exercise "
                                    f"{item.id!r}")
        if not callable(getattr(module, function, None)):
            raise LessonFormatError(f"{where}: {module.__name__} has no check {function}()")
        plans.append(ExercisePlan(item.id, item.points, exercise, args, kwargs))
    solutions = {index for entry in found.values() for index in entry.solution}
    given = tuple(cell_source(cell).strip() for index, cell in enumerate(nb.cells)
                  if cell.get("cell_type") == "code" and index not in solutions)
    return LessonPlan(lesson, tuple(plans), given)


def match_lesson(
    name: str, nb: NotebookNode | None, syllabus: Syllabus
) -> tuple[Lesson | None, str]:
    """Which lesson a submission is, and how that was decided.

    First by content: the exercise ids in the cells' ``coursekit`` metadata and in their
    stable ids (``01-mse-cost-check``), the lesson with most of them wins. Then by file name:
    a lesson's file stem anywhere in it (``01_gradient_descent (1).ipynb``,
    ``alice-01_gradient_descent.ipynb``), else a two-digit number followed by ``_``.
    """
    if nb is not None:
        known = {item.id for lesson in syllabus.lessons for item in lesson.exercises}
        votes: Counter[str] = Counter()
        for cell in nb.get("cells", []):
            claimed = {found[0] for found in (role_by_metadata(cell), role_by_id(cell, known))
                       if found is not None}
            for exercise in claimed:
                lesson = syllabus.lesson_of_exercise(exercise)
                if lesson is not None:
                    votes[lesson.notebook] += 1
        if votes:
            best = max(votes.values())
            tied = [lesson for lesson in syllabus.lessons if votes[lesson.notebook] == best]
            by_name = _match_name(name, syllabus)
            chosen = by_name if by_name in tied else tied[0]
            return chosen, "its exercise cells"
    by_name = _match_name(name, syllabus)
    return by_name, "its file name" if by_name else "nothing"


def _match_name(name: str, syllabus: Syllabus) -> Lesson | None:
    base = PurePosixPath(name).name
    for lesson in syllabus.lessons:
        if lesson.notebook.removesuffix(".ipynb") in base:
            return lesson
    number = re.search(r"(?<!\d)(\d{2})_", base)
    if number:
        for lesson in syllabus.lessons:
            if lesson.number == number.group(1):
                return lesson
    return None


# --- what the sandbox sees ------------------------------------------------------------------

_STUB = '''\
"""Stub of {name}: during grading the checks run outside this sandbox."""


def __getattr__(attribute):
    def unavailable(*args, **kwargs):
        raise RuntimeError("{name}." + attribute + " is not available while grading: "
                           "the grader runs every check itself")

    return unavailable
'''


def write_stub_package(package_dir: Path, name: str, target: Path) -> None:
    """Write stubs for every module of the package at ``package_dir`` into ``target``."""
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        relative = path.relative_to(package_dir)
        parts = [name, *relative.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(_STUB.format(name=".".join(parts)), encoding="utf-8")


def build_view(target: Path, *, package: str = "coursekit.checks",
               package_dir: Path | None = None) -> Path:
    """Copy the installed coursekit into ``target/coursekit`` with ``package`` stubbed.

    Returns the folder to put first on the sandbox's ``PYTHONPATH``.
    """
    import coursekit

    source = Path(coursekit.__file__).resolve().parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(source, target / "coursekit", ignore=ignore)
    if package.startswith("coursekit."):
        inside = target / Path(*package.split("."))
        real = package_dir or Path(importlib.import_module(package).__file__ or "").parent
        shutil.rmtree(inside)
        write_stub_package(Path(real), package, inside)
    return target


def copy_assets(source: Path, target: Path, *, exclude: Path | None,
                package: str) -> None:
    """Copy the lessons folder's data files (not notebooks, checkpoints, caches, nor the
    check package ``exclude``, which is replaced by stubs)."""
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__", ".*")
    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
    if exclude is not None:
        exclude = Path(exclude).resolve()
        try:
            relative = exclude.relative_to(Path(source).resolve())
        except ValueError:
            return
        shutil.rmtree(target / relative, ignore_errors=True)
        write_stub_package(exclude, package, target / relative)
