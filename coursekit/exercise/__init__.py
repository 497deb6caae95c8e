"""The exercise contract that probes, checks and the grader share.

=================  =========================================================================
module             holds
=================  =========================================================================
``wire``           plain data and its JSON + npz form across the sandbox's boundary
``probing``        the probe's side: call the student's code, describe what came back
``view``           :class:`Got`, a typed view of one described value
``judging``        the judge's helpers and :func:`fail`
``mistakes``       :class:`Mistake` (a wrong version declared once) and :func:`match`
``spec``           :class:`Exercise` (inputs + probe + judge) and how a check runs
``declare``        :func:`function` (a function exercise in one call), :class:`Rule`
=================  =========================================================================
"""

from coursekit.exercise.declare import Raised, Rule, function, rules
from coursekit.exercise.judging import Failure, Tolerance, fail
from coursekit.exercise.mistakes import TOLERANCE, Mistake, match, named, same
from coursekit.exercise.spec import LESSON_SEED, Exercise, ExerciseFailed, registry
from coursekit.exercise.view import Got, view

__all__ = ["LESSON_SEED", "TOLERANCE", "Exercise", "ExerciseFailed", "Failure", "Got", "Mistake",
           "Raised", "Rule", "Tolerance", "fail", "function", "match", "named", "registry",
           "rules", "same", "view"]
