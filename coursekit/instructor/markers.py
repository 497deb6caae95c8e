"""Solution regions: whole-line ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers.

A region is found by exact whole-line markers (indentation allowed). Any other line that
mentions a marker (a typo such as ``### Begin Solution``, a marker after code, a marker with
two hashes) is an error rather than ordinary text, because text that looks like a marker but
is not one would silently leak a solution into the student edition.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from coursekit.instructor.cells import LessonFormatError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
#: What a student sees in place of a markdown answer region (nbgrader's wording).
ANSWER_PLACEHOLDER = "YOUR ANSWER HERE"

_MENTION = re.compile(r"(BEGIN|END)\s*SOLUTION", re.IGNORECASE)


class MarkerError(LessonFormatError):
    """A malformed solution marker; the message names the notebook, the cell and the line."""


@dataclass(frozen=True)
class Region:
    """One solution region: 0-based line numbers of its two marker lines, and its indent."""

    begin: int
    end: int
    indent: str


def find_regions(source: str, *, where: str) -> list[Region]:
    """Return the solution regions of a cell's ``source``, in order.

    Parameters
    ----------
    source : str
        The cell's source.
    where : str
        Names the notebook and cell in error messages (``"notebooks/01_x.ipynb, cell 7"``).

    Raises
    ------
    MarkerError
        On a BEGIN without END, an END without BEGIN, nested regions, or a line that mentions
        a marker without being exactly one.
    """
    regions: list[Region] = []
    open_line: int | None = None
    lines = source.splitlines()
    for number, line in enumerate(lines):
        if not _MENTION.search(line):
            continue
        stripped = line.strip()
        if stripped == BEGIN:
            if open_line is not None:
                raise MarkerError(
                    f"{where}, line {number + 1}: nested '{BEGIN}' (the region opened on "
                    f"line {open_line + 1} is not closed yet)"
                )
            open_line = number
        elif stripped == END:
            if open_line is None:
                raise MarkerError(f"{where}, line {number + 1}: '{END}' without a '{BEGIN}'")
            begin_line = lines[open_line]
            indent = begin_line[: len(begin_line) - len(begin_line.lstrip())]
            regions.append(Region(open_line, number, indent))
            open_line = None
        else:
            raise MarkerError(
                f"{where}, line {number + 1}: a solution marker must be a whole line reading "
                f"exactly '{BEGIN}' or '{END}', got {stripped!r}"
            )
    if open_line is not None:
        raise MarkerError(f"{where}, line {open_line + 1}: '{BEGIN}' without an '{END}'")
    return regions


def strip_regions(source: str, regions: list[Region], replacement: list[str]) -> str:
    """Replace each region (markers included) by ``replacement`` lines at the region's indent.

    Markdown regions are indented with nothing in practice; code keeps the indentation of
    its ``BEGIN`` line, so a region inside a function body stays inside the body.
    """
    lines = source.splitlines()
    out: list[str] = []
    position = 0
    for region in regions:
        out.extend(lines[position : region.begin])
        out.extend(region.indent + text for text in replacement)
        position = region.end + 1
    out.extend(lines[position:])
    text = "\n".join(out)
    return text + "\n" if source.endswith("\n") else text


def code_placeholder(exercise: str) -> list[str]:
    """The lines that replace a code solution region of ``exercise``."""
    return ["# YOUR CODE HERE", f"raise NotImplementedError({json.dumps(exercise)})"]


def solution_lines(source: str, regions: list[Region]) -> list[str]:
    """The lines strictly inside the regions (what must never reach a student)."""
    lines = source.splitlines()
    return [line for region in regions for line in lines[region.begin + 1 : region.end]]
