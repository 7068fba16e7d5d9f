"""`tito module list | status | start | complete | reset`: a student's way through the course."""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer
from rich import box
from rich.markdown import Markdown
from rich.markup import escape
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.table import Table

from tito import exporter, files, notebooks
from tito.checking import PrerequisiteError, complete_module
from tito.commands.checks_view import fix_and_rerun, show_failures, stopped
from tito.commands.common import (
    MAX_SECONDS,
    fail,
    finite_seconds,
    load_course_or_exit,
    progress_or_exit,
    resolve_module,
    state_or_exit,
    styled,
)
from tito.console import console
from tito.course import Module, compact_ids
from tito.course_state import CourseState
from tito.progress_store import ProgressError
from tito.restore import ResetError, reset_module_file
from tito.testing import MissingTestsError

app = typer.Typer(help="List, start, complete and reset course modules.", no_args_is_help=True)

ModuleArg = Annotated[
    str, typer.Argument(help="The module: 09, 9, spatial or 09_spatial.", metavar="MODULE", show_default=False)
]


@app.command("list")
def list_modules() -> None:
    """List the course's modules in order, with their prerequisites, estimated hours and files."""
    course = load_course_or_exit()
    _store, state = state_or_exit(course)
    table = Table(
        title=escape(f"{course.name} modules ({course.edition} edition)"),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("Module", no_wrap=True)
    table.add_column("Title", min_width=14)  # the one column that wraps, so the rest fit 80 columns
    table.add_column("Hours", justify="right", no_wrap=True)
    table.add_column("Requires", no_wrap=True)
    table.add_column("File", no_wrap=True)
    for module in course.modules:
        table.add_row(
            module.id,
            escape(module.title),
            f"{module.hours:g}",
            compact_ids(module.requires) or "-",
            course.shown(module.source) if module.source.exists() else "(missing)",
        )
    out = console()
    out.print(table)
    if not course.modules:
        return
    if not state.record["modules"]:  # nothing started yet
        out.print(f"Start the first one with `tito module start {course.modules[0].id}`.")
    else:
        _print_next_step(state)


def _print_next_step(state: CourseState) -> None:
    """The one next command, from the course's state: start, finish, or go on to the milestones."""
    out = console()
    upcoming = state.next_module()
    if upcoming is None:
        _print_milestone_hint(state)
    elif state.module_state(upcoming) == "started":
        out.print(f"Next: finish {upcoming.name}, then run `tito module complete {upcoming.id}`.")
    else:
        out.print(f"Next: run `tito module start {upcoming.id}`.")


@app.command("status")
def status() -> None:
    """Show each module's state (locked, ready, started, completed) and each milestone's best run."""
    course = load_course_or_exit()
    _store, state = state_or_exit(course)
    out = console()

    table = Table(title=escape(f"{course.name}: modules"))
    for column in ("Module", "State", "Date", "Tests", "Seconds"):
        table.add_column(column)
    changed = []
    for module in course.modules:
        entry = state.module_entry(module)
        shown_state = state.module_state(module)
        label = styled(shown_state)
        if state.changed_since_completion(module):
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
        milestones = Table(title=escape(f"{course.name}: milestones"))
        for column in ("Milestone", "Year", "Target", "State", "Best", "Runs"):
            milestones.add_column(column)
        for milestone in course.milestones:
            shown_state = state.milestone_state(milestone)
            best = state.best_run(milestone)
            best_text = milestone.target.format(best["metrics"].get(milestone.target.metric)) if best else ""
            milestones.add_row(
                milestone.id,
                str(milestone.year),
                milestone.target.describe(),
                styled(shown_state),
                best_text,
                str(state.milestone_entry(milestone).get("runs", "")),
            )
        out.print(milestones)

    total = len(course.modules)
    completed = len(state.completed & {m.id for m in course.modules})
    bar = ProgressBar(total=max(total, 1), completed=completed, width=40)
    out.print(bar, f" {completed}/{total} modules completed")
    for module in changed:
        out.print(
            f"{module.name} changed after it was completed: run `tito module complete {module.id}` to check it again."
        )
    _print_next_step(state)


def _check_prerequisites(state: CourseState, module: Module, action: str) -> None:
    """Refuse in a student edition while prerequisites are not done; only note it in the reference."""
    missing = state.missing(module.requires)
    if not missing:
        return
    names = ", ".join(m.name for m in missing)
    if state.course.edition == "student":
        chain, first = "", missing[0]
        while True:  # follow the requirements down to the first module that can be completed now
            before = state.missing(first.requires)
            if not before:
                break
            chain += f", and {first.name} needs {before[0].name}"
            first = before[0]
        fail(f"{module.name} needs {names} completed first{chain}: run `tito module complete {first.id}`.")
    console().print(
        f"Note: {module.name} requires {names}, not {state.done_word} yet (the reference edition lets you {action} anyway)."
    )


def readme_objectives(module: Module) -> list[str]:
    """The lines under the README's first heading that mentions objectives, or [] if there is none."""
    try:
        lines = files.read_text(module.readme, 1024**2).splitlines()  # a FIFO or a huge file is refused
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
    notebook: Annotated[
        bool, typer.Option("--notebook", help="Also create a Jupyter notebook paired with the module file.")
    ] = False,
) -> None:
    """Start a module: print its file, its objectives and how to work on it."""
    course = load_course_or_exit()
    module = resolve_module(course, module_name)
    store, state = state_or_exit(course)
    _check_prerequisites(state, module, "start it")
    if not module.source.exists():
        fail(f"{course.shown(module.source)} is missing: run `tito module reset {module.id}` to restore it.")
    try:
        store.record_module_started(module.id)
    except ProgressError as exc:
        fail(str(exc))

    out = console()
    out.print(f"[bold]Module {module.id}: {escape(module.title)}[/] (about {module.hours:g} h)")
    out.print(f"File: {course.shown(module.source)}")
    objectives = readme_objectives(module)
    if objectives:
        out.print(f"Objectives (from {course.shown(module.readme)}):")
        out.print(Padding(Markdown("\n".join(objectives)), (0, 0, 0, 2)))
    if notebook:
        try:
            path, synced = notebooks.start_notebook(module)
        except notebooks.NotebookError as exc:
            fail(str(exc))
        if synced:
            out.print(synced, markup=False)
        out.print(f"Notebook: {course.shown(path)}. {notebooks.open_hint(module, path)}", markup=False)
    if course.edition == "student":
        task = f'replace each `raise NotImplementedError("TinyTorch {module.id}: ...")` with your code'
    else:
        task = "this reference edition has every solution filled in between ### BEGIN SOLUTION and ### END SOLUTION"
    out.print(
        f"How to work: {task}; `python {course.shown(module.source)}` runs its inline tests and "
        f"`tito test {module.id}` runs them all.",
        markup=False,
    )
    out.print(f"When they pass, run `tito module complete {module.id}`.")


