"""Grading reports: results per submission, then ``grades.csv`` and ``grades.md``.

Everything a submission controls (its file name, the messages its code provoked) is treated
as hostile text: :func:`clean` drops control and bidirectional-formatting characters,
:func:`csv_cell` defuses spreadsheet formulas, :func:`md_cell` keeps a table row one row.
The run folder that holds them is :mod:`coursekit.instructor.runs`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

CSV_FIELDS = ("submission", "lesson", "exercise", "points", "max_points", "passed", "message",
              "flags")
MESSAGE_LIMIT = 400
#: Bidirectional formatting marks (they reorder what a reader sees) and zero-width characters.
_INVISIBLE = set("\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                 "\u2066\u2067\u2068\u2069\ufeff")
#: Unicode categories never shown as they are: controls, formats, surrogates (undecodable
#: bytes of a file name), private use, and line and paragraph separators.
_HIDDEN = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|.)")


def clean(text: str, *, limit: int = MESSAGE_LIMIT) -> str:
    """One line of visible text: terminal escape sequences, C0/C1 controls and bidi marks
    removed, whitespace runs collapsed, clipped to ``limit`` characters."""
    text = _ESCAPES.sub("", str(text))
    kept = []
    for char in text:
        if char in "\n\r\t":
            kept.append(" ")
        elif char in _INVISIBLE or unicodedata.category(char) in _HIDDEN:
            continue
        else:
            kept.append(char)
    one_line = " ".join("".join(kept).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def shown_name(name: str) -> str:
    """A submission's file name for a report: controls and bidi marks shown as escapes."""
    out = []
    for char in name:
        if char in _INVISIBLE or unicodedata.category(char) in _HIDDEN:
            out.append(ascii(char)[1:-1])
        else:
            out.append(char)
    return "".join(out)[:300]


def csv_cell(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    first = text.lstrip(" \u00a0\u2007\u202f\u3000")[:1]
    risky = first in ("=", "+", "-", "@") or text[:1] in ("\t", "\r")
    return "'" + text if risky else text


def md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell or list item (no row breaks, no raw HTML)."""
    text = clean(text, limit=10 * MESSAGE_LIMIT)
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;"),
                          ("`", "\\`"), ("[", "\\["), ("]", "\\]")):
        text = text.replace(char, escaped)
    return text


@dataclass(frozen=True)
class Row:
    """One line of ``grades.csv``: one exercise of one submission."""

    submission: str
    lesson: str
    exercise: str
    points: int
    max_points: int
    passed: bool
    message: str
    flags: str = ""


@dataclass
class SubmissionResult:
    """The grading of one submission."""

    submission: str
    lesson: str
    matched_by: str
    rows: list[Row] = field(default_factory=list)
    #: SHA-256 of the file graded, and the seed (hex) its inputs were drawn from.
    sha256: str = ""
    seed: str = ""

    @property
    def grader_failed(self) -> bool:
        """Whether the grader itself failed on this submission (a bug, a lost worker): such a
        result is reported, and graded again when its run is resumed."""
        return any(row.message.startswith("grading failed") for row in self.rows)

    @property
    def points(self) -> int:
        """Points earned."""
        return sum(row.points for row in self.rows)

    @property
    def max_points(self) -> int:
        """Points available."""
        return sum(row.max_points for row in self.rows)

    def to_json(self) -> str:
        """The result as JSON (what a run folder holds per submission)."""
        return json.dumps({"submission": self.submission, "lesson": self.lesson,
                           "matched_by": self.matched_by, "sha256": self.sha256,
                           "seed": self.seed, "rows": [asdict(row) for row in self.rows]},
                          ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str) -> SubmissionResult:
        """The inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(data["submission"], data["lesson"], data["matched_by"],
                   [Row(**row) for row in data["rows"]], str(data.get("sha256", "")),
                   str(data.get("seed", "")))


def csv_text(results: Sequence[SubmissionResult]) -> str:
    """``grades.csv``: one row per (submission, exercise), every text cell defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for result in results:
        for row in result.rows:
            writer.writerow([csv_cell(shown_name(row.submission)), csv_cell(clean(row.lesson)),
                             csv_cell(clean(row.exercise)), row.points, row.max_points,
                             "true" if row.passed else "false", csv_cell(clean(row.message)),
                             csv_cell(clean(row.flags))])
    return buffer.getvalue()


def summary(results: Sequence[SubmissionResult], *, timeout: int) -> str:
    """A readable Markdown summary: a table of totals, then each submission's exercises."""
    lines = ["# Grades", "",
             f"{len(results)} submission(s), each cell limited to {timeout} s.", "",
             "| submission | lesson | points | flags |", "|---|---|---|---|"]
    for result in results:
        flags = "; ".join(sorted({row.flags for row in result.rows if row.flags}))
        lines.append(f"| {md_cell(shown_name(result.submission))} | "
                     f"{md_cell(result.lesson or '?')} | {result.points} / {result.max_points} "
                     f"| {md_cell(flags)} |")
    for result in results:
        lines += ["", f"## {md_cell(shown_name(result.submission))}", "",
                  f"Lesson {md_cell(result.lesson or '?')} (recognised by "
                  f"{md_cell(result.matched_by)}): {result.points} / {result.max_points} "
                  "points.", ""]
        for row in result.rows:
            mark = "✔" if row.passed else "✘"
            label = f"{row.exercise} {row.points}/{row.max_points}" if row.exercise else "—"
            message = row.message.removeprefix(f"✔ {row.exercise}: ")
            flag = f" **flagged:** {md_cell(row.flags)}" if row.flags else ""
            lines.append(f"- {mark} {md_cell(label)}: {md_cell(message)}{flag}")
    return "\n".join(lines) + "\n"


def score_table(result: SubmissionResult) -> str:
    """A plain-text table of one graded notebook, for its student: exercise, ✔/✘, points."""
    name = shown_name(result.submission)
    if not result.lesson:
        return f"{name}: {clean(result.rows[0].message) if result.rows else 'not graded'}"
    width = max(len(row.exercise) for row in result.rows)
    lines = [f"{name} ({result.lesson})"]
    for row in result.rows:
        mark = "✔" if row.passed else "✘"
        line = f"  {mark} {row.exercise:<{width}}  {row.points}/{row.max_points}"
        if not row.passed:
            line += f"  {clean(row.message, limit=160)}"
        lines.append(line)
    lines.append(f"  total {result.points}/{result.max_points}")
    return "\n".join(lines)
