"""Who handed a submission in, from where the instructor put it.

Two layouts are understood (the README's "Grading a class" says how to collect work):

- a folder per student (the default): ``alice/01_gradient_descent.ipynb`` is ``alice``'s,
  whatever lies below her folder;
- a file name pattern: a regular expression with a group named ``student``, searched in the
  submission's name (its path below the folder given), for the flat folders an LMS download
  gives, e.g. ``--student-pattern '^(?P<student>[a-z]+)_\\d+_'`` for ``smithj_4411_01_....ipynb``.

A submission that matches no student is still graded and reported as unmatched (in the
report, the gradebook and on the terminal), never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coursekit.instructor.report import shown_name


@dataclass(frozen=True)
class StudentMatcher:
    """Finds the student of a submission name; ``pattern`` ``None`` means folder per student."""

    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"--student-pattern is not a regular expression: {exc}") from None
            if "student" not in compiled.groupindex:
                raise ValueError("--student-pattern needs a group named student, e.g. "
                                 "'^(?P<student>[^_]+)_\\d\\d_'")

    def student(self, name: str) -> str | None:
        """The student ``name`` belongs to, or ``None`` when it cannot be told."""
        if self.pattern is None:
            parts = name.split("/")
            found = parts[0] if len(parts) > 1 else None
        else:
            match = re.search(self.pattern, name)
            found = match.group("student") if match else None
        if not found:
            return None
        # Shown as it is, invisible and control characters escaped, never dropped: two
        # folders that differ only in them stay two students.
        return shown_name(found)

    def why_unmatched(self, name: str) -> str:
        """Why ``name`` has no student (for the report)."""
        if self.pattern is None:
            return ("not in a student's folder (the grader expects one folder per student, "
                    "or --student-pattern)")
        return f"its name does not match --student-pattern {self.pattern!r}"
