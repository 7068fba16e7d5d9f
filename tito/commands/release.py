"""`tito release student OUT` and `tito release gradescope OUT`: editions of this course to hand out (instructors)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tito import files
from tito.commands.common import MAX_SECONDS, fail, finite_number, finite_seconds, load_course_or_exit, resolve_modules
from tito.console import console
from tito.release import ReleaseError, ReleaseUsageError, build_student_edition

app = typer.Typer(help="Make editions of the course to hand out (instructors).", no_args_is_help=True)


def refuse_out_inside(course, out: Path) -> None:
    """The autograder is written outside the course: inside it, it would travel with the course (an
    autograder.zip holds the solutions). A student edition refuses the same (release/edition.py)."""
    root, where = course.root.resolve(), Path(out).expanduser().resolve()
    if where == root or root in where.parents:
        fail(
            f"{out} is inside the course, and what a release writes there would travel with the course "
            f"(an autograder holds the solutions): choose a folder outside it, such as "
            f"`tito release gradescope {root.parent / (root.name + '-gradescope')}`.",
            code=2,
        )


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
    except OSError as exc:  # a read-only or full file system under OUT
        where = exc.filename or out
        fail(
            f"{where} {files.problem(exc, 'written')}; the edition was not written. Choose another folder or free space."
        )
    blocks = sum(release.stripped.values())
    show = console()
    show.print(f"Student edition written to {release.out}", markup=False, soft_wrap=True)
    show.print(
        f"  {release.files} files; {blocks} solution blocks replaced in {len(release.stripped)} files; "
        f"{len(release.generated_left_out)} generated package files and "
        f"{len(release.instructor_only_left_out)} files of tito's own tests and graded checks left out; "
        f"{_count(len(release.unlisted_left_out), 'file')} outside the course's known folders left out.",
        markup=False,
        soft_wrap=True,
    )
    show.print(
        f"  Checked: none of the {release.secrets_checked} solution lines appears anywhere in it; "
        f"{len(release.starters)} starter files kept in .tito/starter/ for `tito module reset`.",
        markup=False,
        soft_wrap=True,
    )
    show.print(
        f'Next: `cd {release.out}`, `pip install -e ".[dev]"` (as its README says), then `tito module status`.',
        markup=False,
        soft_wrap=True,
    )


@app.command("gradescope")
def gradescope(
    out: Annotated[Path, typer.Argument(help="Folder to write autograder.zip to (made if missing).")],
    module: Annotated[
        list[str] | None, typer.Option("--module", "-m", help="Grade only these modules (repeatable; default: all).")
    ] = None,
    points: Annotated[
        float,
        typer.Option(
            "--points", min=0.01, max=10000, callback=finite_number, help="Points each module is worth on Gradescope."
        ),
    ] = 10.0,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=1,
            max=MAX_SECONDS,
            callback=finite_seconds,
            help="Seconds allowed for one module's checks.",
        ),
    ] = 60.0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing OUT/autograder.zip.")] = False,
) -> None:
    """Write OUT/autograder.zip: a Gradescope autograder that grades with this course's checks.

    Upload it as a Gradescope "Programming Assignment" autograder. For each submission it grades the
    student's module files in a bubblewrap sandbox, exactly as `tito grade` does, and reports one test
    per module. The zip holds the reference solutions: keep it away from students.
    """
    from tito.grading.gradescope import GradescopeError, build_autograder

    course = load_course_or_exit()
    chosen = resolve_modules(course, module) if module else list(course.modules)
    refuse_out_inside(course, out)
    try:
        target = build_autograder(course, out, chosen, points, timeout=timeout, force=force)
    except GradescopeError as exc:
        fail(str(exc), code=2)
    except OSError as exc:  # a read-only or full file system under OUT
        fail(f"{exc.filename or out} {files.problem(exc, 'written')}; choose another folder or free space.")
    show = console()
    show.print(
        f"Gradescope autograder written to {target}: modules {', '.join(m.id for m in chosen)}, "
        f"{points:g} points each.",
        markup=False,
        soft_wrap=True,
    )
    show.print(
        "Next: upload it in your assignment's Configure Autograder page, then submit the reference "
        "files to check that every module scores full marks.",
        markup=False,
        soft_wrap=True,
    )


def _count(number: int, noun: str) -> str:
    """3 files, 1 file."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
