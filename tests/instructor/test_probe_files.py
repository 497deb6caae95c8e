"""A probe's result files are the submission's to tamper with: a path of the wrong kind costs
that exercise (with a message naming it), never the grading of the rest."""

from __future__ import annotations

import os

import pytest

from coursekit.exercise.wire import encode
from coursekit.instructor import sandbox
from coursekit.instructor.probe_files import Unreadable, read_probe
from tests.instructor.sandboxed import grade_one

#: What a hostile cell turns ``probes/99-double.json`` into, after the probe wrote it.
SWAPS = {
    "directory": "os.remove(path); os.mkdir(path); open(path + '/x', 'w').write('x')",
    "fifo": "os.remove(path); os.mkfifo(path)",
    "symlink": "os.remove(path); os.symlink('/etc/passwd', path)",
    "huge": "os.truncate(path, 200 * 1024**2)",
}
EXPECTED = {"directory": "is a directory", "fifo": "is a FIFO", "symlink": "is a symbolic link",
            "huge": "is larger than 4 MiB"}


def _scratch(tmp_path):
    probes = tmp_path / "probes"
    probes.mkdir()
    for exercise in ("a", "b"):
        text, arrays = encode([1.0, 2.0])
        (probes / f"{exercise}.json").write_text(text, encoding="utf-8")
        (probes / f"{exercise}.npz").write_bytes(arrays)
    return probes


@pytest.mark.parametrize("kind", sorted(SWAPS))
def test_a_probe_file_of_the_wrong_kind_is_named_and_the_others_read(tmp_path, kind):
    probes = _scratch(tmp_path)
    path = str(probes / "a.json")
    exec(SWAPS[kind], {"os": os, "path": path})  # noqa: S102 - the test's own snippets
    got = read_probe(tmp_path, "a")
    assert isinstance(got, Unreadable) and got.startswith("probes/a.json " + EXPECTED[kind])
    assert read_probe(tmp_path, "b") == [1.0, 2.0]


def test_a_probes_folder_of_the_wrong_kind_is_named(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    target = _scratch(tmp_path / "elsewhere")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "probes").symlink_to(target)
    got = read_probe(tmp_path / "run", "a")
    assert isinstance(got, Unreadable) and got.startswith("probes/ is a symbolic link")
    (tmp_path / "run" / "probes").unlink()
    (tmp_path / "run" / "probes").write_text("{}")
    assert read_probe(tmp_path / "run", "a").startswith("probes/ is a file, not the folder")


def test_a_missing_probe_file_is_still_nothing(tmp_path):
    _scratch(tmp_path)
    assert read_probe(tmp_path, "c") is None
    assert read_probe(tmp_path / "nowhere", "a") is None


@pytest.mark.slow
@pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed")
@pytest.mark.parametrize("kind", sorted(SWAPS))
def test_a_submission_that_swaps_its_probe_file_loses_only_that_exercise(tmp_path, kind):
    # 99-double's probe has run by the time 99-square's solution cell runs
    source = (f"import os\npath = '/submission/probes/99-double.json'\n{SWAPS[kind]}\n"
              "def square(x):\n    return x * x\n")
    graded, _ = grade_one(tmp_path, {"99-square-solution": source})
    points, message, _ = graded["99-double"]
    assert points == 0
    assert message.startswith(f"not checked: probes/99-double.json {EXPECTED[kind]}"), message
    assert graded["99-square"][:2] == (2, "5 cases")
