"""Render the course to static HTML: every lesson with its stored outputs, and an index.

``make html`` runs this: ``python tools/course_html.py [--out build/html]``. Each lesson
``notebooks/NN_name.ipynb`` becomes ``NN_name.html`` (nbconvert's JupyterLab template, figures
embedded, so a page is one file), with a bar linking the index and the previous and next
lessons. ``index.html`` lists the lessons in syllabus order with their titles, objectives,
expected run time and exercises. Nothing is executed: the pages show the outputs committed in
the notebooks, which ``make test`` keeps honest.

(The file is not called ``html.py``: a script's folder comes first on ``sys.path``, and a
``tools/html.py`` would shadow the standard library's ``html`` module for nbconvert.)
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from coursekit.instructor.syllabus import LESSON_GLOB, lesson_files, load_syllabus

REPO = Path(__file__).resolve().parents[1]
COURSE_TITLE = "Neural Networks from Scratch"


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
                objectives=list(lesson.objectives),
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


def render_lesson(entry: Entry, previous: Entry | None, following: Entry | None) -> str:
    """One lesson page: nbconvert's lab template with a navigation bar on top."""
    assert entry.path is not None
    nb = nbformat.read(entry.path, as_version=4)
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": f"{entry.number} · {entry.title}"}}
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
    # A lesson that links another ("see [lesson 03](03_layers.ipynb)") links its page here.
    body = re.sub(r'href="(\d\d_[^"#/]*)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)
    page, count = re.subn(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
    if count != 1:
        raise RuntimeError(f"no <body> in the rendering of {entry.notebook}")
    return page


_INDEX_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
ol.lessons { padding-left: 0; list-style: none; }
ol.lessons > li { border-top: 1px solid #ddd; padding: 0.8em 0; }
.number { color: #888; font-variant-numeric: tabular-nums; margin-right: 0.4em; }
.meta { color: #666; font-size: 0.9em; }
.missing { color: #999; }
"""


def render_index(entries: list[Entry]) -> str:
    """The index: every lesson in course order, linked, with its objectives."""
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
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{COURSE_TITLE}</title>\n<style>{_INDEX_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{COURSE_TITLE}</h1>\n"
        "<p>The lessons in order, rendered with their outputs. Run them yourself with "
        "<code>make lab</code>.</p>\n"
        f'<ol class="lessons">\n' + "\n".join(items) + "\n</ol>\n</body>\n</html>\n"
    )


def build_site(
    out: Path, notebooks: Path = REPO / "notebooks", syllabus: Path = REPO / "syllabus.toml"
) -> list[Path]:
    """Write ``index.html`` and one page per lesson to ``out``; returns the files written."""
    entries, warnings = course_entries(notebooks, syllabus)
    for warning in warnings:
        print(f"course_html: warning: {warning}", file=sys.stderr)
    written = sorted(entries, key=lambda e: e.notebook)
    present = [entry for entry in written if entry.path is not None]
    if not present:
        raise SystemExit(f"course_html: no lessons ({LESSON_GLOB}) in {notebooks}")
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, entry in enumerate(present):
        previous = present[i - 1] if i > 0 else None
        following = present[i + 1] if i + 1 < len(present) else None
        target = out / entry.page
        target.write_text(render_lesson(entry, previous, following), encoding="utf-8")
        files.append(target)
    index = out / "index.html"
    index.write_text(render_index(written), encoding="utf-8")
    files.append(index)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "html")
    parser.add_argument("--notebooks", type=Path, default=REPO / "notebooks")
    parser.add_argument("--syllabus", type=Path, default=REPO / "syllabus.toml")
    args = parser.parse_args(argv)
    files = build_site(args.out, args.notebooks, args.syllabus)
    for path in files:
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
