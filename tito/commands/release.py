"""`tito release student OUT`: write the student edition of this course (instructors)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tito.commands.common import fail, load_course_or_exit
from tito.console import console
from tito.release import ReleaseError, ReleaseUsageError, build_student_edition

app = typer.Typer(help="Make editions of the course to hand out (instructors).", no_args_is_help=True)


@app.command("student")
def student(
    out: Annotated[Path, typer.Argument(help="An empty or new folder to write the student edition to.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace what OUT holds (its own .git, if any, is kept)."),
    ] = False,
) -> None:
    """Write the student edition: every solution block replaced by a NotImplementedError stub.

    Generated package files, tito's state, git history, caches and tito's own tests are left out;
    course.yaml says `edition: student`; the stub files are also kept in .tito/starter/ for
    `tito module reset`. The release stops, writing nothing, if any solution line would remain.
    """
    course = load_course_or_exit()
    try:
        release = build_student_edition(course, out, force=force)
    except ReleaseUsageError as exc:
        fail(str(exc), code=2)
    except ReleaseError as exc:
        fail(f"{exc} Nothing was written.")
    blocks = sum(release.stripped.values())
    show = console()
    show.print(f"Student edition written to {release.out}", markup=False, soft_wrap=True)
    show.print(
        f"  {release.files} files; {blocks} solution blocks replaced in {len(release.stripped)} files; "
        f"{len(release.generated_left_out)} generated package files and "
        f"{len(release.instructor_only_left_out)} files of tito's own tests left out.",
        markup=False,
        soft_wrap=True,
    )
    show.print(
        f"  Checked: none of the {release.secrets_checked} solution lines appears anywhere in it; "
        f"{len(release.starters)} starter files kept in .tito/starter/ for `tito module reset`.",
        markup=False,
        soft_wrap=True,
    )
    show.print(f"Next: `cd {release.out}`, `pip install -e .`, then `tito module start {course.modules[0].id}`.", markup=False, soft_wrap=True)
