"""Render the course to static HTML: every lesson with its stored outputs, and an index.

``make html`` runs this: ``python tools/course_html.py [--edition student|instructor]
[--out DIR]``. The **student site** (the default, ``build/html/``) is what a class can be
given: each page is the lesson's student edition (``coursekit.instructor.student``, the code
behind ``make student``: every exercise as its stub, every model answer as its placeholder,
hidden tests gone, no solution marker) with the stored outputs of the teaching cells put
back. Solution and check cells show no output, as in the student edition, and neither does
a cell that calls the lesson's checks (the score cell, ``check.score(globals())``): the
instructor's "passed" and full marks would mislead, and a solution's output can give the
answer away. The **instructor site** (``--edition instructor``, ``make html
EDITION=instructor``, ``build/html-instructor/``) renders the instructor notebooks as they
are, solutions and answers included, and says so in every page's title and on a red bar at
its top. Each site is written to its own folder, never the other's.

Each lesson ``notebooks/NN_name.ipynb`` becomes ``NN_name.html`` (nbconvert's JupyterLab
template, figures embedded), with a bar linking the index and the previous and next lessons,
a contents sidebar (every lesson; this lesson's sections), and a link to download the
lesson's student edition, written next to it as ``NN_name.ipynb``. Each figure's alt text
comes from its cell: the titles the code gives its axes, else the text just above the cell.
``index.html`` lists the lessons in syllabus order with their titles, objectives, expected run
time and exercises.

The site works offline: maths is typeset by the copy of MathJax that the
``jupyter-server-mathjax`` package installs, copied to ``mathjax/`` beside the pages, and no
page loads anything from another host (the template in ``course_html_templates/`` leaves out
nbconvert's CDN scripts). Nothing is executed: the pages show the outputs committed in the
notebooks, which ``make test`` keeps honest.

(The file is not called ``html.py``: a script's folder comes first on ``sys.path``, and a
``tools/html.py`` would shadow the standard library's ``html`` module for nbconvert.)
"""

from __future__ import annotations

import argparse
import copy
import functools
import html
import importlib.util
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter
from nbformat import NotebookNode

from coursekit.instructor.cells import cell_source, coursekit_metadata
from coursekit.instructor.markers import BEGIN, END
from coursekit.instructor.student import student_edition
from coursekit.instructor.syllabus import LESSON_GLOB, lesson_files, load_syllabus

REPO = Path(__file__).resolve().parents[1]
COURSE_TITLE = "Neural Networks from Scratch"
TEMPLATES = Path(__file__).resolve().parent / "course_html_templates"
#: Where the pages find MathJax, relative to them.
MATHJAX_DIR = "mathjax"
#: The parts of MathJax 2 the pages use: the combined TeX + HTML-CSS configuration, its
#: extensions, and the STIX-Web web fonts (the package ships no others).
MATHJAX_PARTS = ("MathJax.js", "LICENSE", "config", "extensions", "jax", "fonts",
                 "localization/en")
#: The two sites, and the folder each is written to by default (never the same one).
EDITIONS = ("student", "instructor")
DEFAULT_OUT = {"student": REPO / "build" / "html", "instructor": REPO / "build" / "html-instructor"}
#: How each site names itself in every page's title and header.
EDITION_LABEL = {"student": "student edition",
                 "instructor": "INSTRUCTOR edition, solutions shown"}
#: The headings that the solution markers of a markdown answer become on an instructor page.
_MARKER_HEADINGS = {BEGIN.lstrip("# "), END.lstrip("# ")}


@dataclass
class Entry:
    """One lesson as the index shows it."""

    notebook: str  # "01_gradient_descent.ipynb"
    title: str
    objectives: list[str] = field(default_factory=list)
    runtime_seconds: float | None = None
    points: int = 0
    exercises: int = 0
    path: Path | None = None  # None: in the syllabus but not written yet

    @property
    def number(self) -> str:
        return self.notebook[:2]

    @property
    def page(self) -> str:
        return Path(self.notebook).with_suffix(".html").name


