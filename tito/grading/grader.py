"""Grade a folder of submissions: one sandboxed run per student and module, verdicts made outside.

For each student and module: find their file; a missing file or one whose solution blocks are still
the starter's scores 0 without a run. Otherwise copy the module's template (the prerequisites'
reference package), export the student's file into it, and run the module's checks on it in the
sandbox with a seed drawn for this run. The reference package runs the same checks on the same seed
in the grader's own process, in one batch per module. Each check passes when the two agree.
Students are graded in parallel, `workers` runs at a time, and each student is handed to
`on_graded` as soon as their last module is graded.

Per-student isolation: anything that goes wrong while grading one (student, module), in the
grader's own code or in the run, becomes that row's one-line "grader error"; the class always
finishes. The student's text is parsed only in a child (prepare.py), never in this process.

Three walls, strongest first: bubblewrap (sandbox.py); where it cannot start and the grader is root,
an unprivileged user of the run's own with its own session, rlimits and seccomp filter, every
process of that user killed afterwards and the audit hook as a second layer ("user"); otherwise the
audit hook alone ("guard", for trusted code only).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tito.course import Course, Module
from tito.grading import graded_run
from tito.grading.batch import Batch
from tito.grading.errors import GradingError, SandboxUnavailable
from tito.grading.kit import Kit, KitError, build_kit
from tito.grading.sandbox import Sandbox, SandboxError, installed_packages
from tito.grading.students import student_ids
from tito.grading.verdict import StudentGrade
from tito.grading.walls import open_to_others, readable_tool, tool_folder, wall_without_bubblewrap

DEFAULT_TIMEOUT = 60.0  # seconds for one module's checks
TEMP_PREFIX = "tito-grade-"


def remove_stale_temp(folder: str | None = None) -> list[str]:
    """Remove the temporary folders of graders that are no longer running (a grader killed with
    SIGKILL cannot clean up after itself, and its folder holds the reference kit)."""
    removed = []
    base = Path(folder or tempfile.gettempdir())
    for path in base.glob(f"{TEMP_PREFIX}*-*"):
        owner = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or not path.is_dir() or path.is_symlink() or _alive(int(owner)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def grade_students(
    course: Course,
    students: list[tuple[str, Path]],
    *,
    modules: list[Module] | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    sandbox: bool = True,
    keep_temp: bool = False,
    hidden: tuple[Path, ...] = (),
    on_graded: Callable[[StudentGrade], None] | None = None,
    kit: Kit | None = None,
    ids: list[str] | None = None,
) -> list[StudentGrade]:
    """Grade each (name, folder) on `modules` (default: all); see the module docstring. A `kit` built
    earlier with build_kit (for these modules) saves preparing one: many gradings can share it.

    `sandbox=False` grades without bubblewrap: as an unprivileged user of each run's own when the
    grader is root ("user"), behind the audit hook alone otherwise ("guard", trusted code only)."""
    remove_stale_temp()
    temp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")).resolve()
    running = graded_run.Running()
    try:
        try:  # first, so that a machine without bubblewrap hears it at once
            box = Sandbox.find(hidden=(course.root, temp, *([kit.root] if kit else []), *hidden)) if sandbox else None
        except SandboxError as exc:
            raise SandboxUnavailable(str(exc)) from None
        wall = "bwrap" if box is not None else wall_without_bubblewrap()
        tool = tool_folder()  # where a student's run imports tito from
        if wall == "user":
            secret: list[Path] = [course.root, *map(Path, hidden), *map(Path, installed_packages())]
            exposed = [p for p in secret if open_to_others(p)]
            if exposed:
                raise SandboxUnavailable(
                    f"bubblewrap cannot start here, and graded runs would then be an unprivileged user who could "
                    f"read {exposed[0]}: make it unreadable to other users (`chmod o-rwx {exposed[0]}`), or "
                    "install bubblewrap."
                )
            os.chmod(temp, 0o711)  # each run's user may pass through to its own folder, and list nothing
            tool = readable_tool(temp)
        try:
            chosen = list(modules or (kit.modules if kit else course.modules))
            if kit is None:
                (temp / "kit").mkdir(mode=0o700)
                kit = build_kit(course, temp / "kit", chosen)
            elif any(m not in kit.modules for m in chosen):
                raise KitError("the shared grading kit was built for other modules; build one for these.")
            kit = replace(kit, modules=chosen)
        except KitError as exc:
            raise GradingError(str(exc)) from None
        grader = Batch(kit, box, wall, temp, timeout, running, hidden, max(1, workers or os.cpu_count() or 1))
        grader.tool = tool
        grader.keep = keep_temp
        keys = ids or student_ids([name for name, _ in students])
        return grader.grade([(name, key, folder) for (name, folder), key in zip(students, keys)], on_graded)
    except BaseException:
        running.stop_all()
        raise
    finally:
        if not keep_temp:
            shutil.rmtree(temp, ignore_errors=True)
