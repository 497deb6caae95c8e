"""Fixtures for the browser tests: Debian's Chromium, a JupyterLab server, a static server.

These tests need a real browser, so they live outside ``tests/`` and run with ``make e2e``
(which installs Chromium when it is missing). Choose the lessons with
``--lessons 01,03`` or ``--lessons all`` (default: the ``E2E_LESSONS`` variable, else 01).
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coursekit.instructor import syllabus
from e2e.lab import BUILD, CHROMIUM_ARGS, REPO, LabServer, copy_lessons


def select_lessons(spec: str, folder: Path) -> list[Path]:
    """``--lessons``: see :func:`coursekit.instructor.syllabus.select_lessons`."""
    try:
        return syllabus.select_lessons(folder, spec)
    except ValueError as exc:
        raise pytest.UsageError(f"--lessons: {exc}") from None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lessons",
        default=os.environ.get("E2E_LESSONS") or "01",
        help="lessons to run in JupyterLab: 'all' or numbers/names, e.g. '01,03' (default 01)",
    )
    parser.addoption(
        "--notebooks",
        type=Path,
        default=REPO / "notebooks",
        help="folder of lessons to serve (default: notebooks/; it is copied, never written)",
    )
    parser.addoption(
        "--cell-timeout",
        type=float,
        default=float(os.environ.get("E2E_TIMEOUT", "300")),
        help="seconds a lesson may take from Run All Cells to an idle kernel",
    )


def pytest_configure(config: pytest.Config) -> None:
    # A SIGTERM (a CI timeout, `kill`) becomes an interrupt, so that fixture teardown still
    # stops the JupyterLab server, which runs in its own session and would outlive pytest.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lesson" in metafunc.fixturenames:
        config = metafunc.config
        lessons = select_lessons(config.getoption("--lessons"), config.getoption("--notebooks"))
        metafunc.parametrize("lesson", lessons, ids=[p.stem for p in lessons])


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"no Chromium at {path}: run `bash tools/install_chromium.sh` (make e2e does), "
            "or set CHROMIUM to a Chromium binary"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (cookies, storage) per test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def lab(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[LabServer]:
    """JupyterLab started by `make lab` on a copy of notebooks/ with outputs cleared."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    copy_lessons(pytestconfig.getoption("--notebooks"), root)
    with LabServer(root=root, state=base / "state", log_path=BUILD / "e2e" / "lab.log") as server:
        yield server


@pytest.fixture(scope="session")
def course_html() -> Any:
    """``tools/course_html.py`` (what `make html` runs), imported by path."""
    spec = importlib.util.spec_from_file_location("course_html", REPO / "tools" / "course_html.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def html_site(course_html: Any) -> Iterator[tuple[Path, str]]:
    """Render the course with `make html`'s code to build/html and serve it on loopback."""
    out = BUILD / "html"
    if out.exists():
        shutil.rmtree(out)
    course_html.build_site(out)
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield out, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass
