"""How `tito test` and `tito module complete` show a module's check: failures, summary, next step."""

from __future__ import annotations

from typing import NoReturn

from tito import failures
from tito.commands.common import fail
from tito.console import console
from tito.course import Course, Module
from tito.process_tree import Stopped
from tito.testing import TestReport


def show_failures(report: TestReport, *, show_all: bool, again: str) -> None:
    """The failures, most specific first, a screenful unless `show_all`; then the summary line."""
    out = console()
    for line in failures.render(report.failures, show_all=show_all, again=again):
        out.print(line, markup=False, soft_wrap=True)
    out.print(f"Tests: {report.summary()}.", markup=False)


def fix_and_rerun(course: Course, module: Module, report: TestReport, again: str, outcome: str = "") -> str:
    """ "<problem>; <outcome>. Fix <the first failure's place>, then run `<again>`."."""
    place = failures.first_place(report.failures) or course.shown(module.source)
    first = " (the first failure above)" if report.failures else ""
    return f"{report.problem()}{'; ' + outcome if outcome else ''}. Fix {place}{first}, then run `{again}`."


def stopped(exc: KeyboardInterrupt, what: str) -> NoReturn:
    """tito was interrupted (Ctrl-C, SIGTERM, SIGHUP) while tests ran: say so, exit 128 + signal."""
    signum = exc.signum if isinstance(exc, Stopped) else 2
    name = str(exc) if isinstance(exc, Stopped) else "Ctrl-C"
    fail(f"Stopped by {name}: the test processes were ended and {what}.", code=128 + signum)
