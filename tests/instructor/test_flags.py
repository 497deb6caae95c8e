"""The copy flagger reads the submission's text, so it works under a budget: a solution
written to make its analysis slow or huge is flagged "not analysed", fast, never passed over
in silence and never a hang of the grader."""

from __future__ import annotations

import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from coursekit.instructor import flags, sandbox
from coursekit.instructor.plan import lesson_plan
from coursekit.instructor.syllabus import load_syllabus
from tests.instructor import fake_lesson
from tests.instructor.sandboxed import grade_one


def _solution_cell(source: str, exercise: str = "99-double") -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"coursekit": {"exercise": exercise,
                                                        "role": "solution"}})


def _chains(cells: int) -> tuple[nbformat.NotebookNode, ...]:
    """Never-run 900-deep attribute chains, distinct names, about 200 kB a cell."""
    out = []
    for cell in range(cells):
        lines = [f"    x = a{cell}_{i}" + ".b" * 900 for i in range(110)]
        out.append(_solution_cell("if False:\n" + "\n".join(lines) + "\n"))
    return tuple(out)


def _flags(tmp_path, extra=(), solution=None):
    lessons, syllabus = fake_lesson.write_lesson(tmp_path)
    if str(lessons) not in sys.path:
        sys.path.insert(0, str(lessons))
    (lesson,) = load_syllabus(syllabus).lessons
    plan = lesson_plan(lesson, lessons / fake_lesson.LESSON, package=fake_lesson.PACKAGE)
    nb = fake_lesson.instructor_notebook()
    if solution is not None:
        nb = fake_lesson.edited(nb, "99-double-solution", solution)
    nb.cells.extend(extra)
    started = time.monotonic()
    found = flags.solution_flags(nb, plan, fake_lesson.PACKAGE)
    return found, time.monotonic() - started


def test_the_flagger_in_its_child_still_flags_a_copy_and_not_an_honest_solution(tmp_path):
    found, _ = _flags(tmp_path, solution="from fakechecks.lesson99 import reference_double "
                                          "as double")
    assert found == {"99-double": "uses fakechecks"}
    assert _flags(tmp_path / "honest")[0] == {}


def test_a_solution_too_slow_to_analyse_is_flagged_not_passed(tmp_path, monkeypatch):
    monkeypatch.setattr(flags, "FLAG_CPU_SECONDS", 1)
    found, seconds = _flags(tmp_path, extra=_chains(3))
    assert found["99-double"] == flags.NOT_ANALYSED
    assert seconds < flags.FLAG_WALL_SECONDS


