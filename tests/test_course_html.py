"""`make html`'s two sites: the student site gives nothing of a solution away, the instructor
site (``make html EDITION=instructor``) still shows every solution.

`make test` checks, for every lesson in notebooks/ (those added later included), the
notebook its student page renders (a fraction of a second each). `make test-slow` renders
every lesson to both sites, as ``tools/course_html.py`` writes them (about 25 s of CPU), and
searches every file written. The lines to look for come from the
instructor notebooks (``tests.instructor.leaks.secret_lines``, the scan behind the student
editions' own leak test): each line of a solution region (code, or a model answer in
markdown) and of a hidden test, less those that some lesson's student edition shows anyway.
Every file of the student site (pages, downloads, MathJax) is searched for each of them and
for the solution markers; the same search must find every one of them on the instructor site,
which shows that it would find a leak.

A page shows a line differently from the notebook (code split into highlighted spans, HTML
escapes, markdown turned into tags), so both sides are compared as their sequences of words
(``\\w+``): a line is found where its words appear in a row in one of a file's texts.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from bs4 import BeautifulSoup

from coursekit.instructor.cells import coursekit_metadata, role_by_metadata
from coursekit.instructor.student import student_edition
from coursekit.instructor.syllabus import lesson_files
from tests.instructor.leaks import secret_lines, strings

ROOT = Path(__file__).resolve().parents[1]
LESSONS = lesson_files(ROOT / "notebooks")
#: A marker however a page writes it: a heading, its anchor id ("BEGIN-SOLUTION"), any case.
MARKER = re.compile(r"(BEGIN|END)\W*SOLUTION", re.IGNORECASE)

# Both sites are built once, on one xdist worker.
pytestmark = pytest.mark.xdist_group("course_html_sites")


def _load_course_html() -> ModuleType:
    """``tools/course_html.py`` (what `make html` runs), imported by path."""
    spec = importlib.util.spec_from_file_location("course_html", ROOT / "tools" / "course_html.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


course_html = _load_course_html()


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text)) + " "


def _secrets() -> dict[str, list[str]]:
    """Per lesson, the solution and hidden-test lines no student edition shows (two words or
    more: a lone ``break`` or ``else:`` tells nothing)."""
    found: dict[str, set[str]] = {}
    shown = []
    for lesson in LESSONS:
        secret, shared = secret_lines(nbformat.read(lesson, as_version=4))
        found[lesson.name] = secret
        shown.append(shared)
    allowed = _words("\n".join(shown))  # a later lesson may show an earlier one's answer
    return {
        name: sorted(line for line in lines
                     if len(_words(line).split()) >= 2 and _words(line) not in allowed)
        for name, lines in found.items()
    }


#: An embedded image (base64): no text to find in it, and megabytes of words to skip.
_IMAGE_DATA = re.compile(r"data:image/[^\"'\s)]+")


def _texts(path: Path) -> list[str]:
    """Every text a file holds: its bytes as text (a page's unescaped); for a page also its
    visible text and its attributes; for a notebook or JSON file its strings, one a line."""
    raw = _IMAGE_DATA.sub("", path.read_bytes().decode("utf-8", errors="ignore"))
    if path.suffix == ".html":
        soup = BeautifulSoup(raw, "html.parser")
        attributes = (str(value) for tag in soup.find_all(True) for value in tag.attrs.values())
        return [html.unescape(raw), soup.get_text(), "\n".join(attributes)]
    if path.suffix in (".ipynb", ".json"):
        return [raw, "\n".join(strings(json.loads(raw)))]
    return [raw]


def _scan(site: Path, secrets: dict[str, list[str]]) -> tuple[int, set[str], list[str]]:
    """Search every file of ``site``: the number of files, the secret lines found, and the
    files with a marker."""
    files = sorted(path for path in site.rglob("*") if path.is_file())
    wanted: dict[str, set[str]] = {}  # "x.flat[k] = a + h" and "... - h": the same words
    for lines in secrets.values():
        for line in lines:
            wanted.setdefault(_words(line), set()).add(line)
    found: set[str] = set()
    marked = []
    for path in files:
        texts = _texts(path)
        if any(MARKER.search(text) for text in texts):
            marked.append(str(path.relative_to(site)))
        words = [_words(text) for text in texts]
        for key, same in wanted.items():
            if any(key in text for text in words):
                found.update(same)
    return len(files), found, marked


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    built = {}
    for edition in course_html.EDITIONS:
        out = tmp_path_factory.mktemp(edition) / "site"
        course_html.build_site(out, edition=edition)
        built[edition] = out
    return built


@pytest.mark.slow
def test_the_student_site_shows_no_solution_and_the_instructor_site_all(
    sites: dict[str, Path], secrets: dict[str, list[str]]
) -> None:
    assert LESSONS, "no lessons in notebooks/"
    assert all(secrets.values()), "each lesson needs solution lines to look for"
    total = sum(len(lines) for lines in secrets.values())
    files, leaked, marked = _scan(sites["student"], secrets)
    pages = {path.name for path in sites["student"].glob("*.html")}
    assert pages == {lesson.with_suffix(".html").name for lesson in LESSONS} | {"index.html"}
    assert not leaked, f"solution lines on the student site: {sorted(leaked)[:10]}"
    assert not marked, f"solution markers on the student site: {marked}"
    # The same search finds every one of them, and the markers, on the instructor site.
    instructor_files, shown, instructor_marked = _scan(sites["instructor"], secrets)
    missing = {line for lines in secrets.values() for line in lines} - shown
    assert not missing, f"solution lines the search missed on the instructor site: {missing}"
    assert {lesson.with_suffix(".html").name for lesson in LESSONS} <= set(instructor_marked)
    print(f"{len(LESSONS)} lessons, {total} solution and hidden-test lines, "
          f"{files} student-site files and {instructor_files} instructor-site files searched")


@pytest.mark.slow
def test_each_site_names_its_edition_and_the_sidebar_lists_no_marker(
    sites: dict[str, Path],
) -> None:
    for edition, site in sites.items():
        label = course_html.EDITION_LABEL[edition]
        for page in sorted(site.glob("*.html")):
            soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
            assert soup.title is not None and label in soup.title.get_text(), page
            assert soup.body is not None and label in soup.body.get_text(), page
            for nav in soup.select("nav.course-toc"):
                assert not MARKER.search(nav.get_text()), f"{page}: a marker in the contents"
    assert course_html.DEFAULT_OUT["student"] != course_html.DEFAULT_OUT["instructor"]
    # The student edition is offered for download on both sites.
    for site in sites.values():
        for lesson in LESSONS:
            edition = nbformat.read(site / lesson.name, as_version=4)
            assert edition.metadata["coursekit"]["edition"] == "student"


@pytest.fixture(scope="module")
def secrets() -> dict[str, list[str]]:
    return _secrets()


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_a_student_page_is_the_student_edition_with_the_teaching_outputs(
    lesson: Path, secrets: dict[str, list[str]]
) -> None:
    """What a student page renders (quick, in `make test`; the rendered site is searched in
    `make test-slow`): cell for cell the student edition, no solution line or marker in any
    of its strings, outputs included; teaching cells keep their outputs, solution and check
    cells show none, nor does the score cell (the instructor's "passed" and full marks would
    mislead)."""
    instructor = nbformat.read(lesson, as_version=4)
    page = course_html.site_notebook(instructor, path=str(lesson))
    text = "\n".join(strings(json.loads(nbformat.writes(page))))
    assert not MARKER.search(text)
    assert "your notebook, as it is now" not in text  # the instructor's score
    words = _words(text)
    leaked = [line for lines in secrets.values() for line in lines if _words(line) in words]
    assert not leaked, f"solution lines in the notebook of {lesson.name}'s page: {leaked}"
    edition = student_edition(instructor, path=str(lesson))
    assert [cell.source for cell in page.cells] == [cell.source for cell in edition.cells]
    originals = {cell.id: cell for cell in instructor.cells}
    teaching_outputs = 0
    for cell in page.cells:
        if cell.cell_type != "code":
            continue
        original = originals[cell.id]
        if coursekit_metadata(original) or cell.id == "score":
            assert cell.outputs == [] and cell.execution_count is None, cell.id
            assert role_by_metadata(original) is not None or "check.score(" in cell.source
        else:
            assert cell.outputs == original.outputs, cell.id
            teaching_outputs += len(cell.outputs)
    assert teaching_outputs > 0, f"{lesson.name}: no teaching output on its page"
    assert course_html.site_notebook(instructor, path=str(lesson), edition="instructor") is (
        instructor)


def test_a_build_replaces_what_an_earlier_one_left(tmp_path: Path) -> None:
    """A page from an earlier build (an instructor page, a renamed lesson) does not survive."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 01 · First")])
    nbformat.write(nb, folder / "01_first.ipynb")
    out = tmp_path / "site"
    (out / "mathjax").mkdir(parents=True)
    (out / "00_old.html").write_text("### BEGIN SOLUTION", encoding="utf-8")
    (out / "00_old.ipynb").write_text("{}", encoding="utf-8")
    (out / "mathjax" / "stale.js").write_text("", encoding="utf-8")
    (out / "notes.txt").write_text("kept", encoding="utf-8")
    course_html.build_site(out, folder, tmp_path / "no-syllabus.toml")
    assert sorted(path.name for path in out.iterdir()) == [
        "01_first.html", "01_first.ipynb", "index.html", "mathjax", "notes.txt"]
    assert not (out / "mathjax" / "stale.js").exists()
    with pytest.raises(SystemExit, match="refusing"):
        course_html.build_site(tmp_path, folder, tmp_path / "no-syllabus.toml")
    assert (folder / "01_first.ipynb").is_file()
