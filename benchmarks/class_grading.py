"""Grading a class: the Dask engine against local jobs, resuming, losing a worker.

    .venv/bin/python benchmarks/class_grading.py [--copies N] [--lesson 02] [--quick]

On one batch (N honest copies of one lesson, each in its own student folder), in one run:

1. ``local`` with 2 jobs; Dask ``LocalCluster`` with 2 workers and with 1, running already
   (warm: what each submission costs on a cluster an instructor keeps up) and started for the
   batch (cold: the start-up, paid once per run). Goals: Dask with 2 warm workers within 10 %
   of local with 2 jobs; 2 warm workers >= 1.7x one.
2. Resume: eight times the batch graded by ``coursekit grade --jobs 2``, uninterrupted, then stopped
   with Ctrl-C once half the results are in and ``--resume``d: the two parts' wall time
   together against the uninterrupted run (goal <= 1.1x; each part pays the command's start).
3. The test that kills a Dask worker while 60 submissions are graded (make test-slow's
   ``test_a_dask_cluster_that_loses_a_worker_grades_every_submission_once``): its time.

``--quick`` runs local jobs against two warm Dask workers only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursekit.instructor.class_run import ClassGrading, grade_class  # noqa: E402
from coursekit.instructor.engines import Engine, LocalEngine  # noqa: E402
from coursekit.instructor.grade import Grader, find_submissions  # noqa: E402
from coursekit.instructor.runs import plan_tasks  # noqa: E402
from coursekit.instructor.syllabus import load_syllabus  # noqa: E402


def _batch(folder: Path, lesson: Path, copies: int) -> list[tuple[Path, str]]:
    for k in range(copies):
        (folder / f"student{k:03d}").mkdir(parents=True)
        shutil.copy(lesson, folder / f"student{k:03d}" / lesson.name)
    return find_submissions([folder])


def _time(engine: Engine, submissions: list[tuple[Path, str]], out: Path) -> tuple[float, int]:
    grader = Grader(load_syllabus(ROOT / "syllabus.toml"), ROOT / "notebooks", timeout=600)
    grader.prepare()
    how = ClassGrading(grader, engine, feedback=False, out=open(os.devnull, "w"),  # noqa: SIM115
                       progress=open(os.devnull, "w"))  # noqa: SIM115
    start = time.perf_counter()
    try:
        run = grade_class(how, submissions, out=out)
    finally:
        grader.close()
    seconds = time.perf_counter() - start
    results = run.results(plan_tasks(submissions))
    return seconds, sum(r.points == r.max_points > 0 for r in results)


def _interrupted(folder: Path, out: Path, copies: int) -> tuple[float, float]:
    """Grade with ``coursekit grade --jobs 2``, Ctrl-C at half, then resume: both parts' time."""
    run = out / "run"
    command = [sys.executable, "-m", "coursekit", "grade", "--jobs", "2", "--no-feedback",
               "--no-gradebook", "--timeout", "600", "--out", str(out), str(folder)]
    start = time.perf_counter()
    grader = subprocess.Popen([*command, "--run", str(run)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(run.glob("results/*.json"))) < copies // 2 and grader.poll() is None:
        time.sleep(0.05)
    grader.send_signal(signal.SIGINT)
    grader.wait()
    first = time.perf_counter() - start
    start = time.perf_counter()
    _run([*command, "--resume", str(run)])
    return first, time.perf_counter() - start


def _run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:5])} ... failed:\n{done.stderr[-1500:]}")


def _warm(workers: int, submissions: list[tuple[Path, str]], out: Path) -> tuple[float, int]:
    """A LocalCluster started, and its workers' graders made by a first small batch, before
    the batch is timed: the per-submission cost a long-lived cluster has."""
    from distributed import LocalCluster

    from coursekit.instructor.dask_engine import DaskEngine

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address="127.0.0.1:0", memory_limit=0) as cluster:
        engine = DaskEngine(scheduler=cluster.scheduler_address)
        _time(engine, submissions[:workers], out / "warm-up")
        return _time(engine, submissions, out / "timed")


