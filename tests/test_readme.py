"""The README's course map is the one generated from syllabus.toml."""

import re
from pathlib import Path

from coursekit.instructor.syllabus import course_map, load_syllabus

ROOT = Path(__file__).resolve().parents[1]


def test_readme_course_map_is_generated_from_the_syllabus():
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- course-map:start[^>]*-->\n(.*?)<!-- course-map:end -->", readme, re.S)
    assert found, "README.md lost its course-map markers"
    expected = course_map(load_syllabus(ROOT / "syllabus.toml"))
    assert found.group(1) == expected, (
        "README course map is stale: run `make sync` (python -m coursekit sync)")


def test_readme_gives_the_two_set_up_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme


def test_readme_installs_from_the_repository_and_claims_no_registry_name():
    import tomllib

    readme = (ROOT / "README.md").read_text()
    # `coursekit` on the public package index is someone else's project.
    assert "pip install coursekit" not in readme
    assert "pip install -c constraints.txt -e ." in readme
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert name != "coursekit"


def test_readme_states_the_set_up_facts_a_new_user_needs():
    readme = (ROOT / "README.md").read_text()
    for fact in ("Python 3.11, 3.12 or 3.13", "PYTHON=python3.12", "download.pytorch.org/whl/cpu",
                 "WSL", "macOS", "MB", "`make test` then takes", "## Using nbgrader instead",
                 "OMP_NUM_THREADS=1"):
        assert fact in readme, fact
