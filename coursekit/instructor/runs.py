"""A grading run's folder, and the unit of work that fills it.

One :class:`Task` grades one submission; its key is made of the submission's name and the
SHA-256 of its content, so a file graded once is never graded again in the same run, and a file
changed since is (its key is new). A run folder holds::

    OUT/grades-<time>-<id>/         (or any folder given with --run)
        run.json                    what grades it: the grader's fingerprint, written once
        results/<key>.json          one per task, written whole and once, never overwritten
        shards/<K>-of-<N>.json      a finished shard's share (sharded runs only)
        grades.csv, grades.md       the class report, rewritten when a resumed run finishes
        feedback/<student>/<file>.md

Nothing is ever written through a symbolic link, and a result is linked into place only when
complete: a grader killed at any moment leaves whole results behind, and resuming grades only
the tasks without one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coursekit.instructor.files import write_new, write_replacing
from coursekit.instructor.report import SubmissionResult, csv_text, summary

#: Bumped when the folder's layout changes; a run of another format is not resumed.
FORMAT = 1


@dataclass(frozen=True)
class Task:
    """One submission to grade: where it is, what it is called, what it contains.

    ``seed`` draws its inputs again (an appeal, :func:`coursekit.instructor.class_run`);
    ``None`` draws fresh ones.
    """

    path: Path
    name: str
    sha256: str
    seed: int | None = None

    @property
    def key(self) -> str:
        """24 hex digits naming the task's result: the same name and content, the same key."""
        text = self.name.encode("utf-8", "surrogateescape") + b"\0" + self.sha256.encode()
        return hashlib.sha256(text).hexdigest()[:24]


def file_digest(path: Path) -> str:
    """SHA-256 (hex) of the file at ``path``, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_tasks(submissions: Iterable[tuple[Path, str]]) -> list[Task]:
    """A task per ``(path, name)`` (what :func:`~coursekit.instructor.grade.find_submissions`
    returns), with its content's digest."""
    return [Task(Path(path), name, file_digest(path)) for path, name in submissions]


def fingerprint(roots: Sequence[Path], *extra: str) -> str:
    """SHA-256 over every file under ``roots`` (each named by its path relative to its root,
    so two machines with the course at different places agree; hidden files and caches left
    out) and the ``extra`` texts: what a run's verdicts depend on."""
    digest = hashlib.sha256()
    for text in extra:
        digest.update(text.encode("utf-8", "surrogateescape") + b"\0")
    for number, root in enumerate(roots):
        root = Path(root)
        files = sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                       if path.is_file() and not path.is_symlink()
                       and not any(part.startswith(".") or part == "__pycache__"
                                   for part in path.relative_to(root).parts))
        for relative in files:
            digest.update(f"{number}:{relative}".encode("utf-8", "surrogateescape") + b"\0")
            digest.update(file_digest(root / relative).encode() + b"\0")
    return digest.hexdigest()


def _real_folder(path: Path, what: str) -> Path:
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link; give a real folder for {what}")
    return path


class RunFolder:
    """A run folder (see the module's docstring). Make one with :meth:`create` (a new folder
    under ``OUT``) or :meth:`at` (a folder shared by shards, or one to resume)."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint

    @classmethod
    def create(cls, out: Path, fingerprint: str) -> RunFolder:
        """A new folder ``OUT/grades-<time>-<random>/`` (never an existing one)."""
        out = _real_folder(Path(out), "--out")
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = out / f"grades-{stamp}-{secrets.token_hex(3)}"
        path.mkdir()  # fails if it exists
        return cls._initialise(path, fingerprint)

    @classmethod
    def at(cls, path: Path, fingerprint: str, *, must_exist: bool) -> RunFolder:
        """The run folder ``path``: made if missing (unless ``must_exist``: resuming), and
        refused if it was begun by a grader with other checks, lessons or syllabus."""
        path = _real_folder(Path(path), "the run folder")
        if must_exist and not (path / "run.json").is_file():
            raise ValueError(f"{path} is not a grading run (no run.json): nothing to resume")
        path.mkdir(parents=True, exist_ok=True)
        return cls._initialise(path, fingerprint)

    @classmethod
    def _initialise(cls, path: Path, fingerprint: str) -> RunFolder:
        _real_folder(path / "results", "results").mkdir(exist_ok=True)
        record = json.dumps({"format": FORMAT, "fingerprint": fingerprint,
                             "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        try:
            write_new(path / "run.json", record)
        except FileExistsError:  # a run begun before (a resume, or another shard)
            found = json.loads((path / "run.json").read_text(encoding="utf-8"))
            if found.get("format") != FORMAT:
                raise ValueError(f"{path} was written by another version of the grader "
                                 f"(format {found.get('format')}, this is {FORMAT})") from None
            if found.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"{path} was begun with other checks, lessons or syllabus than these "
                    "(their fingerprints differ): its verdicts and new ones would not be "
                    "comparable; grade into a new run folder") from None
        return cls(path, fingerprint)

    def _result_path(self, key: str) -> Path:
        if len(key) != 24 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a result key: {key!r}")
        return self.path / "results" / f"{key}.json"

    def has(self, task: Task) -> bool:
        """Whether ``task`` has a result here (one where the grader itself failed does not
        count: resuming grades it again)."""
        result = self.result(task)
        return result is not None and not result.grader_failed

    def add(self, task: Task, result: SubmissionResult) -> bool:
        """Write ``task``'s result; ``False`` (and nothing written) if it already had one,
        other than a grader failure, which a new result replaces."""
        path = self._result_path(task.key)
        try:
            write_new(path, result.to_json())
        except FileExistsError:
            if self.has(task):
                return False
            write_replacing(path, result.to_json())
        return True

    def result(self, task: Task) -> SubmissionResult | None:
        """``task``'s result, or ``None`` if it has none yet."""
        path = self._result_path(task.key)
        if path.is_symlink() or not path.is_file():
            return None
        return SubmissionResult.from_json(path.read_text(encoding="utf-8"))

    def results(self, tasks: Sequence[Task]) -> list[SubmissionResult]:
        """The results of ``tasks``, in their order, each exactly once (``KeyError`` naming
        the first task without one)."""
        found = []
        for task in tasks:
            result = self.result(task)
            if result is None:
                raise KeyError(f"{task.name} has no result in {self.path}")
            found.append(result)
        return found

    def write_reports(self, results: Sequence[SubmissionResult], *, timeout: int,
                      appendix: str = "") -> tuple[Path, Path]:
        """Write ``grades.csv`` and ``grades.md`` (``appendix`` at its end) for ``results``;
        return their paths."""
        csv_path, md_path = self.path / "grades.csv", self.path / "grades.md"
        write_replacing(csv_path, csv_text(results))
        write_replacing(md_path, summary(results, timeout=timeout) + appendix)
        return csv_path, md_path
