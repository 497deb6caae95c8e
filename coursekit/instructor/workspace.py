"""The student's workspace: student editions of every lesson, never overwritten.

``python -m coursekit workspace --out workspace notebooks/*.ipynb`` (run by ``make lab``)

- writes the student edition of each lesson that is not in the workspace yet;
- leaves every file already there alone, edited or not;
- when a lesson's student edition changed since it was written (the course was updated),
  writes the new one beside the student's as ``NN_name (updated).ipynb`` and says so;
- remembers what it wrote in ``.coursekit-workspace.json`` (a hash per lesson).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from coursekit.instructor.files import write_new
from coursekit.instructor.student import student_edition

RECORD = ".coursekit-workspace.json"


@dataclass(frozen=True)
class Change:
    """What happened to one lesson: ``added``, ``updated`` (written beside), ``current``."""

    lesson: str
    action: str
    path: Path

    def line(self) -> str:
        """One line for the terminal."""
        if self.action == "added":
            return f"added {self.path}"
        if self.action == "updated":
            return (f"{self.lesson} changed in the course: the new edition is {self.path}; "
                    "your file was left as it was")
        return f"{self.path} is up to date"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sync_workspace(lessons: Sequence[Path], out: Path) -> list[Change]:
    """Bring the workspace ``out`` up to date with ``lessons`` without touching any file a
    student may have edited; return what was done, lesson by lesson."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record_path = out / RECORD
    record: dict[str, str] = {}
    if record_path.is_file():
        try:
            loaded = json.loads(record_path.read_text(encoding="utf-8"))
            record = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) \
                else {}
        except ValueError:
            record = {}
    editions = {Path(path).name: nbformat.writes(
        student_edition(nbformat.read(path, as_version=4), path=str(path)))
        for path in lessons}
    changes = []
    for name, text in editions.items():
        target = out / name
        digest = _digest(text)
        if not target.exists():
            write_new(target, text)
            record[name] = digest
            changes.append(Change(name, "added", target))
            continue
        if record.get(name) == digest:
            changes.append(Change(name, "current", target))
            continue
        updated = target.with_name(f"{target.stem} (updated){target.suffix}")
        if updated.exists():
            if _digest(updated.read_text(encoding="utf-8")) == digest:
                changes.append(Change(name, "updated", updated))
                continue
            updated = _free_name(target)
        write_new(updated, text)
        changes.append(Change(name, "updated", updated))
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    return changes


def _free_name(target: Path) -> Path:
    for number in range(2, 1000):
        candidate = target.with_name(f"{target.stem} (updated {number}){target.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"too many updated copies of {target.name}")
