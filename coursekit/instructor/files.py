"""Files written whole: a reader (or a grader killed mid-write) never sees half of one, and
nothing is ever written through a symbolic link someone left in the way."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_new(path: Path, text: str) -> None:
    """Create ``path`` whole or not at all: written to a new hidden file first, then linked
    into place, which fails (``FileExistsError``) if anything is already there."""
    path = Path(path)
    temporary = _temporary(path, text)
    try:
        os.link(temporary, path)  # never replaces
    finally:
        os.unlink(temporary)


def write_replacing(path: Path, text: str) -> None:
    """Write ``path`` whole, replacing what was there (a symbolic link is replaced, never
    followed)."""
    path = Path(path)
    temporary = _temporary(path, text)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _temporary(path: Path, text: str) -> Path:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return temporary
