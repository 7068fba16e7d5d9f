"""`tito test MODULE ... | --all`: export modules and run their inline and package tests."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tito import exporter
from tito.commands.common import fail, load_course_or_exit, resolve_modules
from tito.console import console
from tito.testing import run_module_tests


def run_tests(
    modules: Annotated[
        Optional[list[str]], typer.Argument(help="Modules to test (09, 9, spatial or 09_spatial).", metavar="MODULE", show_default=False)
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Test every module that has a module file.")] = False,
    no_export: Annotated[
        bool, typer.Option("--no-export", help="Test the package as it is, without exporting the module files first.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show pytest's own output as it runs.")] = False,
    keyword: Annotated[
        Optional[str], typer.Option("--keyword", "-k", help="Only tests whose names match this pytest -k expression.")
    ] = None,
    timeout: Annotated[
        Optional[float], typer.Option("--timeout", help="Stop a module's tests after this many seconds.", min=1)
    ] = None,
) -> None:
    """Export each module, then run its inline tests and its tests/NN_slug/ suite (does not record progress)."""
    course = load_course_or_exit()
    if bool(modules) == all_:
        fail("Name the modules to test or pass --all: for example `tito test 01` or `tito test --all`.", code=2)
    chosen = resolve_modules(course, modules) if modules else exporter.exportable(course)
    out = console()
    if not no_export:
        try:
            plans = exporter.plan_export(course, exporter.exportable(course) if all_ else chosen, strict_catalog=False)
        except exporter.ExportError as exc:
            fail(f"{exc} Nothing was written or tested; fix it, then run `tito test {' '.join(modules or ['--all'])}`.")
        exporter.write_plans(course, plans)

    table = Table(title="Test results")
    for column in ("Module", "Passed", "Failed", "Skipped", "Errors", "Seconds"):
        table.add_column(column, justify="right" if column != "Module" else "left")
    failing = []
    extra = ("-k", keyword) if keyword else ()
    for module in chosen:
        if verbose:
            out.rule(module.name)
            report = run_module_tests(course, module, timeout=timeout, extra_args=extra, stream=True)
        else:
            with out.status(f"Testing {module.name}..."):
                report = run_module_tests(course, module, timeout=timeout, extra_args=extra)
        style = "green" if report.ok else "red"
        table.add_row(
            f"[{style}]{module.name}[/]", str(report.passed), str(report.failed), str(report.skipped),
            str(report.errors), f"{report.seconds:g}",
        )
        if not report.ok:
            failing.append((module, report))
            for test_id, message in report.failures:
                out.print(f"[red]FAILED[/] {escape(test_id)}")
                for line in message.splitlines() or ["(no message)"]:
                    out.print(f"    {line}", markup=False)
    out.print(table)
    if failing:
        problems = "; ".join(report.problem() for _module, report in failing)
        first = failing[0][0]
        fail(f"{problems}. Fix {first.source.relative_to(course.root).as_posix()}, then run `tito test {first.id}`.")
    if len(chosen) == 1:
        out.print(f"All tests of {chosen[0].name} passed: run `tito module complete {chosen[0].id}` to record it.")
    else:
        out.print(f"All tests of {len(chosen)} modules passed: run `tito module status` to see what is recorded.")
