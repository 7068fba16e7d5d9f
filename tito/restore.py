"""`tito module reset` as a library call: put a module file back to its starting text, with a backup.

Where the starting text comes from depends on the edition named in course.yaml:
- reference: the file as committed at git HEAD (the instructor's last committed solution);
- student: `.tito/starter/NN_slug/slug.py`, the copy `tito release` leaves in a student edition.
The current file is first copied to `.tito/backups/NN_slug/slug-YYYYmmdd-HHMMSS.py`, so a reset
never loses work, and the new text is written atomically.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tito.course import Course, Module
from tito.exporter import relative
from tito.files import atomic_write


class ResetError(Exception):
    """The starting text cannot be found; the message says where tito looked and what to do."""


@dataclass
class Reset:
    module: Module
    origin: str  # where the starting text came from, for the message
    backup: Path | None  # None when there was no file to back up
    changed: bool


def starter_path(course: Course, module: Module) -> Path:
    return course.state_dir / "starter" / module.name / module.source.name


def starter_text(course: Course, module: Module) -> tuple[str, str]:
    """(text, origin) of the module file's starting version for this course's edition."""
    if course.edition == "student":
        path = starter_path(course, module)
        try:
            return path.read_text(encoding="utf-8"), relative(path, course.root)
        except OSError:
            raise ResetError(
                f"There is no starter copy of {module.name} at {relative(path, course.root)}: ask your "
                "instructor for the student edition's .tito/starter folder, then run "
                f"`tito module reset {module.id}`."
            ) from None
    shown = relative(module.source, course.root)
    try:
        result = subprocess.run(
            ["git", "show", f"HEAD:./{shown}"], cwd=course.root, capture_output=True, text=True, encoding="utf-8", check=False
        )
    except OSError:
        raise ResetError(
            "git is not installed, and the reference edition restores module files from git HEAD: "
            f"install git, then run `tito module reset {module.id}`."
        ) from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ResetError(
            f"Cannot read {shown} from git HEAD ({reason}): commit the module file first, then run "
            f"`tito module reset {module.id}`."
        )
    return result.stdout, f"git HEAD:{shown}"


def backup_path(course: Course, module: Module) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = course.state_dir / "backups" / module.name
    path = folder / f"{module.source.stem}-{stamp}{module.source.suffix}"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{module.source.stem}-{stamp}-{counter}{module.source.suffix}"
    return path


def reset_module_file(course: Course, module: Module) -> Reset:
    """Back up the module file and write its starting text in its place. Raises ResetError."""
    text, origin = starter_text(course, module)
    backup = None
    changed = True
    if module.source.exists():
        changed = module.source.read_bytes() != text.encode("utf-8")  # whatever the file holds, even bad bytes
        backup = backup_path(course, module)
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(module.source, backup)
    if changed:
        atomic_write(module.source, text)
    return Reset(module, origin, backup, changed)
