"""Sharding a class over a batch scheduler's array jobs.

``coursekit grade --shard K/N --run DIR`` grades the submissions whose name hashes to shard
``K`` of ``N`` (the same submission always falls in the same shard, whatever else is in the
folder and on whichever machine) into the shared run folder ``DIR``, and records the share it
finished in ``DIR/shards/K-of-N.json``. ``coursekit merge DIR`` writes the class report from
all shards once every one has finished, and refuses a missing shard, shards of different
splits, or a submission claimed by two shards, naming them.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coursekit.instructor.files import write_replacing
from coursekit.instructor.runs import Task

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_MARKER = re.compile(r"^(\d+)-of-(\d+)\.json$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"a shard is K/N with 0 <= K < N, got {self.index}/{self.count}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, task: Task) -> bool:
        """Whether ``task``'s submission falls in this shard (by its name only)."""
        return shard_of(task.name, self.count) == self.index

    @property
    def marker(self) -> str:
        """The file name that records this shard as finished."""
        return f"{self.index}-of-{self.count}.json"


def parse_shard(text: str) -> Shard:
    """``"3/8"`` -> ``Shard(3, 8)``; a ``ValueError`` that shows the expected form otherwise.

    The index counts from 0, as ``$SLURM_ARRAY_TASK_ID`` (``--array=0-7``) and Kubernetes'
    ``$JOB_COMPLETION_INDEX`` do."""
    match = _SHARD.match(text)
    if match is None:
        raise ValueError(f"--shard takes K/N (shard K of N, counting from 0), got {text!r}")
    return Shard(int(match.group(1)), int(match.group(2)))


def shard_of(name: str, count: int) -> int:
    """The shard (of ``count``) that the submission called ``name`` falls in."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


def record_finished(run: Path, shard: Shard, tasks: Sequence[Task],
                    seen: Sequence[Task] = ()) -> Path:
    """Record that ``shard`` graded ``tasks`` (its whole share) into the run folder ``run``,
    and every submission it ``seen`` in the folder (all shards'), so that the merge can tell a
    file handed in, or changed, after its own shard had run.

    A shard run again (an array task retried) replaces its own record: the record says what
    the shard's last complete run graded."""
    folder = Path(run) / "shards"
    if folder.is_symlink():
        raise ValueError(f"{folder} is a symbolic link")
    folder.mkdir(exist_ok=True)
    record = {"shard": shard.index, "count": shard.count,
              "tasks": [{"name": task.name, "sha256": task.sha256, "path": str(task.path)}
                        for task in tasks],
              "seen": [{"name": task.name, "sha256": task.sha256} for task in seen],
              "finished": time.time()}
    path = folder / shard.marker
    write_replacing(path, json.dumps(record, ensure_ascii=True))
    return path


class ShardsIncomplete(ValueError):
    """The shards of a run cannot be merged (the message names what is wrong)."""


def finished_tasks(run: Path) -> tuple[int, list[Task]]:
    """``(N, tasks)`` of a sharded run whose ``N`` shards have all finished, the tasks in
    name order; :class:`ShardsIncomplete` naming a missing shard, a mixed split or a
    submission two shards claim."""
    folder = Path(run) / "shards"
    found = sorted(folder.glob("*-of-*.json")) if folder.is_dir() else []
    records = {}
    for path in found:
        match = _MARKER.match(path.name)
        if match is None or path.is_symlink():
            continue
        records[(int(match.group(1)), int(match.group(2)))] = json.loads(
            path.read_text(encoding="utf-8"))
    if not records:
        raise ShardsIncomplete(f"{run}: no shard has finished (no {folder}/K-of-N.json)")
    counts = sorted({count for _, count in records})
    if len(counts) > 1:
        listing = ", ".join(f"{k}/{n}" for k, n in sorted(records))
        raise ShardsIncomplete(f"{run} mixes shards of different splits ({listing}): grade "
                               "every shard with the same N, in a fresh run folder")
    count = counts[0]
    missing = [k for k in range(count) if (k, count) not in records]
    if missing:
        listing = ", ".join(f"{k}/{count}" for k in missing)
        raise ShardsIncomplete(f"{run}: shard(s) {listing} have not finished (run "
                               f"`python -m coursekit grade --shard K/{count} --run {run} ...` "
                               "for each)")
    owner: dict[str, int] = {}
    tasks = []
    for (index, _), record in sorted(records.items()):
        for item in record["tasks"]:
            name = str(item["name"])
            if name in owner:
                raise ShardsIncomplete(
                    f"{name} was graded by shard {owner[name]}/{count} and by shard "
                    f"{index}/{count}: the submissions changed between shards; regrade "
                    "both shards")
            if shard_of(name, count) != index:
                raise ShardsIncomplete(f"{name} is recorded by shard {index}/{count} but "
                                       f"falls in shard {shard_of(name, count)}/{count}")
            owner[name] = index
            tasks.append(Task(Path(item["path"]), name, str(item["sha256"])))
    _seen_alike(run, count, records, {task.name: task.sha256 for task in tasks})
    return count, sorted(tasks, key=lambda task: task.name)


def _seen_alike(run: Path, count: int, records: dict[tuple[int, int], dict],
                graded: dict[str, str]) -> None:
    """Refuse a merge where a shard that finished after another saw a submission of that
    other's share that it did not grade as it then was: a file handed in, or changed, after
    its own shard ran, which the merge would otherwise leave out (or report as it was before)
    without a word. What a shard saw before the owner ran is older than what the owner
    graded, and is no reason to refuse."""
    finished = {index: float(record.get("finished", 0.0)) for (index, _), record in records.items()}
    for (index, _), record in sorted(records.items()):
        for item in record.get("seen", []):
            name, sha = str(item["name"]), str(item["sha256"])
            home = shard_of(name, count)
            if graded.get(name) == sha or finished[index] <= finished.get(home, 0.0):
                continue
            what = "was handed in" if name not in graded else "was changed"
            raise ShardsIncomplete(
                f"{name} {what} after shard {home}/{count} ran (shard {index}/{count} saw it): "
                f"run shard {home}/{count} again (it grades only what has no result), then "
                f"merge")
