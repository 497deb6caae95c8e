"""Everything derived from ``syllabus.toml``, written from it: ``python -m coursekit sync``.

The syllabus states each exercise's points once. The sync writes them into each lesson's check
cell (``metadata["coursekit"]["points"]``, which grading, the score cell and nbgrader read),
brings nbgrader's cell metadata in step (:mod:`.nbgrader`), and regenerates the README's
course map between its markers. ``--check`` changes nothing and lists what is out of step
(``make lint``, and so CI, runs it). Only metadata and the map change: sources and outputs
are never touched, and a file already in step is not rewritten.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from coursekit.instructor.cells import role_by_metadata
from coursekit.instructor.nbgrader import out_of_step, synced
from coursekit.instructor.syllabus import Syllabus, course_map, lesson_files

#: The README's course map lies between these markers (the first names the command).
MAP = re.compile(r"(<!-- course-map:start[^>]*-->\n)(.*?)(<!-- course-map:end -->)", re.S)


def points_of(syllabus: Syllabus) -> dict[str, int]:
    """``{exercise id: points}`` for every exercise of the syllabus."""
    return {item.id: item.points for lesson in syllabus.lessons for item in lesson.exercises}


def with_points(nb: NotebookNode, points: Mapping[str, int]) -> NotebookNode:
    """A copy of ``nb`` whose check cells carry the points ``points`` gives their exercise."""
    result = copy.deepcopy(nb)
    for cell in result.cells:
        tagged = role_by_metadata(cell)
        if tagged is not None and tagged[1] == "check" and tagged[0] in points:
            cell.metadata["coursekit"]["points"] = points[tagged[0]]
    return result


def readme_with_map(text: str, syllabus: Syllabus) -> str:
    """``text`` (the README) with the course map generated from ``syllabus``.

    Raises
    ------
    ValueError
        When the README lost its course-map markers.
    """
    if not MAP.search(text):
        raise ValueError("README.md has no <!-- course-map:start --> ... "
                         "<!-- course-map:end --> markers")
    return MAP.sub(lambda m: m.group(1) + course_map(syllabus) + m.group(3), text, count=1)


def sync_course(syllabus: Syllabus, lessons: Path, readme: Path, *,
                check: bool = False) -> list[str]:
    """Write the syllabus's points and nbgrader's metadata into every lesson of ``lessons``
    and the course map into ``readme``; returns what was (with ``check``: would be) changed,
    one line each."""
    changed = []
    points = points_of(syllabus)
    for path in lesson_files(lessons):
        nb = nbformat.read(path, as_version=4)
        wanted = with_points(nb, points)
        stale = [index for index, (old, new) in enumerate(zip(nb.cells, wanted.cells,
                                                              strict=True))
                 if old.metadata != new.metadata]
        stale_nbgrader = out_of_step(wanted, path=str(path))
        if not stale and not stale_nbgrader:
            continue
        changed.append(f"{path}: points of {len(stale)} check cell(s), nbgrader metadata of "
                       f"{len(stale_nbgrader)} cell(s)")
        if not check:
            nbformat.write(synced(wanted, path=str(path)), path)
    text = readme.read_text(encoding="utf-8")
    new = readme_with_map(text, syllabus)
    if new != text:
        changed.append(f"{readme}: the course map")
        if not check:
            readme.write_text(new, encoding="utf-8")
    return changed
