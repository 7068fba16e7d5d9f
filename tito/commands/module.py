"""`tito module list | status | start | complete | reset`: a student's way through the course."""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.table import Table

from tito import exporter, notebooks
from tito.commands.common import fail, load_course_or_exit, progress_or_exit, resolve_module, shown
from tito.completion import complete_module
from tito.console import console
from tito.course import Course, Module
from tito.progress import ProgressError, completed_ids
from tito.restore import ResetError, reset_module_file
from tito.testing import TestReport
from tito.unlocks import changed_since_completion, missing_prerequisites, module_state, next_module

app = typer.Typer(help="List, start, complete and reset course modules.", no_args_is_help=True)

ModuleArg = Annotated[str, typer.Argument(help="The module: 09, 9, spatial or 09_spatial.", metavar="MODULE", show_default=False)]
STATE_STYLE = {"locked": "dim", "ready": "cyan", "started": "yellow", "completed": "green"}


@app.command("list")
def list_modules() -> None:
    """List the course's modules in order, with their prerequisites and estimated hours."""
    course = load_course_or_exit()
    table = Table(title=f"{course.name} modules ({course.edition} edition)")
    for column in ("Module", "Title", "Hours", "Requires", "File"):
        table.add_column(column)
    for module in course.modules:
        table.add_row(
            module.name,
            module.title,
            f"{module.hours:g}",
            ", ".join(module.requires) or "-",
            shown(course, module.source) if module.source.exists() else "(missing)",
        )
    out = console()
    out.print(table)
    out.print("Start the first one with `tito module start " + course.modules[0].id + "`." if course.modules else "")


@app.command("status")
def status() -> None:
    """Show each module's state (locked, ready, started, completed) and each milestone's best run."""
    course = load_course_or_exit()
    _store, data = progress_or_exit(course)
    completed = completed_ids(data)
    out = console()

    table = Table(title=f"{course.name}: modules")
    for column in ("Module", "State", "Date", "Tests", "Seconds"):
        table.add_column(column)
    changed = []
    for module in course.modules:
        entry = data["modules"].get(module.id) or {}
        state = module_state(course, data, module)
        label = f"[{STATE_STYLE[state]}]{state}[/]"
        if changed_since_completion(module, entry):
            label += " (file changed)"
            changed.append(module)
        date = entry.get("completed_at") or entry.get("started_at") or ""
        tests = entry.get("tests")
        counts = ""
        if tests:
            counts = f"{tests['passed']} passed" + (f", {tests['skipped']} skipped" if tests.get("skipped") else "")
        seconds = f"{entry['seconds']:g}" if "seconds" in entry else ""
        table.add_row(module.name, label, date[:10], counts, seconds)
    out.print(table)

    if course.milestones:
        milestones = Table(title=f"{course.name}: milestones")
        for column in ("Milestone", "Year", "Target", "State", "Best", "Runs"):
            milestones.add_column(column)
        for milestone in course.milestones:
            entry = data["milestones"].get(milestone.id) or {}
            missing = missing_prerequisites(course, completed, milestone.requires)
            best = entry.get("best")
            if best:
                value = best["metrics"].get(milestone.target.metric)
                state, best_text = "[green]achieved[/]", milestone.target.format(value) if isinstance(value, (int, float)) else "?"
            elif missing:
                state, best_text = "[dim]locked[/]", ""
            else:
                state, best_text = "[cyan]ready[/]", ""
            target = milestone.target.describe()
            milestones.add_row(milestone.id, str(milestone.year), target, state, best_text, str(entry.get("runs", "")))
        out.print(milestones)

    total = len(course.modules)
    bar = ProgressBar(total=max(total, 1), completed=len(completed & {m.id for m in course.modules}), width=40)
    out.print(bar, f" {len(completed)}/{total} modules completed")
    for module in changed:
        out.print(f"{module.name} changed after it was completed: run `tito module complete {module.id}` to check it again.")
    upcoming = next_module(course, data)
    if upcoming is None:
        _print_milestone_hint(course, data)
    elif data["modules"].get(upcoming.id, {}).get("status") == "started":
        out.print(f"Next: finish {upcoming.name}, then run `tito module complete {upcoming.id}`.")
    else:
        out.print(f"Next: run `tito module start {upcoming.id}`.")


