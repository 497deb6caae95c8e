"""The two ways of setting up (pip via make, conda via environment.yml) install the same things."""

import re
import tomllib
from pathlib import Path

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


def test_torch_stays_on_the_cpu_build_on_disk():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [d for d in declared if d.startswith("torch")] == ["torch==2.13.0"]
