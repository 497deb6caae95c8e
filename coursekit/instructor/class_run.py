"""Grading a class: a run folder filled by an engine, then reports, feedback and the gradebook.

:func:`grade_class` grades what has no result yet in a run folder (a new one, a shared one of a
sharded run, or one being resumed), one shard or all; when the run is whole it writes the
class report (``grades.csv``, ``grades.md``), a feedback file per submission and the run's
rows in the SQLite gradebook. :func:`merge_shards` does the last part for a sharded run once
every shard has finished. :func:`reproduce` regrades files for an appeal with the inputs their
recorded grading drew, and says whether each verdict came out the same.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from coursekit.instructor.engines import Engine
from coursekit.instructor.feedback import write_feedback
from coursekit.instructor.files import write_new
from coursekit.instructor.grade import SUBMISSION_LIMIT, Grader
from coursekit.instructor.gradebook import record_run, several_files
from coursekit.instructor.progress import Progress
from coursekit.instructor.report import SubmissionResult, clean, md_cell, shown_name
from coursekit.instructor.runs import RunFolder, Task, plan_tasks
from coursekit.instructor.shards import Shard, finished_tasks, record_finished
from coursekit.instructor.similarity import own_code, similarity_flags, starter_cells
from coursekit.instructor.students import StudentMatcher

#: How this interpreter runs the tools, for the commands the messages suggest (a console
#: script named coursekit need not be on PATH, and PyPI has an unrelated one).
COMMAND = f"{shlex.quote(sys.executable)} -m coursekit"


@dataclass
class ClassGrading:
    """How a class is graded: the grader, the engine, who is who, where the gradebook is."""

    grader: Grader
    engine: Engine
    engine_name: str = "local"
    students: StudentMatcher = field(default_factory=StudentMatcher)
    gradebook: Path | None = None
    feedback: bool = True
    out: TextIO = field(default_factory=lambda: sys.stdout)
    progress: TextIO = field(default_factory=lambda: sys.stderr)


def grade_class(how: ClassGrading, submissions: Sequence[tuple[Path, str]], *,
                out: Path | None = None, run_dir: Path | None = None, resume: bool = False,
                shard: Shard | None = None) -> RunFolder:
    """Grade ``submissions`` into a run folder and, unless this is one shard of several, write
    the class's report, feedback and gradebook rows; return the run folder.

    The folder is ``run_dir`` when given (made if missing unless ``resume``), else a new one
    under ``out``. Only tasks without a result there are graded. Interrupted (Ctrl-C), it
    keeps what is done and says how to resume."""
    tasks = everything = plan_tasks(submissions)
    if shard is not None:
        tasks = [task for task in tasks if shard.holds(task)]
    stamp = how.grader.fingerprint()
    if run_dir is not None:
        run = RunFolder.at(run_dir, stamp, must_exist=resume)
    else:
        run = RunFolder.create(out or Path("build"), stamp)
    how = replace(how, students=_students_of(how, run))
    pending = [task for task in tasks if not run.has(task)]
    progress = Progress(len(pending), stream=how.progress, skipped=len(tasks) - len(pending))
    if len(pending) < len(tasks):
        print(f"{run.path}: {len(tasks) - len(pending)} of {len(tasks)} submission(s) already "
              f"graded; grading the {len(pending)} left", file=how.out, flush=True)

    def done(task: Task, result: SubmissionResult) -> None:
        try:
            run.add(task, result)
        except OSError as exc:  # a full disk: this one is graded again on resume
            print(f"warning: could not record {clean(shown_name(task.name))!r} "
                  f"({type(exc).__name__}); resume the run to grade it again",
                  file=sys.stderr, flush=True)
        progress.update(result)

    try:
        how.engine.run(how.grader, pending, done)
    except KeyboardInterrupt:
        progress.finish()
        again = (f"run the shard again (it keeps what is done): {COMMAND} grade --shard "
                 f"{shard} --run {run.path} ..." if shard is not None else
                 f"resume with: {COMMAND} grade --resume {run.path} ...")
        print(f"interrupted: {progress.done} of {len(pending)} graded in this session; {again} "
              "(the same options and submissions in place of ...)", file=how.out, flush=True)
        raise
    progress.finish()
    if shard is not None:
        record_finished(run.path, shard, tasks, seen=everything)
        print(f"shard {shard} finished: {len(tasks)} submission(s) in {run.path}; when every "
              f"shard has, run: {COMMAND} merge {run.path} (with the shards' options)",
              file=how.out, flush=True)
        return run
    finish(how, run, tasks)
    return run


def merge_shards(how: ClassGrading, run_dir: Path) -> RunFolder:
    """Write the report, feedback and gradebook rows of a sharded run whose shards have all
    finished (:class:`~coursekit.instructor.shards.ShardsIncomplete` otherwise)."""
    count, tasks = finished_tasks(Path(run_dir))
    run = RunFolder.at(run_dir, how.grader.fingerprint(), must_exist=True)
    how = replace(how, students=_students_of(how, run))
    missing = [task.name for task in tasks if not run.has(task)]
    if missing:
        raise ValueError(f"{len(missing)} result(s) missing from {run.path} although their "
                         f"shard finished (first: {missing[0]}): run that shard again")
    finish(how, run, tasks)
    print(f"merged {count} shard(s): {len(tasks)} submission(s)", file=how.out)
    return run


def _students_of(how: ClassGrading, run: RunFolder) -> StudentMatcher:
    """How the run tells who handed what in: recorded by its first grading (``students.json``);
    resuming or merging without ``--student-pattern`` uses the recorded one, and another way
    is refused (the gradebook would lose the students of the run's earlier results)."""
    path = run.path / "students.json"
    given = how.students.pattern
    if not path.is_file():
        try:
            write_new(path, json.dumps({"pattern": given}))
        except FileExistsError:  # another shard wrote it first
            pass
    recorded = json.loads(path.read_text(encoding="utf-8")).get("pattern")
    if recorded == given:
        return how.students
    if given is None and isinstance(recorded, str):
        print(f"{run.path} was graded with --student-pattern {recorded!r}: using it",
              file=how.out, flush=True)
        return StudentMatcher(recorded)
    was = f"--student-pattern {recorded!r}" if recorded else "a folder per student"
    raise ValueError(f"{run.path} was graded with {was}, not --student-pattern {given!r}: "
                     "resume or merge it the same way, or grade into a new run")


def finish(how: ClassGrading, run: RunFolder, tasks: Sequence[Task]) -> None:
    """Report, feedback and gradebook rows for a whole run (every task has its result)."""
    results = run.results(tasks)
    students = {task.name: how.students.student(task.name) for task in tasks}
    unmatched = {name: how.students.why_unmatched(name)
                 for name, student in students.items() if student is None}
    appendix = ""
    if unmatched:
        appendix = "\n## Not matched to a student\n\n" + "".join(
            f"- {md_cell(shown_name(name))}: {md_cell(why)}\n" for name, why in unmatched.items())
        where = "grades.md and the gradebook" if how.gradebook else "grades.md"
        print(f"warning: {len(unmatched)} submission(s) not matched to a student (graded, "
              f"listed in {where}): "
              f"{', '.join(clean(shown_name(n)) for n in list(unmatched)[:5])}"
              f"{' ...' if len(unmatched) > 5 else ''}", file=sys.stderr)
    several = {pair: files for pair, files in several_files(tasks, results, students).items()
               if len(files) > 1}
    if several:
        appendix += "\n## Several files for one lesson\n\nThe most recently modified counts.\n\n"
        appendix += "".join(
            f"- {md_cell(student)}, {md_cell(lesson)}: counted "
            f"{md_cell(shown_name(files[-1].name))}; not counted "
            f"{', '.join(md_cell(shown_name(f.name)) for f in files[:-1])}\n"
            for (student, lesson), files in several.items())
        print(f"warning: {len(several)} student(s) handed in several files for one lesson; "
              "the most recently modified counts (listed in grades.md)", file=sys.stderr)
    similar = classmates_alike(how, tasks, results)
    flagged = [_with_flag(result, similar.get(task.name, ""))
               for task, result in zip(tasks, results, strict=True)]
    if similar:
        print(f"{len(similar)} submission(s) flagged as similar to a classmate's (the flags "
              "column)", file=how.out)
    csv_path, md_path = run.write_reports(flagged, timeout=how.grader.timeout,
                                          appendix=appendix)
    print(f"wrote {csv_path} and {md_path}", file=how.out)
    if how.feedback:
        titles = {lesson.notebook: lesson.title for lesson in how.grader.syllabus.lessons}
        counted = {task.name: files[-1].name for files in several.values() for task in files}
        written = write_feedback(run.path, tasks, results, students, titles, counted)
        print(f"wrote {len(written)} feedback file(s) in {run.path / 'feedback'}",
              file=how.out)
    if how.gradebook is not None:
        record_run(how.gradebook, run.path, tasks, flagged, students, unmatched,
                   engine=how.engine_name)
        print(f"recorded the run in the gradebook {how.gradebook}", file=how.out)


def classmates_alike(how: ClassGrading, tasks: Sequence[Task],
                     results: Sequence[SubmissionResult]) -> dict[str, str]:
    """Submission name -> its similarity flag, comparing the submissions of each lesson with
    each other (:mod:`coursekit.instructor.similarity`); a file changed since it was graded,
    or too large to grade, is left out."""
    import nbformat

    from coursekit.instructor.student import student_edition

    by_lesson: dict[str, list[Task]] = {}
    for task, result in zip(tasks, results, strict=True):
        if result.lesson:
            by_lesson.setdefault(result.lesson, []).append(task)
    flags: dict[str, str] = {}
    for lesson, members in by_lesson.items():
        if len(members) < 2:
            continue
        path = Path(how.grader.lessons_dir) / lesson
        edition = student_edition(nbformat.read(path, as_version=4), path=str(path))
        starter = starter_cells(edition)
        codes = {}
        for task in members:
            try:
                if Path(task.path).stat().st_size > SUBMISSION_LIMIT:
                    continue
                raw = Path(task.path).read_bytes()
            except OSError:
                continue
            if hashlib.sha256(raw).hexdigest() == task.sha256:
                codes[task.name] = own_code(raw, starter)
        flags.update(similarity_flags(codes, starter, {t.name: how.students.student(t.name)
                                                       for t in members}))
    return flags


def _with_flag(result: SubmissionResult, flag: str) -> SubmissionResult:
    if not flag:
        return result
    rows = [replace(row, flags="; ".join(part for part in (row.flags, flag) if part))
            for row in result.rows]
    return replace(result, rows=rows)


def reproduce(how: ClassGrading, submissions: Sequence[tuple[Path, str]], recorded: Path,
              *, out: Path) -> tuple[RunFolder, list[str]]:
    """Regrade ``submissions`` with the seeds their grading in the run folder ``recorded``
    drew, into a new run folder under ``out``; return it and one line per submission saying
    whether its verdict is the one recorded. A file changed since, or never graded there, is
    refused by name (its line says so)."""
    if not (Path(recorded) / "run.json").is_file():
        raise ValueError(f"{recorded} is not a grading run (no run.json): give the run folder "
                         "the appealed file was graded in")
    by_name: dict[str, list[SubmissionResult]] = {}
    for path in sorted((Path(recorded) / "results").glob("*.json")):
        if path.is_file() and not path.is_symlink():
            result = SubmissionResult.from_json(path.read_text(encoding="utf-8"))
            by_name.setdefault(result.submission, []).append(result)
    lines: list[str] = []
    tasks: list[Task] = []
    before: dict[str, SubmissionResult] = {}
    for task in plan_tasks(submissions):
        shown = clean(shown_name(task.name))
        # The name as graded there: the same, or one that ends the file's own path
        # (submissions/alice/01.ipynb, given by itself, was graded as alice/01.ipynb; never
        # bob/01.ipynb, whatever its content).
        where = "/" + Path(task.path).resolve().as_posix()
        names = [n for n in by_name if n == task.name or where.endswith("/" + n)]
        same = [r for n in names for r in by_name[n] if r.sha256 == task.sha256 and r.seed]
        if len({r.submission for r in same}) > 1:
            lines.append(f"refused: {shown} matches several files graded there "
                         f"({', '.join(sorted({clean(r.submission) for r in same}))}): give "
                         "the submissions folder instead")
            continue
        if not same:
            if len(names) == 1:
                shown = clean(shown_name(names[0]))  # as it was graded there
            why = ("was changed since it was graded there" if names
                   else "was not graded there")
            lines.append(f"refused: {shown} {why}; nothing to reproduce")
            continue
        task = replace(task, name=same[0].submission, seed=int(same[0].seed, 16))
        before[task.name] = same[0]
        tasks.append(task)
    run = RunFolder.create(out, how.grader.fingerprint())
    recorded_run = Path(recorded) / "run.json"
    if recorded_run.is_file() and f'"{run.fingerprint}"' not in recorded_run.read_text("utf-8"):
        lines.append(f"warning: the checks, lessons or syllabus changed since {recorded} was "
                     "graded: a different verdict may come from that change")
    results: dict[str, SubmissionResult] = {}

    def done(task: Task, result: SubmissionResult) -> None:
        run.add(task, result)
        results[task.name] = result

    how.engine.run(how.grader, tasks, done)
    for task in tasks:
        old, new = before[task.name], results[task.name]
        verdicts = [(r.exercise, r.points, r.passed, r.message) for r in old.rows]
        if verdicts == [(r.exercise, r.points, r.passed, r.message) for r in new.rows]:
            lines.append(f"same verdict: {clean(shown_name(task.name))} "
                         f"{new.points}/{new.max_points} (seed {new.seed})")
        else:
            changed = [r.exercise for r, o in zip(new.rows, old.rows, strict=False)
                       if (r.points, r.passed, r.message) != (o.points, o.passed, o.message)]
            lines.append(f"different verdict: {clean(shown_name(task.name))} "
                         f"{old.points} -> {new.points} (exercises {', '.join(changed)})")
    if tasks:
        run.write_reports([results[task.name] for task in tasks], timeout=how.grader.timeout)
    return run, lines
