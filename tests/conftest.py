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
