"""Exercises as declarations: a function exercise in one call, a behaviour exercise as rules.

A function exercise calls the student's function on cases and compares what comes back with a
reference. :func:`function` takes what differs from one such exercise to the next (the
arguments, which must come back unchanged, the cases, the reference, the tolerance, the known
mistakes, what a raised error means) and owns the rest: the probe
(:func:`coursekit.exercise.probing.call_each`), the loop over cases, the "where" prefix, the
type and shape checks, the float32 refusal (:func:`coursekit.exercise.mistakes.match`).

An exercise judged on a behaviour (a training loop, a module's modes) keeps a probe of its own
and a judge made of named :class:`Rule` s (:func:`rules`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coursekit.exercise.judging import (
    Data,
    Tolerance,
    changed_message,
    fail,
    raised_message,
    results,
)
from coursekit.exercise.mistakes import TOLERANCE, Mistake, match
from coursekit.exercise.probing import call_each, describe_value
from coursekit.exercise.spec import Exercise
from coursekit.exercise.view import view

#: The cases of an exercise: a list of ``{argument name: plain value}``.
Cases = list[dict[str, Any]]


@dataclass(frozen=True)
class Raised:
    """What an exception of ``type`` whose message contains ``contains`` means in this
    exercise; ``{message}`` in ``says`` is replaced by the exception's message."""

    type: str
    says: str
    contains: str = ""

    def explains(self, got: Data) -> str | None:
        """The message for a raised call this entry explains, else None."""
        if isinstance(got, dict) and got.get("kind") == "raised" and got.get("type") == self.type \
                and self.contains in str(got.get("message")):
            return self.says.replace("{message}", str(got.get("message")))
        return None


@dataclass(frozen=True)
class Rule:
    """One thing a behaviour judge enforces: ``test(inputs, data)`` returns when it holds and
    raises :func:`~coursekit.exercise.judging.fail` naming what broke it otherwise."""

    name: str
    test: Callable[[Data, Data], None]


def rules(*checks: Rule, passed: str, each_case: bool = False) -> Callable[[Data, Data], str]:
    """A judge that applies ``checks`` in order and returns ``passed`` when all hold.

    With ``each_case`` the inputs are ``{"cases": [...]}`` and the data one result per case:
    every rule runs on the first case (as ``test({"cases": [case]}, [result])``) before any
    rule sees the next, so a case's first broken rule is named, in the order the lesson's
    cases go from simple to unusual.
    """

    def judge(inputs: Data, data: Data) -> str:
        if not each_case:
            for rule in checks:
                rule.test(inputs, data)
            return passed
        cases = inputs["cases"]
        for case, got in zip(cases, results(data, len(cases)), strict=True):
            if not isinstance(got, dict):
                raise fail("the check received malformed data")
            for rule in checks:
                rule.test({**inputs, "cases": [case]}, [got])
        return passed

    judge.__doc__ = "Rules, in order: " + "; ".join(rule.name for rule in checks) + "."
    return judge


