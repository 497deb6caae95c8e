"""Reports: hostile text made harmless, results written once and never through links."""

from __future__ import annotations

import csv
import io

import pytest

from coursekit.instructor.report import (
    Row,
    SubmissionResult,
    clean,
    csv_cell,
    csv_text,
    md_cell,
    shown_name,
    summary,
)
from coursekit.instructor.runs import RunFolder, Task


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("a\nb\r\tc", "a b c"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b]8;;http://evil\x07link\x1b]8;;\x07", "link"),
        ("abc\u202edef\u2066g\u200b", "abcdefg"),
        ("bell\x07 nul\x00 c1\x9b", "bell nul c1"),
    ],
)
def test_clean_keeps_only_visible_text(text, expected):
    assert clean(text) == expected


def test_clean_clips_long_text():
    assert len(clean("x" * 1000, limit=50)) == 50


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_never_start_a_formula(start):
    assert csv_cell(start + "HYPERLINK(1)").startswith("'")


def test_markdown_cells_stay_in_their_row():
    assert md_cell("a | b\n| c <b>") == "a \\| b \\| c &lt;b&gt;"


def test_file_names_show_their_controls_escaped():
    assert shown_name("a\nb\u202e.ipynb") == "a\\nb\\u202e.ipynb"


def _result(name: str, message: str) -> SubmissionResult:
    return SubmissionResult(name, "01_x.ipynb", "its file name",
                            [Row(name, "01_x.ipynb", "01-a", 0, 1, False, message, "uses x")])


def test_reports_defuse_every_cell():
    result = _result("=evil\n| forged |.ipynb", "=HYPERLINK(\"x\")\x1b[2J")
    rows = list(csv.reader(io.StringIO(csv_text([result]))))
    assert rows[1][0].startswith("'=") and rows[1][6].startswith("'=")
    assert "\x1b" not in rows[1][6]
    table = [line for line in summary([result], timeout=5).splitlines() if line.startswith("|")]
    assert len(table) == 3 and "| forged |" not in table[2]


def test_a_run_folder_is_new_and_never_writes_through_a_link(tmp_path):
    first, second = RunFolder.create(tmp_path, "f"), RunFolder.create(tmp_path, "f")
    assert first.path != second.path
    task = Task(tmp_path / "a.ipynb", "a.ipynb", "0" * 64)
    assert first.add(task, _result("a.ipynb", "m"))
    assert not first.add(task, _result("b.ipynb", "m"))  # a result is written once
    target = tmp_path / "target.txt"
    target.write_text("keep")
    (second.path / "grades.csv").symlink_to(target)
    second.write_reports([], timeout=5)  # the link is replaced, never followed
    assert target.read_text() == "keep" and not (second.path / "grades.csv").is_symlink()
    assert [r.submission for r in first.results([task])] == ["a.ipynb"]


def test_out_may_not_be_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ValueError, match="symbolic link"):
        RunFolder.create(tmp_path / "link", "f")
