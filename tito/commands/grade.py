"""`tito grade SUBMISSIONS`: grade a folder of student submissions with this course's graded checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tito.commands.common import fail, load_course_or_exit, resolve_modules
from tito.console import console
from tito.process_tree import signals_raise


def grade(
    submissions: Annotated[
        Path, typer.Argument(help="Folder holding one folder per student (a course copy or just module files).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where grades.csv and reports/ are written.")] = Path("grades"),
    module: Annotated[
        list[str] | None, typer.Option("--module", "-m", help="Grade only these modules (repeatable).")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Runs at once (default: CPU count).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds allowed for one module's checks.")] = 60.0,
    keep_temp: Annotated[
        bool, typer.Option("--keep-temp", help="Keep the temporary grading folder to inspect.")
    ] = False,
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox",
            help="For trusted code only: grade without bubblewrap (as root, an unprivileged user per run; "
            "otherwise an in-process guard only). Every report says so.",
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Keep the stored results of students whose submission and checks are unchanged."),
    ] = False,
) -> None:
    """Grade each student's module files: checks run in a bubblewrap sandbox, verdicts made outside it.

    Each module's checks (tests/NN_slug/grading.py) run on the student's file, exported into the
    reference implementation of the modules it builds on, inside a sandbox with no network and no view
    of this course or the other submissions. The same checks run on the reference in tito's own
    process, on the same freshly drawn inputs; a check passes when the two agree.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tito.grading.errors import GradingError, SubmissionsError
    from tito.grading.grade_reports import plain
    from tito.grading.submissions import grade_submissions
    from tito.grading.walls import wall_note

    course = load_course_or_exit()
    if not submissions.is_dir():
        fail(f"{submissions} is not a folder: give the folder holding one folder per student.", code=2)
    chosen = resolve_modules(course, module) if module else None
    out_console = console()
    if no_sandbox:
        out_console.print(
            "Warning: grading without the bubblewrap sandbox (--no-sandbox), which is for trusted code only "
            f"(every report will say so): {wall_note()}",
            markup=False,
        )
    progress = Progress(
        TextColumn("Grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("students"),
        TimeRemainingColumn(),
        console=out_console,
        transient=False,
    )
    task = progress.add_task("grading", total=None)

    def started(total: int, kept: int) -> None:
        progress.start()  # only once the class is known: a refusal before it is one line, with no bar
        progress.update(task, total=total)
        if kept:
            out_console.print(f"Resuming: {kept} of {total} students already graded.", markup=False)

    def show(result: dict) -> None:
        parts = [f"{row['module'][:2]} {row['score']:.2f}" for row in result["rows"]]
        progress.console.print(f"{plain(result['name'])}: {', '.join(parts)}", markup=False)
        progress.advance(task)

    try:
        with signals_raise():  # so a `kill` or a closed terminal also stops the graded processes
            try:
                results = grade_submissions(
                    course,
                    submissions,
                    out,
                    modules=chosen,
                    workers=workers,
                    timeout=timeout,
                    sandbox=not no_sandbox,
                    keep_temp=keep_temp,
                    resume=resume,
                    on_start=started,
                    on_graded=show,
                )
            finally:
                if progress.live.is_started:
                    progress.stop()
    except SubmissionsError as exc:
        fail(str(exc), code=2)
    except GradingError as exc:
        fail(str(exc))
    errors = sum(row["status"] != "graded" for result in results for row in result["rows"])
    if errors:
        out_console.print(
            f"Warning: {errors} module grade(s) are grader errors (status column of grades.csv; the reports "
            "say why): fix what they name, then run the same command with --resume.",
            markup=False,
        )
    shown = out.resolve()
    out_console.print(
        f"Wrote {shown / 'grades.csv'} and one report per student in {shown / 'reports'}; "
        f"read them with `cat {shown / 'grades.csv'}`.",
        markup=False,
        soft_wrap=True,
    )
