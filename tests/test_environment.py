"""The two ways of setting up (pip via make, conda via environment.yml) install the same things,
at the versions of the lock (constraints.txt), with the CPU build of torch on these machines."""

import glob
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pip_section(path: Path) -> list[str]:
    """The entries of the ``- pip:`` list in a conda environment file."""
    entries, inside, indent = [], False, 0
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"\s*- pip:\s*$", line):
            inside, indent = True, len(line) - len(line.lstrip())
            continue
        if inside:
            if len(line) - len(line.lstrip()) <= indent:
                break
            entries.append(line.strip().removeprefix("- ").strip())
    return entries


def test_environment_yml_installs_the_dependencies_of_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pip = _pip_section(ROOT / "environment.yml")
    assert "--editable ." in pip, "environment.yml must install coursekit itself"
    assert sorted(e for e in pip if not e.startswith("-")) == sorted(declared)


def test_environment_yml_pins_the_python_of_pyproject():
    text = (ROOT / "environment.yml").read_text()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert "- python=3.11" in text and ">=3.11" in requires


def _lock() -> dict[str, str]:
    """constraints.txt as {canonical name: version}."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _makefile_exports() -> dict[str, str]:
    text = (ROOT / "Makefile").read_text()
    return dict(re.findall(r"^export (\w+) := (\S+)$", text, re.M))


def test_environment_yml_installs_from_the_lock_and_sets_makes_variables():
    text = (ROOT / "environment.yml").read_text()
    assert "-c constraints.txt" in _pip_section(ROOT / "environment.yml")
    variables = dict(re.findall(r'^  (\w+): "([^"]*)"$', text.split("\nvariables:\n", 1)[1], re.M))
    assert variables == _makefile_exports()
    assert set(variables) >= {"OMP_NUM_THREADS", "PYTHONHASHSEED", "TQDM_DISABLE"}


def test_every_dependency_is_locked_inside_its_range():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = _lock()
    for requirement in map(Requirement, declared):
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in constraints.txt: make lock"
        assert requirement.specifier.contains(version), f"{requirement} vs lock {version}"
    # Ranges, not pins: exact versions live in the lock only.
    assert not [spec for spec in declared if "==" in spec]


def test_the_lock_keeps_torch_2_13_0_without_a_local_label():
    # "2.13.0" matches the CPU build 2.13.0+cpu, which pip prefers where an index has it.
    assert _lock()["torch"] == "2.13.0"
    assert "+" not in (ROOT / "constraints.txt").read_text()


def test_this_environment_was_installed_from_the_lock():
    pins = _lock()
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in pins:
            installed = Version(dist.version)
            assert installed.public == pins[name], (
                f"{name} {dist.version} installed, lock says {pins[name]}: run make")


def test_installing_torch_from_the_lock_takes_the_cpu_build_on_disk():
    """pip resolves torch==2.13.0 to the local CPU wheel, never to the CUDA build of the index."""
    local = glob.glob("/opt/wheels/torch-2.13.0+cpu-*.whl")
    if not local:
        pytest.skip("no CPU build of torch on this machine's disk")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
         "-q", "-c", str(ROOT / "constraints.txt"), "torch", "--report", "-"],
        capture_output=True, text=True, timeout=300, check=True)
    chosen = json.loads(result.stdout)["install"]
    assert [item["metadata"]["version"] for item in chosen] == ["2.13.0+cpu"]
    assert chosen[0]["download_info"]["url"].startswith("file:///opt/wheels/")

