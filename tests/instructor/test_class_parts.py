"""The parts of class grading that need no sandbox: shards, students, the gradebook, feedback,
progress, batch scripts and the run folder's refusals."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from pathlib import Path

import pytest
import yaml

from coursekit.instructor.batch_scripts import k8s_job, slurm_script
from coursekit.instructor.feedback import feedback_text, write_feedback
from coursekit.instructor.gradebook import export_csv, record_run, scores, unmatched_submissions
from coursekit.instructor.progress import Progress
from coursekit.instructor.report import Row, SubmissionResult
from coursekit.instructor.runs import RunFolder, Task
from coursekit.instructor.shards import (
    Shard,
    ShardsIncomplete,
    finished_tasks,
    parse_shard,
    record_finished,
    shard_of,
)
from coursekit.instructor.students import StudentMatcher


def _task(name: str, content: str = "x") -> Task:
    import hashlib

    return Task(Path("/nowhere") / name, name, hashlib.sha256(content.encode()).hexdigest())


def _result(name: str, lesson: str, points: list[int], message: str = "ok",
            flags: str = "") -> SubmissionResult:
    rows = [Row(name, lesson, f"e{i}", p, 2, p == 2, message, flags)
            for i, p in enumerate(points)]
    return SubmissionResult(name, lesson, "cells", rows, sha256="ab" * 32, seed="1f")


@pytest.mark.parametrize("text", ["3", "3/3", "-1/4", "a/b", "1/0", "2 of 4"])
def test_a_bad_shard_is_refused_with_the_expected_form(text):
    with pytest.raises(ValueError, match="K/N"):
        parse_shard(text)


def test_every_submission_falls_in_one_stable_shard():
    names = [f"student{i}/0{i % 9 + 1}_lesson.ipynb" for i in range(400)]
    shards = [Shard(k, 8) for k in range(8)]
    owners = [[s.index for s in shards if s.holds(_task(name))] for name in names]
    assert all(len(found) == 1 for found in owners)
    assert [shard_of(name, 8) for name in names] == [found[0] for found in owners]
    sizes = [sum(found == [k] for found in owners) for k in range(8)]
    assert min(sizes) > 25  # spread, not piled on one shard
    assert shard_of("alice/01_x.ipynb", 8) == shard_of("alice/01_x.ipynb", 8)


def test_merge_refuses_a_missing_shard_naming_it(tmp_path):
    tasks = [_task(f"s{i}/01_a.ipynb") for i in range(20)]
    for k in (0, 2):
        record_finished(tmp_path, Shard(k, 3), [t for t in tasks if shard_of(t.name, 3) == k])
    with pytest.raises(ShardsIncomplete, match=r"shard\(s\) 1/3 have not finished"):
        finished_tasks(tmp_path)
    record_finished(tmp_path, Shard(1, 3), [t for t in tasks if shard_of(t.name, 3) == 1])
    count, found = finished_tasks(tmp_path)
    assert count == 3 and sorted(t.name for t in found) == sorted(t.name for t in tasks)


def test_merge_refuses_a_file_handed_in_or_changed_after_its_shard_ran(tmp_path, monkeypatch):
    import coursekit.instructor.shards as shards

    clock = iter(range(100, 200))
    monkeypatch.setattr(shards.time, "time", lambda: float(next(clock)))
    first = [_task(f"s{i}/01_a.ipynb") for i in range(12)]
    mine = {k: [t for t in first if shard_of(t.name, 2) == k] for k in (0, 1)}
    late = next(_task(f"late{i}/01_a.ipynb") for i in range(50)
                if shard_of(f"late{i}/01_a.ipynb", 2) == 0)
    # shard 0 runs; a student hands in late; shard 1 then sees the late file, shard 0's
    record_finished(tmp_path, Shard(0, 2), mine[0], seen=first)
    record_finished(tmp_path, Shard(1, 2), mine[1], seen=[*first, late])
    with pytest.raises(ShardsIncomplete, match=f"{late.name} was handed in after shard 0/2 ran "
                                               r"\(shard 1/2 saw it\): run shard 0/2 again"):
        finished_tasks(tmp_path)
    record_finished(tmp_path, Shard(0, 2), [*mine[0], late], seen=[*first, late])
    assert late.name in [t.name for t in finished_tasks(tmp_path)[1]]
    # a file changed after its shard ran is refused too, until that shard runs again
    changed = _task(mine[0][0].name, "corrected")
    now = [changed if t.name == changed.name else t for t in first] + [late]
    record_finished(tmp_path, Shard(1, 2), mine[1], seen=now)
    with pytest.raises(ShardsIncomplete, match=f"{changed.name} was changed after shard 0/2"):
        finished_tasks(tmp_path)
    # what a shard saw before the owner graded a newer version is no reason to refuse
    record_finished(tmp_path, Shard(0, 2), [changed, *mine[0][1:], late], seen=now)
    assert changed.sha256 in {t.sha256 for t in finished_tasks(tmp_path)[1]}


def test_merge_refuses_mixed_splits_and_a_doubled_submission(tmp_path):
    tasks = [_task(f"s{i}/01_a.ipynb") for i in range(10)]
    record_finished(tmp_path, Shard(0, 1), tasks)
    record_finished(tmp_path, Shard(0, 2), [t for t in tasks if shard_of(t.name, 2) == 0])
    with pytest.raises(ShardsIncomplete, match="different splits"):
        finished_tasks(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    record_finished(other, Shard(0, 2), [t for t in tasks if shard_of(t.name, 2) == 0])
    record_finished(other, Shard(1, 2), [t for t in tasks if shard_of(t.name, 2) == 1])
    marker = other / "shards" / "1-of-2.json"
    record = json.loads(marker.read_text())
    stolen = next(t for t in tasks if shard_of(t.name, 2) == 0)
    record["tasks"].append({"name": stolen.name, "sha256": stolen.sha256, "path": "/x"})
    marker.write_text(json.dumps(record))
    with pytest.raises(ShardsIncomplete, match=f"{stolen.name} was graded by shard 0/2 and"):
        finished_tasks(other)


def test_students_come_from_folders_or_a_pattern():
    folders = StudentMatcher()
    assert folders.student("alice/01_gradient_descent.ipynb") == "alice"
    assert folders.student("alice/week1/01_gradient_descent.ipynb") == "alice"
    assert folders.student("01_gradient_descent.ipynb") is None
    assert "folder per student" in folders.why_unmatched("01_gradient_descent.ipynb")
    lms = StudentMatcher(r"^(?P<student>[a-z]+)_\d+_")
    assert lms.student("smithj_4411_01_gradient_descent.ipynb") == "smithj"
    assert lms.student("01_gradient_descent.ipynb") is None
    readme = StudentMatcher(r"^(?P<student>[^_]+)_\d\d_")  # the README's example
    assert readme.student("smithj_01_gradient_descent.ipynb") == "smithj"
    assert readme.student("01_gradient_descent.ipynb") is None  # not a student called "01"
    with pytest.raises(ValueError, match="group named student"):
        StudentMatcher(r"^([a-z]+)_")
    with pytest.raises(ValueError, match="not a regular expression"):
        StudentMatcher(r"(?P<student>[a-z")


def test_the_gradebook_keeps_latest_and_best_and_never_doubles_a_run(tmp_path):
    book = tmp_path / "gradebook.sqlite"
    tasks = [_task("alice/01_a.ipynb"), _task("bob/01_a.ipynb"), _task("loose.ipynb")]
    students = {"alice/01_a.ipynb": "alice", "bob/01_a.ipynb": "bob", "loose.ipynb": None}
    first = [_result(t.name, "01_a.ipynb", [2, 2]) for t in tasks]
    record_run(book, tmp_path / "run1", tasks, first, students,
               {"loose.ipynb": "no folder"}, engine="local")
    record_run(book, tmp_path / "run1", tasks, first, students,
               {"loose.ipynb": "no folder"}, engine="local")  # recorded twice: no double
    later = [_task("alice/01_a.ipynb", "changed")]
    record_run(book, tmp_path / "run2", later, [_result(later[0].name, "01_a.ipynb", [2, 0])],
               {later[0].name: "alice"}, {}, engine="dask")
    assert scores(book, score="latest")["alice"]["01_a.ipynb"] == (2, 4)
    assert scores(book, score="best")["alice"]["01_a.ipynb"] == (4, 4)
    assert scores(book)["bob"]["01_a.ipynb"] == (4, 4)
    with sqlite3.connect(book) as db:
        assert db.execute("SELECT COUNT(*) FROM submissions").fetchone() == (4,)
        assert db.execute("SELECT COUNT(*) FROM exercises").fetchone() == (8,)
    assert unmatched_submissions(book) == [(str((tmp_path / "run1").resolve()), "loose.ipynb",
                                            "no folder")]
    lines = export_csv(book, ["01_a.ipynb", "02_b.ipynb"]).splitlines()
    assert lines == ["student,01_a,02_b,total", "alice,2,,2", "bob,4,,4"]
    assert export_csv(book, ["01_a.ipynb"], score="best").splitlines()[1] == "alice,4,4"


def test_an_old_run_recorded_again_does_not_become_the_latest(tmp_path):
    # A sharded run merged again (or resumed) after a newer run: the newer file's score
    # stays the latest, because each submission keeps the time it was graded.
    book = tmp_path / "gradebook.sqlite"
    old, new = _task("carol/01_a.ipynb", "wrong"), _task("carol/01_a.ipynb", "corrected")
    for run, task, points in (("old", old, [2, 0]), ("new", new, [2, 2])):
        results = tmp_path / run / "results"
        results.mkdir(parents=True)
        (results / f"{task.key}.json").write_text("{}")  # written when it was graded
        os.utime(results / f"{task.key}.json", (1000.0, 1000.0 if run == "old" else 2000.0))
        record_run(book, tmp_path / run, [task], [_result(task.name, "01_a.ipynb", points)],
                   {task.name: "carol"}, {}, engine="local")
    record_run(book, tmp_path / "old", [old], [_result(old.name, "01_a.ipynb", [2, 0])],
               {old.name: "carol"}, {}, engine="local")  # the old run merged again
    assert scores(book)["carol"]["01_a.ipynb"] == (4, 4)


def test_a_gradebook_of_the_previous_layout_is_brought_up_to_date(tmp_path):
    import coursekit.instructor.gradebook as gradebook

    book = tmp_path / "gradebook.sqlite"
    with sqlite3.connect(book) as db:  # layout 2: no graded_at; latest by recording time
        db.executescript(gradebook.SCHEMA.replace(
            ", graded_at REAL NOT NULL DEFAULT 0", "").replace("s.graded_at, ", "").replace(
            "graded_at", "recorded_at"))
        db.execute("PRAGMA user_version = 2")
        db.execute("INSERT INTO runs VALUES ('r1', '/r1', '2026-01-01T10:00:00.0Z', 'local')")
        db.execute("INSERT INTO runs VALUES ('r2', '/r2', '2026-02-01T10:00:00.0Z', 'local')")
        for run, points in (("r1", 4), ("r2", 2)):
            db.execute("INSERT INTO submissions VALUES (?, 'k', 'a/01_a.ipynb', 'a', "
                       "'01_a.ipynb', 'sha', 'seed', ?, 4, 0.0, 1)", (run, points))
    assert scores(book)["a"]["01_a.ipynb"] == (2, 4)  # r2, recorded later
    with sqlite3.connect(book) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (gradebook.LAYOUT,)
        assert db.execute("SELECT run, graded_at FROM submissions ORDER BY run").fetchall() == \
            [("r1", 1767261600.0), ("r2", 1769940000.0)]


def test_runs_in_folders_of_one_name_are_two_runs_and_a_second_file_does_not_add_up(tmp_path):
    book = tmp_path / "gradebook.sqlite"
    first, second = _task("ann/01_a.ipynb"), _task("bo/01_a.ipynb")
    record_run(book, tmp_path / "lesson01" / "run", [first],
               [_result(first.name, "01_a.ipynb", [2])], {first.name: "ann"}, {}, engine="local")
    record_run(book, tmp_path / "lesson02" / "run", [second],
               [_result(second.name, "01_a.ipynb", [2])], {second.name: "bo"}, {}, engine="local")
    assert set(scores(book)) == {"ann", "bo"}  # the second run did not wipe the first
    old, new = tmp_path / "cy" / "01_a.ipynb", tmp_path / "cy" / "01_a (1).ipynb"
    old.parent.mkdir()
    new.write_text("0 points, handed in last")
    old.write_text("2 points, handed in first")
    os.utime(old, (1_000_000, 1_000_000))
    tasks = [Task(old, "cy/01_a.ipynb", "1" * 64), Task(new, "cy/01_a (1).ipynb", "2" * 64)]
    record_run(book, tmp_path / "run3", tasks,
               [_result(tasks[0].name, "01_a.ipynb", [2, 2]),
                _result(tasks[1].name, "01_a.ipynb", [0, 0])],
               {t.name: "cy" for t in tasks}, {}, engine="local")
    assert scores(book, score="latest")["cy"]["01_a.ipynb"] == (0, 4)  # the latest file
    assert scores(book, score="best")["cy"]["01_a.ipynb"] == (0, 4)  # not the best of both


def test_names_that_differ_only_in_invisible_characters_stay_two_students(tmp_path):
    folders = StudentMatcher()
    names = ["alice/01.ipynb", "alice\u200b/01.ipynb", " alice/01.ipynb", "王伟/01.ipynb",
             "李娜/01.ipynb", "_unmatched/01.ipynb", "a?b/01.ipynb", "a_b/01.ipynb"]
    students = {name: folders.student(name) for name in names}
    assert len(set(students.values())) == len(names)
    tasks = [_task(name) for name in names] + [_task("loose.ipynb")]
    students["loose.ipynb"] = None
    paths = write_feedback(tmp_path, tasks, [_result(t.name, "01.ipynb", [2]) for t in tasks],
                           students, {})
    assert len({p.parent for p in paths}) == len(tasks)  # a folder each, loose files apart


def test_a_hostile_student_name_cannot_inject_into_the_lms_export(tmp_path):
    book = tmp_path / "gradebook.sqlite"
    name = "=HYPERLINK(\"http://x\")\udcff/01_a.ipynb"
    task = _task(name)
    record_run(book, tmp_path / "run1", [task], [_result(name, "01_a.ipynb", [2])],
               {name: StudentMatcher().student(name)}, {}, engine="local")
    row = export_csv(book, ["01_a.ipynb"]).splitlines()[1]
    assert row.startswith("'=HYPERLINK") or row.startswith("\"'=HYPERLINK")


def test_feedback_names_the_student_points_messages_and_flags(tmp_path):
    result = _result("alice/01_a.ipynb", "01_a.ipynb", [2, 0], message="| <b>x</b> ` [l](u)",
                     flags="copies coursekit.scratch.Dense")
    text = feedback_text(result, student="alice", title="01 · A lesson", run="grades-1")
    assert "Student: alice" in text and "**2 / 4**" in text
    assert "| ✘ e1 | 0 / 2 |" in text and "<b>" not in text and "\\|" in text
    assert "copies coursekit.scratch.Dense" in text and "`1f`" in text
    tasks = [_task("alice/01_a.ipynb"), _task("../../etc/passwd"), _task("alice/01_a.ipynb", "2")]
    students = {"alice/01_a.ipynb": "alice", "../../etc/passwd": None}
    paths = write_feedback(tmp_path, tasks, [result] * 3, students, {})
    assert all(tmp_path / "feedback" in p.parents for p in paths)
    assert len(set(paths)) == 3 and paths[1].parent.name == "_unmatched"
    # a student with two files for one lesson is told, in each, which one counts
    final, draft = _result("dave/01_a.ipynb", "01_a.ipynb", [2, 2]), \
        _result("dave/lesson1 draft.ipynb", "01_a.ipynb", [0, 0])
    counted = {"dave/01_a.ipynb": "dave/01_a.ipynb", "dave/lesson1 draft.ipynb": "dave/01_a.ipynb"}
    written = write_feedback(tmp_path, [_task(final.submission), _task(draft.submission)],
                             [final, draft], {"dave/01_a.ipynb": "dave",
                                              "dave/lesson1 draft.ipynb": "dave"}, {}, counted)
    assert "the most recently modified counts: this one." in written[0].read_text("utf-8")
    assert "the most recently modified counts: dave/01_a.ipynb." in \
        written[1].read_text("utf-8")


def test_progress_redraws_on_a_terminal_and_prints_quiet_lines_elsewhere():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log, terminal = io.StringIO(), Terminal()
    for stream in (log, terminal):
        progress = Progress(40, stream=stream)
        for i in range(40):
            progress.update(_result(f"s{i}.ipynb", "" if i == 3 else "01_a.ipynb", [2]))
        progress.finish()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("[####################] 40/40 graded, 1 failed")
    assert "left" in lines[0] and "/min" in lines[0]
    assert terminal.getvalue().count("\r") == 40 and terminal.getvalue().endswith("\n")


def test_a_run_folder_refuses_other_checks_and_a_missing_run(tmp_path):
    run = RunFolder.create(tmp_path, "one")
    with pytest.raises(ValueError, match="other checks, lessons"):
        RunFolder.at(run.path, "two", must_exist=True)
    assert RunFolder.at(run.path, "one", must_exist=True).path == run.path
    with pytest.raises(ValueError, match="nothing to resume"):
        RunFolder.at(tmp_path / "never", "one", must_exist=True)


def test_a_result_the_grader_failed_on_is_graded_again_on_resume(tmp_path):
    run = RunFolder.create(tmp_path, "one")
    task = _task("alice/01_a.ipynb")
    lost = SubmissionResult(task.name, "", "nothing", [Row(
        task.name, "", "", 0, 0, False, "grading failed: KilledWorker: lost 3 times")])
    assert run.add(task, lost) and not run.has(task)
    assert run.add(task, _result(task.name, "01_a.ipynb", [2])) and run.has(task)
    assert not run.add(task, _result(task.name, "01_a.ipynb", [0]))
    assert run.results([task])[0].points == 2


def test_batch_scripts_run_the_shard_command_with_the_schedulers_index(tmp_path):
    args = ["--lessons", "notebooks", "--jobs", "2", "--", "subs dir"]
    slurm = slurm_script(8, 3, tmp_path / "run", args, course=tmp_path, python="/py/python")
    assert "#SBATCH --array=0-7%3" in slurm and "#SBATCH --cpus-per-task=2" in slurm
    grade = next(line for line in slurm.splitlines() if line.endswith("# coursekit: grade"))
    assert '--shard "${SLURM_ARRAY_TASK_ID}/8"' in grade and "'subs dir'" in grade
    assert "coursekit merge" in slurm
    job = yaml.safe_load(k8s_job(8, 3, tmp_path / "run", args, course=tmp_path,
                                 python="/py/python", image="img:1", claim="c",
                                 mount=Path("/class")))
    assert job["spec"]["completionMode"] == "Indexed"
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (8, 3)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "img:1"
    assert '--shard "${JOB_COMPLETION_INDEX}/8"' in container["command"][-1]
    with pytest.raises(ValueError, match="at least 1"):
        slurm_script(0, 1, tmp_path, args, course=tmp_path, python="p")
    # what a real cluster needs: the merge runs from the course folder, memory for every
    # job; the pod may make bubblewrap's user namespaces and asks for what it uses
    merge = next(line for line in slurm.splitlines() if "--wrap" in line)
    assert f"cd {tmp_path} && /py/python -m coursekit merge" in merge
    assert "#SBATCH --mem=5G" in slurm  # 2 jobs of 2 GiB, and 1 for the grader
    assert container["securityContext"] == {"seccompProfile": {"type": "Unconfined"}}
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "5Gi"}
    other = yaml.safe_load(k8s_job(8, 3, tmp_path / "run2", args, course=tmp_path,
                                   python="/py/python", image="img:1", claim="c",
                                   mount=Path("/class")))
    assert other["metadata"]["name"] != job["metadata"]["name"]  # two runs, two jobs


def test_a_slurm_script_is_refused_where_the_course_is_not(tmp_path, monkeypatch, capsys):
    from coursekit.__main__ import main

    monkeypatch.chdir(tmp_path)  # not the course folder, and no --course-dir
    (tmp_path / "subs").mkdir()
    assert main(["batch-script", "slurm", "--shards", "2", "--parallel", "1", "--run",
                 str(tmp_path / "run"), "subs"]) == 1
    assert f"no lessons folder {tmp_path}/notebooks: the script runs from {tmp_path}" in \
        capsys.readouterr().err


def test_finding_submissions_names_what_it_does_not_grade(tmp_path):
    """Notebooks in hidden folders or behind links are reported, never silently dropped;
    Jupyter's own checkpoint copies are skipped without a word."""
    from coursekit.instructor.grade import find_submissions

    for name in ("alice/01_gradient_descent.ipynb", "bob/.drafts/01_gradient_descent.ipynb",
                 "carol/.ipynb_checkpoints/01_gradient_descent-checkpoint.ipynb",
                 ".dan/01_gradient_descent.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}", encoding="utf-8")
    (tmp_path / "erin").mkdir()
    (tmp_path / "erin" / "01_gradient_descent.ipynb").symlink_to(
        tmp_path / "alice" / "01_gradient_descent.ipynb")
    skipped: list[str] = []
    found = find_submissions([tmp_path], skipped)
    assert [name for _, name in found] == ["alice/01_gradient_descent.ipynb"]
    assert skipped == [".dan/01_gradient_descent.ipynb", "bob/.drafts/01_gradient_descent.ipynb",
                       "erin/01_gradient_descent.ipynb"]