def _check_prerequisites(course: Course, module: Module, completed: set[str], action: str) -> None:
    """Refuse in a student edition while prerequisites are incomplete; only note it in the reference."""
    missing = missing_prerequisites(course, completed, module.requires)
    if not missing:
        return
    names = ", ".join(m.name for m in missing)
    if course.edition == "student":
        fail(f"{module.name} needs {names} completed first: run `tito module complete {missing[0].id}`.")
    console().print(f"Note: {module.name} requires {names}, not completed yet (the reference edition lets you {action} anyway).")


def readme_objectives(module: Module) -> list[str]:
    """The lines under the README's first heading that mentions objectives, or [] if there is none."""
    try:
        lines = module.readme.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for index, line in enumerate(lines):
        match = re.match(r"^(#+)\s+(.*)$", line)
        if match and "objective" in match[2].lower():
            level, body = len(match[1]), []
            for following in lines[index + 1 :]:
                heading = re.match(r"^(#+)\s", following)
                if heading and len(heading[1]) <= level:
                    break
                body.append(following)
            while body and not body[0].strip():
                body.pop(0)
            while body and not body[-1].strip():
                body.pop()
            return body
    return []


@app.command("start")
def start(
    module_name: ModuleArg,
    notebook: Annotated[bool, typer.Option("--notebook", help="Also create a Jupyter notebook paired with the module file.")] = False,
) -> None:
    """Start a module: print its file, its objectives and how to work on it."""
    course = load_course_or_exit()
    module = resolve_module(course, module_name)
    store, data = progress_or_exit(course)
    _check_prerequisites(course, module, completed_ids(data), "start it")
    if not module.source.exists():
        fail(f"{shown(course, module.source)} is missing: run `tito module reset {module.id}` to restore it.")
    try:
        store.record_module_started(module.id)
    except ProgressError as exc:
        fail(str(exc))

    out = console()
    out.print(f"[bold]Module {module.id}: {module.title}[/] (about {module.hours:g} h)")
    out.print(f"File: {shown(course, module.source)}")
    objectives = readme_objectives(module)
    if objectives:
        out.print(f"Objectives (from {shown(course, module.readme)}):")
        out.print(Padding(Markdown("\n".join(objectives)), (0, 0, 0, 2)))
    if notebook:
        try:
            path = notebooks.create_notebook(module)
        except notebooks.NotebookError as exc:
            fail(str(exc))
        out.print(f"Notebook: {shown(course, path)}. {notebooks.open_hint(module, path)}", markup=False)
    if course.edition == "student":
        task = f"replace each `raise NotImplementedError(\"TinyTorch {module.id}: ...\")` with your code"
    else:
        task = "this reference edition has every solution filled in between ### BEGIN SOLUTION and ### END SOLUTION"
    out.print(
        f"How to work: {task}; `python {shown(course, module.source)}` runs its inline tests and "
        f"`tito test {module.id}` runs them all.",
        markup=False,
    )
    out.print(f"When they pass, run `tito module complete {module.id}`.")


def _print_failures(report: TestReport) -> None:
    out = console()
    for test_id, message in report.failures:
        out.print(f"[red]FAILED[/] {escape(test_id)}")
        for line in message.splitlines() or ["(no message)"]:
            out.print(f"    {line}", markup=False)


def print_report_line(report: TestReport) -> str:
    parts = [f"{report.passed} passed"]
    if report.inline or report.package:
        parts[0] += f" ({report.inline} inline, {report.package} package)"
    parts += [f"{report.failed} failed", f"{report.skipped} skipped"]
    if report.errors:
        parts.append(f"{report.errors} errors")
    return ", ".join(parts) + f" in {report.seconds:g} s"


