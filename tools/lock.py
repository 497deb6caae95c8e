"""Write constraints.txt from a freshly installed environment: ``make lock`` runs this.

    python tools/lock.py VENV_PYTHON > constraints.txt
    python tools/lock.py --check constraints.txt 3.12 3.13

The lock is ``pip freeze`` of that environment (coursekit itself left out), with two edits:

- local version labels are dropped (``torch==2.13.0+cpu`` becomes ``torch==2.13.0``), so the
  same line works on macOS, Windows and on Linux with either PyTorch index; pip still
  prefers ``2.13.0+cpu`` where that build is on an index, since it sorts above ``2.13.0``;
- a header says how the file was made and how to refresh it.

It refuses an environment whose torch is a CUDA build: the lock is made with the CPU build
(on a machine without one on disk, set ``PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu``).
Every ``make`` target installs with ``pip install -c constraints.txt -e .``: a constraints
file only fixes versions, so lines for packages a platform does not need are ignored.

``--check`` makes sure every locked version (torch aside: 2.13.0 has cp312 and cp313 builds,
and resolving it for another Python would fetch the CUDA build's metadata) has Linux wheels
for the newer Pythons named: the lock is made with the oldest supported Python, and a release
that dropped a newer one would break the set-up there. A pip dry run: metadata only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

HEADER = """\
# Exact versions of everything coursekit installs, made by `make lock` (pip freeze of a fresh
# environment made from pyproject.toml's ranges) with Python {python}.
# Every make target installs with `pip install -c constraints.txt -e .`, so the stored
# notebook outputs repeat. Refresh: `make lock`, then `make test`; commit both together.
"""

_LOCAL_LABEL = re.compile(r"^([A-Za-z0-9_.\-]+==[^+\s;]+)\+[A-Za-z0-9.]+(.*)$")


def lock_lines(frozen: str) -> list[str]:
    """The constraint lines of ``pip freeze`` output, local version labels dropped, sorted."""
    lines = []
    for raw in frozen.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("-e "):
            continue
        if "==" not in line:  # a direct URL or a path: not a version a constraint can hold
            raise SystemExit(f"lock: cannot pin {line!r}; install it from an index")
        lines.append(_LOCAL_LABEL.sub(r"\1\2", line))
    return sorted(lines, key=str.lower)


#: Linux x86-64 wheel tags pip may pick, newest first (``--platform`` does not expand them).
LINUX_TAGS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64",
              "manylinux_2_24_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
              "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64")


def check_pythons(lock: str, versions: list[str]) -> int:
    """Exit status 0 when every pin of ``lock`` but torch resolves to a wheel for each version."""
    with open(lock, encoding="utf-8") as handle:
        pins = [line.strip() for line in handle
                if line.strip() and not line.startswith("#") and not line.startswith("torch==")]
    platforms = [arg for tag in LINUX_TAGS for arg in ("--platform", tag)]
    with tempfile.TemporaryDirectory() as tmp:
        requirements = os.path.join(tmp, "requirements.txt")
        with open(requirements, "w", encoding="utf-8") as handle:
            handle.write("\n".join(pins) + "\n")
        for version in versions:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                 "--no-deps", "-q", "--only-binary=:all:", "--python-version", version,
                 *platforms, "--target", os.path.join(tmp, "target"), "-r", requirements,
                 "--disable-pip-version-check"],
                capture_output=True, text=True)
            if result.returncode != 0:
                print(f"lock: a locked version has no wheel for Python {version}:\n"
                      f"{result.stderr[-2000:]}", file=sys.stderr)
                return 1
            print(f"lock: all {len(pins)} pins (torch aside) have wheels for Python {version}",
                  file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] == "--check":
        return check_pythons(argv[2], argv[3:])
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    python = argv[1]
    cuda = subprocess.run(
        [python, "-c", "import torch; print(torch.version.cuda or '')"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if cuda:
        raise SystemExit(
            f"lock: this environment has a CUDA build of torch (CUDA {cuda}); make the lock "
            "with the CPU build: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu make lock"
        )
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        check=True, capture_output=True, text=True,
    ).stdout
    sys.stdout.write(HEADER.format(python=version) + "\n".join(lock_lines(frozen)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
