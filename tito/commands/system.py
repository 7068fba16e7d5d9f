"""`tito system doctor`: is this machine and this course tree ready to work?"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from tito.commands.common import fail
from tito.console import console
from tito.course import CourseError, load_course

app = typer.Typer(help="Check the machine and the course tree.", no_args_is_help=True)
STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


@app.command("doctor")
def doctor() -> None:
    """Check Python, NumPy and its BLAS, the package, course.yaml against the tree, and the progress file."""
    from tito.doctor import Check, run_checks

    try:
        course = load_course()
        course_check = Check("Course", "ok", f"{course.name} ({course.edition} edition) at {course.root}")
    except CourseError as exc:
        course, course_check = None, Check("Course", "fail", str(exc))
    checks = [course_check, *run_checks(course)]
    table = Table(title="tito system doctor")
    for column in ("Check", "Status", "Detail"):
        table.add_column(column)
    for check in checks:
        table.add_row(check.name, f"[{STYLE[check.status]}]{check.status}[/]", escape(check.detail))
    out = console()
    out.print(table)
    for check in checks:
        if check.advice and check.status != "ok":
            out.print(f"{check.name}: {check.advice}", markup=False)
    failed = [check.name for check in checks if check.status == "fail"]
    if failed:
        fail(
            f"{len(failed)} check(s) failed ({', '.join(failed)}): fix them as shown above, then run `tito system doctor`."
        )
    out.print("Everything tito needs is in place: run `tito module status` to see where you are.")
