"""A folder of submissions read as the grader reads it: one folder per student, a safe id for each,
and each student's file for a module, read without following a link or blocking on a FIFO."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from tito.course import Module

MAX_MODULE_FILE = 2 * 1024**2


def find_students(submissions: Path) -> list[Path]:
    """One folder per student; names starting with '.' or '_' are not students."""
    folders = [p for p in sorted(submissions.iterdir()) if p.is_dir() and not p.is_symlink()]
    return [p for p in folders if not p.name.startswith((".", "_"))]


class TwoCopies(Exception):
    """A submission holds two files for one module; the message names both."""


def find_module_file(folder: Path, module: Module) -> Path | None:
    """The student's file for `module`: a course copy's modules/NN_slug/slug.py, NN_slug/slug.py,
    slug.py or NN_slug.py in their folder. Symlinks, files outside the folder and paths the grader may
    not look at (a folder of mode 000, as a zip can make it) are ignored. Two of them raise TwoCopies:
    which one the student meant is theirs to say, not the grader's to guess."""
    try:
        root = folder.resolve()
    except OSError:
        return None
    found = []
    for relative in (
        f"modules/{module.name}/{module.slug}.py",
        f"{module.name}/{module.slug}.py",
        f"{module.slug}.py",
        f"{module.name}.py",
    ):
        path = folder / relative
        try:
            if path.is_symlink() or not path.is_file() or root not in path.resolve().parents:
                continue
        except OSError:  # a folder the grader may not enter (a zip can carry mode 000): no file there
            continue
        found.append(path)
    if len(found) > 1:
        names = " and ".join(p.relative_to(folder).as_posix() for p in found)
        raise TwoCopies(f"two copies of {module.slug}.py ({names}): keep one and submit again")
    return found[0] if found else None


def shown_name(name: str) -> str:
    """A folder's name as text every output can hold: the bytes of a name that is not UTF-8 (which
    Python keeps as lone surrogates) become U+FFFD, so writing a report, grades.csv or the terminal
    never fails on it. Ids and fingerprints use the name's own bytes, so two such names stay apart."""
    return os.fsencode(name).decode("utf-8", "replace")


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "student"


def student_ids(names: list[str]) -> list[str]:
    """A unique, filesystem-safe id for each folder name: the name itself when it is plain ASCII and
    short, else its ASCII part (at most 60 characters) and 8 hex digits of its hash, so `张伟` and `李娜`,
    or `José García` and `Jose_Garc_a`, never share an id (and so never share a report)."""
    ids, used = [], set()
    for name in names:
        plain = safe_name(name)[:60]
        key = plain if plain == name else f"{plain.strip('._-') or 'student'}-{_digest(name)}"
        counter = 1
        while key in used:
            counter += 1
            key = f"{plain}-{_digest(name)}-{counter}"
        used.add(key)
        ids.append(key)
    return ids


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def read_regular(path: Path, limit: int) -> bytes | None:
    """Read a file a submission controls: no symlinks, no fifos, at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit)
    finally:
        os.close(fd)
