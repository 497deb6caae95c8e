"""The grading commands of ``python -m coursekit``: grade, merge, gradebook, batch-script.

    coursekit grade submissions/                         # this machine, every core
    coursekit grade --engine dask --workers 8 submissions/          # a Dask LocalCluster
    coursekit grade --scheduler tcp://10.0.0.5:8786 submissions/    # a running Dask cluster
    coursekit grade --resume build/grades-20261206-... submissions/ # what has no result yet
    coursekit grade --shard 3/8 --run /shared/run1 submissions/     # one array task
    coursekit merge /shared/run1                                    # when all 8 have run
    coursekit grade --reproduce build/grades-... alice/01_....ipynb # an appeal
    coursekit gradebook export --out lms.csv                        # one row per student
    coursekit batch-script slurm --shards 8 --parallel 4 --run /shared/run1 submissions/
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from coursekit.instructor.batch_scripts import k8s_job, slurm_script
from coursekit.instructor.class_run import ClassGrading, grade_class, merge_shards, reproduce
from coursekit.instructor.engines import Engine, LocalEngine
from coursekit.instructor.grade import Grader, find_submissions
from coursekit.instructor.gradebook import SCORES, export_csv, unmatched_submissions
from coursekit.instructor.report import shown_name
from coursekit.instructor.sandbox import Limits
from coursekit.instructor.shards import parse_shard
from coursekit.instructor.students import StudentMatcher
from coursekit.instructor.syllabus import load_syllabus


def _grader(args: argparse.Namespace) -> Grader:
    for what, path, option in (("syllabus", args.syllabus, "--syllabus"),
                               ("lessons folder", args.lessons, "--lessons")):
        if not Path(path).exists():
            raise FileNotFoundError(f"no {what} at {path}: run this from the course folder, "
                                    f"or give {option} (and the other of --syllabus and "
                                    "--lessons)")
    if args.jobs < 1 or getattr(args, "workers", 0) < 0:
        raise ValueError("--jobs takes a number of at least 1, --workers one of at least 1 "
                         "(or 0, the default: as many as --jobs)")
    package_dir = None
    if args.check_dir is not None:  # a check package kept outside coursekit (tests)
        package_dir = args.check_dir.resolve()
        sys.path.insert(0, str(package_dir.parent))
    limits = Limits(cell_seconds=float(args.timeout),
                    notebook_seconds=float(args.notebook_timeout),
                    memory_bytes=int(args.memory * 1024**3), cpus=args.cpus,
                    disk_bytes=int(args.disk * 1024**3))
    return Grader(load_syllabus(args.syllabus), args.lessons.resolve(), timeout=args.timeout,
                  package=args.check_package, package_dir=package_dir,
                  sandboxed=not args.no_sandbox, limits=limits)


def _engine(args: argparse.Namespace) -> tuple[Engine, str]:
    if args.workers and not (args.engine == "dask" or args.scheduler):
        print("warning: --workers is for the Dask engine (--engine dask); the local engine "
              f"grades --jobs {args.jobs} at once", file=sys.stderr)
    if args.engine == "dask" or args.scheduler:
        from coursekit.instructor.dask_engine import DaskEngine  # imports Dask: only here

        workers = args.workers or args.jobs
        where = args.scheduler or f"LocalCluster of {workers}"
        return DaskEngine(scheduler=args.scheduler, workers=workers), f"dask ({where})"
    return LocalEngine(args.jobs), f"local ({args.jobs} jobs)"


def _how(args: argparse.Namespace, grader: Grader, engine: Engine, name: str) -> ClassGrading:
    gradebook = None if args.no_gradebook else (args.gradebook or args.out / "gradebook.sqlite")
    return ClassGrading(grader, engine, name, StudentMatcher(args.student_pattern),
                        gradebook=gradebook, feedback=not args.no_feedback)


def _grade(args: argparse.Namespace) -> int:
    skipped: list[str] = []
    submissions = find_submissions(args.submissions, skipped)
    if skipped:
        shown = ", ".join(shown_name(name) for name in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        print(f"warning: {len(skipped)} notebook(s) in hidden folders or behind symbolic links "
              f"are not graded: {shown}{more}", file=sys.stderr)
    if not submissions:
        print(f"error: no .ipynb files in {', '.join(map(str, args.submissions))}",
              file=sys.stderr)
        return 2
    if args.shard and not args.run_dir:
        raise ValueError("--shard needs --run DIR: the run folder every shard shares")
    if sum(bool(x) for x in (args.run_dir, args.resume, args.reproduce)) > 1:
        raise ValueError("give one of --run, --resume and --reproduce")
    if args.no_sandbox:
        print("warning: --no-sandbox: submissions run with your user's access to files, "
              "processes and the network; use it only for submissions you trust",
              file=sys.stderr)
    grader = _grader(args)
    engine, name = _engine(args)
    how = _how(args, grader, engine, name)
    try:
        grader.prepare()  # every instructor input is read before any submission runs
        if args.reproduce:
            run, lines = reproduce(how, submissions, args.reproduce, out=args.out)
            graded = any(line.startswith(("same", "different")) for line in lines)
            print("\n".join([*lines, *([f"the appeal's grading is in {run.path}"] if graded
                                        else [])]))
            return 0 if all(line.startswith(("same", "warning")) for line in lines) else 1
        shard = parse_shard(args.shard) if args.shard else None
        try:
            grade_class(how, submissions, out=args.out, run_dir=args.run_dir or args.resume,
                        resume=bool(args.resume), shard=shard)
        except KeyboardInterrupt:
            return 130
    finally:
        grader.close()
    return 0


def _merge(args: argparse.Namespace) -> int:
    grader = _grader(args)
    merge_shards(_how(args, grader, LocalEngine(1), args.engine_name), args.run_dir)
    return 0


def _gradebook(args: argparse.Namespace) -> int:
    if not args.gradebook.is_file():
        raise FileNotFoundError(f"no gradebook at {args.gradebook} (grading writes one)")
    lessons = [lesson.notebook for lesson in load_syllabus(args.syllabus).lessons]
    text = export_csv(args.gradebook, lessons, score=args.score)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: {text.count(chr(10)) - 1} student(s)", file=sys.stderr)
    lost = unmatched_submissions(args.gradebook)
    if lost:
        print(f"note: {len(lost)} graded submission(s) are not matched to a student and not "
              f"in the export (table 'unmatched'), e.g. {lost[0][1]}", file=sys.stderr)
    return 0


def _batch_script(args: argparse.Namespace) -> int:
    grade_args = _passed_on(args)
    if args.kind == "slurm":  # the nodes run it from the course folder: check it is one
        course = Path(args.course_dir)
        for what, path in (("lessons folder", args.lessons), ("syllabus", args.syllabus),
                           *(("submissions", path) for path in args.submissions)):
            if not (course / path).exists():
                raise FileNotFoundError(
                    f"no {what} {course / path}: the script runs from {course}; run "
                    "batch-script from the course folder or give --course-dir, and give "
                    "paths that exist from there")
        text = slurm_script(args.shards, args.parallel, args.run_dir, grade_args,
                            course=args.course_dir, python=args.python)
    else:
        text = k8s_job(args.shards, args.parallel, args.run_dir, grade_args, course=args.course_dir,
                       python=args.python, image=args.image, claim=args.volume_claim,
                       mount=args.mount)
    sys.stdout.write(text)
    return 0


def _passed_on(args: argparse.Namespace) -> list[str]:
    """The grading options a batch script passes to every shard (and to the merge)."""
    passed = ["--lessons", str(args.lessons), "--syllabus", str(args.syllabus),
              "--timeout", str(args.timeout), "--notebook-timeout", str(args.notebook_timeout),
              "--memory", str(args.memory), "--cpus", str(args.cpus), "--disk", str(args.disk),
              "--jobs", str(args.jobs),
              "--check-package", args.check_package, "--out", str(args.out)]
    if args.check_dir is not None:
        passed += ["--check-dir", str(args.check_dir)]
    if args.student_pattern is not None:
        passed += ["--student-pattern", args.student_pattern]
    if args.gradebook is not None:
        passed += ["--gradebook", str(args.gradebook)]
    return [*passed, "--", *map(str, args.submissions)]


def _grading_options(parser: argparse.ArgumentParser) -> None:
    """Options that decide verdicts and where they go (every grading command takes them)."""
    parser.add_argument("--out", type=Path, default=Path("build"),
                        help="each new run writes OUT/grades-<time>-<id>/ (default: build)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    parser.add_argument("--notebook-timeout", type=int, default=600,
                        help="seconds per submission in all (default 600)")
    parser.add_argument("--memory", type=float, default=2.0,
                        help="GiB of memory per submission (default 2)")
    parser.add_argument("--disk", type=float, default=1.0,
                        help="GiB a submission's scratch folder may hold in all (default 1)")
    parser.add_argument("--cpus", type=float, default=1.0,
                        help="processors each submission may use at most (default 1)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="submissions graded at once here (default: the number of CPUs)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run submissions without bubblewrap (trusted submissions only)")
    parser.add_argument("--lessons", type=Path, default=Path("notebooks"),
                        help="the instructor's lessons (default: notebooks)")
    parser.add_argument("--syllabus", type=Path, default=Path("syllabus.toml"))
    parser.add_argument("--check-package", default="coursekit.checks",
                        help="the package of exercise checks (default: coursekit.checks)")
    parser.add_argument("--check-dir", type=Path, default=None,
                        help="its folder, when it is not inside coursekit")
    parser.add_argument("--student-pattern", default=None,
                        help="a regular expression with a group 'student' found in each "
                        "submission's name (default: one folder per student)")
    parser.add_argument("--gradebook", type=Path, default=None,
                        help="the SQLite gradebook (default: OUT/gradebook.sqlite)")
    parser.add_argument("--no-gradebook", action="store_true", help="record nothing in it")
    parser.add_argument("--no-feedback", action="store_true",
                        help="write no feedback files")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add grade, merge, gradebook and batch-script to ``python -m coursekit``."""
    grade = commands.add_parser(
        "grade", help="grade submitted notebooks: a run folder with grades.csv, grades.md, "
        "feedback files, and the run in the gradebook")
    grade.add_argument("submissions", nargs="+", type=Path,
                       help="submitted notebooks, or folders searched recursively")
    _grading_options(grade)
    grade.add_argument("--engine", choices=("local", "dask"), default="local",
                       help="local: --jobs at once here (default); dask: a Dask cluster")
    grade.add_argument("--scheduler", default=None,
                       help="a running Dask scheduler (tcp://host:port; implies --engine dask)")
    grade.add_argument("--workers", type=int, default=0,
                       help="worker processes of the Dask LocalCluster (default: --jobs)")
    grade.add_argument("--run", dest="run_dir", type=Path, default=None,
                       help="grade into this run folder (made if missing; what has a result "
                       "there is not graded again): the folder shards share")
    grade.add_argument("--resume", type=Path, default=None,
                       help="go on with an interrupted run: grade only what has no result")
    grade.add_argument("--shard", default=None,
                       help="K/N: grade only shard K of N (from 0) into --run; "
                       "then coursekit merge")
    grade.add_argument("--reproduce", type=Path, default=None,
                       help="regrade these files with the inputs their grading in this run "
                       "folder drew (an appeal); says whether each verdict is the same")
    grade.set_defaults(run=_grade)

    merge = commands.add_parser(
        "merge", help="the class report, feedback and gradebook of a sharded run whose "
        "shards have all finished")
    merge.add_argument("run_dir", metavar="RUN", type=Path,
                       help="the run folder the shards shared")
    _grading_options(merge)
    merge.set_defaults(run=_merge, engine_name="shards")

    book = commands.add_parser("gradebook", help="export the gradebook for an LMS")
    book.add_argument("action", choices=("export",))
    book.add_argument("--gradebook", type=Path, default=Path("build/gradebook.sqlite"))
    book.add_argument("--syllabus", type=Path, default=Path("syllabus.toml"))
    book.add_argument("--score", choices=SCORES, default="latest",
                      help="each lesson's latest score (default) or the best one")
    book.add_argument("--out", type=Path, default=None, help="a CSV file (default: stdout)")
    book.set_defaults(run=_gradebook)

    script = commands.add_parser(
        "batch-script", help="print a Slurm array script or a Kubernetes Indexed Job that "
        "grades a class in N shards")
    script.add_argument("kind", choices=("slurm", "k8s"))
    script.add_argument("submissions", nargs="+", type=Path)
    script.add_argument("--shards", type=int, required=True, help="N: array tasks in all")
    script.add_argument("--parallel", type=int, required=True, help="K: at most K at once")
    script.add_argument("--run", dest="run_dir", type=Path, required=True,
                        help="the run folder on storage every node sees")
    script.add_argument("--course-dir", type=Path, default=Path.cwd(),
                        help="the course checkout on the nodes (default: here)")
    script.add_argument("--python", default=sys.executable,
                        help="the Python with coursekit on the nodes (default: this one)")
    script.add_argument("--image", default="course-grader:latest", help="k8s: the image")
    script.add_argument("--volume-claim", default="class-submissions",
                        help="k8s: the PersistentVolumeClaim holding submissions and runs")
    script.add_argument("--mount", type=Path, default=Path("/class"),
                        help="k8s: where the claim is mounted")
    _grading_options(script)
    script.set_defaults(run=_batch_script)
