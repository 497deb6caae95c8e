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
        "README course map is stale: paste the output of "
        "`.venv/bin/python -m coursekit syllabus --map` between the markers")


def test_readme_gives_the_two_set_up_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
