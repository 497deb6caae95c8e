"""Checks for lesson 07, a classifier as an ``nn.Module``: its forward pass, its accuracy, and
whole-tensor mini-batches.

The lesson's module has two ``nn.Linear`` layers named ``hidden`` and ``output``; ``forward``
returns logits ``output(relu(hidden(x)))`` of shape (n_samples, 1).

=================  ==============  ============================================
exercise           module          the lesson's check cell
=================  ==============  ============================================
07-forward         ``forward``     ``check.module_forward(CircleClassifier)``
07-accuracy        ``accuracy``    ``check.accuracy(accuracy)``
07-batches         ``batches``     ``check.batches(batches)``
=================  ==============  ============================================
"""

from coursekit.checks.lesson07._shared import TOLERANCE, case_by_case
from coursekit.checks.lesson07.accuracy import accuracy, reference_accuracy
from coursekit.checks.lesson07.batches import batches, reference_batches
from coursekit.checks.lesson07.forward import ReferenceClassifier, module_forward
from coursekit.checks.score import scorer
from coursekit.exercise import registry

EXERCISES = registry(module_forward, accuracy, batches)
#: The lesson's last cell, ``check.score(globals())``: the student's score table.
score = scorer(EXERCISES)

__all__ = ["EXERCISES", "TOLERANCE", "ReferenceClassifier", "accuracy", "batches",
           "case_by_case", "module_forward", "reference_accuracy", "reference_batches", "score"]
