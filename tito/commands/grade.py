"""`tito grade SUBMISSIONS`: grade a folder of student submissions against this course's tests."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from tito.commands.common import fail, load_course_or_exit, resolve_modules
from tito.console import console
from tito.grading import DEFAULT_TIMEOUT, GradingError, StudentGrade, SubmissionsError, grade_submissions


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def grade(
    submissions: Annotated[Path, typer.Argument(help="Folder holding one folder per student (a course copy or just module files).")],
    out: Annotated[Path, typer.Option("--out", help="Where grades.csv and reports/ are written.")] = Path("grades"),
    module: Annotated[Optional[list[str]], typer.Option("--module", "-m", help="Grade only these modules (repeatable).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Students graded at once (default: CPU count).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds allowed for one module's tests.")] = DEFAULT_TIMEOUT,
    keep_temp: Annotated[bool, typer.Option("--keep-temp", help="Keep the temporary course copies to inspect.")] = False,
) -> None:
    """Grade each student's module files in a guarded, temporary copy of this course.

    Each module is scored against its package tests (tests/NN_slug/) from this course, run in a
    separate process with a time limit, resource limits and an audit hook that refuses writes
    outside the copy, reads of other submissions, processes and network. The hook is not an OS
    sandbox: for a real class, run tito grade as an unprivileged user in a container.
    """
    course = load_course_or_exit()
    if not submissions.is_dir():
        fail(f"{submissions} is not a folder: give the folder holding one folder per student.", code=2)
    chosen = resolve_modules(course, module) if module else None
    out_console = console()

    def show(student: StudentGrade) -> None:
        parts = [f"{item.module.id} {item.passed}/{len(item.expected)}" for item in student.modules]
        out_console.print(f"{student.name}: {', '.join(parts)}", markup=False)

    previous = signal.signal(signal.SIGTERM, _interrupt)  # so a `kill` also stops the test processes
    try:
        grade_submissions(
            course, submissions, out, modules=chosen, workers=workers, timeout=timeout,
            keep_temp=keep_temp, on_graded=show,
        )
    except SubmissionsError as exc:
        fail(str(exc), code=2)
    except GradingError as exc:
        fail(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    shown = out.resolve()
    out_console.print(f"Wrote {shown / 'grades.csv'} and one report per student in {shown / 'reports'}.")
