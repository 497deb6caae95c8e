"""Grading: run each submitted notebook with the instructor's own checks, and score it.

For every submission the grader

1. reads the file's bytes once (it never writes to a submission or its folder);
2. works out which lesson it is (see :func:`match_lesson`);
3. builds the notebook to run: the submission's code cells in the submission's order, except
   that each check cell (found by its stable cell id ``ID-check`` or its ``coursekit``
   metadata, never by position) is replaced by the instructor's check and hidden tests,
   loaded fresh (:mod:`.kernel_check`); markdown, outputs and hidden cells of the submission
   are ignored;
4. runs it in a fresh kernel, in a temporary folder holding a copy of the lessons' data
   files, with a time limit per cell. A cell of the student's that raises does not stop the
   run (unfinished exercises raise ``NotImplementedError``); a cell that runs past the limit
   is interrupted, and if the kernel then stays stuck, or dies, everything not yet checked
   scores 0 with a message saying why.

An exercise earns its syllabus points when its check cell finishes without an error and
prints the run's secret line; otherwise 0, with the check's message. A check cell the
student deleted scores 0.
"""

from __future__ import annotations

import ast
import csv
import re
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode

import coursekit.checks
from coursekit.instructor.cells import (
    LessonFormatError,
    cell_source,
    instructor_exercises,
    role_by_id,
    role_by_metadata,
)
from coursekit.instructor.kernel_check import (
    WATCHED,
    ModuleSource,
    check_cell_source,
    guard_cell_source,
)
from coursekit.instructor.syllabus import Lesson, Syllabus

KERNEL_NAME = "python3"
CSV_FIELDS = ("submission", "lesson", "exercise", "points", "max_points", "passed", "message")
_MESSAGE_LIMIT = 400
#: The name of the error reply nbclient makes up when a cell hits its time limit.
_TIMEOUT = "CoursekitCellTimeout"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class InstructorCheck:
    """What the grader runs for one exercise, taken from the instructor's notebook."""

    exercise: str
    points: int
    check: str
    hidden: tuple[str, ...]


@dataclass(frozen=True)
class LessonPlan:
    """Everything needed to grade submissions of one lesson."""

    lesson: Lesson
    bindings: str
    checks: tuple[InstructorCheck, ...]
    imports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """One line of ``grades.csv``: one exercise of one submission."""

    submission: str
    lesson: str
    exercise: str
    points: int
    max_points: int
    passed: bool
    message: str


@dataclass
class SubmissionResult:
    """The grading of one submission."""

    submission: str
    lesson: str
    matched_by: str
    rows: list[Row] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Points earned."""
        return sum(row.points for row in self.rows)

    @property
    def max_points(self) -> int:
        """Points available."""
        return sum(row.max_points for row in self.rows)


def _python(source: str) -> str:
    """Plain Python for IPython source (``%matplotlib inline`` becomes a function call)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def check_package_sources(package: str, folder: Path) -> dict[str, ModuleSource]:
    """Module name -> (file, is package, source) for every ``.py`` file of a check package."""
    sources: dict[str, ModuleSource] = {}
    folder = Path(folder).resolve()
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(folder).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join([package, *parts])
        sources[name] = (str(path), is_package, path.read_text(encoding="utf-8"))
    if package not in sources:
        raise ValueError(f"{folder} has no __init__.py: not the check package {package}")
    return sources


def check_imports(nb: NotebookNode, package: str) -> str:
    """The top-level imports of ``package`` in the code cells of ``nb``, one per line."""
    return "\n".join(top_level_imports(nb, (package,)))


def top_level_imports(nb: NotebookNode, packages: Sequence[str]) -> list[str]:
    """The top-level import statements of ``nb``'s code cells that import from ``packages``
    (a package name or a dotted prefix), without repeats."""
    lines: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_python(cell_source(cell)))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            if any(name == package or name.startswith(package + ".")
                   for name in names for package in packages):
                line = ast.unparse(node)
                if line not in lines:
                    lines.append(line)
    return lines


def lesson_plan(lesson: Lesson, notebook: Path, *, package: str = "coursekit.checks") -> LessonPlan:
    """Read the instructor's ``notebook`` of ``lesson`` into a :class:`LessonPlan`.

    Raises
    ------
    LessonFormatError
        When the notebook's exercises or points disagree with the syllabus.
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
    checks = tuple(
        InstructorCheck(
            exercise=item.id,
            points=item.points,
            check=_python(cell_source(nb.cells[found[item.id].check[0]])),
            hidden=tuple(_python(cell_source(nb.cells[i])) for i in found[item.id].hidden),
        )
        for item in lesson.exercises
    )
    return LessonPlan(lesson, check_imports(nb, package), checks,
                      tuple(top_level_imports(nb, WATCHED)))


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


@dataclass
class _Step:
    """A code cell to run: the student's (origin = its index) or an injected check."""

    source: str
    origin: int | None
    exercise: str | None = None


