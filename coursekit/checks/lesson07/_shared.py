"""What the checks of lesson 07 share: the tolerance, the probe's per-case records, and
:func:`case_by_case`, which lesson 08 uses too."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from coursekit.exercise import Exercise, Got, Tolerance, fail
from coursekit.exercise.judging import Data, Failure, results

#: How close a student's number must be to the reference's (float32 tensors).
TOLERANCE: Tolerance = {"rtol": 1e-5, "atol": 1e-6}


def case_by_case(exercise: Exercise, *, first: Callable[..., None] | None = None,
                 fitting: Callable[..., int] | None = None) -> Exercise:
    """``exercise`` (a :func:`~coursekit.exercise.function` declaration) judged one case at a
    time, for what the declaration cannot say (local: the framework has no hook for it).

    ``first(got, *arguments)`` runs on each case's answer (not on a raised call) before the
    declared comparison: it refuses what equal values cannot show (a type, a dtype).
    ``fitting(got, *arguments)`` counts the known mistakes that fit a failing case; where more
    than one does, a later case that names one alone is preferred, and the first such failure
    is raised only when none does.
    """
    declared, build = exercise.judge, exercise.arguments
    assert build is not None

    def judge(given: Data, data: Data) -> str:
        cases, ambiguous = given["cases"], None
        for case, got in zip(cases, results(data, len(cases)), strict=True):
            answer = Got(got) if isinstance(got, dict) else None
            try:
                if first is not None and answer is not None and \
                        answer.kind not in ("raised", "changed", "not_callable"):
                    first(answer, *build(case))
                declared({**given, "cases": [case]}, [got])
            except Failure as failure:
                if fitting is None or answer is None or fitting(answer, *build(case)) < 2:
                    raise
                ambiguous = ambiguous or failure
        if ambiguous is not None:
            raise ambiguous
        return declared(given, data)

    judge.__qualname__ = judge.__name__ = declared.__name__
    return dataclasses.replace(exercise, judge=judge)


def records(inputs: Data, data: Data) -> list[tuple[Data, Got]]:
    """Each case with the probe's record of it (a dict of plain data)."""
    cases = inputs["cases"]
    found = results(data, len(cases))
    if not all(isinstance(record, dict) for record in found):
        raise fail("the check received malformed data")
    return [(case, Got(record)) for case, record in zip(cases, found, strict=True)]

