"""tools/lock.py, which `make lock` runs: pip freeze output becomes constraints.txt lines."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lock():
    spec = importlib.util.spec_from_file_location("lock", ROOT / "tools" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_local_labels_are_dropped_and_coursekit_left_out(lock):
    frozen = ("torch==2.13.0+cpu\nNumPy==2.4.6\n"
              "-e git+https://example.invalid/course@abc#egg=nn_from_scratch_course\n"
              "anyio==4.16.0\n\n# a comment\n")
    assert lock.lock_lines(frozen) == ["anyio==4.16.0", "NumPy==2.4.6", "torch==2.13.0"]


def test_a_package_installed_from_a_path_cannot_be_locked(lock):
    with pytest.raises(SystemExit, match="cannot pin"):
        lock.lock_lines("foo @ file:///tmp/foo-1.0-py3-none-any.whl\n")


def test_the_committed_lock_is_what_lock_py_writes(lock):
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    body = [line for line in lines if not line.startswith("#")]
    assert body == lock.lock_lines("\n".join(body)), "edit constraints.txt with make lock only"
    assert lines[0].startswith("# Exact versions") and "make lock" in lines[0]
