"""The Makefile's set-up of .venv: an unsupported Python is refused before anything is made, a
stale or broken .venv is removed and rebuilt, and pyproject.toml agrees with it.

Each test copies the Makefile and tools/check_venv.sh into a temporary folder and runs
``make -n`` there: the checks run when make reads the Makefile, and ``-n`` prints the set-up
it would do without installing anything. The interpreters come from pyenv where it has them
(3.10, 3.12, 3.13 on the course machines); tests needing one that is missing are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"


def interpreter(version: str) -> Path:
    """A real interpreter of ``version`` (e.g. "3.12"), not a shim; skips when absent."""
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if found:
        return found[-1]
    on_path = shutil.which(f"python{version}")
    if on_path and subprocess.run([on_path, "-c", ""], capture_output=True).returncode == 0:
        return Path(on_path)
    pytest.skip(f"no Python {version} on this machine")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A folder with the Makefile, its set-up script and the files its rules depend on."""
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "tools" / "check_venv.sh", tmp_path / "tools" / "check_venv.sh")
    shutil.copy(ROOT / "tools" / "lab_overrides.json", tmp_path / "tools" / "lab_overrides.json")
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def make(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-n", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)


def make_venv(python: Path, venv: Path) -> None:
    """A venv of ``python`` that passes for complete: ensurepip's few seconds are replaced by
    an empty ``pip`` package, which is all the check looks for."""
    subprocess.run([python, "-m", "venv", "--without-pip", venv], check=True)
    site = next(venv.glob("lib/python3.*/site-packages"))
    (site / "pip").mkdir()
    (site / "pip" / "__init__.py").write_text("")


def venv_python_version(venv: Path) -> str:
    return subprocess.run([venv / "bin" / "python", "-c",
                           "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_an_unsupported_python_is_refused_before_making_anything(project: Path) -> None:
    old = interpreter("3.10")
    result = make(project, "lab", f"PYTHON={old}")
    assert result.returncode != 0
    assert "is Python 3.10" in result.stderr and "needs Python 3.11 or newer" in result.stderr
    assert "PYTHON=" in result.stderr  # how to choose another one
    assert not (project / ".venv").exists()


def test_a_missing_python_is_named(project: Path) -> None:
    result = make(project, "lab", "PYTHON=")
    assert result.returncode != 0
    assert "no Python found" in result.stderr and "PYTHON=" in result.stderr


def test_a_venv_from_another_python_than_the_one_asked_for_is_rebuilt(project: Path) -> None:
    make_venv(interpreter("3.12"), project / ".venv")
    wanted = interpreter("3.11")
    result = make(project, "lab", f"PYTHON={wanted}")
    assert result.returncode == 0, result.stderr
    assert "was made by Python 3.12" in result.stderr and "removing it" in result.stderr
    assert not (project / ".venv").exists()
    # What make then runs: a venv from the Python asked for, installed from the lock.
    assert f"{wanted} -m venv .venv" in result.stdout
    assert re.search(r"\.venv/bin/python -m pip install .*-c constraints\.txt -e \.",
                     result.stdout)


def test_a_venv_from_another_supported_python_is_kept_when_none_was_asked_for(
    project: Path,
) -> None:
    make_venv(interpreter("3.12"), project / ".venv")
    result = make(project, "lab")
    assert result.returncode == 0, result.stderr
    assert "removing" not in result.stderr
    assert venv_python_version(project / ".venv") == "3.12"


@pytest.mark.parametrize("damage", ["interpreter gone", "no pip", "old python"])
def test_a_broken_or_old_venv_is_removed_and_rebuilt(project: Path, damage: str) -> None:
    venv = project / ".venv"
    if damage == "old python":
        subprocess.run([interpreter("3.10"), "-m", "venv", "--without-pip", venv], check=True)
        reason = "was made by Python 3.10"
    else:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
        reason = "is incomplete: it has no pip"
        if damage == "interpreter gone":
            for python in (venv / "bin").glob("python*"):
                python.unlink()
            (venv / "bin" / "python").symlink_to(project / "removed" / "python3")
            reason = "is broken"
    result = make(project, "lab", f"PYTHON={interpreter('3.11')}")
    assert result.returncode == 0, result.stderr
    assert reason in result.stderr and "removing it" in result.stderr
    assert not venv.exists()
    assert "-m venv .venv" in result.stdout


def test_targets_that_need_no_venv_check_nothing(project: Path) -> None:
    for goal in ("help", "clean"):
        result = make(project, goal, "PYTHON=/nonexistent/python3")
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""


def test_make_lab_turns_the_jupyter_news_prompt_off(project: Path) -> None:
    result = make(project, "lab", f"PYTHON={interpreter('3.11')}")
    assert result.returncode == 0, result.stderr
    assert "cp tools/lab_overrides.json .venv/share/jupyter/lab/settings/overrides.json" in (
        result.stdout)
    assert "--LabApp.news_url=None" in result.stdout


def test_the_makefile_and_pyproject_agree_on_the_oldest_python() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11", "no upper bound: every dependency supports 3.11-3.13"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^PYTHON_MIN := 3\.11$", makefile, re.M)


def test_the_lab_overrides_turn_news_and_update_checks_off_in_jupyterlab(tmp_path: Path) -> None:
    """JupyterLab's own settings loader, on the installed schemas, sees the overrides."""
    settings_utils = pytest.importorskip("jupyterlab_server.settings_utils")
    app_settings = tmp_path / "settings"
    app_settings.mkdir()
    shutil.copy(ROOT / "tools" / "lab_overrides.json", app_settings / "overrides.json")
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    found, _ = settings_utils.get_settings(
        str(app_settings), str(schemas), str(tmp_path / "user"),
        "@jupyterlab/apputils-extension:notification")
    properties = found["schema"]["properties"]
    assert properties["fetchNews"]["default"] == "false"  # "Never", so JupyterLab never asks
    assert properties["checkForUpdates"]["default"] is False