@dataclass
class _Outcome:
    passed: bool
    message: str


@dataclass
class Grader:
    """Grades submissions against the instructor's lessons.

    Parameters
    ----------
    syllabus : Syllabus
        Lessons, exercises and points.
    lessons_dir : Path
        The instructor's lessons (``notebooks/``); its non-notebook files are copied next to
        each submission when it runs.
    timeout : int
        Seconds each cell may run.
    package, package_dir :
        The check package whose modules are re-imported fresh for every check.
    probe_timeout : int
        Seconds (at most ``timeout``) a kernel gets to answer a trivial cell after a timed-out
        cell is interrupted; if it does not, the rest of the submission is not run.
    """

    syllabus: Syllabus
    lessons_dir: Path
    timeout: int = 300
    package: str = "coursekit.checks"
    package_dir: Path = field(default_factory=lambda: Path(coursekit.checks.__file__).parent)
    probe_timeout: int = 10
    _plans: dict[str, LessonPlan] = field(default_factory=dict, init=False)
    _sources: dict[str, ModuleSource] | None = field(default=None, init=False)

    def plan(self, lesson: Lesson) -> LessonPlan:
        """The (cached) :class:`LessonPlan` of ``lesson``."""
        if lesson.notebook not in self._plans:
            notebook = Path(self.lessons_dir) / lesson.notebook
            self._plans[lesson.notebook] = lesson_plan(lesson, notebook, package=self.package)
        return self._plans[lesson.notebook]

    def sources(self) -> dict[str, ModuleSource]:
        """The check package's sources, read once, before any submission runs."""
        if self._sources is None:
            self._sources = check_package_sources(self.package, self.package_dir)
        return self._sources

    def prepare(self, lessons: Iterable[Lesson]) -> None:
        """Read every plan and the check sources up front, so an instructor-side problem
        stops the batch before any submission runs."""
        for lesson in lessons:
            self.plan(lesson)
        self.sources()

    def grade_file(self, path: Path, name: str) -> SubmissionResult:
        """Grade the submission at ``path`` (reported as ``name``); never raises for a bad
        submission, and never writes to ``path``."""
        raw = Path(path).read_bytes()
        try:
            nb = nbformat.reads(raw.decode("utf-8"), as_version=4, capture_validation_error={})
            if not isinstance(nb.get("cells"), list):
                raise ValueError("it has no list of cells")
        except Exception as exc:  # undecodable, not JSON, not a notebook
            lesson, how = match_lesson(name, None, self.syllabus)
            reason = f"not a valid notebook ({type(exc).__name__}: {_one_line(str(exc))})"
            return self._unrunnable(name, lesson, how, reason + ": nothing could be run")
        lesson, how = match_lesson(name, nb, self.syllabus)
        if lesson is None:
            return self._unrunnable(name, None, how, "")
        plan = self.plan(lesson)
        result = SubmissionResult(name, lesson.notebook, how)
        outcomes = self._run(nb, plan)
        for check in plan.checks:
            outcome = outcomes[check.exercise]
            result.rows.append(Row(
                submission=name,
                lesson=lesson.notebook,
                exercise=check.exercise,
                points=check.points if outcome.passed else 0,
                max_points=check.points,
                passed=outcome.passed,
                message=_one_line(outcome.message),
            ))
        return result

    def _unrunnable(
        self, name: str, lesson: Lesson | None, how: str, reason: str
    ) -> SubmissionResult:
        if lesson is None:
            message = ("cannot tell which lesson this is: no exercise cells of the syllabus "
                       "and no lesson number (NN_) in the file name")
            if reason:
                message = f"{reason}; {message}"
            row = Row(name, "", "", 0, 0, False, message)
            return SubmissionResult(name, "", how, [row])
        rows = [Row(name, lesson.notebook, item.id, 0, item.points, False, reason)
                for item in lesson.exercises]
        return SubmissionResult(name, lesson.notebook, how, rows)

    def _steps(
        self, nb: NotebookNode, plan: LessonPlan, nonce: str
    ) -> tuple[list[_Step], dict[str, str]]:
        """The cells to run, and a note per exercise about the submission's layout."""
        exercises = {check.exercise for check in plan.checks}
        by_exercise = {check.exercise: check for check in plan.checks}
        positions: dict[tuple[str, str], int] = {}
        steps = [_Step(guard_cell_source(imports=plan.imports, package=self.package), None)]
        sources = self.sources()
        for index, cell in enumerate(nb.cells):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            tagged = [found for found in (role_by_id(cell, exercises), role_by_metadata(cell))
                      if found is not None and found[0] in exercises]
            check_of = next((e for e, role in tagged if role == "check"), None)
            if check_of is not None:
                if (check_of, "check") not in positions:
                    positions[(check_of, "check")] = index
                    check = by_exercise[check_of]
                    steps.append(_Step(check_cell_source(
                        exercise=check_of, package=self.package, sources=sources,
                        bindings=plan.bindings, check=check.check, hidden=check.hidden,
                        nonce=nonce), index, check_of))
                continue  # the submission's own check cells never run
            if any(role == "hidden" for _, role in tagged):
                continue  # nor do hidden cells it brought along
            solution_of = next((e for e, role in tagged if role == "solution"), None)
            if solution_of is not None:
                positions.setdefault((solution_of, "solution"), index)
            steps.append(_Step(cell_source(cell), index))
        notes: dict[str, str] = {}
        for exercise in exercises:
            check_at = positions.get((exercise, "check"))
            solution_at = positions.get((exercise, "solution"))
            if check_at is None:
                notes[exercise] = (f"the check cell ({exercise}-check) was deleted from the "
                                   "submission, so this exercise cannot be checked")
            elif solution_at is None:
                notes[exercise] = f"note: the solution cell ({exercise}-solution) is missing"
            elif solution_at > check_at:
                notes[exercise] = ("note: the check cell comes before its solution cell "
                                   "(cells reordered?)")
        return steps, notes

    def _run(self, nb: NotebookNode, plan: LessonPlan) -> dict[str, _Outcome]:
        nonce = f"coursekit-grader-pass-{secrets.token_hex(16)}"
        steps, notes = self._steps(nb, plan, nonce)
        outcomes: dict[str, _Outcome] = {}
        for exercise, note in notes.items():
            if "deleted" in note:
                outcomes[exercise] = _Outcome(False, note)
        stopped = ""
        with tempfile.TemporaryDirectory(prefix="coursekit-grade-") as tmp:
            run_dir = Path(tmp)
            _copy_assets(Path(self.lessons_dir), run_dir)
            graded = nbformat.v4.new_notebook()
            graded.cells = [nbformat.v4.new_code_cell(step.source) for step in steps]
            kernel = _Kernel(graded, run_dir, self.timeout)
            try:
                with kernel.client.setup_kernel():
                    for index, (step, cell) in enumerate(zip(steps, graded.cells, strict=True)):
                        stopped, outcome = self._run_cell(kernel, cell, index, step, nonce)
                        if step.exercise is not None:
                            outcomes[step.exercise] = outcome
                        if stopped:
                            break
            except Exception as exc:  # the kernel did not start, or could not be shut down
                if not stopped:
                    stopped = f"the kernel failed: {type(exc).__name__}: {_one_line(str(exc))}"
        for check in plan.checks:
            if check.exercise not in outcomes:
                outcomes[check.exercise] = _Outcome(False, f"not checked: {stopped}")
            outcome = outcomes[check.exercise]
            note = notes.get(check.exercise)
            if note and not outcome.passed and note not in outcome.message:
                outcome.message = f"{outcome.message} ({note})"
        return outcomes

    def _run_cell(self, kernel: _Kernel, cell: NotebookNode, index: int, step: _Step,
                  nonce: str) -> tuple[str, _Outcome]:
        """Run one cell; return (why the run must stop, or "") and the cell's outcome."""
        where = f"cell {step.origin + 1}" if step.origin is not None else "a cell"
        try:
            finished = kernel.run(cell, index)
            if finished:
                return "", _judge(cell, nonce)
            if step.exercise is None:
                outcome = _Outcome(False, f"{where} ran longer than {self.timeout} s")
            else:
                outcome = _Outcome(False, f"the check ran longer than {self.timeout} s "
                                          "(an endless loop?)")
            if kernel.responds(min(self.probe_timeout, self.timeout)):
                return "", outcome
            return (f"{where} of the submission ran longer than {self.timeout} s and the "
                    "kernel did not stop when interrupted"), outcome
        except DeadKernelError:
            return (f"the kernel died while running {where} of the submission "
                    "(os._exit, a crash, or out of memory)"), _Outcome(
                        False, f"the kernel died during the check ({where})")


