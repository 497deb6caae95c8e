"""`make html` as a reader meets it: the index in Chromium, every link, every figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import nbformat
import pytest

from coursekit.instructor.syllabus import lesson_files
from e2e.lab import REPO, figure_count

NOTEBOOKS = REPO / "notebooks"


def _local_links(page: Any, base: str) -> list[str]:
    """Absolute URLs of every link on the page that stays on the site (fragments dropped)."""
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    site = urlparse(base).netloc
    urls = {urljoin(page.url, href).split("#", 1)[0] for href in hrefs}
    return sorted(url for url in urls if urlparse(url).netloc == site)


def test_index_lists_every_lesson_in_order(page: Any, html_site: tuple[Path, str]) -> None:
    _, base = html_site
    response = page.goto(f"{base}/index.html")
    assert response is not None and response.ok
    links = page.locator("a.lesson-link")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    lessons = lesson_files(NOTEBOOKS)
    assert lessons, "no lessons in notebooks/"
    assert hrefs == [path.with_suffix(".html").name for path in lessons]
    # Each lesson's title is the syllabus's (or its own heading) and is visible.
    for i in range(links.count()):
        assert links.nth(i).is_visible()
        assert links.nth(i).inner_text().strip()


def test_every_link_resolves(page: Any, html_site: tuple[Path, str]) -> None:
    out, base = html_site
    seen: set[str] = set()
    todo = [f"{base}/index.html"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        assert response is not None and response.status == 200, f"{url}: {response}"
        todo.extend(link for link in _local_links(page, base) if link not in seen)
    pages = {Path(urlparse(url).path).name for url in seen}
    # Every page written is reachable from the index, and nothing else is linked.
    assert pages == {path.name for path in out.glob("*.html")}


@pytest.mark.parametrize("notebook", lesson_files(NOTEBOOKS), ids=lambda p: p.stem)
def test_lesson_page_shows_its_figures(
    notebook: Path, page: Any, html_site: tuple[Path, str]
) -> None:
    _, base = html_site
    response = page.goto(f"{base}/{notebook.with_suffix('.html').name}")
    assert response is not None and response.ok
    expected = figure_count(notebook)
    assert expected >= 1, f"{notebook.name} has no figure in its committed outputs"
    images = page.locator(".jp-OutputArea-output img")
    assert images.count() == expected
    for i in range(images.count()):
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 0, f"figure {i + 1} of {notebook.name} did not load"
    # The navigation bar leads back to the index.
    assert page.locator('nav.course-nav a[rel="index"]').get_attribute("href") == "index.html"


def test_index_follows_the_syllabus_and_flags_gaps(tmp_path: Path, course_html: Any) -> None:
    """No browser: a lesson missing from the folder is shown unlinked, an extra one is added."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, heading in (
        ("01_first.ipynb", "# 01 · First\n\nSee [the extra lesson](03_extra.ipynb#Top)."),
        ("03_extra.ipynb", "# 03 · Extra"),
    ):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(heading)])
        nbformat.write(nb, folder / name)
    syllabus = tmp_path / "syllabus.toml"
    syllabus.write_text(
        '[[lessons]]\nnotebook = "01_first.ipynb"\ntitle = "The first"\nruntime_seconds = 3\n'
        'objectives = ["learn a thing"]\nexercises = [{ id = "01-a", points = 2 }]\n\n'
        '[[lessons]]\nnotebook = "02_later.ipynb"\ntitle = "Not yet"\nruntime_seconds = 3\n'
        'objectives = ["later"]\nexercises = []\n',
        encoding="utf-8",
    )
    entries, warnings = course_html.course_entries(folder, syllabus)
    assert [(e.notebook, e.title, e.path is not None) for e in entries] == [
        ("01_first.ipynb", "The first", True),
        ("02_later.ipynb", "Not yet", False),
        ("03_extra.ipynb", "Extra", True),
    ]
    assert len(warnings) == 2
    index = course_html.render_index(entries)
    assert index.count('class="lesson-link"') == 2
    assert "Not yet (not written yet)" in index
    assert "learn a thing" in index and "1 exercise, 2 points" in index
    # A lesson page links the index and its neighbours, and a link to another lesson's
    # notebook becomes a link to that lesson's page.
    first = course_html.render_lesson(entries[0], None, entries[2])
    assert 'href="index.html" rel="index"' in first
    assert 'href="03_extra.html" rel="next"' in first
    assert 'href="03_extra.html#Top"' in first and "03_extra.ipynb" not in first