def course_entries(notebooks: Path, syllabus: Path) -> tuple[list[Entry], list[str]]:
    """The lessons in course order, and warnings about syllabus and folder disagreeing.

    The syllabus is read (and validated) by ``coursekit.instructor.syllabus``; a folder
    without ``syllabus.toml`` gets an index from the lessons' own headings.
    """
    files = {path.name: path for path in lesson_files(notebooks)}
    lessons = load_syllabus(syllabus).lessons if syllabus.is_file() else ()
    entries: list[Entry] = []
    warnings: list[str] = []
    for lesson in lessons:
        name = lesson.notebook
        entries.append(
            Entry(
                notebook=name,
                title=lesson.title,
                objectives=[objective.text for objective in lesson.objectives],
                runtime_seconds=lesson.runtime_seconds,
                points=lesson.points,
                exercises=len(lesson.exercises),
                path=files.get(name),
            )
        )
        if name not in files:
            warnings.append(f"{name} is in the syllabus but not in {notebooks}")
    listed = {entry.notebook for entry in entries}
    for name, path in files.items():
        if name not in listed:
            warnings.append(f"{name} is not in the syllabus; listed with its own heading")
            entries.append(Entry(notebook=name, title=_heading(path), path=path))
    entries.sort(key=lambda entry: entry.notebook)  # the file names carry the course order
    return entries, warnings


