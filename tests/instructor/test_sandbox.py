"""The grader refuses to run without its sandbox unless told to, and says how to get one."""

from __future__ import annotations

from coursekit.__main__ import main
from coursekit.instructor import sandbox
from tests.instructor import fake_lesson


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
    assert "99_fake.ipynb: 99_fake.ipynb 3/3" in captured.out


def test_the_sandbox_command_has_no_network_and_a_read_only_system(tmp_path):
    if sandbox.bubblewrap() is None:
        return
    argv = sandbox.command(scratch=tmp_path, view=tmp_path, sandboxed=True, status_fd=9)
    assert "--unshare-all" in argv and "--die-with-parent" in argv
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