@app.command("complete")
def complete(
    module_name: ModuleArg,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=1,
            max=MAX_SECONDS,
            callback=finite_seconds,
            help="Stop the tests after this many seconds (default: course.yaml's, else 120 in a student edition, 600 in the reference).",
        ),
    ] = None,
    all_failures: Annotated[bool, typer.Option("--all-failures", help="Show every failure, not a screenful.")] = False,
) -> None:
    """Compile-check, export and test a module; record it completed only if every test passes."""
    course = load_course_or_exit()
    module = resolve_module(course, module_name)
    store, state = state_or_exit(course)
    _check_prerequisites(state, module, "complete it")
    again = f"tito module complete {module.id}"
    out = console()
    try:
        with out.status(f"Completing {module.name}...") as spinner:
            result = complete_module(
                course,
                module,
                store=store,
                before=state,
                timeout=timeout,
                on_step=lambda text: spinner.update(f"{module.name}: {text}..."),
            )
    except KeyboardInterrupt as exc:
        stopped(exc, "nothing was recorded")
    except notebooks.NotebookError as exc:
        fail(f"{exc} Nothing was exported or recorded.")
    except (MissingTestsError, PrerequisiteError) as exc:
        fail(f"{exc} Nothing was recorded.")
    except exporter.ExportError as exc:
        fail(f"{exc} Nothing was written or recorded; fix it, then run `{again}`.")
    except ProgressError as exc:
        fail(str(exc))
    except OSError as exc:  # the module file or a package file is in the way (a folder, a FIFO), a full disk
        where = course.shown(exc.filename) if exc.filename else "a package file"
        fail(f"{where} {files.problem(exc, 'read or written')}; nothing was recorded. Fix that, then run `{again}`.")

    if result.notebook_note:
        out.print(result.notebook_note, markup=False)
    report = result.report
    if not result.recorded:
        show_failures(report, show_all=all_failures, again=again)
        fail(fix_and_rerun(course, module, report, again, "nothing was recorded"))

    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("Tests", report.summary())
    targets = ", ".join(
        f"{course.shown(t)} ({'written' if t in result.written else 'unchanged'})" for t in result.targets
    )
    summary.add_row("Exported", targets)
    summary.add_row("Seconds", f"{result.seconds:g}")
    unlocked = [f"module {m.name}" for m in result.unlocked_modules]
    unlocked += [f"milestone {ms.id}" for ms in result.unlocked_milestones]
    summary.add_row("Unlocked", ", ".join(unlocked) if unlocked else "nothing new")
    out.print(f"[green bold]Module {module.name} completed.[/]")
    out.print(summary)
    state = result.state
    assert state is not None  # a recorded completion carries the state it left
    upcoming = state.next_module()
    if result.unlocked_milestones:
        out.print(
            f"Next: run `tito milestone run {result.unlocked_milestones[0].id}`, or `tito module status` to see where you are."
        )
    elif upcoming is not None:
        out.print(f"Next: run `tito module start {upcoming.id}`.")
    else:
        _print_milestone_hint(state)


def _print_milestone_hint(state: CourseState) -> None:
    """Point at the first milestone not achieved yet, once every module is completed."""
    pending = state.pending_milestones()
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
            fail(
                f"Resetting replaces {course.shown(module.source)}: run `tito module reset {module.id} --yes`.", code=2
            )
        if not typer.confirm(
            f"Replace {course.shown(module.source)} with its version from {origin}? A backup is kept."
        ):
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
        out.print(f"Backed up your file to {course.shown(result.backup)}.")
    what = "Restored" if result.changed else "Kept (it already matched)"
    out.print(f"{what} {course.shown(module.source)} from {result.origin}; {module.name} is marked not completed.")
    if result.notebook:
        out.print(result.notebook, markup=False)
    out.print(f"Next: run `tito module start {module.id}`.")
