"""Grading throughput and the sandbox's cost, measured in one run.

    .venv/bin/python benchmarks/grading.py [--copies N] [--lessons 01,02]

1. Throughput: N copies of each chosen lesson's instructor notebook (honest, full marks),
   graded with ``--jobs 1`` and ``--jobs 2``: submissions per minute and their ratio (goal
   ≥ 1.7 on 2 cores).
2. Overhead: one lesson graded in the sandbox against the same runner without it, and against
   executing the notebook plainly in a Jupyter kernel (``coursekit.runner``), kernel or
   interpreter start included in all three (goal ≤ 1.3× the plain run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursekit.instructor.engines import grade_batch  # noqa: E402
from coursekit.instructor.grade import Grader  # noqa: E402
from coursekit.instructor.syllabus import load_syllabus  # noqa: E402
from coursekit.runner import execute  # noqa: E402


def _grade(submissions: list[tuple[Path, str]], *, jobs: int, sandboxed: bool = True
           ) -> tuple[float, int]:
    grader = Grader(load_syllabus(ROOT / "syllabus.toml"), ROOT / "notebooks", timeout=600,
                    sandboxed=sandboxed)
    grader.prepare()
    start = time.perf_counter()
    try:
        results = grade_batch(grader, submissions, jobs=jobs)
    finally:
        grader.close()
    seconds = time.perf_counter() - start
    full = sum(result.points == result.max_points > 0 for result in results)
    return seconds, full


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="copies of each lesson")
    parser.add_argument("--lessons", default="01,02,03,04",
                        help="lesson numbers, comma-separated (default 01,02,03,04)")
    args = parser.parse_args(argv)
    if shutil.which("bwrap") is None:
        print("grading benchmark skipped: bubblewrap is not installed")
        return 0
    wanted = args.lessons.split(",")
    paths = [p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
             if p.name[:2] in wanted]
    submissions = [(path, f"copy{k}/{path.name}") for path in paths for k in range(args.copies)]
    print(f"## Grading ({len(submissions)} honest submissions: lessons "
          f"{', '.join(p.name[:2] for p in paths)} × {args.copies}; {os.cpu_count()} CPUs)")
    rates = {}
    for jobs in (1, 2):
        seconds, full = _grade(submissions, jobs=jobs)
        rates[jobs] = 60 * len(submissions) / seconds
        print(f"--jobs {jobs}: {seconds:6.1f} s, {rates[jobs]:5.1f} submissions/min, "
              f"{full}/{len(submissions)} full marks")
    print(f"throughput ratio jobs 2 / jobs 1: {rates[2] / rates[1]:.2f} (goal ≥ 1.7)")

    one = [(paths[0], paths[0].name)]
    sandboxed, _ = _grade(one, jobs=1)
    unsandboxed, _ = _grade(one, jobs=1, sandboxed=False)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "notebooks", tmp, dirs_exist_ok=True)
        start = time.perf_counter()
        execute(nbformat.read(Path(tmp) / paths[0].name, as_version=4), cwd=Path(tmp))
        plain = time.perf_counter() - start
    print(f"{paths[0].name}: sandboxed grading {sandboxed:.1f} s, same runner without the "
          f"sandbox {unsandboxed:.1f} s, plain kernel run {plain:.1f} s")
    print(f"sandbox overhead: {sandboxed / unsandboxed:.2f}× the unsandboxed runner, "
          f"{sandboxed / plain:.2f}× a plain kernel run (goal ≤ 1.3×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
