"""A class graded as a real Slurm array job: a single-node Slurm (Debian's slurm-wlm with
munge, installed by ``make test-slow``) started for the test, the script ``coursekit
batch-script slurm`` writes submitted with ``sbatch``, and the merge submitted as the script
says, depending on the array.

Skipped, saying why, where Slurm is not installed or the test does not run as root (the
daemons here are started as root); where both hold, Slurm failing to start fails the test."""

from __future__ import annotations

import csv
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.instructor.test_class_grading import _class, _options

pytestmark = pytest.mark.slow

DAEMONS = ("slurmctld", "slurmd", "munged")


def _program(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name,) if p.is_file()), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(root: Path, host: str) -> str:
    return f"""\
ClusterName=coursekit
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={os.cpu_count() or 1} RealMemory={_memory_mb()} State=UNKNOWN
PartitionName=grading Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _memory_mb() -> int:
    """Nine tenths of this machine's memory, in MB: what the node offers the scripts' --mem
    (slurmd drains a node that has less than it is configured with)."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 9 // 10 // 2**20


def _munge() -> None:
    """munged running with the package's key (started as the munge user if it is not)."""
    if subprocess.run(["bash", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0:
        return
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", _program("munged") or "munged"], check=True)
    time.sleep(1)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    missing = [name for name in (*DAEMONS, "sbatch", "sinfo") if _program(name) is None]
    if missing:
        pytest.skip(f"Slurm is not installed here ({', '.join(missing)} missing): "
                    "bash tools/install_optional.sh slurmctld slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("this test starts slurmctld and slurmd as root; it runs as uid "
                    f"{os.geteuid()}")
    root = tmp_path_factory.mktemp("slurm")
    for folder in ("state", "spool"):
        (root / folder).mkdir()
    host = socket.gethostname().split(".")[0]
    (root / "slurm.conf").write_text(_config(root, host), encoding="utf-8")
    env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    _munge()
    daemons = [subprocess.Popen([_program(name), "-D"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT) for name in ("slurmctld", "slurmd")]
    try:
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline and state != "idle":
            time.sleep(0.5)
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True,
                                   text=True).stdout.strip()
        logs = "".join((root / f"{name}.log").read_text(errors="replace")[-1500:]
                       for name in ("slurmctld", "slurmd") if (root / f"{name}.log").exists())
        assert state == "idle", f"the single-node Slurm did not come up ({state!r}):\n{logs}"
        yield env
    finally:
        subprocess.run(["scontrol", "shutdown"], env=env, capture_output=True)
        for daemon in daemons:
            daemon.terminate()
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()


def test_a_class_graded_as_a_slurm_array_job_then_merged(slurm, tmp_path):
    from tests.instructor import fake_lesson

    course_root = tmp_path / "course"
    course_root.mkdir()
    lessons, syllabus = fake_lesson.write_lesson(course_root)
    course = {"root": course_root, "lessons": lessons, "syllabus": syllabus}
    expected = _class(tmp_path / "subs", 9)
    run, out = tmp_path / "run", tmp_path / "out"
    script = subprocess.run(
        [sys.executable, "-m", "coursekit", "batch-script", "slurm", "--shards", "3",
         "--parallel", "2", "--run", str(run), "--python", sys.executable, "--course-dir",
         str(Path.cwd()), *_options(course, out), "--jobs", "1", str(tmp_path / "subs")],
        capture_output=True, text=True, check=True).stdout
    (tmp_path / "grade.sbatch").write_text(script, encoding="utf-8")
    array = subprocess.run(["sbatch", "--parsable", "grade.sbatch"], cwd=tmp_path, env=slurm,
                           capture_output=True, text=True, check=True).stdout.strip()
    merge = script.split("--wrap ", 1)[1].split("\n", 1)[0]
    subprocess.run(["sbatch", "--wait", f"--dependency=afterok:{array}",
                    "--output=merge.out", "--wrap", shlex.split(merge)[0]], cwd=tmp_path,
                   env=slurm, check=True, timeout=600, capture_output=True)
    logs = "".join(path.read_text(errors="replace")[-800:]
                   for path in sorted(tmp_path.glob("*.out")))
    assert len(list(tmp_path.glob("coursekit-grade-*_*.out"))) == 3, logs
    assert "merged 3 shard(s): 9 submission(s)" in (tmp_path / "merge.out").read_text(), logs
    with open(run / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    points: dict[str, int] = {}
    for row in rows:
        points[row["submission"]] = points.get(row["submission"], 0) + int(row["points"])
    assert points == expected and len(rows) == 18
    assert (out / "gradebook.sqlite").is_file()