class _Kernel:
    """An nbclient client that interrupts a cell at its time limit and says so.

    On a timeout nbclient interrupts the kernel, waits a few seconds for the cell to wind
    down, and hands back an error reply named :data:`_TIMEOUT`, which :meth:`run` reports.
    (Catching nbclient's ``CellTimeoutError`` instead would leave its output reader for the
    dead cell running, and it swallows the next cells' outputs.)
    """

    def __init__(self, nb: NotebookNode, cwd: Path, timeout: int) -> None:
        self._reply: dict = {}
        self.client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=KERNEL_NAME,
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout={"ename": _TIMEOUT, "evalue": "", "traceback": []},
            record_timing=False,
            resources={"metadata": {"path": str(cwd)}},
            on_cell_executed=self._remember,
        )

    def _remember(self, cell: NotebookNode, cell_index: int, execute_reply: dict | None) -> None:
        self._reply = (execute_reply or {}).get("content", {})

    def run(self, cell: NotebookNode, index: int) -> bool:
        """Run ``cell``; False when it hit the time limit (it was interrupted)."""
        self._reply = {}
        self.client.execute_cell(cell, index)
        return self._reply.get("ename") != _TIMEOUT

    def responds(self, seconds: int) -> bool:
        """Whether the kernel runs a trivial cell within ``seconds`` (after an interrupt)."""
        timeout = self.client.timeout
        self.client.timeout = seconds
        try:
            return self.run(nbformat.v4.new_code_cell("pass"), 0)
        finally:
            self.client.timeout = timeout


