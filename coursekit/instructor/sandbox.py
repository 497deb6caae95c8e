"""Grading, phase 2: one sandbox per submission (bubblewrap), with caps on everything.

The sandbox sees a read-only system (``/usr``, ``/etc``, the Python installation, the
virtual environment), a read-only copy of coursekit whose checks are stubs, and one writable
folder: the submission's scratch folder, holding its run spec, the inputs the grader drew,
and a copy of the lessons' data files. It has no network, its own process tree (nothing
outlives it: when its first process ends or the grader dies, the kernel kills the rest), and
limits on memory (address space), file size, processes where the platform allows, output
(read in chunks, the excess dropped) and time (per cell, watched from outside through a
status pipe, and per notebook).

It never runs a submission as host root. A grader run by a normal user gives bubblewrap a
user namespace in which the submission is uid 65534 (the user's own uid outside). A grader
run as root cannot do that (bubblewrap would map the sandbox's uid onto host root, to whom
every sysctl is writable), so bubblewrap runs without a user namespace, keeping only the
capabilities to change uid, and the cell runner's first act, before any submission code, is
to become uid/gid 65534 (``nobody``) for good; the scratch folder is handed to that uid.
Either way ``/proc/sys`` is a read-only bind inside.

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
    #: Processors the run may use at most, whatever it starts (a cgroup's CFS quota).
    cpus: float = 1.0
    #: Bytes its scratch folder may hold in all (a size-capped file system over it).
    disk_bytes: int = 1024**3


@dataclass
class RunReport:
    """How a sandboxed run ended."""

    finished: bool
    stopped: str
    output_bytes: int
    output_head: str
    seconds: float
    forged: bool = False  #: it wrote to the status channel: nothing of the run counts


def bubblewrap() -> str | None:
    """The path of ``bwrap``, or None."""
    return shutil.which("bwrap")


#: What a Python process needs of /etc (libraries, fonts, time zone, user names); the rest of
#: /etc (shadow files, keys) stays out of the sandbox.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "localtime",
       "nsswitch.conf", "passwd", "group", "hosts", "mime.types", "matplotlibrc")


#: The uid and gid a submission runs as, inside the sandbox and (when the grader is root) on
#: the host: ``nobody``.
SANDBOX_UID = SANDBOX_GID = 65534


def _parents(path: str) -> list[str]:
    """``--dir`` for each folder above ``path``, world-traversable, so that a bind under a
    private folder (a Python under ``/root``) is reachable by the sandbox's unprivileged uid
    (bubblewrap otherwise copies the private folder's mode)."""
    args: list[str] = []
    parts = path.strip("/").split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/" + "/".join(parts[:depth])
        if folder not in ("/tmp", "/usr"):
            args += ["--perms", "0755", "--dir", folder]
    return args


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
        binds += [*_parents(real), "--ro-bind", real, real]
        if prefix != real and not prefix.startswith("/usr/"):
            binds += [*_parents(prefix), "--ro-bind", real, prefix]
    return binds


def _hide_installed_checks(binds: list[str]) -> list[str]:
    """Cover the real ``coursekit/checks`` with an empty folder where a bound path holds it
    (a non-editable install inside the virtual environment)."""
    spec = importlib.util.find_spec("coursekit.checks")  # located, never imported
    real = os.path.realpath(os.path.dirname((spec.origin if spec else None) or ""))
    bound = [binds[i + 2] for i, arg in enumerate(binds) if arg == "--ro-bind"]
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
    if os.geteuid() == 0:  # no user namespace: the runner drops to nobody itself, at once
        isolation = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                     "--unshare-cgroup-try", "--cap-drop", "ALL",
                     "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        runner[-2:-2] = ["--drop-to", f"{SANDBOX_UID}:{SANDBOX_GID}"]
    else:
        isolation = ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID),
                     "--gid", str(SANDBOX_GID), "--cap-drop", "ALL"]
    # Mounts apply in order, a later one covering an earlier: the empty /tmp first, so a
    # virtual environment or Python installed under /tmp is bound on top of it, not hidden.
    return [bwrap, *isolation, "--die-with-parent", "--new-session",
            "--perms", "01777", "--tmpfs", "/tmp", "--proc", "/proc",
            "--ro-bind", "/proc/sys", "/proc/sys", "--dev", "/dev",
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


def _nproc(limits: Limits, cgroup: Cgroups, *, dropping: bool) -> int | None:
    """RLIMIT_NPROC for the run, where no pids group caps it (root is exempt from it: when
    the runner drops to nobody, it counts nobody's processes)."""
    if not os.path.isdir("/proc") or (dropping and cgroup.caps_processes):
        return None
    if dropping:
        return own_processes(SANDBOX_UID) + limits.processes
    return None if os.geteuid() == 0 else own_processes() + limits.processes


def _hand_over(scratch: Path) -> None:
    """Give the scratch folder (written by the grader just now) to the sandbox's uid."""
    for folder, names, files in os.walk(scratch):
        for name in (folder, *(os.path.join(folder, n) for n in names + files)):
            os.chown(name, SANDBOX_UID, SANDBOX_GID, follow_symlinks=False)


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
    """Follows the runner's ``start N`` / ``done N`` lines on the grader's own clock.

    The runner shares its process with the submission, so the channel may be forged; the
    grader believes no claim that would give a cell more time. The runner writes exactly
    ``start 0``, ``done 0``, ``start 1``, ... in that order; the clock of a step runs from the
    previous line the grader accepted (``start 0``: the first; ``done N``: from it until the
    run ends), and a cell may not run past its limit from there. Any line out of that order (a
    step announced again or skipped, an unknown word) is a forgery: :attr:`forged` says what
    came, and the run is stopped.
    """

    def __init__(self, fd: int, steps: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.steps = fd, steps
        self.accepted = 0  # lines taken so far: 2 N for "start N", 2 N + 1 for "done N"
        self.since: float | None = None  # when the last accepted line came
        self.forged = ""

    @property
    def finished(self) -> bool:
        return self.accepted == 2 * self.steps

    def _expected(self) -> str:
        return f"{'start' if self.accepted % 2 == 0 else 'done'} {self.accepted // 2}"

    def run(self) -> None:
        buffer = b""
        while not self.forged:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            *lines, buffer = (buffer + chunk).split(b"\n")
            buffer = buffer[-4096:]
            for line in lines:
                text = line.decode(errors="replace")
                if self.finished or text != self._expected():
                    self.forged = (f"{text[:40]!r} came where "
                                   f"{'nothing' if self.finished else repr(self._expected())}"
                                   " was due")
                    return
                self.accepted += 1
                self.since = time.monotonic()


def run(scratch: Path, view: Path, limits: Limits, *, steps: int,
        sandboxed: bool = True) -> RunReport:
    """Run the cell runner on ``scratch/spec.json`` under ``limits``; never raises for
    anything the submission does."""
    read_fd, write_fd = os.pipe()
    argv = command(scratch=scratch, view=view, sandboxed=sandboxed, status_fd=write_fd)
    env = None if sandboxed else _environment(sandboxed=False, view=view, scratch=scratch)
    cgroup = Cgroups(limits.processes, limits.memory_bytes, limits.cpus)
    nproc = _nproc(limits, cgroup, dropping=sandboxed and os.geteuid() == 0)
    if sandboxed and os.geteuid() == 0:
        _hand_over(scratch)
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
        elif status.forged:
            stopped = f"the run wrote to the grader's status channel ({status.forged})"
        elif status.since is not None and now - status.since > limits.cell_seconds + grace:
            stopped = ("the run went on after its last cell" if status.finished else
                       f"a cell ran longer than {limits.cell_seconds:g} s and did not stop "
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
                     bytes(output.head).decode(errors="replace"), time.monotonic() - start,
                     forged=bool(status.forged))


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the run's whole process group (with a sandbox, bwrap takes its namespace along)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