def test_files_given_one_by_one_keep_their_student_folder(tmp_path):
    # As a shell expands submissions/*/01_gradient_descent.ipynb: each file is named from
    # the folder the files share, so alice's and bob's stay theirs; a flat folder's files
    # (an LMS download) keep their own names.
    from coursekit.instructor.grade import find_submissions

    for name in ("subs/alice/01_a.ipynb", "subs/bob/01_a.ipynb", "subs/bob/late/01_a.ipynb",
                 "flat/smithj_01_a.ipynb", "flat/doej_01_a.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}", encoding="utf-8")
    given = sorted((tmp_path / "subs").glob("*/01_a.ipynb"))
    assert [name for _, name in find_submissions(given)] == ["alice/01_a.ipynb", "bob/01_a.ipynb"]
    deeper = [*given, tmp_path / "subs/bob/late/01_a.ipynb"]
    assert [name for _, name in find_submissions(deeper)][-1] == "bob/late/01_a.ipynb"
    flat = sorted((tmp_path / "flat").glob("*.ipynb"))
    assert [name for _, name in find_submissions(flat)] == ["doej_01_a.ipynb",
                                                            "smithj_01_a.ipynb"]


def test_a_worker_that_joins_with_other_checks_fails_its_tasks_by_name(monkeypatch):
    # A worker the plugin reaches after the run began (not asked up front) grades nothing:
    # every task sent to it fails with the reason, which the report shows as a grader failure.
    from types import SimpleNamespace

    from coursekit.instructor import dask_engine
    from coursekit.instructor.grade import Grader
    from coursekit.instructor.syllabus import load_syllabus

    root = Path(__file__).resolve().parents[2]
    grader = Grader(load_syllabus(root / "syllabus.toml"), root / "notebooks")
    same = dask_engine.GraderPlugin(grader, grader.fingerprint())
    other = dask_engine.GraderPlugin(grader, "0" * 64)
    worker = SimpleNamespace(address="tcp://10.0.0.7:4000", plugins={"same": same, "other": other})
    monkeypatch.setattr(dask_engine, "get_worker", lambda: worker)
    monkeypatch.setattr(Grader, "prepare", lambda self, lessons=None: None)
    same.setup(worker)
    other.setup(worker)
    assert dask_engine._refusal("same", dask_worker=worker) is None
    assert "tcp://10.0.0.7:4000 has another coursekit" in dask_engine._refusal("other", worker)
    with pytest.raises(RuntimeError, match=r"the run's 000000000000\): install the same commit"):
        dask_engine._grade_on_worker("other", "alice/01.ipynb", b"{}", None)


