"""``make bench``: every benchmark in turn, each one reporting even when another misses a
goal or fails; a table of what ran, how long it took and how it ended comes last.

    .venv/bin/python benchmarks/all.py                      # all of them (about 10 min, 2 cores)
    .venv/bin/python benchmarks/all.py --only class-grading # one row
    .venv/bin/python benchmarks/all.py --quick              # each on its smallest batch

The test suites' wall times are not here: ``make bench-tests`` (benchmarks/test_suites.py)
runs ``make test``'s phases and ``make test-slow``, about 20 minutes. The exit status is 1 when
any benchmark failed or missed a goal it checks, 0 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (the script and its arguments, what --quick adds)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "course": (["course.py", "--no-test-phases"], ["--lessons", "01,02", "--no-scratch"]),
    "grading": (["grading.py"], ["--copies", "1", "--lessons", "01,02"]),
    "class-grading": (["class_grading.py"], ["--quick", "--copies", "4"]),
    "regularization": (["regularization.py"], ["--seeds", "1"]),
    "conv": (["conv.py"], []),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="",
                        help=f"comma-separated names among {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="each on its smallest batch")
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark called {', '.join(unknown)}; there are "
                     f"{', '.join(BENCHMARKS)}")
    rows = []
    for name in names:
        script, quick = BENCHMARKS[name]
        command = [sys.executable, str(ROOT / "benchmarks" / script[0]), *script[1:],
                   *(quick if args.quick else [])]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        status = subprocess.run(command, cwd=ROOT).returncode
        rows.append((name, time.perf_counter() - start, status))
    print("\n| benchmark | wall time | ended |\n|---|--:|---|")
    for name, seconds, status in rows:
        ended = "ok" if status == 0 else f"exit {status} (failed or missed a goal: see above)"
        print(f"| {name} | {seconds:.0f} s | {ended} |")
    print(f"| all | {sum(seconds for _, seconds, _ in rows):.0f} s | |")
    return 1 if any(status for _, _, status in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
