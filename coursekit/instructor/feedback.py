"""A feedback file per submission, written to hand back to the student as it is.

``RUN/feedback/<student>/<notebook>.md``: the student's name, the lesson, the score, a table of
every exercise with its points and the judge's message, the flags an instructor will look at,
and how to ask for the same grading again (the run and the seed its inputs were drawn from).
Everything the submission controls is made safe for Markdown first.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from coursekit.instructor.files import write_replacing
from coursekit.instructor.report import SubmissionResult, md_cell, shown_name
from coursekit.instructor.runs import Task

UNMATCHED = "_unmatched"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_part(text: str, *, limit: int = 80) -> str:
    """A file or folder name made of ``text``: letters, digits, ``._ -``, no leading dot."""
    part = _UNSAFE.sub("_", text).strip(" .")[:limit]
    return part or "_"


def student_folder(student: str) -> str:
    """The folder of ``student``'s feedback: their name when it is already a safe one, else
    its safe form and a hash of the name, so two students never share a folder."""
    part = safe_part(student)
    if part == student and part != UNMATCHED:
        return part
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{part[:70]}-{digest}"


def feedback_text(result: SubmissionResult, *, student: str | None, title: str,
                  run: str, counted: str | None = None) -> str:
    """The Markdown feedback for one graded submission; ``counted`` names the file that
    counts when the student handed in several for its lesson."""
    who = md_cell(student) if student else "(not matched to a student)"
    lines = [f"# Feedback: {md_cell(title or result.lesson or 'unknown lesson')}", "",
             f"- Student: {who}",
             f"- Submission: {md_cell(shown_name(result.submission))}",
             f"- Score: **{result.points} / {result.max_points}**", ""]
    if counted is not None:
        which = ("this one" if counted == result.submission
                 else md_cell(shown_name(counted)))
        lines[-1:] = [f"- You handed in several files for this lesson; the most recently "
                      f"modified counts: {which}.", ""]
    if result.lesson:
        lines += ["| exercise | points | what the check found |", "|---|---|---|"]
        for row in result.rows:
            mark = "✔" if row.passed else "✘"
            message = row.message.removeprefix(f"✔ {row.exercise}: ")
            lines.append(f"| {mark} {md_cell(row.exercise)} | {row.points} / {row.max_points} "
                         f"| {md_cell(message)} |")
    else:
        lines.append(md_cell(result.rows[0].message if result.rows else "not graded"))
    flags = sorted({(row.exercise, row.flags) for row in result.rows if row.flags})
    if flags:
        lines += ["", "Flagged for your instructor to look at (the points above stand until "
                      "they do):"]
        lines += [f"- {md_cell(exercise)}: {md_cell(flag)}" for exercise, flag in flags]
    lines += ["", f"Graded in run `{md_cell(run)}`; the exercises' inputs were drawn from seed "
                  f"`{md_cell(result.seed or '-')}`, so an appeal regrades this file with the "
                  "same inputs."]
    return "\n".join(lines) + "\n"


def write_feedback(run: Path, tasks: Sequence[Task], results: Sequence[SubmissionResult],
                   students: Mapping[str, str | None], titles: Mapping[str, str],
                   counted: Mapping[str, str] | None = None) -> list[Path]:
    """Write one feedback file per result under ``run/feedback/``; return their paths.

    ``students`` maps a submission name to its student (``None``: unmatched, filed under
    ``_unmatched/``); ``titles`` a lesson's notebook to its title; ``counted`` a submission
    that is one of several of a student's for one lesson to the one that counts."""
    root = Path(run) / "feedback"
    if root.is_symlink():
        raise ValueError(f"{root} is a symbolic link")
    shutil.rmtree(root, ignore_errors=True)  # a resumed run's old files must not linger
    written: list[Path] = []
    taken: set[Path] = set()
    for task, result in zip(tasks, results, strict=True):
        student = students.get(task.name)
        folder = root / (student_folder(student) if student else UNMATCHED)
        stem = task.name.rsplit("/", 1)[-1] if student else task.name.replace("/", "__")
        stem = safe_part(stem.removesuffix(".ipynb"))
        path, number = folder / f"{stem}.md", 0
        while path in taken:  # two submissions with one safe name: keep both
            number += 1
            path = folder / f"{stem}-{task.key[:8]}{'' if number == 1 else number}.md"
        taken.add(path)
        if folder.is_symlink():
            raise ValueError(f"{folder} is a symbolic link")
        folder.mkdir(parents=True, exist_ok=True)
        write_replacing(path, feedback_text(result, student=student,
                                            title=titles.get(result.lesson, ""),
                                            run=Path(run).name,
                                            counted=(counted or {}).get(task.name)))
        written.append(path)
    return written
