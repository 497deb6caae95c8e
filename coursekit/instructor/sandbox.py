"""Grading, phase 2: one sandbox per submission (bubblewrap), with caps on everything.

The sandbox sees a read-only system (``/usr``, ``/etc``, the Python installation, the
virtual environment), a read-only copy of coursekit whose checks are stubs, and one writable
folder: the submission's scratch folder, holding its run spec, the inputs the grader drew,
and a copy of the lessons' data files. It has no network, its own process tree (nothing
outlives it: when its first process ends or the grader dies, the kernel kills the rest), and
limits on memory (address space), file size, processes where the platform allows, output
(read in chunks, the excess dropped) and time (per cell, watched from outside through a
status pipe, and per notebook).

``--no-sandbox`` runs the same runner as a plain child process with the same resource
limits, but with the grader's view of the file system and network: only for trusted
submissions.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from coursekit.instructor.limits import Cgroups, own_processes

INSTALL_HINT = ("bubblewrap (bwrap) is not installed: on Debian/Ubuntu `sudo apt-get install "
                "bubblewrap`, on Fedora `sudo dnf install bubblewrap`; or pass --no-sandbox to "
                "grade without one (only for submissions you trust)")


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    cell_seconds: float = 300.0
    notebook_seconds: float = 600.0
    memory_bytes: int = 2 * 1024**3
    processes: int = 64
    output_bytes: int = 1024**2
    file_bytes: int = 256 * 1024**2


@dataclass
class RunReport:
    """How a sandboxed run ended."""

    finished: bool
    stopped: str
    output_bytes: int
    output_head: str
    seconds: float


def bubblewrap() -> str | None:
    """The path of ``bwrap``, or None."""
    return shutil.which("bwrap")


#: What a Python process needs of /etc (libraries, fonts, time zone, user names); the rest of
#: /etc (shadow files, keys) stays out of the sandbox.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "localtime",
       "nsswitch.conf", "passwd", "group", "hosts", "mime.types", "matplotlibrc")


def _system_binds() -> list[str]:
    binds: list[str] = []
    for folder in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.exists(folder):
            binds += ["--ro-bind", folder, folder]
    for name in ETC:
        if os.path.exists(f"/etc/{name}"):
            binds += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    seen: set[str] = set()
    for prefix in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))):
        real = os.path.realpath(prefix)
        if any(real == s or real.startswith(s + "/") for s in seen) or real.startswith("/usr/"):
            continue
        seen.add(real)
        binds += ["--ro-bind", real, real]
        if prefix != real and not prefix.startswith("/usr/"):
            binds += ["--ro-bind", real, prefix]
    return binds


def _hide_installed_checks(binds: list[str]) -> list[str]:
    """Cover the real ``coursekit/checks`` with an empty folder where a bound path holds it
    (a non-editable install inside the virtual environment)."""
    spec = importlib.util.find_spec("coursekit.checks")  # located, never imported
    real = os.path.realpath(os.path.dirname((spec.origin if spec else None) or ""))
    bound = [binds[i + 2] for i in range(0, len(binds), 3)]
    if any(real == path or real.startswith(path.rstrip("/") + "/") for path in bound):
        return ["--tmpfs", real]
    return []


def command(*, scratch: Path, view: Path, sandboxed: bool, status_fd: int) -> list[str]:
    """The command line that runs the cell runner on ``scratch/spec.json``."""
    python = sys.executable
    runner = [python, "-s", "-m", "coursekit.instructor.cell_runner", "--status-fd",
              str(status_fd)]
    if not sandboxed:
        return [*runner, str(scratch / "spec.json")]
    bwrap = bubblewrap()
    if bwrap is None:
        raise RuntimeError(INSTALL_HINT)
    binds = _system_binds()
    # Mounts apply in order, a later one covering an earlier: the empty /tmp first, so a
    # virtual environment or Python installed under /tmp is bound on top of it, not hidden.
    return [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev",
            *binds, *_hide_installed_checks(binds),
            "--ro-bind", str(view), "/coursekit-view",
            "--bind", str(scratch), "/submission",
            "--chdir", "/submission", "--clearenv",
            *_env_args(sandboxed=True),
            *runner, "/submission/spec.json"]


def _environment(*, sandboxed: bool, view: Path | None = None,
                 scratch: Path | None = None) -> dict[str, str]:
    home = "/tmp" if sandboxed or scratch is None else str(scratch / ".home")
    return {
        "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
        "HOME": home,
        "IPYTHONDIR": f"{home}/.ipython",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": "/coursekit-view" if sandboxed else str(view),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "TQDM_DISABLE": "1", "LANG": "C.UTF-8",
    }


def _env_args(*, sandboxed: bool) -> list[str]:
    args: list[str] = []
    for name, value in _environment(sandboxed=sandboxed).items():
        args += ["--setenv", name, value]
    return args


def _limit(limits: Limits, nproc: int | None, cgroup: Cgroups) -> None:
    """Resource limits, set in the child before it executes (inherited by everything)."""
    cgroup.enter()
    caps = [(resource.RLIMIT_AS, limits.memory_bytes), (resource.RLIMIT_FSIZE, limits.file_bytes),
            (resource.RLIMIT_CORE, 0)]
    if nproc is not None:
        caps.append((resource.RLIMIT_NPROC, nproc))
    for which, value in caps:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass


class _Output(threading.Thread):
    """Drains the run's stdout/stderr: counts it, keeps the first few KiB, drops the rest."""

    def __init__(self, stream: object, keep: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.keep = stream, keep
        self.head = bytearray()
        self.total = 0

    def run(self) -> None:
        read = self.stream.read  # type: ignore[attr-defined]
        while True:
            chunk = read(65536)
            if not chunk:
                return
            self.total += len(chunk)
            if len(self.head) < self.keep:
                self.head += chunk[: self.keep - len(self.head)]


class _Status(threading.Thread):
    """Reads ``start N`` lines from the runner and remembers when the current step began.

    The runner shares its process with the submission, so the channel may be forged: only a
    step index greater than the current one is taken (each step starts the clock once), and
    ``done`` lines are ignored, so the clock can be restarted at most once per step.
    """

    def __init__(self, fd: int, steps: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.steps = fd, steps
        self.current: int | None = None
        self.since = time.monotonic()

    def run(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            buffer = (buffer + chunk)[-4096:]
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                word, _, number = line.decode(errors="replace").partition(" ")
                if word != "start" or not number.isdigit() or int(number) >= self.steps:
                    continue
                if self.current is None or int(number) > self.current:
                    self.current, self.since = int(number), time.monotonic()


def run(scratch: Path, view: Path, limits: Limits, *, steps: int,
        sandboxed: bool = True) -> RunReport:
    """Run the cell runner on ``scratch/spec.json`` under ``limits``; never raises for
    anything the submission does."""
    read_fd, write_fd = os.pipe()
    argv = command(scratch=scratch, view=view, sandboxed=sandboxed, status_fd=write_fd)
    env = None if sandboxed else _environment(sandboxed=False, view=view, scratch=scratch)
    cgroup = Cgroups(limits.processes, limits.memory_bytes)
    nproc = None if os.geteuid() == 0 or not os.path.isdir("/proc") \
        else own_processes() + limits.processes
    start = time.monotonic()
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=scratch, env=env, pass_fds=(write_fd,), start_new_session=True,
            preexec_fn=lambda: _limit(limits, nproc, cgroup),
        )
    except BaseException:
        cgroup.remove()
        raise
    finally:
        os.close(write_fd)
    output = _Output(process.stdout, keep=8192)
    status = _Status(read_fd, steps)
    output.start()
    status.start()
    stopped = ""
    grace = 5.0
    while process.poll() is None:
        now = time.monotonic()
        if now - start > limits.notebook_seconds:
            stopped = f"the notebook ran longer than {limits.notebook_seconds:g} s in all"
        elif status.current is not None and now - status.since > limits.cell_seconds + grace:
            stopped = (f"a cell ran longer than {limits.cell_seconds:g} s and did not stop "
                       "when interrupted")
        if stopped:
            _kill(process)
            break
        time.sleep(0.05)
    process.wait()
    output.join(timeout=5)
    os.close(read_fd)
    cgroup.remove()
    if not stopped and process.returncode != 0:
        stopped = (f"the run ended early (exit status {process.returncode}: os._exit, a "
                   "crash, or out of memory)")
    return RunReport(not stopped, stopped, output.total,
                     bytes(output.head).decode(errors="replace"), time.monotonic() - start)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the run's whole process group (with a sandbox, bwrap takes its namespace along)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