def _cli_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    _run(command)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="submissions in the batch")
    parser.add_argument("--lesson", default="02", help="the lesson copied (default 02)")
    parser.add_argument("--quick", action="store_true", help="part 1, two engines only")
    args = parser.parse_args(argv)
    if shutil.which("bwrap") is None:
        print("class grading benchmark skipped: bubblewrap is not installed")
        return 0
    from coursekit.instructor.dask_engine import DaskEngine

    (lesson,) = sorted((ROOT / "notebooks").glob(f"{args.lesson}_*.ipynb"))
    print(f"## Grading a class ({args.copies} honest copies of {lesson.stem}, "
          f"{os.cpu_count()} CPUs)")
    missed = []
    with tempfile.TemporaryDirectory(prefix="coursekit-bench-") as tmp:
        submissions = _batch(Path(tmp) / "subs", lesson, args.copies)
        seconds = {}
        runs = {"local, 2 jobs": lambda out: _time(LocalEngine(2), submissions, out),
                "dask, 2 workers (warm)": lambda out: _warm(2, submissions, out),
                "dask, 2 workers (cold)": lambda out: _time(DaskEngine(workers=2),
                                                            submissions, out),
                "dask, 1 worker (warm)": lambda out: _warm(1, submissions, out)}
        if args.quick:
            runs = dict(list(runs.items())[:2])
        for number, (name, run) in enumerate(runs.items()):
            seconds[name], full = run(Path(tmp) / f"run{number}")
            print(f"{name:<24} {seconds[name]:6.1f} s, "
                  f"{60 * args.copies / seconds[name]:5.1f} submissions/min, "
                  f"{full}/{args.copies} full marks", flush=True)
        overhead = seconds["dask, 2 workers (warm)"] / seconds["local, 2 jobs"]
        print(f"dask 2 workers / local 2 jobs, a running cluster: {overhead:.2f} (goal ≤ 1.10)")
        missed += ["dask overhead"] if overhead > 1.10 else []
        if args.quick:
            return 1 if missed else 0
        cold = seconds["dask, 2 workers (cold)"] - seconds["dask, 2 workers (warm)"]
        print(f"starting a LocalCluster and its workers' graders adds {cold:.1f} s once")
        speedup = seconds["dask, 1 worker (warm)"] / seconds["dask, 2 workers (warm)"]
        print(f"dask 2 workers vs 1: {speedup:.2f}× (goal ≥ 1.7)")
        missed += ["dask speed-up"] if speedup < 1.7 else []

        # Eight times the batch: each part pays the command's start (Python, imports, the
        # lessons' plans), a cost a class's hundreds of submissions make small.
        bigger = Path(tmp) / "bigger"
        _batch(bigger, lesson, 8 * args.copies)
        whole = _cli_seconds([sys.executable, "-m", "coursekit", "grade", "--jobs", "2",
                              "--no-feedback", "--no-gradebook", "--timeout", "600", "--out",
                              str(Path(tmp) / "whole"), str(bigger)])
        first, rest = _interrupted(bigger, Path(tmp) / "resume", 8 * args.copies)
        ratio = (first + rest) / whole
        print(f"coursekit grade --jobs 2 on {8 * args.copies}: {whole:.1f} s uninterrupted; "
              f"Ctrl-C at half after "
              f"{first:.1f} s, --resume {rest:.1f} s: {ratio:.2f}× (goal ≤ 1.10)")
        print(f"  (what resuming costs beyond the work left: {first + rest - whole:.1f} s, "
              "mostly the command's second start)")
        missed += ["resume"] if ratio > 1.10 else []

    start = time.perf_counter()
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
         "tests/instructor/test_class_grading.py::"
         "test_a_dask_cluster_that_loses_a_worker_grades_every_submission_once"],
        cwd=ROOT, capture_output=True, text=True)
    state = "passed" if test.returncode == 0 else "FAILED"
    print(f"60 submissions through Dask, one worker killed halfway (make test-slow's test): "
          f"{state} in {time.perf_counter() - start:.1f} s")
    if test.returncode != 0:
        print(test.stdout[-2000:])
        missed.append("worker-loss test")
    if missed:
        print(f"goals missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