@app.command("complete")
def complete(module_name: ModuleArg) -> None:
    """Compile-check, export and test a module; record it completed only if every test passes."""
    course = load_course_or_exit()
    module = resolve_module(course, module_name)
    _store, data = progress_or_exit(course)
    _check_prerequisites(course, module, completed_ids(data), "complete it")
    out = console()
    try:
        with out.status(f"Completing {module.name}...") as spinner:
            result = complete_module(course, module, on_step=lambda text: spinner.update(f"{module.name}: {text}..."))
    except notebooks.NotebookError as exc:
        fail(f"{exc} Nothing was exported or recorded.")
    except exporter.ExportError as exc:
        fail(f"{exc} Nothing was written or recorded; fix it, then run `tito module complete {module.id}`.")
    except ProgressError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"Could not write {exc.filename or 'a package file'} ({exc.strerror}); nothing was recorded. "
             f"Fix that, then run `tito module complete {module.id}`.")

    if result.notebook_note:
        out.print(result.notebook_note, markup=False)
    report = result.report
    if not result.recorded:
        _print_failures(report)
        out.print(f"Tests: {print_report_line(report)}.")
        fail(
            f"{report.problem()}; nothing was recorded. Fix {shown(course, module.source)}, then run "
            f"`tito module complete {module.id}`."
        )

    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("Tests", print_report_line(report))
    targets = ", ".join(
        f"{shown(course, t)} ({'written' if t in result.written else 'unchanged'})" for t in result.targets
    )
    summary.add_row("Exported", targets)
    summary.add_row("Seconds", f"{result.seconds:g}")
    unlocked = [f"module {m.name}" for m in result.unlocked_modules]
    unlocked += [f"milestone {ms.id}" for ms in result.unlocked_milestones]
    summary.add_row("Unlocked", ", ".join(unlocked) if unlocked else "nothing new")
    out.print(f"[green bold]Module {module.name} completed.[/]")
    out.print(summary)
    _store, data = progress_or_exit(course)
    upcoming = next_module(course, data)
    if result.unlocked_milestones:
        out.print(f"Next: run `tito milestone run {result.unlocked_milestones[0].id}`, or `tito module status` to see where you are.")
    elif upcoming is not None:
        out.print(f"Next: run `tito module start {upcoming.id}`.")
    else:
        _print_milestone_hint(course, data)


def _print_milestone_hint(course: Course, data: dict) -> None:
    """Point at the first milestone not achieved yet, once every module is completed."""
    pending = [ms for ms in course.milestones if not (data["milestones"].get(ms.id) or {}).get("best")]
    if pending:
        console().print(f"Every module is completed: run `tito milestone run {pending[0].id}`.")
    else:
        console().print("Every module and milestone is done: run `tito module status` to see your record.")


@app.command("reset")
def reset(
    module_name: ModuleArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Restore a module file to its starting version (a backup is kept) and mark it not completed."""
    course = load_course_or_exit(need_module_folders=False)  # reset brings a lost module back
    module = resolve_module(course, module_name)
    store, _data = progress_or_exit(course)
    origin = "git HEAD" if course.edition == "reference" else "the starter copy in .tito/starter/"
    if not yes:
        if not sys.stdin.isatty():
            fail(f"Resetting replaces {shown(course, module.source)}: run `tito module reset {module.id} --yes`.", code=2)
        if not typer.confirm(f"Replace {shown(course, module.source)} with its version from {origin}? A backup is kept."):
            fail(f"Nothing was changed; run `tito module reset {module.id} --yes` to reset without asking.")
    try:
        result = reset_module_file(course, module)
        store.reset_module(module.id)
    except ResetError as exc:
        fail(str(exc))
    except ProgressError as exc:
        fail(str(exc))
    out = console()
    if result.backup is not None:
        out.print(f"Backed up your file to {shown(course, result.backup)}.")
    what = "Restored" if result.changed else "Kept (it already matched)"
    out.print(f"{what} {shown(course, module.source)} from {result.origin}; {module.name} is marked not completed.")
    out.print(f"Next: run `tito module start {module.id}`.")
