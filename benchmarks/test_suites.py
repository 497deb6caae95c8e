"""``make bench-tests``: the wall time of each phase of ``make test`` (``make unit``,
``make nbval``; issue 11's goal: <= 3 min on 2 cores, set-up excluded) and of ``make
test-slow`` (what CI adds; no goal). About 20 minutes on 2 cores; kept out of ``make bench``.

    .venv/bin/python benchmarks/test_suites.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from course import MAKE_TEST_GOAL_S, make_test_seconds, phase_table, time_test_phases  # noqa: E402


def main() -> int:
    print("make test, phase by phase; then make test-slow")
    phases = time_test_phases()
    print("\n".join(phase_table(phases)))
    failed = any(status for _, _, status in phases)
    return 1 if failed or make_test_seconds(phases) > MAKE_TEST_GOAL_S else 0


if __name__ == "__main__":
    sys.exit(main())
