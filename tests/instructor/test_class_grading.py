"""Grading a class for real (sandboxed, the fake lesson): a Dask LocalCluster on loopback that
loses a worker, a run interrupted and resumed, changed files regraded, an appeal reproduced,
shards run by the commands the Slurm and Kubernetes scripts hold, then merged."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from coursekit.__main__ import main
from tests.instructor import fake_lesson
from tests.instructor.fake_lesson import edited

pytestmark = pytest.mark.slow

#: Points of the three kinds of submission the class is made of.
KINDS = {"full": 3, "half": 1, "none": 0}


def _notebooks() -> dict[str, nbformat.NotebookNode]:
    full = fake_lesson.instructor_notebook()
    half = edited(full, "99-square-solution", "def square(x):\n    return x + x")
    none = edited(half, "99-double-solution", "def double(x):\n    return x")
    return {"full": full, "half": half, "none": none}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    lessons, syllabus = fake_lesson.write_lesson(root)
    return {"root": root, "lessons": lessons, "syllabus": syllabus}


def _class(folder: Path, size: int) -> dict[str, int]:
    """``size`` students, one folder each, cycling through the kinds; name -> points."""
    notebooks, expected = _notebooks(), {}
    for i in range(size):
        kind = list(KINDS)[i % 3]
        name = f"student{i:03d}/99_fake.ipynb"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(nbformat.writes(notebooks[kind]), encoding="utf-8")
        expected[name] = KINDS[kind]
    return expected


def _options(course, out: Path) -> list[str]:
    lessons = course["lessons"]
    return ["--out", str(out), "--lessons", str(lessons), "--syllabus", str(course["syllabus"]),
            "--check-package", fake_lesson.PACKAGE, "--check-dir",
            str(lessons / fake_lesson.PACKAGE), "--timeout", "20"]


def _points(run: Path) -> dict[str, int]:
    with open(run / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    points: dict[str, int] = {}
    for row in rows:
        points[row["submission"]] = points.get(row["submission"], 0) + int(row["points"])
    assert len(rows) == 2 * len(points)  # every submission once, both exercises
    return points


def _run_folder(out: Path) -> Path:
    (run,) = sorted(out.glob("grades-*"))
    return run


def test_a_dask_cluster_that_loses_a_worker_grades_every_submission_once(course, tmp_path):
    from distributed import Client, LocalCluster

    expected = _class(tmp_path / "subs", 60)
    run = tmp_path / "run"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", memory_limit=0) as cluster, \
            Client(cluster) as client:
        workers = client.run(os.getpid)
        status: list[int] = []
        grader = threading.Thread(target=lambda: status.append(main(
            ["grade", "--scheduler", cluster.scheduler_address, "--run", str(run),
             *_options(course, tmp_path / "out"), str(tmp_path / "subs")])))
        grader.start()
        while grader.is_alive() and len(list((run / "results").glob("*.json"))
                                        if (run / "results").is_dir() else []) < 30:
            time.sleep(0.1)
        victim = sorted(workers.values())[0]
        os.kill(victim, signal.SIGKILL)  # halfway: the worker and its running task are lost
        grader.join(timeout=600)
        assert not grader.is_alive() and status == [0]
        assert victim not in client.run(os.getpid).values()
    results = list((run / "results").glob("*.json"))
    names = [json.loads(path.read_text("utf-8"))["submission"] for path in results]
    assert len(results) == 60 and sorted(names) == sorted(expected)  # none lost, none doubled
    assert _points(run) == expected  # the points an undisturbed run gives


def test_workers_with_other_checks_than_the_client_grade_nothing(course, tmp_path,
                                                                 monkeypatch, capsys):
    # As a cluster whose workers run another commit of the course: the client's fingerprint
    # is made to differ from the one the worker processes compute from their own files.
    from coursekit.instructor.grade import Grader

    _class(tmp_path / "subs", 3)
    monkeypatch.setattr(Grader, "fingerprint", lambda self: "f" * 64)
    status = main(["grade", "--engine", "dask", "--workers", "1", "--run", str(tmp_path / "run"),
                   *_options(course, tmp_path / "out"), str(tmp_path / "subs")])
    assert status == 1
    error = capsys.readouterr().err
    assert "has another coursekit, check package or lessons folder" in error
    assert "the run's ffffffffffff" in error
    assert not list((tmp_path / "run" / "results").glob("*.json"))


def test_dask_and_local_jobs_grade_alike(course, tmp_path):
    _class(tmp_path / "subs", 6)
    assert main(["grade", "--engine", "dask", "--workers", "2",
                 *_options(course, tmp_path / "dask"), str(tmp_path / "subs")]) == 0
    assert main(["grade", "--jobs", "2", *_options(course, tmp_path / "local"),
                 str(tmp_path / "subs")]) == 0
    dask, local = _run_folder(tmp_path / "dask"), _run_folder(tmp_path / "local")
    assert (dask / "grades.md").read_text("utf-8").split("\n", 4)[4] == \
        (local / "grades.md").read_text("utf-8").split("\n", 4)[4]


def test_an_interrupted_run_resumes_and_a_changed_file_alone_is_regraded(course, tmp_path):
    expected = _class(tmp_path / "subs", 6)
    slow = edited(_notebooks()["full"], "99-square-solution",
                  "import time\ntime.sleep(3)\ndef square(x):\n    return x * x")
    (tmp_path / "subs/student005/99_fake.ipynb").write_text(nbformat.writes(slow), "utf-8")
    expected["student005/99_fake.ipynb"] = 3
    run = tmp_path / "run"
    command = [sys.executable, "-m", "coursekit", "grade", "--jobs", "1", "--run", str(run),
               *_options(course, tmp_path / "out"), str(tmp_path / "subs")]
    grader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(run.glob("results/*.json"))) < 2:
        time.sleep(0.1)
    grader.send_signal(signal.SIGINT)  # Ctrl-C
    output = grader.communicate(timeout=120)[0].decode()
    assert grader.returncode == 130 and f"--resume {run}" in output
    before = {path: path.stat().st_ino for path in run.glob("results/*.json")}
    assert 2 <= len(before) < 6 and not (run / "grades.csv").exists()

    resumed = _cli(["grade", "--resume", str(run), *_options(course, tmp_path / "out"),
                    str(tmp_path / "subs")])
    assert f"{len(before)} of 6 submission(s) already graded" in resumed
    assert all(path.stat().st_ino == inode for path, inode in before.items())  # kept
    assert len(list(run.glob("results/*.json"))) == 6 and _points(run) == expected

    changed = _notebooks()["none"]
    (tmp_path / "subs/student000/99_fake.ipynb").write_text(nbformat.writes(changed), "utf-8")
    again = _cli(["grade", "--resume", str(run), *_options(course, tmp_path / "out"),
                  str(tmp_path / "subs")])
    assert "5 of 6 submission(s) already graded; grading the 1 left" in again
    assert _points(run) == {**expected, "student000/99_fake.ipynb": 0}
    book = tmp_path / "out" / "gradebook.sqlite"
    export = _cli(["gradebook", "export", "--gradebook", str(book),
                   "--syllabus", str(course["syllabus"])])
    assert "student000,0,0" in export and export.count("\n") == 7


def test_an_appeal_reproduces_the_verdict_and_a_fresh_run_draws_new_inputs(course, tmp_path):
    wrong_above_four = edited(_notebooks()["full"], "99-double-solution",
                              "def double(x):\n    return 2 * x if x < 4 else 0.0")
    path = tmp_path / "subs/alice/99_fake.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(nbformat.writes(wrong_above_four), "utf-8")
    classmate = tmp_path / "subs/bob/99_fake.ipynb"
    classmate.parent.mkdir(parents=True)
    classmate.write_text(nbformat.writes(_notebooks()["full"]), "utf-8")
    messages = []
    for attempt in range(2):
        out = tmp_path / f"out{attempt}"
        assert main(["grade", *_options(course, out), str(tmp_path / "subs")]) == 0
        messages.append(_message(_run_folder(out)))
    assert messages[0] != messages[1]  # fresh inputs each run
    first = _run_folder(tmp_path / "out0")
    appeal = _cli(["grade", "--reproduce", str(first), *_options(course, tmp_path / "appeal"),
                   str(path)])  # the one file, as the README shows
    assert "same verdict: alice/99_fake.ipynb 2/3" in appeal
    assert f"the appeal's grading is in {_run_folder(tmp_path / 'appeal')}" in appeal
    assert _message(_run_folder(tmp_path / "appeal")) == messages[0]
    path.write_text(classmate.read_text("utf-8"), "utf-8")  # now the same file as bob's
    refused = _cli(["grade", "--reproduce", str(first), *_options(course, tmp_path / "appeal"),
                    str(path)], status=1)
    assert "refused: alice/99_fake.ipynb was changed since it was graded there" in refused


def test_shards_run_as_slurm_and_kubernetes_would_run_them_then_merge(course, tmp_path):
    expected = _class(tmp_path / "subs", 9)
    (tmp_path / "subs" / "loose_99_fake.ipynb").write_text(
        nbformat.writes(_notebooks()["full"]), "utf-8")
    for kind, variable in (("slurm", "SLURM_ARRAY_TASK_ID"), ("k8s", "JOB_COMPLETION_INDEX")):
        run, out = tmp_path / f"run-{kind}", tmp_path / f"out-{kind}"
        script = _cli(["batch-script", kind, "--shards", "3", "--parallel", "2",
                       "--run", str(run), "--python", sys.executable, "--course-dir",
                       str(tmp_path), *_options(course, out), str(tmp_path / "subs")])
        if kind == "slurm":
            line = next(x for x in script.splitlines() if x.endswith("# coursekit: grade"))
        else:
            spec = yaml.safe_load(script)["spec"]
            assert (spec["completions"], spec["parallelism"]) == (3, 2)
            line = spec["template"]["spec"]["containers"][0]["command"][-1]
        for index in (2, 0):
            subprocess.run(["bash", "-c", line], check=True, cwd=tmp_path,
                           env={**os.environ, variable: str(index)})
        merge = script.split("coursekit merge ", 1)[1].split("\n", 1)[0].strip("'")
        refused = _cli(["merge", *shlex.split(merge)], status=1)
        assert "shard(s) 1/3 have not finished" in refused
        subprocess.run(["bash", "-c", line], check=True, cwd=tmp_path,
                       env={**os.environ, variable: "1"})
        merged = _cli(["merge", *shlex.split(merge)])
        assert "merged 3 shard(s): 10 submission(s)" in merged
        points = _points(run)
        assert points == {**expected, "loose_99_fake.ipynb": 3}
        assert "loose_99_fake.ipynb: not in a student's folder" in \
            (run / "grades.md").read_text("utf-8")
        assert len(list((run / "feedback").rglob("*.md"))) == 10


def test_classmates_who_copied_are_flagged_in_the_report_not_in_their_feedback(course,
                                                                                tmp_path):
    from tests.instructor.test_similarity import INDEPENDENT, ORIGINAL, RENAMED

    for student, extra in (("alice", ORIGINAL), ("bob", RENAMED), ("carol", INDEPENDENT)):
        nb = _notebooks()["full"]
        nb.cells.insert(2, nbformat.v4.new_code_cell("import numpy as np\n" + extra))
        path = tmp_path / "subs" / student / "99_fake.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(nbformat.writes(nb), "utf-8")
    assert main(["grade", "--jobs", "2", *_options(course, tmp_path / "out"),
                 str(tmp_path / "subs")]) == 0
    run = _run_folder(tmp_path / "out")
    with open(run / "grades.csv", newline="", encoding="utf-8") as handle:
        flags = {row["submission"]: row["flags"] for row in csv.DictReader(handle)}
    assert flags["alice/99_fake.ipynb"].startswith("similar to bob/99_fake.ipynb")
    assert flags["bob/99_fake.ipynb"].startswith("similar to alice/99_fake.ipynb")
    assert flags["carol/99_fake.ipynb"] == ""
    assert "similar to" not in (run / "feedback" / "alice" / "99_fake.md").read_text("utf-8")


def _message(run: Path) -> str:
    with open(run / "grades.csv", newline="", encoding="utf-8") as handle:
        return next(row["message"] for row in csv.DictReader(handle)
                    if row["exercise"] == "99-double")


def _cli(argv: list[str], *, status: int = 0) -> str:
    """Run ``python -m coursekit`` here; what it printed (both streams)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(argv) == status, err.getvalue()
    return out.getvalue() + err.getvalue()
