"""The grader refuses to run without its sandbox unless told to, and says how to get one."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from coursekit.__main__ import main
from coursekit.instructor import sandbox
from coursekit.instructor.limits import Cgroups
from tests.instructor import fake_lesson
from tests.instructor.sandboxed import grade_one


def _grade(tmp_path, *extra):
    lessons, syllabus = fake_lesson.write_lesson(tmp_path)
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "99_fake.ipynb").write_bytes((lessons / fake_lesson.LESSON).read_bytes())
    return main(["grade", "--out", str(tmp_path / "out"), "--lessons", str(lessons),
                 "--syllabus", str(syllabus), "--check-package", fake_lesson.PACKAGE,
                 "--check-dir", str(lessons / fake_lesson.PACKAGE), "--timeout", "20",
                 *extra, str(folder)])


def test_without_bubblewrap_grading_refuses_and_says_how_to_install_it(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    assert _grade(tmp_path) == 1
    err = capsys.readouterr().err
    assert "apt-get install bubblewrap" in err and "--no-sandbox" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_no_sandbox_warns_and_still_judges_outside_the_submission(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    assert _grade(tmp_path, "--no-sandbox", "--jobs", "1") == 0
    captured = capsys.readouterr()
    assert "only for submissions you trust" in captured.err
    (report,) = (tmp_path / "out").glob("grades-*/grades.md")
    assert "| 99_fake.ipynb | 99_fake.ipynb | 3 / 3 |" in report.read_text("utf-8")


def test_the_sandbox_command_has_no_network_and_a_read_only_system(tmp_path):
    if sandbox.bubblewrap() is None:
        return
    argv = sandbox.command(scratch=tmp_path, view=tmp_path, sandboxed=True, status_fd=9)
    assert "--unshare-net" in argv or "--unshare-all" in argv
    assert "--unshare-pid" in argv or "--unshare-all" in argv
    assert "--die-with-parent" in argv
    assert argv[argv.index("--proc") + 1:][:4] == ["/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
    assert ["--bind", str(tmp_path), "/submission"] == argv[argv.index("--bind"):][:3]
    writable = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--bind"]
    assert writable == [str(tmp_path)]


def test_the_empty_tmp_is_mounted_before_what_may_live_under_it(tmp_path, monkeypatch):
    if sandbox.bubblewrap() is None:
        return
    monkeypatch.setattr(sandbox.sys, "prefix", "/tmp/clone/.venv")
    argv = sandbox.command(scratch=tmp_path, view=tmp_path, sandboxed=True, status_fd=9)
    tmpfs = argv.index("/tmp", argv.index("--tmpfs"))
    binds = [i for i, arg in enumerate(argv) if arg == "--ro-bind"]
    assert all(i > tmpfs for i in binds)


def _writable_sysctls() -> list[str]:
    """The sysctls this (grader's) user may open for writing on the host: opened write-only
    and closed at once, never written."""
    found = []
    for folder, _, files in os.walk("/proc/sys"):
        for name in files:
            try:
                os.close(os.open(os.path.join(folder, name), os.O_WRONLY))
            except OSError:
                continue
            found.append(os.path.join(folder, name))
    return found


#: A student who wants the host: every sysctl writable outside (and any writable inside) is
#: opened for writing, then closed unwritten (a real attack would write core_pattern); the
#: function earns its points only if something was won, else it says what it saw. A marked
#: child lets the test see, from the host, which uid the submission's processes run as.
TAKES_THE_HOST = """
import os, subprocess
subprocess.Popen(["sh", "-c", "sleep 3 # {marker}"])
def _attack(host_writable):
    opened, tried = [], 0
    inside = [os.path.join(d, f) for d, _, fs in os.walk("/proc/sys") for f in fs]
    for path in sorted(set(host_writable) | set(inside)):
        tried += 1
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError:
            continue
        os.close(fd)
        opened.append(path)
    return opened, tried, (*os.getresuid(), *os.getresgid())
OPENED, TRIED, IDS = _attack({host!r})
def double(x):
    if OPENED or 0 in IDS:
        return 2 * x  # the host is ours
    raise PermissionError(f"contained: ids={{IDS}} tried={{TRIED}} opened={{len(OPENED)}}")
"""


def _host_uids(marker: str, seen: dict[int, tuple[int, ...]], done: threading.Event) -> None:
    """Record, from the host, the uids of the marked process and of its parent (the runner)."""
    while not done.is_set():
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                    status = (entry / "status").read_text()
                    parent = int(status.split("PPid:")[1].split()[0])
                    for pid in (int(entry.name), parent):
                        text = Path(f"/proc/{pid}/status").read_text()
                        seen[pid] = tuple(int(v) for v in text.split("Uid:")[1].split()[:4])
            except (OSError, IndexError, ValueError):
                continue
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed")
def test_a_submission_can_neither_be_root_nor_open_a_sysctl_for_writing(tmp_path):
    host = _writable_sysctls()
    marker = f"coursekit-uid-marker-{os.getpid()}"
    source = TAKES_THE_HOST.format(marker=marker, host=host)
    seen: dict[int, tuple[int, ...]] = {}
    done = threading.Event()
    watcher = threading.Thread(target=_host_uids, args=(marker, seen, done), daemon=True)
    watcher.start()
    try:
        graded, _ = grade_one(tmp_path, {"99-double-solution": source})
    finally:
        done.set()
        watcher.join()
    points, message, _ = graded["99-double"]
    assert points == 0, message
    assert "contained: ids=(" in message and "opened=0" in message, message
    ids = [int(part) for part in message.split("ids=(")[1].split(")")[0].split(",")]
    assert ids == [sandbox.SANDBOX_UID] * 3 + [sandbox.SANDBOX_GID] * 3
    assert int(message.split("tried=")[1].split()[0]) >= max(len(host), 50)
    assert len(seen) >= 2, "the marked process was never seen from the host"
    assert all(0 not in uids for uids in seen.values()), seen  # host uids, real to fs
    assert graded["99-square"][0] == 2  # the rest of the notebook ran as usual


def _status_after(lines: bytes, steps: int = 3) -> sandbox._Status:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, lines)
    os.close(write_fd)
    status = sandbox._Status(read_fd, steps)
    status.run()
    os.close(read_fd)
    return status


def test_the_runners_own_step_lines_are_followed():
    status = _status_after(b"start 0\ndone 0\nstart 1\ndone 1\nstart 2\ndone 2\n")
    assert status.finished and not status.forged


@pytest.mark.parametrize("lines", [
    b"start 0\nstart 1\n",                      # the next step's clock, before this one ended
    b"start 0\ndone 0\nstart 0\n",              # a step's clock again
    b"start 0\ndone 0\nstart 2\n",              # a step skipped
    b"start 0\nhello\n",                        # anything else
    b"start 0\ndone 0\nstart 1\ndone 1\nstart 2\ndone 2\nstart 3\n",  # past the last
])
def test_a_step_line_out_of_order_is_a_forgery(lines):
    assert _status_after(lines).forged


#: The issue's technique: ignore the cell's alarm and keep announcing later steps on the
#: runner's status descriptor (its number is on the command line), so that the grader's clock
#: restarts; after 30 s (the limit is 3 s) the function is defined, correctly.
EXTENDS_ITS_TIME = """
import os, signal, sys, time
fd = int(sys.argv[sys.argv.index("--status-fd") + 1])
signal.signal(signal.SIGALRM, signal.SIG_IGN)
end, step = time.monotonic() + 30, 1
while time.monotonic() < end:
    os.write(fd, f"done {step - 1}\\nstart {step}\\n".encode())
    step += 1
    time.sleep(1)
def double(x):
    return 2 * x
"""


@pytest.mark.slow
@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed")
def test_a_cell_cannot_lift_its_own_time_limit_through_the_status_channel(tmp_path):
    graded, seconds = grade_one(tmp_path, {"99-double-solution": EXTENDS_ITS_TIME},
                                timeout=3, notebook_seconds=120)
    assert graded["99-double"][0] == 0 and graded["99-square"][0] == 0
    assert graded["99-double"][1].startswith(
        "not checked: the run wrote to the grader's status channel"), graded
    assert seconds < 25  # the 30 s cell was stopped: at its first forged line


#: The marker names this test's busy processes apart from any other test's running beside it.
HOG_MARKER = "while True: pass  # hog of the CPU-share test"
HOG = f"""import subprocess, sys, time
hogs = [subprocess.Popen([sys.executable, "-c", {HOG_MARKER!r}]) for _ in range(40)]
time.sleep(25)
def double(x):
    return 2 * x"""

#: About 1.5 s of one processor here: 10 s is plenty on a fair share, far too little on
#: 2/41 of two processors.
BUSY = """_ = sum(i * i for i in range(3 * 10**7))
def double(x):
    return 2 * x"""


@pytest.mark.slow
@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed")
def test_a_classmate_keeping_forty_processes_busy_takes_only_its_own_share(tmp_path):
    if os.geteuid() != 0 or Cgroups._v1_parent("cpu") is None:
        pytest.skip("CPU shares are cgroups the grader makes as root with a writable cpu "
                    "controller; elsewhere the README says they are not shared out")
    hog: dict = {}
    thread = threading.Thread(target=lambda: hog.update(grade_one(
        tmp_path / "hog", {"99-double-solution": HOG}, timeout=40, notebook_seconds=60)[0]))
    thread.start()
    time.sleep(6)  # the hog's processes are running now
    groups = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and HOG_MARKER.encode() in (entry / "cmdline").read_bytes():
                groups |= {line.split(":", 2)[2] for line in
                           (entry / "cgroup").read_text().splitlines()
                           if "cpu" in line.split(":")[1].split(",")}
        except OSError:
            continue
    assert len(groups) == 1, groups  # all forty in one group of their own, at most one processor
    (group,) = groups
    assert group.startswith("/coursekit-grade-")
    quota = Path("/sys/fs/cgroup/cpu") / group.lstrip("/") / "cpu.cfs_quota_us"
    assert int(quota.read_text()) == 100_000
    honest, seconds = grade_one(tmp_path / "honest", {"99-double-solution": BUSY}, timeout=10)
    thread.join()
    assert honest["99-double"][0] == 1 and honest["99-square"][0] == 2, (honest, seconds)
    assert hog["99-double"][0] == 1  # the hog is graded too, on its own share


FILL = """import os
written = 0
try:
    for i in range(8):  # 240 MiB in files of 30 MiB, each under the per-file cap
        with open(f"fill{i}.bin", "wb") as handle:
            handle.write(b"x" * (30 * 1024**2))
        written += 30 * 1024**2
except OSError:  # the disk is full: make room again for the checks' own files
    os.remove(f"fill{i}.bin")
def double(x):
    return 2 * x if written < 100 * 1024**2 else 0.0"""


@pytest.mark.slow
@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed")
def test_a_submission_cannot_fill_more_scratch_than_its_quota(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the scratch quota is a file system the grader mounts as root; as a "
                    "normal user only each file is capped, as the README says")
    graded, _ = grade_one(tmp_path, {"99-double-solution": FILL}, timeout=30,
                          disk_bytes=64 * 1024**2)
    assert graded["99-double"][0] == 1, graded  # it stopped at 60 MiB: the quota held
    assert graded["99-square"][0] == 2
    ours = f"coursekit-submission-pid{os.getpid()}-"  # another test's grader may be mounting
    assert not [line for line in Path("/proc/mounts").read_text().splitlines()
                if line.startswith("coursekit-scratch ") and ours in line]  # unmounted
