"""Caps on one sandboxed run that the kernel enforces: control groups and resource limits.

Where the grader is root with writable cgroup v1 controllers (these machines, CI), each run
gets a pids group and a memory group (tmpfs pages count toward it); elsewhere RLIMIT_NPROC and
RLIMIT_AS do the job. :func:`clean_leftovers` removes what a killed grader left behind.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def own_processes(uid: int | None = None) -> int:
    """How many processes ``uid`` (this user by default) runs now (RLIMIT_NPROC counts them
    all)."""
    uid, count = os.getuid() if uid is None else uid, 0
    if not os.path.isdir("/proc"):  # macOS: no /proc, and no sandbox either
        return 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


class Cgroups:
    """Control groups capping one run's processes, memory (tmpfs pages included) and CPU,
    where the grader may make them (root with writable cgroup v1 controllers); elsewhere
    RLIMIT_NPROC and RLIMIT_AS cap processes and memory, and CPU is not shared out.

    The CPU group gives the run at most ``cpus`` processors (a CFS quota) and the same weight
    as every other run (``cpu.shares``), however many processes it starts: a submission that
    keeps 56 processes busy takes its own share, not its classmates'."""

    def __init__(self, processes: int, memory_bytes: int, cpus: float = 1.0) -> None:
        self.paths: list[Path] = []
        if os.geteuid() != 0:
            return
        name = f"coursekit-grade-{os.getpid()}-{time.monotonic_ns()}"
        period = 100_000
        for controller, limits in (
                ("pids", {"pids.max": str(processes)}),
                ("memory", {"memory.limit_in_bytes": str(memory_bytes)}),
                ("cpu", {"cpu.shares": "1024", "cpu.cfs_period_us": str(period),
                         "cpu.cfs_quota_us": str(max(1000, int(cpus * period)))})):
            parent = self._v1_parent(controller)
            if parent is None:
                continue
            path = parent / name
            try:
                path.mkdir()
                for key, value in limits.items():
                    (path / key).write_text(value)
            except OSError:
                if path.exists():
                    path.rmdir()
                continue
            self.paths.append(path)

    @staticmethod
    def _v1_parent(controller: str) -> Path | None:
        """The grader's own cgroup of ``controller`` (v1), where children may be made."""
        root = Path("/sys/fs/cgroup") / controller
        if not (root / "cgroup.procs").exists():
            return None
        try:
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, controllers, relative = line.split(":", 2)
                if controller in controllers.split(","):
                    parent = root / relative.lstrip("/")
                    return parent if os.access(parent, os.W_OK) else None
        except (OSError, ValueError):
            return None
        return None

    @property
    def shares_cpu(self) -> bool:
        """Whether a cpu group gives the run its share of the processors."""
        return any("cpu" in path.parts for path in self.paths)

    @property
    def caps_processes(self) -> bool:
        """Whether a pids group caps the run's processes."""
        return any("pids" in path.parts for path in self.paths)

    def enter(self) -> None:
        """Move the calling (child) process into the groups."""
        for path in self.paths:
            with open(path / "cgroup.procs", "w") as handle:
                handle.write(str(os.getpid()))

    def remove(self) -> None:
        for path in self.paths:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


class ScratchDisk:
    """A size-capped file system for one run's scratch folder: a tmpfs of ``size`` bytes
    mounted over the (empty) folder when the grader is root and may mount, so a submission
    can fill only that much, in all its files together (its pages also count toward the
    run's memory group). Elsewhere, or with ``size`` 0, nothing is mounted and each file is
    still capped (RLIMIT_FSIZE)."""

    def __init__(self, folder: Path, size: int) -> None:
        self.folder = Path(folder)
        self.mounted = False
        if size <= 0 or os.geteuid() != 0 or not os.path.exists("/proc/mounts"):
            return
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755,nosuid,nodev",
             "coursekit-scratch", str(self.folder)], capture_output=True, check=False)
        self.mounted = done.returncode == 0

    def release(self) -> None:
        """Unmount it (lazily: a process still inside cannot keep it)."""
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True, check=False)
            self.mounted = False


def _mounted_under(folder: Path) -> list[str]:
    """Mount points at or below ``folder`` (from /proc/mounts), deepest first."""
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return []
    prefix = str(folder)
    points = [line.split()[1] for line in lines if len(line.split()) > 1]
    return sorted((p for p in points if p == prefix or p.startswith(prefix + "/")),
                  key=len, reverse=True)


def _dead(pid_text: str) -> bool:
    return pid_text.isdigit() and not os.path.exists(f"/proc/{pid_text}")


def clean_leftovers() -> None:
    """Remove what a grader killed mid-run left behind: its empty control groups and its
    temporary folders (their names carry the dead grader's process id)."""
    import tempfile

    for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup/memory"),
                 Path("/sys/fs/cgroup/cpu")):
        parent = Cgroups._v1_parent(root.name)
        for folder in (parent.glob("coursekit-grade-*") if parent else []):
            if _dead(folder.name.split("-")[2]):
                try:
                    folder.rmdir()
                except OSError:
                    pass
    for folder in Path(tempfile.gettempdir()).glob("coursekit-*-pid*-*"):
        if _dead(folder.name.split("-pid")[1].split("-")[0]) and not folder.is_symlink():
            for point in _mounted_under(folder):  # a killed grader's scratch file system
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
            subprocess.run(["rm", "-rf", "--one-file-system", "--", str(folder)], check=False)
