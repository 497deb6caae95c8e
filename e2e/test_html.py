"""`make html` as a reader meets it: the index in Chromium, every link, every figure, the
maths typeset offline, the contents sidebar, the downloadable student edition. This is the
student site, the default (exercises as stubs; tests/test_course_html.py searches every file
of it for the solutions).

Chromium resolves no host name but loopback (``e2e.lab.CHROMIUM_ARGS``): the site must work
with the network blocked, and the tests also check that no page asks another host for
anything.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import nbformat
import pytest
from bs4 import BeautifulSoup

from coursekit.instructor.syllabus import lesson_files
from e2e.lab import BUILD, REPO, figure_count

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
    downloads: set[str] = set()
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        if not url.endswith(".html"):  # a download: fetched, not opened as a page
            response = page.request.get(url)
            assert response.status == 200, f"{url}: {response.status}"
            downloads.add(Path(urlparse(url).path).name)
            continue
        response = page.goto(url)
        assert response is not None and response.status == 200, f"{url}: {response}"
        todo.extend(link for link in _local_links(page, base) if link not in seen)
    pages = {Path(urlparse(url).path).name for url in seen} - downloads
    # Every page written is reachable from the index, and nothing else is linked.
    assert pages == {path.name for path in out.glob("*.html")}
    assert downloads == {path.name for path in out.glob("*.ipynb")}
    assert downloads == {path.name for path in lesson_files(NOTEBOOKS)}


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


#: TeX that MathJax would have replaced: $...$ on one line, or a control word.
RAW_TEX = re.compile(r"\$[^$\n]+\$|\\(?:frac|theta|alpha|sum|hat|mathbf|partial|cdot|nabla|"
                     r"left|right|text|lceil|rceil|top|sigma|mathrm|log|exp|in|le|ge)\b")

#: The visible text of a page's markdown, code spans and blocks left out.
MARKDOWN_TEXT = """() => Array.from(document.querySelectorAll('.jp-MarkdownOutput')).map(node => {
    const copy = node.cloneNode(true);
    copy.querySelectorAll('code, pre, script').forEach(child => child.remove());
    return copy.innerText;
}).join('\\n')"""


def _record_requests(page: Any) -> tuple[list[str], list[str]]:
    """Every URL the page requests, and every request that failed or got an error status."""
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # MathJax probes web-font support with a font at about:blank, which never loads.
    page.on("requestfailed", lambda request: request.url != "about:blank"
            and failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400
            and failed.append(f"{response.url}: HTTP {response.status}"))
    return requested, failed


@pytest.mark.parametrize("notebook", lesson_files(NOTEBOOKS), ids=lambda p: p.stem)
def test_maths_is_typeset_offline(notebook: Path, page: Any, html_site: tuple[Path, str]) -> None:
    _, base = html_site
    requested, failed = _record_requests(page)
    response = page.goto(f"{base}/{notebook.with_suffix('.html').name}")
    assert response is not None and response.ok
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.isReady")
    page.evaluate("() => new Promise(done => MathJax.Hub.Queue(done))")  # typesetting finished
    typeset = page.locator(".MathJax, .MathJax_Display").count()
    source = "\n".join(cell.source for cell in nbformat.read(notebook, as_version=4).cells
                       if cell.cell_type == "markdown")
    if "$" in source:
        assert typeset > 0, f"{notebook.name}: no maths typeset"
    leftover = RAW_TEX.findall(page.evaluate(MARKDOWN_TEXT))
    assert not leftover, f"{notebook.name}: raw TeX on the page: {leftover[:5]}"
    assert page.locator(".MathJax_Error, .noError").count() == 0  # TeX MathJax could not parse
    # Everything came from the site itself, and nothing was missing.
    assert [url for url in requested
            if not url.startswith((base, "data:")) and url != "about:blank"] == []
    assert failed == []
    if notebook.name.startswith("01_"):
        (BUILD / "e2e").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(BUILD / "e2e" / "html-01-maths.png"), full_page=False)


def test_the_sidebar_lists_every_lesson_and_this_ones_sections(
    page: Any, html_site: tuple[Path, str]
) -> None:
    _, base = html_site
    lessons = lesson_files(NOTEBOOKS)
    current = lessons[min(1, len(lessons) - 1)]
    page.goto(f"{base}/{current.with_suffix('.html').name}")
    toc = page.locator("nav.course-toc")
    assert toc.is_visible()
    hrefs = toc.locator(".course-toc-lessons > li > a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    assert hrefs == [path.with_suffix(".html").name for path in lessons]
    assert toc.locator("a[aria-current=page]").get_attribute("href") == current.with_suffix(
        ".html").name
    assert toc.locator(".course-edition").inner_text().strip() == "student edition"
    assert not re.search(r"(BEGIN|END)\W*SOLUTION", toc.inner_text(), re.IGNORECASE)
    sections = toc.locator("ol.sections a")
    assert sections.count() >= 3
    for i in range(sections.count()):
        anchor = sections.nth(i).get_attribute("href")
        assert anchor and anchor.startswith("#")
        assert page.locator(f"[id='{anchor[1:]}']").count() == 1, anchor


@pytest.mark.parametrize("notebook", lesson_files(NOTEBOOKS)[:2], ids=lambda p: p.stem)
def test_each_page_offers_its_student_edition(
    notebook: Path, page: Any, html_site: tuple[Path, str]
) -> None:
    _, base = html_site
    page.goto(f"{base}/{notebook.with_suffix('.html').name}")
    assert "student edition" in page.title()
    # The page shows each exercise as the stub the download holds, not its solution.
    assert page.get_by_text("NotImplementedError").count() >= 1
    link = page.locator("nav.course-toc a.download")
    assert link.get_attribute("href") == notebook.name
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == notebook.name
    edition = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert edition["metadata"]["coursekit"]["edition"] == "student"
    text = json.dumps(edition)
    assert "BEGIN SOLUTION" not in text and "NotImplementedError" in text


@pytest.mark.parametrize("notebook", lesson_files(NOTEBOOKS), ids=lambda p: p.stem)
def test_figures_carry_alt_text_from_their_cells(
    notebook: Path, html_site: tuple[Path, str], course_html: Any
) -> None:
    out, _ = html_site
    soup = BeautifulSoup((out / notebook.with_suffix(".html").name).read_text(), "html.parser")
    alts = [image.get("alt") for image in soup.select(".jp-OutputArea-output img")]
    assert alts == course_html.figure_alt_texts(nbformat.read(notebook, as_version=4))
    assert all(alt and alt.startswith("Figure: ") and "No description" not in alt
               for alt in alts)


def test_pages_name_no_other_host(html_site: tuple[Path, str]) -> None:
    """No script, style sheet or image of any page points off the site."""
    out, _ = html_site
    for path in sorted(out.glob("*.html")):
        soup = BeautifulSoup(path.read_text(), "html.parser")
        for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src")):
            for element in soup.find_all(tag):
                value = element.get(attribute) or ""
                assert not urlparse(value).netloc, f"{path.name}: <{tag} {attribute}={value}>"
    assert (out / "mathjax" / "MathJax.js").is_file()


def test_alt_text_comes_from_titles_or_the_text_above(course_html: Any) -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## The data\n\nThree points: $(1, 1)$ and more. Then."),
        nbformat.v4.new_code_cell("plt.plot(x)"),
        nbformat.v4.new_code_cell('ax.set_title(f"{name}: α = {lr:.2f}")\nfig.suptitle("Both")'),
    ])
    png = nbformat.v4.new_output("display_data", data={"image/png": "aGVsbG8=",
                                                       "text/plain": "<Figure>"})
    nb.cells[1].outputs = [png]
    nb.cells[2].outputs = [png, png]
    assert course_html.figure_alt_texts(nb) == [
        "Figure: The data: Three points: (1, 1) and more.",
        "Figure: name: α = lr; Both",
        "Figure: name: α = lr; Both",
    ]


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
        'objectives = [{ text = "learn a thing", by = ["01-a"] }]\n'
        'exercises = [{ id = "01-a", points = 2 }]\n\n'
        '[[lessons]]\nnotebook = "02_later.ipynb"\ntitle = "Not yet"\nruntime_seconds = 3\n'
        'objectives = [{ text = "later", by = "demonstrated" }]\nexercises = []\n',
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
