"""Where grading tasks run: this machine's cores, or a Dask cluster.

An engine takes a prepared :class:`~coursekit.instructor.grade.Grader` and a list of
:class:`~coursekit.instructor.runs.Task`, grades each one exactly once, and hands every result
to ``done`` in the calling thread as soon as it is ready (the caller writes it to the run
folder, so a result is never written twice, whichever worker computed it).

- :class:`LocalEngine` grades ``jobs`` submissions at a time here (each in its own sandbox).
- :class:`~coursekit.instructor.dask_engine.DaskEngine` sends each submission's bytes to a
  Dask ``distributed`` cluster: a
  ``LocalCluster`` of worker processes on loopback when no address is given, or the scheduler
  at ``tcp://...`` of a cluster an instructor runs (dask-jobqueue on Slurm, dask-kubernetes).
  Each worker builds its own grader once (a worker plugin) and runs the sandbox where it is;
  workers need coursekit, bubblewrap and the lessons folder at the same path. A worker that
  dies takes its running task with it and Dask gives the task to another worker; the result
  reaches ``done`` once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from coursekit.instructor.cells import LessonFormatError
from coursekit.instructor.grade import SUBMISSION_LIMIT, Grader
from coursekit.instructor.report import Row, SubmissionResult, clean
from coursekit.instructor.runs import Task, plan_tasks

Done = Callable[[Task, SubmissionResult], None]


class Engine(Protocol):
    """Grades tasks and hands each result to ``done``."""

    def run(self, grader: Grader, tasks: Sequence[Task], done: Done) -> None:
        """Grade every task once; ``done(task, result)`` is called in the calling thread."""


def failed(name: str, why: str) -> SubmissionResult:
    """The result of a submission the grader itself could not grade (its one row says why)."""
    return SubmissionResult(name, "", "nothing", [Row(
        name, "", "", 0, 0, False, f"grading failed: {clean(why, limit=200)}")])


def grade_bytes(grader: Grader, name: str, raw: bytes, seed: int | None) -> SubmissionResult:
    """``grader.grade_bytes``, with a grader bug costing only this submission (a broken
    instructor lesson still stops everything: nothing could be graded fairly)."""
    try:
        return grader.grade_bytes(raw, name, seed=seed)
    except LessonFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - one submission, never the batch
        return failed(name, f"{type(exc).__name__}: {exc}")


def read_task(grader: Grader, task: Task) -> bytes | SubmissionResult:
    """``task``'s file as bytes, or its result already when there is nothing to run: a file
    larger than the limit (not read) or one that cannot be read."""
    try:
        if Path(task.path).stat().st_size > SUBMISSION_LIMIT:
            return grader.grade_file(task.path, task.name, seed=task.seed)
        return Path(task.path).read_bytes()
    except OSError as exc:
        return failed(task.name, f"the file could not be read ({type(exc).__name__})")


def grade_task(grader: Grader, task: Task) -> SubmissionResult:
    """Grade ``task`` here (its file read now)."""
    raw = read_task(grader, task)
    if isinstance(raw, SubmissionResult):
        return raw
    return grade_bytes(grader, task.name, raw, task.seed)


@dataclass
class LocalEngine:
    """``jobs`` submissions at a time on this machine."""

    jobs: int = 1

    def run(self, grader: Grader, tasks: Sequence[Task], done: Done) -> None:
        grader.prepare()
        reported: set[int] = set()
        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            futures = {pool.submit(grade_task, grader, task): task for task in tasks}
            try:
                for future in as_completed(futures):
                    reported.add(id(future))
                    done(futures[future], future.result())
            except KeyboardInterrupt:  # Ctrl-C: start nothing new, keep what is running
                for future in futures:
                    future.cancel()
                pool.shutdown(wait=True)
                for future, task in futures.items():
                    if id(future) not in reported and future.done() and not future.cancelled() \
                            and future.exception() is None:
                        done(task, future.result())
                raise
            except BaseException:  # a broken lesson: nothing can be graded fairly
                for future in futures:
                    future.cancel()
                raise


def grade_batch(
    grader: Grader,
    submissions: Sequence[tuple[Path, str]],
    *,
    jobs: int = 1,
    progress: Callable[[int, SubmissionResult], None] | None = None,
) -> list[SubmissionResult]:
    """Grade ``(path, name)`` submissions ``jobs`` at a time on this machine and return the
    results in the submissions' order (``progress(index, result)`` as each one is ready); one
    broken submission never stops the others."""
    tasks = plan_tasks(submissions)
    index = {task.key: i for i, task in enumerate(tasks)}
    results: dict[int, SubmissionResult] = {}

    def done(task: Task, result: SubmissionResult) -> None:
        results[index[task.key]] = result
        if progress is not None:
            progress(index[task.key], result)

    LocalEngine(jobs).run(grader, tasks, done)
    return [results[i] for i in range(len(tasks))]