def _judge(cell: NotebookNode, nonce: str) -> _Outcome:
    """Passed when the cell raised nothing and printed the secret line."""
    stdout = "".join(out.get("text", "") for out in cell.outputs
                     if out.get("output_type") == "stream" and out.get("name") == "stdout")
    errors = [out for out in cell.outputs if out.get("output_type") == "error"]
    shown = "\n".join(line for line in stdout.splitlines() if nonce not in line).strip()
    if errors:
        error = errors[-1]
        return _Outcome(False, _ANSI.sub("", f"{error.get('ename')}: {error.get('evalue')}"))
    if nonce not in stdout.splitlines():
        return _Outcome(False, "the check did not complete (was the kernel tampered with?)")
    return _Outcome(True, shown or "passed")


def _copy_assets(source: Path, target: Path) -> None:
    """Copy the lessons folder's data files (not notebooks, checkpoints or caches)."""
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__", ".*")
    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)


def _one_line(text: str) -> str:
    text = " / ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def find_submissions(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """``(file, name)`` for every ``.ipynb`` under ``paths`` (files or folders), sorted.

    ``name`` is the path relative to the folder given (``alice/01_gradient_descent.ipynb``);
    checkpoint folders and hidden files are skipped.
    """
    found: list[tuple[Path, str]] = []
    for root in paths:
        root = Path(root)
        if root.is_file():
            found.append((root, root.name))
            continue
        if not root.is_dir():
            raise FileNotFoundError(f"no such submission file or folder: {root}")
        for path in sorted(root.rglob("*.ipynb")):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue
            if path.is_file():
                found.append((path, relative.as_posix()))
    return found


def grade_batch(
    grader: Grader,
    submissions: Sequence[tuple[Path, str]],
    *,
    progress: Callable[[SubmissionResult], None] | None = None,
) -> list[SubmissionResult]:
    """Grade every submission; one broken submission never stops the others."""
    results = []
    for path, name in submissions:
        try:
            result = grader.grade_file(path, name)
        except LessonFormatError:
            raise  # the instructor's lesson is broken: nothing can be graded fairly
        except Exception as exc:  # a grader bug must not cost the rest of the batch
            result = SubmissionResult(name, "", "nothing", [Row(
                name, "", "", 0, 0, False,
                f"grading failed: {type(exc).__name__}: {_one_line(str(exc))}")])
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def write_csv(results: Sequence[SubmissionResult], path: Path) -> None:
    """Write ``grades.csv``: one row per (submission, exercise)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for result in results:
            for row in result.rows:
                writer.writerow([row.submission, row.lesson, row.exercise, row.points,
                                 row.max_points, "true" if row.passed else "false", row.message])


def summary(results: Sequence[SubmissionResult], *, timeout: int) -> str:
    """A readable Markdown summary: a table of totals, then each submission's exercises."""
    lines = ["# Grades", "",
             f"{len(results)} submission(s), each cell limited to {timeout} s.", "",
             "| submission | lesson | points |", "|---|---|---|"]
    for result in results:
        lines.append(f"| {result.submission} | {result.lesson or '?'} | "
                     f"{result.points} / {result.max_points} |")
    for result in results:
        lines += ["", f"## {result.submission}", "",
                  f"Lesson {result.lesson or '?'} (recognised by {result.matched_by}): "
                  f"{result.points} / {result.max_points} points.", ""]
        for row in result.rows:
            mark = "✔" if row.passed else "✘"
            label = f"{row.exercise} {row.points}/{row.max_points}" if row.exercise else "—"
            message = row.message.removeprefix(f"✔ {row.exercise}: ")
            lines.append(f"- {mark} {label}: {message}")
    return "\n".join(lines) + "\n"
