"""Every lesson's references and valid versions pass its checks, on the lesson's own cases and
on fresh ones, and the plain-data wire changes no verdict.

Each ``tests/checks/test_lessonNN.py`` declares ``REFERENCES`` (exercise id -> the reference
solution) and ``VALID_VERSIONS`` (exercise id -> valid versions written differently: a function,
or a tuple of the objects the check takes). A version given as a solution cell's source (a
string) is defined and tested by its own lesson's tests, and run in its lesson by
test_valid_versions.py.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from coursekit.instructor.syllabus import load_syllabus
from tests.checks.wire import assert_same_verdict_over_the_wire

ROOT = Path(__file__).resolve().parents[2]
LESSONS = [lesson.number for lesson in load_syllabus(ROOT / "syllabus.toml").lessons]


def _declared(name: str) -> list[tuple[str, str, int, Any]]:
    """(lesson, exercise id, k, version) for every callable or tuple entry of ``name``."""
    found = []
    for number in LESSONS:
        tests = importlib.import_module(f"tests.checks.test_lesson{number}")
        entries = getattr(tests, name, {})
        for exercise_id, versions in entries.items():
            versions = versions if isinstance(versions, list) else [versions]
            found += [(number, exercise_id, k, version) for k, version in enumerate(versions)
                      if not isinstance(version, str)]
    return found


REFERENCES = _declared("REFERENCES")
VERSIONS = _declared("VALID_VERSIONS")


def _check(number: str, exercise_id: str) -> Any:
    return importlib.import_module(f"coursekit.checks.lesson{number}").EXERCISES[exercise_id]


def _objects(version: Any) -> tuple[Any, ...]:
    return version if isinstance(version, tuple) else (version,)


@pytest.mark.parametrize(("number", "exercise_id", "k", "reference"), REFERENCES,
                         ids=[f"{e}" for _, e, _, _ in REFERENCES])
def test_the_reference_passes(number, exercise_id, k, reference, capsys):
    _check(number, exercise_id).check(*_objects(reference))
    assert capsys.readouterr().out.startswith(f"✔ {exercise_id}:")


@pytest.mark.parametrize(("number", "exercise_id", "k", "version"), VERSIONS,
                         ids=[f"{e}-v{k}" for _, e, k, _ in VERSIONS])
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_valid_versions_pass_on_any_inputs(number, exercise_id, k, version, seed, capsys):
    _check(number, exercise_id).check(*_objects(version),
                                      **({} if seed is None else {"seed": seed}))
    assert f"✔ {exercise_id}:" in capsys.readouterr().out


@pytest.mark.parametrize(("number", "exercise_id", "k", "version"), VERSIONS,
                         ids=[f"{e}-v{k}" for _, e, k, _ in VERSIONS])
def test_the_wire_changes_no_verdict(number, exercise_id, k, version):
    assert_same_verdict_over_the_wire(_check(number, exercise_id), *_objects(version))
