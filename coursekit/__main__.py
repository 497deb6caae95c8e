"""The command line: ``python -m coursekit execute|student|grade|check|workspace|syllabus``.

    coursekit execute notebooks/*.ipynb                        # regenerate stored outputs
    coursekit student --out build/student notebooks/*.ipynb   # release student editions
    coursekit grade --out build submissions/                   # grade a folder of notebooks
    coursekit merge | gradebook | batch-script  # a class: shards, LMS export, Slurm/k8s
    coursekit check workspace/01_gradient_descent.ipynb        # a student's own score
    coursekit syllabus [--map]                                 # check the syllabus; the map
    coursekit nbgrader-sync [--check] notebooks/*.ipynb        # nbgrader's cell metadata
    coursekit sync [--check]                   # points, nbgrader metadata, README map
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coursekit import runner
from coursekit.instructor import grade_cli
from coursekit.instructor.cells import LessonFormatError
from coursekit.instructor.course_sync import sync_course
from coursekit.instructor.engines import grade_batch
from coursekit.instructor.grade import Grader, find_submissions
from coursekit.instructor.nbgrader import sync_files
from coursekit.instructor.report import score_table
from coursekit.instructor.sandbox import bubblewrap
from coursekit.instructor.student import write_student_editions
from coursekit.instructor.syllabus import SyllabusError, course_map, load_syllabus, sync_problems
from coursekit.instructor.workspace import sync_workspace


def _student(args: argparse.Namespace) -> int:
    written = write_student_editions(args.notebooks, args.out)
    for path in written:
        print(f"wrote {path}")
    return 0


def _workspace(args: argparse.Namespace) -> int:
    for change in sync_workspace(args.notebooks, args.out):
        if change.action != "current" or args.verbose:
            print(change.line())
    return 0


def _check(args: argparse.Namespace) -> int:
    """Score a student's own notebooks as the grader would, and print a table per notebook."""
    syllabus = load_syllabus(args.syllabus)
    submissions = find_submissions(args.notebooks)
    if not submissions:
        print(f"error: no .ipynb files in {', '.join(map(str, args.notebooks))}",
              file=sys.stderr)
        return 2
    grader = Grader(syllabus, args.lessons, timeout=args.timeout,
                    sandboxed=bubblewrap() is not None)
    try:
        results = grade_batch(grader, submissions, jobs=1)
    finally:
        grader.close()
    for result in results:
        print(score_table(result))
    return 0


def _syllabus(args: argparse.Namespace) -> int:
    syllabus = load_syllabus(args.syllabus)
    problems = sync_problems(syllabus, args.lessons)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if args.map:
        print(course_map(syllabus), end="")
    elif not problems:
        lessons = len(syllabus.lessons)
        exercises = sum(len(lesson.exercises) for lesson in syllabus.lessons)
        print(f"{args.syllabus}: {lessons} lessons, {exercises} exercises, in step with "
              f"{args.lessons}")
    return 1 if problems else 0


def _nbgrader_sync(args: argparse.Namespace) -> int:
    changed = sync_files(args.notebooks, check=args.check)
    for path in changed:
        if args.check:
            print(f"problem: {path}: nbgrader metadata out of step; run "
                  "`python -m coursekit nbgrader-sync` on it", file=sys.stderr)
        else:
            print(f"synced {path}")
    return 1 if args.check and changed else 0


def _sync(args: argparse.Namespace) -> int:
    changed = sync_course(load_syllabus(args.syllabus), args.lessons, args.readme,
                          check=args.check)
    for line in changed:
        if args.check:
            print(f"problem: out of step with {args.syllabus}: {line}; run "
                  "`.venv/bin/python -m coursekit sync` (or make sync) and commit", file=sys.stderr)
        else:
            print(f"synced {line}")
    return 1 if args.check and changed else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m coursekit``."""
    parser = argparse.ArgumentParser(prog="coursekit", description="Instructor tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    execute = commands.add_parser(
        "execute", help="run lessons top to bottom and store their outputs (make execute)")
    runner.add_arguments(execute)
    execute.set_defaults(run=runner.run)

    student = commands.add_parser(
        "student", help="write student editions (solutions and hidden tests stripped)")
    student.add_argument("notebooks", nargs="+", type=Path, help="instructor lessons")
    student.add_argument("--out", type=Path, default=Path("build/student"),
                         help="folder to write to (default: build/student)")
    student.set_defaults(run=_student)

    grade_cli.add_commands(commands)

    workspace = commands.add_parser(
        "workspace", help="add student editions of new lessons to a workspace folder "
        "(a student's files are never overwritten)")
    workspace.add_argument("notebooks", nargs="+", type=Path, help="instructor lessons")
    workspace.add_argument("--out", type=Path, default=Path("workspace"),
                           help="the workspace folder (default: workspace)")
    workspace.add_argument("--verbose", action="store_true", help="also list current lessons")
    workspace.set_defaults(run=_workspace)

    check = commands.add_parser(
        "check", help="score your own notebooks in a fresh run, as grading would")
    check.add_argument("notebooks", nargs="+", type=Path, help="notebooks or folders")
    check.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    check.add_argument("--lessons", type=Path, default=Path("notebooks"))
    check.add_argument("--syllabus", type=Path, default=Path("syllabus.toml"))
    check.set_defaults(run=_check)

    syllabus = commands.add_parser(
        "syllabus", help="check syllabus.toml against the lessons; --map prints the course map")
    syllabus.add_argument("--map", action="store_true",
                          help="print the course map (Markdown) generated from the syllabus")
    syllabus.add_argument("--lessons", type=Path, default=Path("notebooks"))
    syllabus.add_argument("--syllabus", type=Path, default=Path("syllabus.toml"))
    syllabus.set_defaults(run=_syllabus)

    sync = commands.add_parser(
        "nbgrader-sync",
        help="write nbgrader's cell metadata from the course's own (so nbgrader can grade)")
    sync.add_argument("notebooks", nargs="+", type=Path, help="instructor lessons")
    sync.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 if a lesson is out of step")
    sync.set_defaults(run=_nbgrader_sync)

    course = commands.add_parser(
        "sync", help="write what syllabus.toml decides into the lessons (points, nbgrader "
                     "metadata) and the README (course map)")
    course.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 naming what is out of step")
    course.add_argument("--syllabus", type=Path, default=Path("syllabus.toml"))
    course.add_argument("--lessons", type=Path, default=Path("notebooks"))
    course.add_argument("--readme", type=Path, default=Path("README.md"))
    course.set_defaults(run=_sync)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m coursekit`` and of the ``coursekit`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (LessonFormatError, SyllabusError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
