"""`tito test MODULE ... | --all`: export modules and run their inline and package tests."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.table import Table

from tito import exporter, notebooks
from tito.checking import PrerequisiteError, check_module
from tito.commands.checks_view import fix_and_rerun, show_failures, stopped
from tito.commands.common import MAX_SECONDS, fail, finite_seconds, load_course_or_exit, resolve_modules, state_or_exit
from tito.console import console
from tito.course import Course, Module
from tito.testing import MissingTestsError


def run_tests(
    modules: Annotated[
        list[str] | None,
        typer.Argument(help="Modules to test (09, 9, spatial or 09_spatial).", metavar="MODULE", show_default=False),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Test every module that has a module file.")] = False,
    no_export: Annotated[
        bool, typer.Option("--no-export", help="Test the package as it is, without exporting the module files first.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show pytest's own output as it runs.")] = False,
    keyword: Annotated[
        str | None, typer.Option("--keyword", "-k", help="Only tests whose names match this pytest -k expression.")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=1,
            max=MAX_SECONDS,
            callback=finite_seconds,
            help="Stop a module's tests after this many seconds (default: course.yaml's, else 120 in a student edition, 600 in the reference).",
        ),
    ] = None,
    all_failures: Annotated[bool, typer.Option("--all-failures", help="Show every failure, not a screenful.")] = False,
) -> None:
    """Export each module, then run its inline tests and its tests/NN_slug/ suite (does not record progress)."""
    course = load_course_or_exit()
    if bool(modules) == all_:
        fail("Name the modules to test or pass --all: for example `tito test 01` or `tito test --all`.", code=2)
    chosen = resolve_modules(course, modules) if modules else exporter.exportable(course)
    again = f"tito test {' '.join(modules) if modules else '--all'}"
    out = console()
    if all_ and not no_export:
        try:
            exporter.write_plans(course, exporter.plan_export(course, chosen, strict_catalog=False))
        except exporter.ExportError as exc:
            fail(f"{exc} Nothing was written or tested; fix it, then run `{again}`.")

    table = Table(title="Test results")
    for column in ("Module", "Passed", "Failed", "Skipped", "Errors", "Seconds"):
        table.add_column(column, justify="right" if column != "Module" else "left")
    failing = []
    extra = ("-k", keyword) if keyword else ()
    for module in chosen:
        if verbose:
            out.rule(module.name)
        try:
            with out.status(f"Testing {module.name}...") if not verbose else contextlib.nullcontext():
                checked = check_module(
                    course, module, timeout=timeout, export=not (all_ or no_export), extra_args=extra, stream=verbose
                )
        except KeyboardInterrupt as exc:
            stopped(exc, "nothing was recorded")
        except (notebooks.NotebookError, MissingTestsError, PrerequisiteError) as exc:
            fail(str(exc))
        except exporter.ExportError as exc:
            fail(f"{exc} Nothing was written or tested; fix it, then run `{again}`.")
        if checked.notebook_note:  # the paired notebook was copied into the module file, or the other way
            out.print(checked.notebook_note, markup=False, soft_wrap=True)
        report = checked.report
        style = "green" if report.ok else "red"
        table.add_row(
            f"[{style}]{module.name}[/]",
            str(report.passed),
            str(report.failed),
            str(report.skipped),
            str(report.errors),
            f"{report.seconds:g}",
        )
        if not report.ok:
            failing.append((module, report))
            show_failures(report, show_all=all_failures, again=f"tito test {module.id}")
    out.print(table)
    if failing:
        module, report = failing[0]
        others = f" ({len(failing) - 1} more module(s) failed too)" if len(failing) > 1 else ""
        fail(fix_and_rerun(course, module, report, f"tito test {module.id}") + others)
    out.print(_all_passed(course, chosen), markup=False, soft_wrap=True)


def _all_passed(course: Course, chosen: list[Module]) -> str:
    """What passing means for the record: not recorded yet, recorded, or changed since it was recorded."""
    if len(chosen) != 1:
        return f"All tests of {len(chosen)} modules passed: run `tito module status` to see what is recorded."
    module = chosen[0]
    _store, state = state_or_exit(course)
    if state.module_state(module) != "completed":
        return f"All tests of {module.name} passed: run `tito module complete {module.id}` to record it."
    if state.changed_since_completion(module):
        return (
            f"All tests of {module.name} passed; the file changed since it was recorded as completed: run "
            f"`tito module complete {module.id}` to record this version."
        )
    return f"All tests of {module.name} passed, and it is recorded as completed: run `tito module status` to see what comes next."
