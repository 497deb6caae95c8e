"""Checks for lesson 04, training a NumPy network: the training loop
(:mod:`~coursekit.checks.lesson04.training`), the momentum and Adam updates
(:mod:`~coursekit.checks.lesson04.updates`)."""

from coursekit.checks.lesson04.training import LOOP_MISTAKES, reference_train_loop, training_loop
from coursekit.checks.lesson04.updates import (
    ADAM_DEFAULTS,
    ADAM_MISTAKES,
    MOMENTUM_MISTAKES,
    adam_update,
    momentum_update,
    reference_adam_update,
    reference_momentum_update,
)
from coursekit.checks.score import scorer
from coursekit.exercise import registry

EXERCISES = registry(training_loop, momentum_update, adam_update)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)

__all__ = ["ADAM_DEFAULTS", "ADAM_MISTAKES", "EXERCISES", "LOOP_MISTAKES", "MOMENTUM_MISTAKES",
           "adam_update", "momentum_update", "reference_adam_update", "reference_momentum_update",
           "reference_train_loop", "score", "training_loop"]
