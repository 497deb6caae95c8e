"""Exercise checks, one module per lesson: ``from coursekit.checks import lesson01 as check``.

A check runs the student's function on fresh seeded cases against a reference and prints one
line when all agree, or raises :class:`ExerciseFailed` saying what is wrong.
"""

from coursekit.exercise.spec import ExerciseFailed

__all__ = ["ExerciseFailed"]
