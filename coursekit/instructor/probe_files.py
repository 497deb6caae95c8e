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


class Unreadable(str):
    """Why a probe's file could not be taken (a directory, a FIFO, a link, too large): the
    exercise scores 0 with this message; the submission's other exercises are still judged."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a regular file"


def _read_at(folder_fd: int, name: str, limit: int, shown: str) -> bytes | Unreadable | None:
    """A regular file's bytes (at most ``limit``) from an open folder; None when it does not
    exist; why not when it is of the wrong kind or too large."""
    try:
        mode = os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Unreadable(f"{shown} could not be read ({type(exc).__name__})")
    if not stat.S_ISREG(mode):
        return Unreadable(f"{shown} is {_kind(mode)}, not the file the check writes")
    try:
        fd = _open_under(folder_fd, name)
    except OSError as exc:  # swapped for a link or a FIFO since: ELOOP, ENXIO
        return Unreadable(f"{shown} could not be opened ({type(exc).__name__})")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # swapped between the stat and the open
            return Unreadable(f"{shown} is {_kind(info.st_mode)}, not the file the check writes")
        if info.st_size > limit:
            return Unreadable(f"{shown} is larger than {limit // 1024**2} MiB")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1024**2, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return Unreadable(f"{shown} could not be read ({type(exc).__name__})")
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data if len(data) <= limit else Unreadable(
        f"{shown} is larger than {limit // 1024**2} MiB")


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
    """The plain data a probe wrote; None when it wrote nothing; :class:`Unreadable` (the
    reason, naming the path) when a file is of the wrong kind or too large; a ``raised``
    record when it is not plain data. Never raises for anything in the scratch folder."""
    try:
        run_fd = os.open(scratch, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        mode = os.stat("probes", dir_fd=run_fd, follow_symlinks=False).st_mode
    except OSError:
        mode = None
    try:
        if mode is None:
            return None
        if not stat.S_ISDIR(mode):
            return Unreadable(f"probes/ is {_kind(mode)}, not the folder the checks write in")
        try:
            probes_fd = _open_under(run_fd, "probes", directory=True)
        except OSError as exc:
            return Unreadable(f"probes/ could not be opened ({type(exc).__name__})")
        try:
            text = _read_at(probes_fd, f"{exercise}.json", PROBE_JSON_LIMIT,
                            f"probes/{exercise}.json")
            arrays = _read_at(probes_fd, f"{exercise}.npz", PROBE_ARRAYS_LIMIT,
                              f"probes/{exercise}.npz")
        finally:
            os.close(probes_fd)
    finally:
        os.close(run_fd)
    for part in (text, arrays):
        if isinstance(part, Unreadable):
            return part
    if text is None or arrays is None:
        return None
    assert isinstance(text, bytes) and isinstance(arrays, bytes)
    try:
        if not _archive_fits(arrays):
            raise PlainDataError("the arrays are compressed or too large")
        return decode(text.decode("utf-8"), arrays)
    except (PlainDataError, UnicodeDecodeError, RecursionError, ValueError):
        return {"kind": "raised", "type": "PlainDataError",
                "message": "the probe's result was not plain data", "frame": "",
                "stub": False, "below_raise": False}
