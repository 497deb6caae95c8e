"""Progress of a long grading run: done, failed, rate and time left.

On a terminal one line redraws itself (``\\r``); anywhere else (CI, a log file) a plain line is
printed every ``every`` results and at the end, so a log stays short.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from coursekit.instructor.report import SubmissionResult


def could_not_grade(result: SubmissionResult) -> bool:
    """Whether ``result`` is a submission nothing could be run of (not a notebook, no lesson,
    a grader failure): what the progress line counts as failed."""
    if not result.lesson:
        return True
    return result.grader_failed or any("nothing could be run" in row.message
                                       for row in result.rows)


@dataclass
class Progress:
    """Counts results as they come and reports them on ``stream``."""

    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    every: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = self.every or max(1, self.total // 10)

    def update(self, result: SubmissionResult) -> None:
        """Count one result and redraw (or, off a terminal, print every ``every``)."""
        self.done += 1
        self.failed += could_not_grade(result)
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
        elif self.done % self.every == 0 or self.done == self.total:
            print(self.line(), file=self.stream, flush=True)

    def finish(self) -> None:
        """End the redrawn line (a terminal) so what follows starts on its own."""
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        """``[#####.....] 30/60 graded, 1 failed, 2.1/min, about 14 min left``."""
        width = 20
        filled = width * self.done // max(1, self.total)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed * 60
        left = (self.total - self.done) / (self.done / elapsed) if self.done else float("nan")
        text = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} graded, "
                f"{self.failed} failed, {rate:.1f}/min")
        if self.done < self.total and self.done:
            text += f", about {_duration(left)} left"
        if self.skipped:
            text += f" ({self.skipped} already graded)"
        return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
