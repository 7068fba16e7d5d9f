"""`tito export`: write the package files from the module files, or check that they agree."""

from __future__ import annotations

from typing import Annotated

import typer

from tito import exporter
from tito.commands.common import fail, load_course_or_exit, resolve_modules
from tito.console import console


def export(
    modules: Annotated[
        list[str] | None,
        typer.Argument(help="Modules to export (09, 9, spatial or 09_spatial).", metavar="MODULE", show_default=False),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Export every module in course.yaml.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 listing files that differ.")] = False,
) -> None:
    """Export `#| export` cells from module files into the tinytorch package."""
    course = load_course_or_exit()
    if modules and all_:
        fail("Name modules or pass --all, not both: for example `tito export 01` or `tito export --all`.", code=2)
    chosen = resolve_modules(course, modules) if modules else exporter.exportable(course)
    try:
        plans = exporter.plan_export(course, chosen, strict_catalog=check or not modules)
    except exporter.ExportError as exc:
        again = " ".join(modules) if modules else "--all"
        fail(f"{exc} Nothing was written; fix it, then run `tito export {again}`.")
    out = console()
    if check:
        stale = [("differs", p.target) for p in plans if p.differs()]
        stale += [("left over (no module exports it now)", path) for path in exporter.left_over(course, plans)]
        if stale:
            for why, path in stale:
                out.print(f"{why}: {course.shown(path)}")
            fail(f"{len(stale)} package file(s) are out of date: run `tito export --all`.")
        out.print(f"All {len(plans)} package files match their module files: run `tito test --all` to test them.")
        return
    try:
        written = exporter.write_plans(course, plans)
    except OSError as exc:
        again = " ".join(modules) if modules else "--all"
        fail(
            f"Could not write {exc.filename or 'a package file'} ({exc.strerror}); files not yet replaced are "
            f"intact. Fix that, then run `tito export {again}`."
        )
    for plan in plans:
        if plan.module is not None:
            state = "written" if plan.target in written else "unchanged"
            out.print(f"{plan.module.name} -> {course.shown(plan.target)} ({state})")
    exported = list({plan.module.id: plan.module for plan in plans if plan.module is not None}.values())
    if len(exported) == 1:
        out.print(f"Exported {exported[0].name}: run `tito test {exported[0].id}` to test it.")
    else:
        out.print(f"Exported {len(exported)} modules: run `tito test --all` to test them.")
