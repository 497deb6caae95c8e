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


#: Fixtures that grade a whole batch in sandboxes (minutes on 2 cores): a test that uses one
#: is slow, and all the tests of one such fixture run on one worker.
_BATCHES = {"graded": "lessons-batch", "batch": None}


def pytest_collection_modifyitems(items):
    """Tests marked ``slow`` run in ``make test-slow``, not ``make test``: those that run
    whole lessons or sandboxed grading batches (marked here when they use a batch fixture,
    or by hand).

    Under ``pytest -n 2 --dist loadgroup``, the tests of one session-scoped batch fixture run
    on the same worker, so the batch is graded once, not once per worker: all the lessons'
    batch (tests/instructor/test_lessons.py) and the hostile batch of
    tests/instructor/test_grade.py."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, group in _BATCHES.items():
            if fixture in names:
                item.add_marker(pytest.mark.slow)
                item.add_marker(pytest.mark.xdist_group(group or item.module.__name__))
                break
