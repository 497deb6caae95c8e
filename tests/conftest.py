"""Shared test set-up: a non-interactive matplotlib backend, figures closed after each test,
and hypothesis profiles.

``make test`` uses the derandomized "course" profile, so CI draws the same examples every run
and a red build is reproducible. Hunt for new counterexamples with
``.venv/bin/python -m pytest tests --hypothesis-profile=explore``.
"""

import matplotlib
from hypothesis import settings

matplotlib.use("Agg")

settings.register_profile("course", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=500)
settings.load_profile("course")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def pytest_collection_modifyitems(items):
    """Under ``pytest -n 2 --dist loadgroup`` (make unit), tests that share an expensive
    module-scoped fixture run on the same worker, so the fixture is built once, not per
    worker: the grading of one lesson (tests/instructor/test_lessons.py) and the whole of
    tests/instructor/test_grade.py, whose module fixtures grade a batch."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "graded" in names:
            item.add_marker(pytest.mark.xdist_group(f"graded-{item.callspec.id}"))
        elif item.module.__name__.endswith("instructor.test_grade"):
            item.add_marker(pytest.mark.xdist_group("test_grade"))  # its module fixtures
