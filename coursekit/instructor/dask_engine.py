"""The Dask engine: grading tasks on a Dask ``distributed`` cluster.

A ``LocalCluster`` of worker processes on loopback when no address is given, or the scheduler
at ``tcp://...`` of a cluster an instructor runs (dask-jobqueue on Slurm, dask-kubernetes).
Each submission's bytes travel with its task, so workers need not see the submissions; they do
need coursekit, bubblewrap and the lessons folder at the same path as here. Each worker builds
its own grader once (:class:`GraderPlugin`) and runs the sandbox where it is. A worker that
dies takes its running task with it and Dask gives the task to another worker; its result
reaches ``done`` once. Imported only when ``--engine dask`` is asked for.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from coursekit.instructor.engines import Done, failed, grade_bytes, read_task
from coursekit.instructor.grade import Grader
from coursekit.instructor.report import SubmissionResult
from coursekit.instructor.runs import Task

#: The worker plugin's name starts so; the grader's fingerprint ends it, so a cluster that
#: graded with the same checks before keeps its workers' graders, and other checks get new ones.
PLUGIN = "coursekit-grader"


class GraderPlugin(WorkerPlugin):
    """A Dask worker plugin: the worker's own prepared grader, closed with the worker.

    Idempotent: registered again under the same name (the same grader fingerprint), workers
    that have it keep it, and workers that join later get it. A worker whose own coursekit,
    checks or lessons differ from the client's (``expected``, the grader's fingerprint) grades
    nothing: each of its tasks fails with :attr:`refusal`, so no verdict of other checks lands.
    """

    idempotent = True

    def __init__(self, grader: Grader, expected: str) -> None:
        self.blueprint = grader
        self.expected = expected
        self.grader: Grader | None = None
        self.refusal: str | None = None

    def setup(self, worker: Any) -> None:
        package_dir = self.blueprint.package_dir
        if package_dir is not None and str(Path(package_dir).parent) not in sys.path:
            sys.path.insert(0, str(Path(package_dir).parent))  # a check package kept outside
        self.grader = replace(self.blueprint)
        found = self.grader.fingerprint()
        if found != self.expected:
            self.refusal = (
                f"the worker at {getattr(worker, 'address', '?')} has another coursekit, check "
                f"package or lessons folder than the machine that started the run (fingerprint "
                f"{found[:12]}, the run's {self.expected[:12]}): install the same commit of the "
                f"course at the same path on every worker")
            return
        # The view of coursekit now; each lesson's plan when its first submission comes (the
        # client has read and checked every plan before anything was sent).
        self.grader.prepare(lessons=())

    def teardown(self, worker: Any) -> None:
        if self.grader is not None:
            self.grader.close()


def _plugin(plugin_name: str, worker: Any = None) -> GraderPlugin:
    plugin = (worker or get_worker()).plugins[plugin_name]
    assert isinstance(plugin, GraderPlugin) and plugin.grader is not None
    return plugin


def _refusal(plugin_name: str, dask_worker: Any = None) -> str | None:
    """Run on each worker by ``Client.run`` (which passes ``dask_worker``): why it may not
    grade this run, or None."""
    return _plugin(plugin_name, dask_worker).refusal


def _grade_on_worker(plugin_name: str, name: str, raw: bytes, seed: int | None) -> str:
    """A Dask task: grade one submission with the worker's grader; the result as JSON."""
    plugin = _plugin(plugin_name)
    if plugin.refusal is not None:  # a worker that joined after the run began
        raise RuntimeError(plugin.refusal)
    assert plugin.grader is not None
    return grade_bytes(plugin.grader, name, raw, seed).to_json()


@dataclass
class DaskEngine:
    """Tasks on a Dask cluster: ``scheduler`` (``tcp://host:port``), or a ``LocalCluster``
    of ``workers`` processes (one thread each) on loopback when it is ``None``.

    At most ``window`` submissions (default four per worker) are in flight at once, so the
    client never holds a whole class's files in memory.
    """

    scheduler: str | None = None
    workers: int = 2
    window: int = 0
    #: Seconds to wait for the scheduler at ``scheduler`` to answer.
    connect_timeout: float = 30.0

    def run(self, grader: Grader, tasks: Sequence[Task], done: Done) -> None:
        grader.prepare()  # instructor inputs are read here first: a broken lesson stops now
        with contextlib.ExitStack() as stack:
            if self.scheduler is None:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address="127.0.0.1:0", memory_limit=0))
                client = stack.enter_context(Client(cluster))
            else:
                try:
                    client = stack.enter_context(Client(self.scheduler,
                                                           timeout=self.connect_timeout))
                except (OSError, TimeoutError) as exc:
                    raise RuntimeError(f"no Dask scheduler answered at {self.scheduler} "
                                       f"({type(exc).__name__}): is it running, and is the "
                                       "address right?") from None
            expected = grader.fingerprint()
            plugin = f"{PLUGIN}-{expected[:16]}"
            client.register_plugin(GraderPlugin(replace(grader), expected), name=plugin)
            refused = sorted(filter(None, client.run(_refusal, plugin).values()))
            if refused:
                raise RuntimeError("; ".join(refused))
            window = self.window or 4 * max(1, len(client.scheduler_info()["workers"]))
            token = secrets.token_hex(4)
            pending: dict[str, Task] = {}
            queue = iter(tasks)
            running = as_completed()

            def submit_next() -> None:
                for task in queue:
                    raw = read_task(grader, task)
                    if isinstance(raw, SubmissionResult):  # too large or unreadable: answered
                        done(task, raw)
                        continue
                    key = f"coursekit-grade-{token}-{task.key}"
                    future = client.submit(_grade_on_worker, plugin, task.name, raw, task.seed,
                                           key=key, pure=False)
                    pending[future.key] = task
                    running.add(future)
                    return

            for _ in range(window):
                submit_next()
            for future in running:
                task = pending.pop(future.key)
                if future.status == "finished":
                    result = SubmissionResult.from_json(future.result())
                else:  # the task failed on every worker that tried it
                    error = future.exception()
                    result = failed(task.name, f"{type(error).__name__}: {error}")
                future.release()
                done(task, result)
                submit_next()
