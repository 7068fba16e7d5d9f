"""The walls a graded run gets where bubblewrap cannot start: which one, and the user wall's files.

As root, a run is an unprivileged user of its own ("user"): its folder is given to that user, and the
course, the kit and the Python it runs must be out of other users' reach. Otherwise only the audit
hook stands guard ("guard", for trusted code only). Each report says which wall its run had.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import tito
from tito.grading.sandbox import python_folders

NO_SANDBOX_WARNING = (
    "graded WITHOUT the bubblewrap sandbox, and so fit for trusted code only: only an in-process guard stood "
    "between this submission and the grading machine, and a determined submission can get past it"
)
USER_WARNING = (
    "graded WITHOUT the bubblewrap sandbox, and so fit for trusted code only: the run was an unprivileged "
    "user of its own, with resource limits and a seccomp filter, behind the in-process guard"
)


def wall_without_bubblewrap() -> str:
    """ "user" (a run is an unprivileged user of its own) where the grader is root and that user can
    start this Python; "guard" (the audit hook alone) otherwise."""
    if os.geteuid() != 0:
        return "guard"
    if any(not open_to_others(Path(p)) for p in (*python_folders(), tool_folder())):
        return "guard"  # that user could not even start this Python (it sits in a private folder)
    return "user"


def open_to_others(folder: Path) -> bool:
    """Whether a user with no rights of its own can list `folder` (every parent passable, it readable);
    for a folder not made yet, its nearest existing parent (what it will be made in)."""
    folder = folder.resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not os.stat(folder).st_mode & stat.S_IROTH:
            return False
        return all(os.stat(parent).st_mode & stat.S_IXOTH for parent in [folder, *folder.parents])
    except OSError:
        return False


def give_to_user(work: Path, uid: int) -> None:
    """The run's folder to its own user, readable by nobody else (its parents are 0711 or 0700)."""
    for parent, folders, files in os.walk(work):
        for name in [parent, *(os.path.join(parent, f) for f in folders + files)]:
            os.chown(name, uid, uid, follow_symlinks=False)
    os.chmod(work, 0o700)
    os.chmod(work.parent, 0o711)
    os.chmod(work.parent.parent, 0o711)


def tool_folder() -> str:
    return str(Path(tito.__file__).resolve().parent.parent)