def function(id: str, *, names: Sequence[str], args: Sequence[str],
             cases: Callable[[np.random.Generator], Cases],
             reference: Callable[..., Any], where: Callable[..., str], passed: str,
             keep: Sequence[str] = (), keywords: bool | Sequence[str] = False,
             may_become_result: Sequence[str] = (), mistakes: Sequence[Mistake] = (),
             raised: Sequence[Raised] = (), explain: Callable[..., str | None] | None = None,
             tolerance: Tolerance = TOLERANCE,
             float64: bool = False, parts: Sequence[str] = (),
             probe: Callable[..., Data] | None = None,
             arguments: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None,
             student: Callable[[Callable[..., Any]], tuple[Any, ...]] | None = None,
             implemented_by: Sequence[str] = ()) -> Exercise:
    """Declare an exercise that calls the student's function on cases.

    Parameters
    ----------
    id, names, implemented_by
        As :class:`~coursekit.exercise.spec.Exercise`.
    args : sequence of str
        The student's function's parameters, in order; each case gives a plain value for each
        (leaving out a trailing one calls without it).
    cases : callable
        ``cases(rng) -> [{arg: value}, ...]``, the lesson's numbers first.
    reference : callable
        The right answer, called like the student's function on the case's arguments.
    where : callable
        ``where(*arguments) -> str``: the prefix of a failure on that case (``"J(θ=0.5) on 3
        points"``).
    passed : str
        The line printed when every case passes; ``{n}`` is the number of cases.
    keep : sequence of str
        Arguments that must come back unchanged (a later cell uses them again).
    keywords : bool or sequence of str
        Call by the parameters' names, as the lesson's later cells do: True for every one, or
        the names passed by name (the others positionally, in order).
    may_become_result : sequence of str
        Kept arguments that may change when the function returns that very array.
    mistakes : sequence of Mistake
        Known wrong versions, each with its message; tried in order.
    raised : sequence of Raised
        What particular exceptions mean here (otherwise: "your function raised ...").
    explain : callable
        ``explain(got, *arguments) -> str | None``: a mistake that needs the answer itself to
        be named (:func:`~coursekit.exercise.mistakes.match`).
    tolerance, float64
        How close to the reference; ``float64`` refuses float32 answers and answers right only
        to float32 precision, with a message saying why the lesson needs float64.
    parts : sequence of str
        Names of the items when the reference returns a tuple (``("dx", "dW", "db")``).
    probe, arguments
        For arguments that are not plain data (a function built from coefficients): a probe of
        :mod:`coursekit.probes` that returns one description per case, and
        ``arguments(case) -> tuple`` building the same arguments here for the reference and
        the mistakes.
    student : callable
        ``student(wrong) -> objects`` as the check takes them, for a check that takes more
        than the function itself (a class whose method calls it); used to test each mistake.
    """
    call = {"args": list(args), "keep": list(keep),
            "keywords": keywords if isinstance(keywords, bool) else list(keywords),
            "may_become_result": list(may_become_result)}

    def build(case: Mapping[str, Any]) -> tuple[Any, ...]:
        if arguments is not None:
            return arguments(case)
        return tuple(case[name] for name in args if name in case)

    def inputs(rng: np.random.Generator) -> Data:
        return {"call": call, "cases": cases(rng)}

    def judge(given: Data, data: Data) -> str:
        drawn = given["cases"]
        for case, got in zip(drawn, results(data, len(drawn)), strict=True):
            values = build(case)
            for entry in raised:
                explained = entry.explains(got)
                if explained is not None:
                    raise fail(f"{where(*values)}: {explained}")
            if isinstance(got, dict) and got.get("kind") == "raised" and not got.get("stub"):
                raise fail(f"{where(*values)}: {raised_message(got)}")
            if probe is None:
                _left_alone(case, got, where(*values))
            with np.errstate(all="ignore"):
                want = reference(*values)
            match(view(got), want, where=where(*values), args=values, mistakes=mistakes,
                  tolerance=tolerance, float64=float64, parts=parts, explain=explain,
                  strict=True)
        return passed.replace("{n}", str(len(drawn)))

    def _left_alone(case: Mapping[str, Any], got: Any, at: str) -> None:
        """The kept arguments as a second call on writable copies left them (``kept_after``,
        :func:`~coursekit.exercise.probing.call_each`) equal the drawn inputs, exactly."""
        if not isinstance(got, dict) or got.get("kind") in ("raised", "changed",
                                                            "not_callable"):
            return
        after = got.get("kept_after")
        watched = [name for name in keep if name in case and name not in may_become_result]
        if not isinstance(after, dict) or sorted(after) != sorted(watched):
            raise fail("the check received malformed data")
        changed = [name for name in watched
                   if not _identical(after[name], describe_value(case[name]))]
        if changed:
            raise fail(f"{at}: {changed_message({'names': changed})}")

    judge.__qualname__ = judge.__name__ = f"judge_{id.replace('-', '_')}"
    return Exercise(id, inputs, probe or call_each, judge, implemented_by=tuple(implemented_by),
                    names=tuple(names), mistakes=tuple(mistakes),
                    student=student or (lambda wrong: (wrong,)), arguments=build)


def _identical(a: Any, b: Any) -> bool:
    """Whether two descriptions (plain data) are the same, value for value: arrays of one
    shape and equal entries (NaN equal to NaN), dicts and lists item by item."""
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b) and \
            all(_identical(a[key], b[key]) for key in a)
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return isinstance(a, list | tuple) and isinstance(b, list | tuple) and \
            len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        return bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN
    return bool(a == b) and type(a) is type(b)
