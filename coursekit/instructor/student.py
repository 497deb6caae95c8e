"""Student editions: solutions stripped, hidden tests dropped, outputs and metadata cleaned.

``python -m coursekit student --out build/student notebooks/*.ipynb`` (``make student``)
checks every lesson first and writes nothing if any marker is malformed, so a half-released
course never reaches students.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from coursekit.instructor.cells import (
    LessonFormatError,
    cell_label,
    cell_source,
    coursekit_metadata,
    instructor_exercises,
    role_by_metadata,
)
from coursekit.instructor.markers import (
    ANSWER_PLACEHOLDER,
    MarkerError,
    code_placeholder,
    find_regions,
    strip_regions,
)

#: Cell metadata a student edition keeps; everything else (nbval tags aside) is dropped.
CELL_METADATA_KEYS = ("coursekit", "tags", "editable", "deletable")
#: Keys kept inside a cell's ``coursekit`` metadata (grading matches cells by them).
COURSEKIT_KEYS = ("exercise", "role", "points")
#: Notebook metadata a student edition keeps (widget state, authors, etc. are dropped).
NOTEBOOK_METADATA_KEYS = ("kernelspec", "language_info")

_ATTACHMENT_REF = re.compile(r"attachment:([^\s)\"'>]+)")


def student_edition(nb: NotebookNode, *, path: str) -> NotebookNode:
    """Return the student edition of the instructor notebook ``nb`` (``nb`` is not changed).

    Each solution region becomes ``raise NotImplementedError("<exercise id>")`` at the
    region's indentation (markdown regions become ``YOUR ANSWER HERE``), hidden-test cells
    are dropped, outputs and execution counts are cleared, attachments not referenced by the
    remaining text are dropped, and metadata is reduced to an allow-list. Check cells are
    marked read-only and undeletable in Jupyter; solution cells (code, and markdown answers)
    undeletable, so the grader finds every answer where it expects it.

    Parameters
    ----------
    nb : NotebookNode
        An instructor notebook (nbformat 4).
    path : str
        Its name, used in error messages.

    Raises
    ------
    LessonFormatError
        A malformed marker (:class:`MarkerError`) or exercise cell, naming notebook and cell.
    """
    instructor_exercises(nb, path)  # the exercise cells themselves are well formed
    student = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(student.cells):
        where = cell_label(path, index, cell)
        source = cell_source(cell)
        regions = find_regions(source, where=where)
        tagged = role_by_metadata(cell)
        role = tagged[1] if tagged else None
        if role == "hidden":
            continue
        if cell.cell_type == "code":
            if role == "solution" and not regions:
                raise MarkerError(f"{where}: a solution cell needs a '### BEGIN SOLUTION' region")
            if regions and role != "solution":
                raise MarkerError(
                    f"{where}: solution markers in a code cell that is not an exercise's "
                    "solution cell (its metadata needs coursekit exercise and role 'solution')"
                )
            if regions:
                assert tagged is not None
                source = strip_regions(source, regions, code_placeholder(tagged[0]))
            cell.outputs = []
            cell.execution_count = None
        elif regions:
            if cell.cell_type != "markdown":
                raise MarkerError(f"{where}: solution markers in a {cell.cell_type} cell")
            source = strip_regions(source, regions, [ANSWER_PLACEHOLDER])
        cell.source = source
        _clean_cell_metadata(cell, role, answer=bool(regions))
        _keep_referenced_attachments(cell)
        cells.append(cell)
    student.cells = cells
    student.metadata = NotebookNode(
        {key: student.metadata[key] for key in NOTEBOOK_METADATA_KEYS if key in student.metadata}
    )
    student.metadata["coursekit"] = {"edition": "student", "lesson": Path(path).name}
    student.nbformat_minor = max(int(student.get("nbformat_minor", 0)), 5)
    nbformat.validate(student)
    return student


def _clean_cell_metadata(cell: NotebookNode, role: str | None, *, answer: bool) -> None:
    kept = {key: cell.metadata[key] for key in CELL_METADATA_KEYS if key in cell.metadata}
    meta = coursekit_metadata(cell)
    if meta:
        kept["coursekit"] = {key: meta[key] for key in COURSEKIT_KEYS if key in meta}
    else:
        kept.pop("coursekit", None)
    if role == "check":  # Jupyter then refuses to edit or delete it
        kept["editable"] = False
        kept["deletable"] = False
    elif role == "solution" or answer:  # the student writes here, and cannot delete it
        kept["editable"] = True
        kept["deletable"] = False
    cell.metadata = NotebookNode(kept)


def _keep_referenced_attachments(cell: NotebookNode) -> None:
    attachments = cell.get("attachments")
    if attachments is None:
        return
    used = set(_ATTACHMENT_REF.findall(cell.source))
    kept = {name: data for name, data in attachments.items() if name in used}
    if kept:
        cell.attachments = kept
    else:
        del cell["attachments"]


def write_student_editions(notebooks: Sequence[Path], out_dir: Path) -> list[Path]:
    """Write the student edition of each notebook into ``out_dir`` under the same file name.

    Every notebook is converted before any file is written: one malformed lesson stops the
    release with nothing half-written.

    Raises
    ------
    ValueError
        When ``out_dir`` is, or lies inside, a folder holding one of the ``notebooks``
        (editions are never written next to, or over, the instructor's lessons), or two
        notebooks share a file name.
    LessonFormatError
        A malformed lesson, naming notebook and cell.
    """
    out = out_dir.resolve()
    names: set[str] = set()
    for path in notebooks:
        folder = path.resolve().parent
        if out == folder or folder in out.parents:
            raise ValueError(
                f"refusing to write student editions into {out_dir}: it is (inside) {folder}, "
                "the folder of the instructor's lessons; choose e.g. build/student"
            )
        if path.name in names:
            raise ValueError(f"two notebooks are named {path.name}")
        names.add(path.name)
    editions = []
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # nbformat raises several kinds on unreadable files
            raise LessonFormatError(f"{path}: not a readable notebook: {exc}") from exc
        editions.append((path.name, student_edition(nb, path=str(path))))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, edition in editions:
        target = out / name
        nbformat.write(edition, target)
        written.append(target)
    return written
