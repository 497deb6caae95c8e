"""Start JupyterLab the way ``make lab`` does, on a copy of the lessons, and drive it.

``LabServer`` runs ``make lab`` itself (so the flags, the virtual environment and the
``--allow-root``/``--no-browser`` logic are the ones a student gets), pointed at a temporary
folder through ``LAB_DIR`` and on a free loopback port with a known token. It always stops the
server and every kernel it started, even when a test fails half-way.

``run_all_cells`` does what a student does: open the notebook, wait for its kernel, click
Run → Run All Cells, and wait until the kernel is idle again. It returns what the page shows.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"

#: Flags for Debian's Chromium on these machines: no sandbox as root, no GPU, no background
#: connections (the closed network refuses them, many at a time), and no host name resolves
#: but loopback, so a page can only reach this machine (the rendered lessons name a CDN for
#: MathJax). Blocking in the browser, not with a Playwright route: a route is served by this
#: Python process, and would stall every request while a test waits.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def figure_count(path: Path) -> int:
    """How many figures the committed notebook at ``path`` shows (what a run must reproduce)."""
    nb = nbformat.read(path, as_version=4)
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if any(mime.startswith("image/") for mime in output.get("data", {}))
    )


def copy_lessons(source: Path, dest: Path) -> None:
    """Copy the lesson folder to ``dest`` with every output and execution count cleared.

    JupyterLab autosaves a notebook that has run, so the server never sees ``notebooks/``.
    Clearing the stored outputs makes sure a figure on the page came from this run.
    """
    shutil.copytree(
        source, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    for path in dest.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        nbformat.write(nb, path)


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (kernels run in their own session, so killpg misses them)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class LabServer:
    """``make lab`` on ``root`` (a throwaway folder), a free port and a fresh token."""

    root: Path
    state: Path  # workspaces, settings and runtime files of this server only
    log_path: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    startup_timeout: float = 180.0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """The URL a student opens; ``reset`` starts from an empty workspace."""
        return f"{self.base_url}/lab/tree/{name}?reset&token={self.token}"

    def __enter__(self) -> LabServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env["JUPYTER_TOKEN"] = self.token  # read by jupyter_server's IdentityProvider
        for var, sub in (
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
        ):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(self.state / sub)
        command = [
            "make",
            "--no-print-directory",
            "-C",
            str(REPO),
            "lab",
            f"LAB_PORT={self.port}",
            f"LAB_DIR={self.root}",
            # make lab adds --no-browser only without a display; never open one here.
            "LAB_EXTRA=--ServerApp.open_browser=False",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches make's children
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"make lab exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                self.api("GET", "status")
                return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"JupyterLab did not answer within {self.startup_timeout:.0f} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """Shut the server down politely, then by force; never leave a kernel behind."""
        process, self.process = self.process, None
        if process is None:
            return
        leftovers = _children(process.pid)
        if process.poll() is None:
            try:
                self.api("POST", "shutdown", timeout=10)
            except (OSError, urllib.error.URLError):
                pass
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def api(self, method: str, path: str, *, timeout: float = 5) -> Any:
        """Call the server's REST API with the token; returns the decoded JSON (or None)."""
        request = urllib.request.Request(
            f"{self.base_url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method == "POST" else None,
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernel_state(self, path: str) -> str | None:
        """The execution state of the kernel of the notebook at ``path``, or None if none."""
        for session in self.api("GET", "sessions"):
            if session.get("path") == path and session.get("kernel"):
                return session["kernel"].get("execution_state")
        return None

    def close_sessions(self) -> None:
        """Shut down every notebook's kernel (a finished lesson should not hold memory)."""
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}", timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


# A make that runs inside `make e2e` must not inherit the outer make's flags and overrides.
_DROPPED_ENV = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DISPLAY", "WAYLAND_DISPLAY"}


@dataclass
class RunResult:
    """What the notebook page showed after Run All Cells."""

    prompts: list[str]  # input prompts of the code cells, e.g. "[3]:", "[ ]:"
    errors: list[str]  # text of every error/stderr output
    figures: list[int]  # natural width in pixels of every image output
    seconds: float  # from the click to an idle kernel

    @property
    def execution_counts(self) -> list[int | None]:
        counts: list[int | None] = []
        for prompt in self.prompts:
            inner = prompt.strip().removesuffix(":").strip("[]").strip()
            counts.append(int(inner) if inner.isdigit() else None)
        return counts


_PANEL = ".jp-NotebookPanel"
_CODE_PROMPTS = f"{_PANEL} .jp-CodeCell .jp-InputPrompt"
# JupyterLab 4 renders both error tracebacks and stderr streams with this mime type.
_ERRORS = f'{_PANEL} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
_FIGURES = f"{_PANEL} .jp-OutputArea-output img"


def run_all_cells(page: Any, lab: LabServer, name: str, *, timeout: float = 300) -> RunResult:
    """Open ``name`` in JupyterLab, Run → Run All Cells, wait for an idle kernel.

    ``page`` is a Playwright page. Raises ``TimeoutError`` if the kernel is still busy after
    ``timeout`` seconds (the prompts at that moment are in the message).
    """
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(f"{_PANEL} .jp-Cell", timeout=120_000)
    panels = page.locator(_PANEL).count()
    if panels != 1:
        raise AssertionError(f"expected one open notebook, JupyterLab shows {panels}")
    # The kernel starts after the page opens; the toolbar says "idle" too early, the API not.
    _wait_for(page, lambda: lab.kernel_state(name) == "idle", 120, f"kernel of {name} to start")

    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    start = time.monotonic()

    def finished() -> bool:
        prompts = page.locator(_CODE_PROMPTS).all_text_contents()
        if not prompts or "[ ]:" == prompts[0].strip():
            return False  # the first cell has not run yet
        state = lab.kernel_state(name)
        if state == "dead":
            raise AssertionError(f"the kernel of {name} died; prompts: {' '.join(prompts)}")
        if any("*" in prompt for prompt in prompts):
            return False  # a cell is running or queued
        return state == "idle"

    try:
        _wait_for(page, finished, timeout, f"Run All Cells of {name} to finish")
    except TimeoutError as error:
        prompts = page.locator(_CODE_PROMPTS).all_text_contents()
        raise TimeoutError(f"{error}; prompts: {' '.join(prompts)}") from None
    seconds = time.monotonic() - start
    return RunResult(
        prompts=[p.strip() for p in page.locator(_CODE_PROMPTS).all_text_contents()],
        errors=page.locator(_ERRORS).all_inner_texts(),
        figures=page.eval_on_selector_all(
            _FIGURES, "imgs => imgs.map(img => img.complete ? img.naturalWidth : 0)"
        ),
        seconds=seconds,
    )


def screenshot(page: Any, path: Path) -> None:
    """Save the page with the first figure (if any) scrolled into view."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = page.locator(_FIGURES)
    if figures.count():
        figures.first.scroll_into_view_if_needed(timeout=10_000)
        figures.first.wait_for(state="visible", timeout=10_000)
        page.wait_for_timeout(1000)  # the notebook paints cells a few frames after a scroll
    page.screenshot(path=str(path))


def _wait_for(page: Any, condition: Any, timeout: float, what: str) -> None:
    """Poll ``condition`` until true; waits through Playwright so its events keep flowing."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        page.wait_for_timeout(250)
