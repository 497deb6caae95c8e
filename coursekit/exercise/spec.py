"""The exercise contract: an exercise is inputs + probe + judge.

- ``inputs(rng)`` draws the cases (plain data) from a Generator: a fixed seed in the lesson,
  a fresh one for every grading run.
- ``probe(inputs, *student_objects)`` runs next to the student's code (the generic one in
  :mod:`coursekit.exercise.probing`, or one of :mod:`coursekit.probes`). It calls the
  student's function(s) on the inputs and returns plain data only
  (:mod:`coursekit.exercise.wire`).
- ``judge(inputs, data)`` lives in the lesson's check module (:mod:`coursekit.checks`), or is
  made by a declaration (:mod:`coursekit.exercise.declare`). It compares the data with the
  reference and returns what passed, or raises ``Failure`` with a message that names the
  mistake and where to look.

In a lesson, ``check.mse_cost(cost)`` runs all three in the student's kernel (the data still
makes the JSON round trip, so the judge sees exactly what grading would give it). In grading,
only the probe runs in the sandboxed kernel; the judge runs in the grader's own process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from coursekit.exercise.judging import Data, Failure, raised_message
from coursekit.exercise.wire import consistent, round_trip

if TYPE_CHECKING:
    from coursekit.exercise.mistakes import Mistake

#: The fixed seed of an exercise's inputs in a lesson (grading draws a fresh one).
LESSON_SEED = 20_240_101


class ExerciseFailed(AssertionError):
    """What a check raises in a lesson: ``✘ <exercise>: <message>``."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback through coursekit's internals.
        return [str(self)]


@dataclass(frozen=True)
class Exercise:
    """One exercise's check.

    Parameters
    ----------
    id : str
        The exercise id (``"01-mse-cost"``).
    inputs : callable
        ``inputs(rng) -> plain data``: the cases.
    probe : callable
        ``probe(inputs, *student) -> plain data``, a function of ``coursekit.probes.lessonNN``.
    judge : callable
        ``judge(inputs, data) -> str``: what passed, or raises :class:`Failure`.
    implemented_by : tuple of str
        Dotted names of coursekit pieces that implement the same thing; a solution that uses
        one (or ``coursekit.checks``) is flagged for the instructor when graded.
    names : tuple of str
        The names the lesson gives the student's objects, in the order the check takes them
        (``("cost",)``): the score cell finds them in the student's namespace. A test keeps
        them in step with the lesson's check cell.
    mistakes : tuple of Mistake
        The known wrong versions the judge names (:mod:`coursekit.exercise.mistakes`); a
        generic test hands each to the check and expects its message back.
    student : callable
        ``student(wrong) -> objects``: what the check takes, built around a mistake's wrong
        version.
    arguments : callable
        ``arguments(case) -> tuple``: a case's arguments, on which a mistake's message is
        written.
    """

    id: str
    inputs: Callable[[np.random.Generator], Data]
    probe: Callable[..., Data]
    judge: Callable[[Data, Data], str]
    implemented_by: tuple[str, ...] = field(default=())
    names: tuple[str, ...] = field(default=())
    mistakes: tuple[Mistake, ...] = field(default=())
    student: Callable[[Callable[..., Any]], tuple[Any, ...]] | None = None
    arguments: Callable[[Any], tuple[Any, ...]] | None = None

    def verdict(self, inputs: Data, data: Data) -> tuple[bool, str]:
        """``(passed, message)`` from the judge; a judge that crashes on odd data fails."""
        if isinstance(data, dict) and data.get("kind") == "raised":
            return False, raised_message(data)  # the probe itself was stopped or broke
        if not consistent(data):
            return False, ("the check received data that contradicts itself (an array not of "
                           "the shape it claims); was the notebook tampered with?")
        try:
            return True, self.judge(inputs, data)
        except Failure as exc:
            return False, str(exc)
        except Exception as exc:  # malformed data from a tampered probe
            return False, (f"the check could not read what your code produced "
                           f"({type(exc).__name__}); was the notebook tampered with?")

    def run(self, *student: Any, seed: int = LESSON_SEED) -> tuple[bool, str]:
        """Inputs, probe and judge, here: ``(passed, message)``. The data makes the JSON round
        trip, so the judge sees exactly what grading would give it."""
        inputs = round_trip(self.inputs(np.random.default_rng(seed)))
        data = round_trip(self.probe(inputs, *student))
        return self.verdict(inputs, data)

    def check(self, *student: Any, seed: int = LESSON_SEED) -> None:
        """Run inputs, probe and judge here; print ``✔`` or raise :class:`ExerciseFailed`.
        The lesson's check cell calls the exercise itself: ``check.mse_cost(cost)``."""
        ok, message = self.run(*student, seed=seed)
        if not ok:
            raise ExerciseFailed(f"✘ {self.id}: {message}")
        print(f"✔ {self.id}: {message}")

    __call__ = check


def registry(*exercises: Exercise) -> dict[str, Exercise]:
    """``{id: exercise}`` for a lesson module's ``EXERCISES``."""
    return {exercise.id: exercise for exercise in exercises}