def test_a_run_keeps_its_way_of_telling_students_apart(tmp_path):
    # Resuming a flat-folder run without --student-pattern used to leave every student
    # unmatched; now the pattern of the run's first grading is used, and another refused.
    from types import SimpleNamespace

    from coursekit.instructor.class_run import ClassGrading, _students_of

    out = io.StringIO()
    pattern = r"^(?P<student>[a-z]+)_\d\d_"
    flat, folders = SimpleNamespace(path=tmp_path / "flat"), SimpleNamespace(path=tmp_path / "f")
    flat.path.mkdir()
    folders.path.mkdir()

    def how(given):
        return ClassGrading(None, None, students=StudentMatcher(given), out=out)  # type: ignore

    assert _students_of(how(pattern), flat).pattern == pattern  # the first grading records it
    assert _students_of(how(None), flat).pattern == pattern  # a resume without it uses it
    assert f"was graded with --student-pattern {pattern!r}: using it" in out.getvalue()
    with pytest.raises(ValueError, match=r"graded with --student-pattern .*, not --student-"
                                         r"pattern '\^\(\?P<student>\[a-z\]\+\)\$': resume"):
        _students_of(how(r"^(?P<student>[a-z]+)$"), flat)
    assert _students_of(how(None), folders).pattern is None
    with pytest.raises(ValueError, match="graded with a folder per student"):
        _students_of(how(pattern), folders)