def _heading(path: Path) -> str:
    """The first markdown heading of a notebook, without its ``NN ·`` prefix."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return re.sub(r"^#+\s*(\d+\s*[·.:-]\s*)?", "", line).strip()
    return path.stem


def mathjax_source() -> Path:
    """The MathJax 2 tree that the ``jupyter-server-mathjax`` package installs."""
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("course_html: the jupyter-server-mathjax package is missing; run make")
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not (static / "MathJax.js").is_file():
        raise SystemExit(f"course_html: no MathJax.js in {static}")
    return static


def copy_mathjax(out: Path) -> Path:
    """Copy the parts of MathJax the pages use to ``out/mathjax``; returns that folder."""
    source, target = mathjax_source(), out / MATHJAX_DIR
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)
    return target


#: A call into the lesson's checks (``from coursekit.checks import lessonNN as check``): its
#: stored output is the instructor's grade.
_GRADING_CALL = re.compile(r"(?<![\w.])check\.\w+\s*\(")


def site_notebook(nb: NotebookNode, *, path: str, edition: str = "student") -> NotebookNode:
    """The notebook a page of ``edition``'s site renders, from the instructor notebook ``nb``.

    The instructor site shows ``nb`` itself. The student site shows its student edition
    (:func:`coursekit.instructor.student.student_edition`) with the stored outputs and
    execution counts of the teaching cells put back: a code cell without coursekit metadata
    whose source the edition left unchanged. Solution, check and hidden-test cells, any cell
    the edition rewrote, and a cell that calls the lesson's checks (the score cell: the
    instructor's full marks) keep the edition's empty output.
    """
    if edition == "instructor":
        return nb
    if edition != "student":
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    student = student_edition(nb, path=path)
    by_id = {cell.get("id"): cell for cell in nb.cells if cell.get("id")}
    for cell in student.cells:
        original = by_id.get(cell.get("id"))
        if (cell.cell_type != "code" or original is None or coursekit_metadata(original)
                or cell_source(original) != cell_source(cell)
                or _GRADING_CALL.search(cell_source(cell))):
            continue
        cell.outputs = copy.deepcopy(original.get("outputs", []))
        cell.execution_count = original.get("execution_count")
    return student


_TITLE_CALL = re.compile(
    r"""(?:set_title|suptitle|title)\s*[(=]\s*(?:[a-z]*?)(["'])(.*?)(?<!\\)\1""")
_FIELD = re.compile(r"\{([^{}:!]+)(?:![rsa])?(?::[^{}]*)?\}")


def _plain(markdown: str) -> str:
    """Markdown reduced to its words: no heading marks, emphasis, code ticks or link targets."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"^#+\s*", "", text, flags=re.M)
    text = re.sub(r"[*_`$]", "", text)
    return " ".join(text.split())


def _first_sentence(markdown: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", markdown) if p.strip()]
    if not paragraphs:
        return ""
    text = _plain(paragraphs[0])
    if paragraphs[0].lstrip().startswith("#") and len(paragraphs) > 1:
        text = f"{text}: {_plain(paragraphs[1])}"  # a heading alone says little
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]


def figure_alt_texts(nb: NotebookNode) -> list[str]:
    """One alt text per image output of ``nb``, in order, each taken from its cell.

    The titles the cell's code gives its figure (``set_title``, ``suptitle``, ``title=``;
    an f-string's fields shown as their expressions), else the first sentence of the
    markdown cell above it.
    """
    texts: list[str] = []
    above = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            above = cell.source
            continue
        if cell.cell_type != "code":
            continue
        images = [out for out in cell.get("outputs", [])
                  if "image/png" in out.get("data", {}) or "image/jpeg" in out.get("data", {})]
        if not images:
            continue
        titles = [_FIELD.sub(r"\1", match.group(2)) for match in _TITLE_CALL.finditer(cell.source)]
        if titles:
            alt = "Figure: " + "; ".join(dict.fromkeys(titles))
        else:
            alt = "Figure: " + (_first_sentence(above) or "output of the code cell above")
        texts.extend([alt] * len(images))
    return texts


def _toc(entry: Entry, entries: list[Entry], sections: list[tuple[int, str, str]],
         edition: str = "student") -> str:
    """The contents sidebar: every lesson, this one's sections nested under it."""
    items = []
    for other in entries:
        label = f"{other.number} · {html.escape(other.title)}"
        if other.path is None:
            items.append(f'<li class="missing">{label}</li>')
            continue
        if other.notebook != entry.notebook:
            items.append(f'<li><a href="{other.page}">{label}</a></li>')
            continue
        inner = "".join(
            f'<li class="level-{level}"><a href="#{html.escape(anchor, quote=True)}">'
            f"{html.escape(text)}</a></li>"
            for level, anchor, text in sections
        )
        items.append(f'<li class="current"><a href="{other.page}" aria-current="page">{label}'
                     f'</a>{f"<ol class=sections>{inner}</ol>" if inner else ""}</li>')
    return (
        '<nav class="course-toc" aria-label="Contents">'
        f'<p class="course-toc-title"><a href="index.html">{COURSE_TITLE}</a></p>'
        f'<p class="course-edition">{html.escape(EDITION_LABEL[edition])}</p>'
        f'<ol class="course-toc-lessons">{"".join(items)}</ol>'
        f'<p class="course-download"><a class="download" href="{entry.notebook}" download>'
        "Download this lesson (.ipynb, student edition)</a></p></nav>"
    )


_PAGE_STYLE = """
nav.course-toc { position: fixed; top: 0; left: 0; bottom: 0; width: 17rem; overflow-y: auto;
  box-sizing: border-box; padding: 1rem; border-right: 1px solid #ddd; background: #fafafa;
  font-family: system-ui, sans-serif; font-size: 0.9rem; line-height: 1.35; }
nav.course-toc ol { list-style: none; padding-left: 0; margin: 0; }
nav.course-toc ol.sections { padding-left: 1rem; margin: 0.3rem 0; }
nav.course-toc li { margin: 0.25rem 0; }
nav.course-toc li.level-3 { padding-left: 0.8rem; }
nav.course-toc li.current > a { font-weight: 600; }
nav.course-toc li.missing { color: #999; }
.course-toc-title { font-weight: 600; margin-bottom: 0.2rem; }
.course-edition { margin-top: 0; color: #666; }
.course-edition-instructor { background: #b00020; color: #fff; font-weight: 600;
  padding: 0.5em 1em; font-family: system-ui, sans-serif; }
.course-download { margin-top: 1rem; }
body.jp-Notebook { padding-left: 18rem; }
/* MathJax's hidden MathML copy for screen readers names TeX web fonts the package does not
   ship; it is never seen, so it keeps the page's font and nothing is fetched. */
.MJX_Assistive_MathML, .MJX_Assistive_MathML * { font-family: inherit !important; }
@media (max-width: 60rem) { nav.course-toc { position: static; width: auto; border: 0; }
  body.jp-Notebook { padding-left: 0; } }
"""


@functools.cache
def _exporter() -> HTMLExporter:
    """nbconvert's exporter with the course template (loading the template takes a while)."""
    return HTMLExporter(template_name="course", extra_template_basedirs=[str(TEMPLATES)],
                        mathjax_url=f"{MATHJAX_DIR}/MathJax.js")


def render_lesson(entry: Entry, previous: Entry | None, following: Entry | None,
                  entries: list[Entry] | None = None, edition: str = "student") -> str:
    """One lesson page of ``edition``'s site: nbconvert's lab template (offline), navigation,
    contents, download."""
    assert entry.path is not None
    nb = site_notebook(nbformat.read(entry.path, as_version=4), path=str(entry.path),
                       edition=edition)
    body, _ = _exporter().from_notebook_node(
        nb, resources={"metadata": {
            "name": f"{entry.number} · {entry.title} ({EDITION_LABEL[edition]})"}}
    )
    links = ['<a href="index.html" rel="index">Course index</a>']
    if previous is not None and previous.path is not None:
        links.append(
            f'<a href="{previous.page}" rel="prev">← {previous.number} · '
            f"{html.escape(previous.title)}</a>"
        )
    if following is not None and following.path is not None:
        links.append(
            f'<a href="{following.page}" rel="next">{following.number} · '
            f"{html.escape(following.title)} →</a>"
        )
    nav = (
        '<nav class="course-nav" style="font-family: sans-serif; padding: 0.6em 1em; '
        'border-bottom: 1px solid #ccc; display: flex; gap: 2em;">' + "".join(links) + "</nav>"
    )
    if edition == "instructor":
        nav = (f'<p class="course-edition-instructor">{EDITION_LABEL[edition]}: this page shows '
               "the model solutions. Give students the student site (make html).</p>" + nav)
    # A lesson that links another ("see [lesson 03](03_layers.ipynb)") links its page here.
    body = re.sub(r'href="(\d\d_[^"#/]*)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)
    soup = BeautifulSoup(body, "html.parser")
    if soup.body is None or soup.head is None:
        raise RuntimeError(f"no <head> or <body> in the rendering of {entry.notebook}")
    images = soup.select(".jp-OutputArea-output img")
    alts = figure_alt_texts(nb)
    if len(images) != len(alts):
        raise RuntimeError(f"{entry.notebook}: {len(images)} images rendered, "
                           f"{len(alts)} image outputs in the notebook")
    for image, alt in zip(images, alts, strict=True):
        image["alt"] = alt
    sections = [
        (int(tag.name[1]), str(tag["id"]), tag.get_text(" ", strip=True).rstrip("¶").strip())
        for tag in soup.select("main h2[id], main h3[id]")
    ]
    # An instructor page's markdown answers show their markers as headings: not contents.
    sections = [section for section in sections if section[2] not in _MARKER_HEADINGS]
    style = soup.new_tag("style")
    style.string = _PAGE_STYLE
    soup.head.append(style)
    toc = _toc(entry, entries if entries is not None else [entry], sections, edition)
    soup.body.insert(0, BeautifulSoup(nav + toc, "html.parser"))
    return str(soup)


_INDEX_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
ol.lessons { padding-left: 0; list-style: none; }
ol.lessons > li { border-top: 1px solid #ddd; padding: 0.8em 0; }
.number { color: #888; font-variant-numeric: tabular-nums; margin-right: 0.4em; }
.meta { color: #666; font-size: 0.9em; }
.missing { color: #999; }
.course-edition { color: #666; margin-top: -0.8em; }
.course-edition-instructor { background: #b00020; color: #fff; font-weight: 600;
  padding: 0.5em 1em; }
"""


def render_index(entries: list[Entry], edition: str = "student") -> str:
    """The index of ``edition``'s site: every lesson in course order, linked, with its
    objectives."""
    items = []
    for entry in entries:
        title = html.escape(entry.title)
        if entry.path is not None:
            heading = f'<a class="lesson-link" href="{entry.page}">{title}</a>'
        else:
            heading = f'<span class="missing">{title} (not written yet)</span>'
        meta = []
        if entry.runtime_seconds is not None:
            meta.append(f"runs in about {entry.runtime_seconds:g} s")
        if entry.exercises:
            plural = "s" if entry.exercises != 1 else ""
            meta.append(f"{entry.exercises} exercise{plural}, {entry.points} points")
        objectives = "".join(f"<li>{html.escape(item)}</li>" for item in entry.objectives)
        items.append(
            f'<li class="lesson" id="lesson-{entry.number}">'
            f'<h2><span class="number">{entry.number}</span>{heading}</h2>'
            + (f'<p class="meta">{" · ".join(meta)}</p>' if meta else "")
            + (f'<ul class="objectives">{objectives}</ul>' if objectives else "")
            + "</li>"
        )
    label = EDITION_LABEL[edition]
    banner = (f'<p class="course-edition-instructor">{label}: these pages show the model '
              "solutions. Give students the student site (make html).</p>\n"
              if edition == "instructor" else "")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{COURSE_TITLE} ({label})</title>\n<style>{_INDEX_STYLE}</style>\n</head>\n"
        f"<body>\n{banner}<h1>{COURSE_TITLE}</h1>\n"
        f'<p class="course-edition">{label}</p>\n'
        "<p>The lessons in order, rendered with their outputs. Run them yourself with "
        "<code>make lab</code>.</p>\n"
        f'<ol class="lessons">\n' + "\n".join(items) + "\n</ol>\n</body>\n</html>\n"
    )


def _clear_previous_build(out: Path, notebooks: Path) -> None:
    """Remove what an earlier build wrote to ``out`` (pages, notebooks, ``mathjax/``), so that
    no page of a lesson since renamed, or of the other edition, survives in it."""
    folder, target = notebooks.resolve(), out.resolve()
    if target == folder or target in folder.parents:
        raise SystemExit(f"course_html: refusing to write the site into {out}: it holds (or "
                         f"is) {notebooks}, the instructor's lessons; choose e.g. build/html")
    if not out.is_dir():
        return
    for path in [*out.glob("*.html"), *out.glob("*.ipynb")]:
        path.unlink()
    if (out / MATHJAX_DIR).is_dir():
        shutil.rmtree(out / MATHJAX_DIR)


def build_site(
    out: Path, notebooks: Path = REPO / "notebooks", syllabus: Path = REPO / "syllabus.toml",
    edition: str = "student",
) -> list[Path]:
    """Write ``edition``'s site to ``out``: ``index.html``, one page per lesson, each lesson's
    student edition to download, and MathJax; returns the files written (MathJax aside).

    Whatever an earlier build left in ``out`` (``*.html``, ``*.ipynb``, ``mathjax/``) is
    removed first.
    """
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    entries, warnings = course_entries(notebooks, syllabus)
    for warning in warnings:
        print(f"course_html: warning: {warning}", file=sys.stderr)
    written = sorted(entries, key=lambda e: e.notebook)
    present = [entry for entry in written if entry.path is not None]
    if not present:
        raise SystemExit(f"course_html: no lessons ({LESSON_GLOB}) in {notebooks}")
    _clear_previous_build(out, notebooks)
    out.mkdir(parents=True, exist_ok=True)
    copy_mathjax(out)
    files = []
    for i, entry in enumerate(present):
        assert entry.path is not None
        previous = present[i - 1] if i > 0 else None
        following = present[i + 1] if i + 1 < len(present) else None
        target = out / entry.page
        target.write_text(render_lesson(entry, previous, following, written, edition),
                          encoding="utf-8")
        files.append(target)
        download = out / entry.notebook  # the student edition, as `make student` writes it
        nbformat.write(student_edition(nbformat.read(entry.path, as_version=4),
                                       path=str(entry.path)), download)
        files.append(download)
    index = out / "index.html"
    index.write_text(render_index(written, edition), encoding="utf-8")
    files.append(index)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edition", choices=EDITIONS, default="student",
                        help="student (default): exercises as stubs, no solutions; "
                        "instructor: the lessons with their solutions")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: build/html (student), build/html-instructor (instructor)")
    parser.add_argument("--notebooks", type=Path, default=REPO / "notebooks")
    parser.add_argument("--syllabus", type=Path, default=REPO / "syllabus.toml")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else DEFAULT_OUT[args.edition]
    files = build_site(out, args.notebooks, args.syllabus, args.edition)
    for path in files:
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    print(f"course_html: the site ({EDITION_LABEL[args.edition]}) is {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
