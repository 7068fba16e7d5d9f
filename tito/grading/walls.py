"""The walls a graded run gets where bubblewrap cannot start: which one, and the user wall's files.

As root, a run is an unprivileged user of its own ("user"): its folder is given to that user, and the
course, the kit and the Python it runs must be out of other users' reach. Otherwise only the audit
hook stands guard ("guard", for trusted code only). Each report says which wall its run had.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import tito
from tito.grading.kit import readable_by_all
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
    if os.geteuid() != 0 or private_python() is not None:
        return "guard"  # a user of its own could not even start a Python that sits in a private folder
    return "user"


def private_python() -> str | None:
    """The first folder of this Python that other users cannot read (pyenv's under /root, say), or None."""
    return next((p for p in python_folders() if not open_to_others(Path(p))), None)


def wall_note() -> str:
    """For the instructor who grades without bubblewrap: which wall each run gets, and why not a stronger one."""
    if wall_without_bubblewrap() == "user":
        return "each run is an unprivileged user of its own."
    if os.geteuid() != 0:
        return (
            "only an in-process guard stands between each run and this machine (as root, a run is a user of its own)."
        )
    return (
        f"only an in-process guard stands between each run and this machine, since other users cannot read "
        f"{private_python()} (a run that is a user of its own could not start this Python); for that wall, grade "
        "from a venv made with a Python they can read (`/usr/bin/python3 -m venv /opt/tito-venv`, then install tito in it)."
    )


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


def readable_tool(temp: Path) -> str:
    """A copy of tito that the runs' users can read, in temp/tool: tito itself often lives in the course's
    own checkout, which those users must not read (the same code bubblewrap binds into every sandbox)."""
    tool = temp / "tool"
    shutil.copytree(Path(tito.__file__).resolve().parent, tool / "tito", ignore=shutil.ignore_patterns("__pycache__"))
    readable_by_all(tool)
    return str(tool)
