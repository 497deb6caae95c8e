"""What every lesson's check tests ask of the plain-data wire, in one place."""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit.exercise.spec import Exercise
from coursekit.exercise.wire import round_trip


def assert_same_verdict_over_the_wire(exercise: Exercise, *student: Any, seed: int = 7) -> None:
    """The judge says the same of the probe's data before and after the JSON/npz round trip
    (``student``: the objects the check takes)."""
    inputs = round_trip(exercise.inputs(np.random.default_rng(seed)))
    with np.errstate(all="ignore"):
        data = exercise.probe(inputs, *student)
    assert exercise.verdict(inputs, round_trip(data)) == exercise.verdict(inputs, data)


def assert_judged_alike_on_fresh_inputs(exercise: Exercise, right: Any, wrong: Any,
                                        seed: int) -> None:
    """On inputs drawn from ``seed``, data that made the trip passes ``right``, fails ``wrong``."""
    inputs = round_trip(exercise.inputs(np.random.default_rng(seed)))
    assert exercise.verdict(inputs, round_trip(exercise.probe(inputs, right)))[0]
    assert not exercise.verdict(inputs, round_trip(exercise.probe(inputs, wrong)))[0]
