"""The class gradebook: every graded run in one SQLite file (no server).

Tables (``sqlite3 build/gradebook.sqlite .schema`` shows them):

- ``runs``: one row per run folder, with the time its results were recorded and the engine;
- ``submissions``: one row per graded file in a run: its student (``NULL`` when unmatched),
  lesson, SHA-256, the seed its inputs were drawn from, points, the file's modification time,
  and whether it counts: when a student hands in several files for one lesson, the most
  recently modified one counts, never the best of them;
- ``exercises``: one row per exercise of each submission: points, passed, message, flags;
- ``unmatched``: submissions no student could be found for (also in ``submissions``);
- views ``latest_scores`` and ``best_scores``: per student and lesson, the points of the file
  graded last (``graded_at``: when its result was written, not when its run was recorded) and
  the best ever.

Recording a run again (a resumed run, a merge run twice) replaces its rows, never doubles them,
and keeps each submission's grading time: re-merging an old run does not make its old scores
the latest.
:func:`export_csv` writes what an LMS imports: one row per student, one column per lesson.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path

from coursekit.instructor.report import SubmissionResult, csv_cell, shown_name
from coursekit.instructor.runs import Task

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run TEXT PRIMARY KEY, folder TEXT NOT NULL, recorded_at TEXT NOT NULL,
    engine TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    run TEXT NOT NULL REFERENCES runs(run), key TEXT NOT NULL, submission TEXT NOT NULL,
    student TEXT, lesson TEXT NOT NULL, sha256 TEXT NOT NULL, seed TEXT NOT NULL,
    points INTEGER NOT NULL, max_points INTEGER NOT NULL, modified REAL NOT NULL,
    counted INTEGER NOT NULL, graded_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (run, key));
CREATE TABLE IF NOT EXISTS exercises (
    run TEXT NOT NULL, key TEXT NOT NULL, exercise TEXT NOT NULL,
    points INTEGER NOT NULL, max_points INTEGER NOT NULL, passed INTEGER NOT NULL,
    message TEXT NOT NULL, flags TEXT NOT NULL, PRIMARY KEY (run, key, exercise));
CREATE TABLE IF NOT EXISTS unmatched (
    run TEXT NOT NULL, submission TEXT NOT NULL, reason TEXT NOT NULL);
CREATE VIEW IF NOT EXISTS lesson_scores AS
    SELECT s.student, s.lesson, s.run, r.recorded_at, s.graded_at, s.points, s.max_points
    FROM submissions AS s JOIN runs AS r USING (run)
    WHERE s.student IS NOT NULL AND s.lesson != '' AND s.counted = 1;
CREATE VIEW IF NOT EXISTS latest_scores AS
    SELECT student, lesson, MAX(points) AS points, max_points, graded_at
    FROM lesson_scores AS l
    WHERE graded_at = (SELECT MAX(graded_at) FROM lesson_scores AS m
                       WHERE m.student = l.student AND m.lesson = l.lesson)
    GROUP BY student, lesson;
CREATE VIEW IF NOT EXISTS best_scores AS
    SELECT student, lesson, MAX(points) AS points, max_points
    FROM lesson_scores GROUP BY student, lesson;
"""

SCORES = ("latest", "best")
#: The layout above; a gradebook of another layout is refused, not mixed (layout 2, the
#: same without ``graded_at``, is brought up to date).
LAYOUT = 3

#: Layout 2 -> 3: each submission's grading time (its run's recording time, the best known),
#: and the views that read it.
_FROM_2 = """
ALTER TABLE submissions ADD COLUMN graded_at REAL NOT NULL DEFAULT 0;
UPDATE submissions SET graded_at = (SELECT CAST(strftime('%s', substr(recorded_at, 1, 19))
                                                AS REAL) FROM runs
                                    WHERE runs.run = submissions.run);
DROP VIEW IF EXISTS latest_scores;
DROP VIEW IF EXISTS best_scores;
DROP VIEW IF EXISTS lesson_scores;
"""


def _connect(path: Path) -> sqlite3.Connection:
    path = Path(path)
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link; give the gradebook's real path")
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=60)
    found = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    if tables and found == 2:
        with connection:
            connection.executescript(_FROM_2)
        found = LAYOUT
    if tables and found != LAYOUT:
        connection.close()
        raise ValueError(f"{path} is a gradebook of another layout ({found}, this is "
                         f"{LAYOUT}): give a new --gradebook path")
    connection.executescript(SCHEMA)
    connection.execute(f"PRAGMA user_version = {LAYOUT}")
    return connection