def test_a_solution_too_large_to_analyse_is_flagged_at_once(tmp_path):
    padding = "# " + "x" * 199_997
    extra = [_solution_cell(padding) for _ in range(flags.FLAG_INPUT_LIMIT // 200_000 + 1)]
    found, seconds = _flags(tmp_path, extra=extra)
    assert found == {"99-double": flags.NOT_ANALYSED, "99-square": flags.NOT_ANALYSED}
    assert seconds < 5


def test_a_child_that_runs_out_of_memory_is_flagged_not_passed(tmp_path, monkeypatch):
    monkeypatch.setattr(flags, "FLAG_MEMORY_BYTES", 64 * 1024**2)
    found, _ = _flags(tmp_path, extra=_chains(1))
    assert found["99-double"] == flags.NOT_ANALYSED


@pytest.mark.slow
@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed")
def test_a_submission_cannot_stall_grading_through_the_flagger(tmp_path):
    # 600 kB of never-run chains in extra solution cells: minutes to analyse unbounded
    graded, seconds = grade_one(tmp_path, {}, extra_cells=_chains(3))
    assert graded["99-double"][2] == flags.NOT_ANALYSED
    assert graded["99-square"][:2] == (2, "5 cases")  # graded as usual
    assert seconds < flags.FLAG_WALL_SECONDS + 60


COPY = "from fakechecks.lesson99 import reference_double"


@pytest.mark.parametrize(("solution", "extra", "expected"), [
    # a magic assignment that made the parse fail and the cell be skipped
    ("x = %pwd\n    " + COPY + " as double", (), "uses fakechecks"),
    # the copy after 220 kB of comments (only the first 200,000 characters were read)
    ("#" + " padding" * 27_500 + "\n    " + COPY + " as double", (), "uses fakechecks"),
    # a coursekit name looked up by a string built at run time
    ("from coursekit import scratch\n    return getattr(scratch, 'MS' + 'E')()(x, 0)", (),
     "looks coursekit names up dynamically"),
    ("import sys\n    return sys.modules['coursekit.' + 'scratch']", (),
     "looks coursekit names up dynamically"),
    # the copy in an extra, untagged cell that redefines the function after the solution
    (None, (new_code_cell(COPY + " as double"),), "uses fakechecks (outside its solution cell)"),
])
def test_copies_the_red_team_hid_are_flagged(tmp_path, solution, extra, expected):
    found, _ = _flags(tmp_path, extra=extra, solution=None if solution is None else
                      "def double(x):\n    " + solution)
    assert expected in found.get("99-double", ""), found


def test_honest_extra_cells_and_the_instructors_own_cells_are_not_flagged(tmp_path):
    extra = (new_code_cell("print(double(3), square(4))  # trying it out"),
             new_code_cell("%timeit double(3)"))
    assert _flags(tmp_path, extra=extra)[0] == {}


def test_calling_the_method_that_does_the_exercise_is_flagged_but_self_is_not():
    implemented = {"05-backward": ["coursekit.autograd.Value.backward"]}
    copied = flags.analyse([("05-backward", "def backward(root):\n    root.backward()")],
                           implemented, "coursekit.checks")
    assert copied == {"05-backward": "uses coursekit.autograd.Value.backward"}
    own = flags.analyse([("05-backward", "def backward(root):\n    for v in order(root):\n"
                                         "        v._backward()\n    self.backward()")],
                        implemented, "coursekit.checks")
    assert own == {}


def test_a_piece_reached_through_an_alias_is_flagged():
    implemented = {"06-train-epoch": ["coursekit.pytorch.train_epoch"]}
    for source in ("import coursekit.pytorch as P\nP.train_epoch(model, loader, opt)",
                   "from coursekit import pytorch as tp\ntp.train_epoch(model, loader, opt)"):
        found = flags.analyse([("06-train-epoch", source)], implemented, "coursekit.checks")
        assert found == {"06-train-epoch": "uses coursekit.pytorch.train_epoch"}, source


@pytest.mark.parametrize("source", [
    "%time from coursekit.scratch import MSE as cost",
    "%timeit -n 1 from coursekit.scratch import MSE as cost",
    "from coursekit import scratch\nimport operator\n"
    "cost = operator.attrgetter('MS' + 'E')(scratch)",
    "from coursekit import scratch\nfrom functools import reduce\n"
    "cost = reduce(getattr, ['MS' + 'E'], scratch)",
    "from coursekit import scratch\ncost = object.__getattribute__(scratch, 'MS' + 'E')",
])
def test_timed_magics_and_indirect_look_ups_are_seen(source):
    found = flags.analyse([("01-mse-cost", source)],
                          {"01-mse-cost": ["coursekit.scratch.MSE"]}, "coursekit.checks")
    assert found.get("01-mse-cost"), source


def test_a_cell_that_is_not_python_is_flagged_as_not_analysed():
    found = flags.analyse([], {"99-double": []}, "fakechecks", others=["def (:"])
    assert found == {"99-double": flags.UNPARSABLE + flags.ELSEWHERE}


def _honest_versions() -> list[tuple[str, str, str]]:
    """(exercise, its lesson, source) of every valid version that is a named function or a
    solution cell's text, from each lesson's tests (a version that calls coursekit on purpose
    is flagged, rightly)."""
    import importlib
    import inspect
    import types

    found = []
    for name in ("VALID_VERSIONS",):
        for number in LESSON_NUMBERS:
            tests = importlib.import_module(f"tests.checks.test_lesson{number}")
            for exercise, versions in getattr(tests, name, {}).items():
                for version in versions if isinstance(versions, list) else [versions]:
                    for item in version if isinstance(version, tuple) else (version,):
                        if isinstance(item, str):
                            found.append((exercise, number, item))
                        elif isinstance(item, types.FunctionType | type) \
                                and item.__name__ != "<lambda>":
                            try:
                                found.append((exercise, number, inspect.getsource(item)))
                            except (OSError, TypeError):
                                pass
    return found


LESSON_NUMBERS = [f"{n:02d}" for n in range(1, 14)]


def test_no_valid_version_of_any_lesson_is_flagged_for_what_it_does_not_use():
    import importlib
    import textwrap

    flagged = []
    for exercise, number, source in _honest_versions():
        check = importlib.import_module(f"coursekit.checks.lesson{number}").EXERCISES[exercise]
        found = flags.analyse([(exercise, textwrap.dedent(source))],
                              {exercise: list(check.implemented_by)}, "coursekit.checks")
        uses = ("coursekit", "scratch.", "check.", "autograd.", "pytorch.", "torch_ref.")
        if found and not any(word in source for word in uses):
            flagged.append((exercise, found, source[:80]))
    assert not flagged, flagged
