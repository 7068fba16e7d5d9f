"""`tito module reset` as a library call: put a module file back to its starting text, with a backup.

Where the starting text comes from depends on the edition named in course.yaml:
- reference: the file as committed at git HEAD (the instructor's last committed solution);
- student: `.tito/starter/NN_slug/slug.py`, the copy `tito release` leaves in a student edition.
The current file is first copied to `.tito/backups/NN_slug/slug-YYYYmmdd-HHMMSS.py`, so a reset
never loses work, and the new text is written atomically. A paired notebook is reset with it (after
its own backup), so the next sync cannot copy the old work back.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tito import files, notebooks
from tito.course import Course, Module


class ResetError(Exception):
    """The starting text cannot be found; the message says where tito looked and what to do."""


@dataclass
class Reset:
    module: Module
    origin: str  # where the starting text came from, for the message
    backup: Path | None  # None when there was no file to back up
    changed: bool
    notebook: str | None = None  # what was done to the paired notebook, if there is one


def starter_path(course: Course, module: Module) -> Path:
    return course.state_dir / "starter" / module.name / module.source.name


def starter_text(course: Course, module: Module) -> tuple[str, str]:
    """(text, origin) of the module file's starting version for this course's edition."""
    if course.edition == "student":
        path = starter_path(course, module)
        shown = course.shown(path)
        try:
            return files.read_text(path), shown
        except FileNotFoundError:
            raise ResetError(
                f"There is no starter copy of {module.name} at {shown}: ask your instructor for the student "
                f"edition's .tito/starter folder, then run `tito module reset {module.id}`."
            ) from None
        except OSError as exc:  # a folder, a FIFO, unreadable, not UTF-8: refused without hanging
            raise ResetError(
                f"The starter copy {shown} {files.problem(exc)}: put the student edition's copy of that file "
                f"back, then run `tito module reset {module.id}`."
            ) from None
    shown = course.shown(module.source)
    try:
        result = subprocess.run(
            ["git", "show", f"HEAD:./{shown}"],
            cwd=course.root,
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=False,
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


def reset_module_file(course: Course, module: Module) -> Reset:
    """Back up the module file and write its starting text in its place. Raises ResetError.

    The current file is compared and backed up as bytes, so a file that is not even UTF-8 any
    more can still be reset; one that cannot be replaced (read-only, a folder) is left alone.
    """
    text, origin = starter_text(course, module)
    backup = None
    changed = True
    shown = course.shown(module.source)
    try:
        files.check_replaceable(module.source)  # before the backup, so a refusal leaves no trace
        if module.source.exists():
            changed = files.read_bytes(module.source) != text.encode("utf-8")
            backup = files.backup(module.source, course.state_dir / "backups" / module.name)
        if changed:
            files.atomic_write(module.source, text)
    except OSError as exc:
        culprit = course.shown(Path(exc.filename)) if exc.filename else shown
        if culprit == shown and files.read_only(module.source):
            fix = f"make it writable with `chmod u+w {shown}`"
        else:
            fix = "fix that"
        subject = "it" if culprit == shown else shown
        raise ResetError(
            f"{culprit} {files.problem(exc, 'written')}, so {subject} was not reset: {fix}, then run "
            f"`tito module reset {module.id}`."
        ) from None
    try:
        notebook = notebooks.reset_notebook(module)
    except (notebooks.NotebookError, OSError) as exc:
        notebook = f"the paired notebook was not reset ({exc}): delete {notebooks.notebook_path(module).name} before you open it again."
    return Reset(module, origin, backup, changed, notebook)
