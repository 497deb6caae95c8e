"""Grading, phase 3's input: what a probe wrote in the sandbox's scratch folder, read safely.

The scratch folder belongs to the submission while it runs, so nothing in it is trusted: files
are opened through folder descriptors without following links, size-capped, their archives
checked for compression and size before anything is loaded, and the data validated as plain.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

from coursekit.exercise.wire import PlainDataError, decode

#: Largest probe result the grader reads: the JSON, and the arrays (uncompressed, in all).
PROBE_JSON_LIMIT = 4 * 1024**2
PROBE_ARRAYS_LIMIT = 64 * 1024**2


def remove_scratch(folder: Path) -> None:
    """Delete a run's scratch folder however deep or odd its tree (never follows links)."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(folder)], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


def _open_under(folder_fd: int, name: str, *, directory: bool = False) -> int:
    """Open ``name`` inside the folder ``folder_fd``, never through a symbolic link."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if directory else os.O_NONBLOCK)
    return os.open(name, flags, dir_fd=folder_fd)


def _read_at(folder_fd: int, name: str, limit: int) -> bytes | None:
    """A regular file's bytes (at most ``limit``) from an open folder, else None."""
    try:
        fd = _open_under(folder_fd, name)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = handle.read(limit + 1)
    return data if len(data) <= limit else None


def _archive_fits(data: bytes) -> bool:
    """Whether an ``.npz`` holds only uncompressed entries whose sizes fit the budget."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return (all(entry.compress_type == zipfile.ZIP_STORED for entry in entries)
            and sum(entry.file_size for entry in entries) <= PROBE_ARRAYS_LIMIT)


def read_probe(scratch: Path, exercise: str) -> object | None:
    """The plain data a probe wrote, or None (missing, oversized, malformed)."""
    try:
        run_fd = os.open(scratch, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        try:
            probes_fd = _open_under(run_fd, "probes", directory=True)
        except OSError:
            return None
        try:
            text = _read_at(probes_fd, f"{exercise}.json", PROBE_JSON_LIMIT)
            arrays = _read_at(probes_fd, f"{exercise}.npz", PROBE_ARRAYS_LIMIT)
        finally:
            os.close(probes_fd)
    finally:
        os.close(run_fd)
    if text is None or arrays is None:
        return None
    try:
        if not _archive_fits(arrays):
            raise PlainDataError("the arrays are compressed or too large")
        return decode(text.decode("utf-8"), arrays)
    except (PlainDataError, UnicodeDecodeError):
        return {"kind": "raised", "type": "PlainDataError",
                "message": "the probe's result was not plain data", "frame": "",
                "stub": False, "below_raise": False}