def record_run(path: Path, run: Path, tasks: Sequence[Task],
               results: Sequence[SubmissionResult], students: Mapping[str, str | None],
               unmatched: Mapping[str, str], *, engine: str) -> None:
    """Put a finished run's results into the gradebook at ``path`` (made if missing), in one
    transaction: the gradebook holds the whole run or none of it."""
    run_id = _text(str(Path(run).resolve()))
    nanoseconds = time.time_ns()
    now = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(nanoseconds // 10**9))
           + f".{nanoseconds % 10**9:09d}Z")
    modified = {task.key: _modified(task.path) for task in tasks}
    counted = {files[-1].key for files in several_files(tasks, results, students,
                                                        modified).values()}
    with closing(_connect(path)) as db, db:
        before = dict(db.execute("SELECT key, graded_at FROM submissions WHERE run = ?",
                                 (run_id,)).fetchall())
        graded = {task.key: _graded_at(Path(run), task.key, before.get(task.key),
                                       nanoseconds / 1e9) for task in tasks}
        for table in ("exercises", "submissions", "unmatched"):
            db.execute(f"DELETE FROM {table} WHERE run = ?", (run_id,))  # noqa: S608
        db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
                   (run_id, str(Path(run).resolve()), now, engine))
        for task, result in zip(tasks, results, strict=True):
            student = students.get(task.name)
            db.execute("INSERT OR REPLACE INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                       "?, ?, ?)",
                       (run_id, task.key, shown_name(task.name),
                        None if student is None else _text(student), _text(result.lesson),
                        result.sha256 or task.sha256, result.seed, result.points,
                        result.max_points, modified[task.key], int(task.key in counted),
                        graded[task.key]))
            for row in result.rows:
                db.execute("INSERT OR REPLACE INTO exercises VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (run_id, task.key, _text(row.exercise), row.points, row.max_points,
                            int(row.passed), _text(row.message), _text(row.flags)))
        for name, reason in unmatched.items():
            db.execute("INSERT INTO unmatched VALUES (?, ?, ?)",
                       (run_id, shown_name(name), _text(reason)))


def several_files(tasks: Sequence[Task], results: Sequence[SubmissionResult],
                  students: Mapping[str, str | None],
                  modified: Mapping[str, float] | None = None
                  ) -> dict[tuple[str, str], list[Task]]:
    """(student, lesson) -> that student's files of that lesson, the one that counts (the
    most recently modified, then the last by name) last."""
    found: dict[tuple[str, str], list[Task]] = {}
    for task, result in zip(tasks, results, strict=True):
        student = students.get(task.name)
        if student is not None and result.lesson:
            found.setdefault((student, result.lesson), []).append(task)
    times = modified if modified is not None else {t.key: _modified(t.path) for t in tasks}
    return {pair: sorted(files, key=lambda t: (times[t.key], t.name))
            for pair, files in found.items()}


def _graded_at(run: Path, key: str, before: float | None, now: float) -> float:
    """When the submission ``key`` was graded in ``run``: its result file's time (written once),
    else what the gradebook recorded for it before, else ``now``."""
    try:
        return (run / "results" / f"{key}.json").stat().st_mtime
    except OSError:
        return before if before is not None else now


def _modified(path: Path) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


def _text(text: str) -> str:
    """``text`` as SQLite can store it (undecodable bytes of a file name escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def scores(path: Path, *, score: str = "latest") -> dict[str, dict[str, tuple[int, int]]]:
    """student -> lesson -> (points, max points), from the latest run or the best one."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    with closing(_connect(path)) as db:
        rows = db.execute(f"SELECT student, lesson, points, max_points FROM {score}_scores "
                          "ORDER BY student, lesson").fetchall()
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for student, lesson, points, max_points in rows:
        table.setdefault(student, {})[lesson] = (int(points), int(max_points))
    return table


def unmatched_submissions(path: Path) -> list[tuple[str, str, str]]:
    """``(run, submission, reason)`` of every submission no student was found for."""
    with closing(_connect(path)) as db:
        return [tuple(row) for row in db.execute(
            "SELECT run, submission, reason FROM unmatched ORDER BY run, submission")]


def export_csv(path: Path, lessons: Sequence[str], *, score: str = "latest") -> str:
    """The LMS export: a header ``student, <lesson>..., total``, then one row per student with
    the points of each lesson (empty where nothing was handed in) and their sum."""
    table = scores(path, score=score)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", *(lesson.removesuffix(".ipynb") for lesson in lessons),
                     "total"])
    for student in sorted(table):
        cells = [table[student].get(lesson) for lesson in lessons]
        total = sum(cell[0] for cell in cells if cell is not None)
        writer.writerow([csv_cell(shown_name(student)),
                         *("" if cell is None else cell[0] for cell in cells), total])
    return buffer.getvalue()
