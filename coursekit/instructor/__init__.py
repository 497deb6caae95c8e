"""Instructor tooling: student editions, the syllabus, and grading of submissions.

The command line in :mod:`coursekit.__main__` (``python -m coursekit student|grade|syllabus``)
is a thin layer over :mod:`.student`, :mod:`.grade` and :mod:`.syllabus`. Only nbformat and
nbclient are needed; the solution markers are nbgrader's, so its users feel at home.
"""

from coursekit.instructor.markers import MarkerError

__all__ = ["MarkerError"]
