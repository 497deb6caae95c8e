"""Checks for lesson 06, PyTorch linear regression: the DataLoader
(:mod:`~coursekit.checks.lesson06.loader`), one training epoch and the evaluation of a model on
held-out data (:mod:`~coursekit.checks.lesson06.training`)."""

from coursekit.checks.lesson06.common import (
    reference_evaluate,
    reference_make_loader,
    reference_train_epoch,
)
from coursekit.checks.lesson06.loader import make_loader
from coursekit.checks.lesson06.training import (
    EPOCH_MISTAKES,
    EVALUATE_MISTAKES,
    evaluate,
    train_epoch,
)
from coursekit.checks.score import scorer
from coursekit.exercise import registry

EXERCISES = registry(make_loader, train_epoch, evaluate)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)

__all__ = ["EPOCH_MISTAKES", "EVALUATE_MISTAKES", "EXERCISES", "evaluate", "make_loader",
           "reference_evaluate", "reference_make_loader", "reference_train_epoch", "score",
           "train_epoch"]
