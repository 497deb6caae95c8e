"""Grading: plan → run (sandboxed, probes only) → judge (here) → report.

For every submission the grader

1. reads the file's bytes once (it never writes to a submission or its folder) and works out
   which lesson it is (:func:`coursekit.instructor.plan.match_lesson`);
2. draws fresh inputs for every exercise, then writes a run spec into a new scratch folder:
   the submission's code cells in its own order, with each check cell (found by its stable
   id ``ID-check`` or its ``coursekit`` metadata, never by position) replaced by a *probe*
   step; the submission's own check and hidden cells never run;
3. runs it in a sandbox (:mod:`.sandbox`), where the probes write plain data;
4. judges that data here, in the grader's process, against the trusted check module read
   before any submission ran: nothing the submission prints or returns as a status counts.

An exercise earns its points when its judge passes; otherwise 0 with the judge's message.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from nbformat import NotebookNode

from coursekit.exercise.wire import decode, encode
from coursekit.instructor import sandbox
from coursekit.instructor.cells import cell_source, role_by_id, role_by_metadata
from coursekit.instructor.flags import solution_flags
from coursekit.instructor.limits import ScratchDisk, clean_leftovers
from coursekit.instructor.plan import (
    ExercisePlan,
    LessonPlan,
    build_view,
    copy_assets,
    lesson_plan,
    match_lesson,
)
from coursekit.instructor.probe_files import Unreadable, read_probe, remove_scratch
from coursekit.instructor.report import Row, SubmissionResult, clean, summary
from coursekit.instructor.runs import fingerprint
from coursekit.instructor.syllabus import Lesson, Syllabus

__all__ = ["Grader", "SubmissionResult", "Row", "find_submissions", "match_lesson", "summary"]

#: Largest submission file the grader opens.
SUBMISSION_LIMIT = 20 * 1024**2


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
    package : str
        The trusted check package (``coursekit.checks``), imported here and stubbed in the
        sandbox.
    package_dir : Path or None
        Its folder, when it is not inside coursekit (a check package kept with the lessons).
    sandboxed : bool
        Run each submission in bubblewrap (False only for trusted submissions).
    limits : sandbox.Limits or None
        Memory, processes, output and per-notebook time (the cell limit is ``timeout``).
    """

    syllabus: Syllabus
    lessons_dir: Path
    timeout: int = 300
    package: str = "coursekit.checks"
    package_dir: Path | None = None
    sandboxed: bool = True
    limits: sandbox.Limits | None = None
    _plans: dict[str, LessonPlan] = field(default_factory=dict, init=False)
    _workspace: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)

    def plan(self, lesson: Lesson) -> LessonPlan:
        """The (cached) :class:`LessonPlan` of ``lesson``."""
        if lesson.notebook not in self._plans:
            notebook = Path(self.lessons_dir) / lesson.notebook
            self._plans[lesson.notebook] = lesson_plan(lesson, notebook, package=self.package)
        return self._plans[lesson.notebook]

    def prepare(self, lessons: Iterable[Lesson] | None = None) -> None:
        """Read every instructor input (all lessons by default) and build the sandbox's view
        of coursekit, before any submission runs; an instructor-side problem stops here."""
        if self.sandboxed and sandbox.bubblewrap() is None:
            raise RuntimeError(sandbox.INSTALL_HINT)
        for lesson in self.syllabus.lessons if lessons is None else lessons:
            self.plan(lesson)
        if self._workspace is None:
            clean_leftovers()
            self._workspace = tempfile.TemporaryDirectory(
                prefix=f"coursekit-grader-pid{os.getpid()}-")
            root = Path(self._workspace.name)
            build_view(root / "view", package=self.package, package_dir=self.package_dir)
            copy_assets(Path(self.lessons_dir), root / "assets", exclude=self.package_dir,
                        package=self.package)

    def fingerprint(self) -> str:
        """SHA-256 of everything a verdict depends on: the syllabus, the limits, the lessons
        folder and the code of coursekit and of the check package (a run folder refuses to
        mix verdicts of two fingerprints)."""
        import importlib.util

        roots = [Path(__file__).resolve().parents[1], Path(self.lessons_dir)]
        spec = importlib.util.find_spec(self.package.split(".")[0])
        if self.package_dir is not None:
            roots.append(Path(self.package_dir))
        elif spec is not None and spec.origin is not None:
            roots.append(Path(spec.origin).parent)
        return fingerprint(roots, repr(self.syllabus), str(self.timeout), self.package,
                           repr(self.limits))

    @property
    def _root(self) -> Path:
        self.prepare()
        assert self._workspace is not None
        return Path(self._workspace.name)

    def close(self) -> None:
        """Remove the grader's private copies."""
        if self._workspace is not None:
            self._workspace.cleanup()
            self._workspace = None

    def grade_file(self, path: Path, name: str, *, seed: int | None = None) -> SubmissionResult:
        """Grade the submission at ``path`` (reported as ``name``); never raises for a bad
        submission, and never writes to ``path``. ``seed`` draws the exercises' inputs (a
        recorded one reproduces a verdict; by default fresh ones are drawn)."""
        if Path(path).stat().st_size > SUBMISSION_LIMIT:
            lesson, how = match_lesson(name, None, self.syllabus)
            return _unrunnable(name, lesson, how, f"the file is larger than "
                               f"{SUBMISSION_LIMIT // 1024**2} MiB: nothing could be run")
        return self.grade_bytes(Path(path).read_bytes(), name, seed=seed)

    def grade_bytes(self, raw: bytes, name: str, *, seed: int | None = None) -> SubmissionResult:
        """Grade a submission given as the bytes of its file (what a remote worker receives);
        the result records their SHA-256 and the seed its inputs were drawn from."""
        seed = secrets.randbits(128) if seed is None else seed
        result = self._grade_bytes(raw, name, seed)
        result.sha256 = hashlib.sha256(raw).hexdigest()
        result.seed = f"{seed:x}"
        return result

    def _grade_bytes(self, raw: bytes, name: str, seed: int) -> SubmissionResult:
        if len(raw) > SUBMISSION_LIMIT:
            lesson, how = match_lesson(name, None, self.syllabus)
            return _unrunnable(name, lesson, how, f"the file is larger than "
                               f"{SUBMISSION_LIMIT // 1024**2} MiB: nothing could be run")
        try:
            nb = nbformat.reads(raw.decode("utf-8"), as_version=4, capture_validation_error={})
            if not isinstance(nb.get("cells"), list):
                raise ValueError("it has no list of cells")
        except Exception as exc:  # undecodable, not JSON, not a notebook
            lesson, how = match_lesson(name, None, self.syllabus)
            reason = f"not a valid notebook ({type(exc).__name__}: {clean(str(exc), limit=120)})"
            return _unrunnable(name, lesson, how, reason + ": nothing could be run")
        lesson, how = match_lesson(name, nb, self.syllabus)
        if lesson is None:
            return _unrunnable(name, None, how, "")
        plan = self.plan(lesson)
        verdicts = self._run(nb, plan, seed)
        flags = solution_flags(nb, plan, self.package)
        result = SubmissionResult(name, lesson.notebook, how)
        for item in plan.exercises:
            passed, message = verdicts[item.id]
            result.rows.append(Row(name, lesson.notebook, item.id,
                                   item.points if passed else 0, item.points, passed,
                                   clean(message), flags.get(item.id, "")))
        return result

    def _run(self, nb: NotebookNode, plan: LessonPlan, seed: int
             ) -> dict[str, tuple[bool, str]]:
        rng = np.random.default_rng(seed)
        inputs = {item.id: decode(*encode(item.exercise.inputs(rng))) for item in plan.exercises}
        steps, notes = _steps(nb, plan)
        verdicts: dict[str, tuple[bool, str]] = {}
        tmp = Path(tempfile.mkdtemp(prefix=f"coursekit-submission-pid{os.getpid()}-"))
        limits = self.limits or sandbox.Limits()
        limits = sandbox.Limits(**{**limits.__dict__, "cell_seconds": float(self.timeout)})
        scratch = tmp / "run"
        scratch.mkdir()
        disk = ScratchDisk(scratch, limits.disk_bytes if self.sandboxed else 0)
        try:
            shutil.copytree(self._root / "assets", scratch, dirs_exist_ok=True)
            (scratch / "inputs").mkdir()
            for exercise_id, data in inputs.items():
                text, arrays = encode(data)
                (scratch / "inputs" / f"{exercise_id}.json").write_text(text, encoding="utf-8")
                (scratch / "inputs" / f"{exercise_id}.npz").write_bytes(arrays)
            spec = {"cell_timeout": self.timeout, "steps": steps}
            (scratch / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
            report = sandbox.run(scratch, self._root / "view", limits, steps=len(steps),
                                 sandboxed=self.sandboxed)
            probes = {item.id: _read(scratch, item.id) for item in plan.exercises}
        finally:
            disk.release()
            remove_scratch(tmp)
        for item in plan.exercises:
            if report.forged:  # a forged step line voids the run: its probes are suspect
                verdicts[item.id] = (False, f"not checked: {report.stopped}")
                continue
            if item.id in notes and notes[item.id][0]:
                verdicts[item.id] = (False, notes[item.id][1])
                continue
            data = probes[item.id]
            if isinstance(data, Unreadable):
                verdicts[item.id] = (False, f"not checked: {data}")
                continue
            if data is None:
                why = report.stopped or "the check did not run"
                verdicts[item.id] = (False, f"not checked: {why}")
                continue
            passed, message = item.exercise.verdict(inputs[item.id], data)
            note = notes.get(item.id, (False, ""))[1]
            if note and not passed:
                message = f"{message} ({note})"
            verdicts[item.id] = (passed, message)
        return verdicts


def _read(scratch: Path, exercise: str) -> object | None:
    """:func:`read_probe`, any surprise in the scratch folder costing only that exercise."""
    try:
        return read_probe(scratch, exercise)
    except Exception as exc:  # noqa: BLE001 - the folder belonged to the submission
        return Unreadable(f"probes/{exercise}.json could not be read ({type(exc).__name__})")


def _steps(nb: NotebookNode, plan: LessonPlan
           ) -> tuple[list[dict[str, object]], dict[str, tuple[bool, str]]]:
    """The run's steps, and per exercise (fatal?, note) about the submission's layout."""
    by_id = {item.id: item for item in plan.exercises}
    steps: list[dict[str, object]] = []
    checked: set[str] = set()
    solutions: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        tagged = [found for found in (role_by_id(cell, set(by_id)), role_by_metadata(cell))
                  if found is not None and found[0] in by_id]
        check_of = next((e for e, role in tagged if role == "check"), None)
        if check_of is not None:
            if check_of not in checked:
                checked.add(check_of)
                steps.append(_probe_step(by_id[check_of], before_solution=check_of
                                         not in solutions))
            continue  # the submission's own check cells never run
        if any(role == "hidden" for _, role in tagged):
            continue
        for exercise, role in tagged:
            if role == "solution":
                solutions.setdefault(exercise, index)
        steps.append({"kind": "code", "source": cell_source(cell)})
    notes: dict[str, tuple[bool, str]] = {}
    for item in plan.exercises:
        if item.id not in checked:
            notes[item.id] = (True, f"the check cell ({item.id}-check) was deleted from the "
                                    "submission, so this exercise cannot be checked")
        elif item.id not in solutions:
            notes[item.id] = (False, f"note: the solution cell ({item.id}-solution) is missing")
        elif any(step.get("exercise") == item.id and step.get("early") for step in steps):
            notes[item.id] = (False, "note: the check cell comes before its solution cell "
                                     "(cells reordered?)")
    return steps, notes


def _probe_step(item: ExercisePlan, *, before_solution: bool) -> dict[str, object]:
    module, function = item.probe
    return {"kind": "probe", "exercise": item.id, "module": module, "function": function,
            "args": list(item.args), "kwargs": [list(pair) for pair in item.kwargs],
            "early": before_solution}


def _unrunnable(name: str, lesson: Lesson | None, how: str, reason: str) -> SubmissionResult:
    if lesson is None:
        message = ("cannot tell which lesson this is: no exercise cells of the syllabus "
                   "and no lesson number (NN_) in the file name")
        if reason:
            message = f"{reason}; {message}"
        return SubmissionResult(name, "", how, [Row(name, "", "", 0, 0, False, message)])
    rows = [Row(name, lesson.notebook, item.id, 0, item.points, False, reason)
            for item in lesson.exercises]
    return SubmissionResult(name, lesson.notebook, how, rows)


def find_submissions(paths: Sequence[Path], skipped: list[str] | None = None
                     ) -> list[tuple[Path, str]]:
    """``(file, name)`` for every ``.ipynb`` under ``paths`` (files or folders), sorted.

    ``name`` is the path relative to the folder given (``alice/01_gradient_descent.ipynb``);
    files given one by one from several folders are named relative to the folder they share
    (``submissions/*/01_gradient_descent.ipynb`` gives ``alice/01_gradient_descent.ipynb``, so
    each keeps its student), files of one folder by their own name. Jupyter's
    ``.ipynb_checkpoints`` folders are skipped; so are other hidden files and folders and
    symbolic links, whose names are added to ``skipped`` when a list is given, so the caller
    can say what it did not grade.
    """
    found: list[tuple[Path, str]] = []
    files = [Path(root) for root in paths if Path(root).is_file()]
    folders = {path.resolve().parent for path in files}
    shared = Path(os.path.commonpath(list(folders))) if len(folders) > 1 else None
    for root in paths:
        root = Path(root)
        if root.is_file():
            name = root.resolve().relative_to(shared).as_posix() if shared else root.name
            found.append((root, name))
            continue
        if not root.is_dir():
            raise FileNotFoundError(f"no such submission file or folder: {root}")
        for path in sorted(root.rglob("*.ipynb")):
            relative = path.relative_to(root)
            if ".ipynb_checkpoints" in relative.parts:
                continue
            if any(part.startswith(".") for part in relative.parts) or path.is_symlink():
                if skipped is not None:
                    skipped.append(relative.as_posix())
                continue
            if path.is_file():
                found.append((path, relative.as_posix()))
    return found
