"""The instructor's command line: ``python -m coursekit student|grade|syllabus`` (or ``coursekit``).

    coursekit student --out build/student notebooks/*.ipynb   # release student editions
    coursekit grade --out build submissions/                   # grade a folder of notebooks
    coursekit syllabus [--map]                                 # check the syllabus; the map
    coursekit nbgrader-sync [--check] notebooks/*.ipynb        # nbgrader's cell metadata
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from coursekit.instructor.cells import LessonFormatError
from coursekit.instructor.grade import (
    Grader,
    SubmissionResult,
    find_submissions,
    grade_batch,
    match_lesson,
    summary,
    write_csv,
)
from coursekit.instructor.nbgrader import sync_files
from coursekit.instructor.student import write_student_editions
from coursekit.instructor.syllabus import SyllabusError, course_map, load_syllabus, sync_problems


def _student(args: argparse.Namespace) -> int:
    written = write_student_editions(args.notebooks, args.out)
    for path in written:
        print(f"wrote {path}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    syllabus = load_syllabus(args.syllabus)
    submissions = find_submissions(args.submissions)
    if not submissions:
        print(f"error: no .ipynb files in {', '.join(map(str, args.submissions))}",
              file=sys.stderr)
        return 2
    grader = Grader(syllabus, args.lessons, timeout=args.timeout, package=args.check_package)
    if args.check_dir is not None:
        grader.package_dir = args.check_dir
    elif args.check_package != "coursekit.checks":
        module = importlib.import_module(args.check_package)
        grader.package_dir = Path(module.__file__ or ".").parent
    # Read the instructor's side of every lesson named by a submission file, so a broken
    # lesson stops the batch before anything runs. (Lessons recognised only by content are
    # read when first needed.)
    named = {match_lesson(name, None, syllabus)[0] for _, name in submissions}
    grader.prepare(lesson for lesson in named if lesson is not None)
    args.out.mkdir(parents=True, exist_ok=True)

    def progress(result: SubmissionResult) -> None:
        print(f"{result.submission}: {result.lesson or '?'} "
              f"{result.points}/{result.max_points}", flush=True)

    results = grade_batch(grader, submissions, progress=progress)
    csv_path, summary_path = args.out / "grades.csv", args.out / "grades.md"
    write_csv(results, csv_path)
    summary_path.write_text(summary(results, timeout=args.timeout), encoding="utf-8")
    print(f"wrote {csv_path} and {summary_path}")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m coursekit``."""
    parser = argparse.ArgumentParser(prog="coursekit", description="Instructor tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    student = commands.add_parser(
        "student", help="write student editions (solutions and hidden tests stripped)")
    student.add_argument("notebooks", nargs="+", type=Path, help="instructor lessons")
    student.add_argument("--out", type=Path, default=Path("build/student"),
                         help="folder to write to (default: build/student)")
    student.set_defaults(run=_student)

    grade = commands.add_parser(
        "grade", help="grade submitted notebooks; writes OUT/grades.csv and OUT/grades.md")
    grade.add_argument("submissions", nargs="+", type=Path,
                       help="submitted notebooks, or folders searched recursively")
    grade.add_argument("--out", type=Path, default=Path("build"),
                       help="folder for grades.csv and grades.md (default: build)")
    grade.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    grade.add_argument("--lessons", type=Path, default=Path("notebooks"),
                       help="the instructor's lessons (default: notebooks)")
    grade.add_argument("--syllabus", type=Path, default=Path("syllabus.toml"))
    grade.add_argument("--check-package", default="coursekit.checks",
                       help="the package of exercise checks (default: coursekit.checks)")
    grade.add_argument("--check-dir", type=Path, default=None,
                       help="its folder (default: where that package is installed)")
    grade.set_defaults(run=_grade)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m coursekit`` and of the ``coursekit`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (LessonFormatError, SyllabusError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