def test_instructors_slips_are_answered_with_what_to_do(tmp_path, monkeypatch, capsys):
    from coursekit.__main__ import main

    (tmp_path / "subs" / "alice").mkdir(parents=True)
    (tmp_path / "subs" / "alice" / "01_gradient_descent.ipynb").write_text("{}", "utf-8")
    monkeypatch.chdir(tmp_path)  # outside the course folder
    assert main(["grade", "subs"]) == 1
    assert "no syllabus at syllabus.toml: run this from the course folder, or give " \
        "--syllabus" in capsys.readouterr().err
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert main(["grade", "--jobs", "0", str(tmp_path / "subs")]) == 1
    assert "--jobs takes a number of at least 1" in capsys.readouterr().err
    assert main(["grade", "--engine", "dask", "--workers", "-2", str(tmp_path / "subs")]) == 1
    assert "--workers one of at least 1" in capsys.readouterr().err
    assert main(["grade", "--workers", "2", "--reproduce", str(tmp_path / "nope"),
                 str(tmp_path / "subs")]) == 1
    err = capsys.readouterr().err
    assert "nope is not a grading run (no run.json)" in err
    assert "warning: --workers is for the Dask engine (--engine dask)" in err


def test_a_dask_scheduler_that_does_not_answer_is_named_without_a_traceback(tmp_path):
    import socket

    from coursekit.instructor.dask_engine import DaskEngine
    from coursekit.instructor.grade import Grader
    from coursekit.instructor.syllabus import load_syllabus

    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{free.getsockname()[1]}"
    root = Path(__file__).resolve().parents[2]
    grader = Grader(load_syllabus(root / "syllabus.toml"), root / "notebooks")
    engine = DaskEngine(scheduler=address, connect_timeout=1.0)
    with pytest.raises(RuntimeError, match=f"no Dask scheduler answered at {address} "
                                           r"\(\w+\): is it running"):
        engine.run(grader, [], lambda task, result: None)
    grader.close()
