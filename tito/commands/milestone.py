"""`tito milestone list | info ID | run ID | status`: the historic networks, trained on your tinytorch."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tito import files
from tito.commands.common import fail, load_course_or_exit, shorten, state_or_exit, styled
from tito.console import console
from tito.course import Course, Milestone
from tito.course_state import CourseState
from tito.metrics import metric_name, metrics_text
from tito.progress_store import ProgressError

app = typer.Typer(help="Train the course's milestone networks on the framework you built.", no_args_is_help=True)


def _milestone(course: Course, key: str) -> Milestone:
    try:
        return course.milestone(key)
    except KeyError:
        names = ", ".join(m.id for m in course.milestones)
        fail(f"No milestone {shorten(key)!r}. Valid milestones: {names}.", code=2)


def _state(state: CourseState, milestone: Milestone) -> str:
    """achieved (with the best figure), ready, or locked with the modules it still needs."""
    shown = state.milestone_state(milestone)
    if shown == "achieved":
        best = state.best_run(milestone)
        assert best is not None  # "achieved" means a best run is on record
        figure = milestone.target.format(best["metrics"].get(milestone.target.metric))
        return f"{styled(shown)} {figure} ({best.get('seconds', 0):.0f} s)"
    if shown == "locked":
        return f"{styled(shown)}: needs " + " ".join(m.id for m in state.missing(milestone.requires))
    return styled(shown)


@app.command("list")
def list_() -> None:
    """Show every milestone, its target and its state."""
    course = load_course_or_exit()
    _store, state = state_or_exit(course)
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("year", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("target", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for milestone in course.milestones:
        target = f">= {milestone.target.format(milestone.target.at_least)}"
        table.add_row(milestone.id, str(milestone.year), escape(milestone.title), target, _state(state, milestone))
    out = console()
    out.print(table)
    out.print("Run one with `tito milestone run ID`; `tito milestone info ID` tells its story.")


@app.command()
def status() -> None:
    """Your results: the best and the last recorded run of each milestone."""
    course = load_course_or_exit()
    _store, state = state_or_exit(course)
    out = console()
    for milestone in course.milestones:
        out.print(
            f"[bold]{milestone.id}[/bold] ({milestone.year}) {escape(milestone.title)}: {_state(state, milestone)}"
        )
        best = state.best_run(milestone)
        if best:
            out.print(
                f"  best run {best['at']}, {best['seconds']:.1f} s, {metrics_text(best['metrics'])}; files in {best['run_dir']}"
            )
            out.print(f"  {state.milestone_entry(milestone).get('runs', 0)} recorded run(s)")
    out.print("Runs that missed their target are kept in .tito/runs/<id>/ but not recorded here.")


README_LIMIT = 1024**2


def _readme_summary(path: Path) -> str:
    """The README's first paragraph after its title."""
    try:
        text = files.read_text(path, README_LIMIT)  # a FIFO or a huge file is refused, never read
    except OSError:
        return ""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    if not paragraphs:
        return ""
    summary = " ".join(paragraphs[0].split())
    return summary[:-1] + "." if summary.endswith(":") else summary  # its colon introduced what follows it


@app.command()
def info(milestone_id: Annotated[str, typer.Argument(metavar="ID", help="A milestone id, such as lenet.")]) -> None:
    """Tell one milestone's story, requirements, target and defaults."""
    from tito.milestones.settings import SettingsError, read_settings, script_path

    course = load_course_or_exit()
    milestone = _milestone(course, milestone_id)
    _store, state = state_or_exit(course)
    out = console()
    out.print(f"[bold]{escape(milestone.title)}[/bold] ({milestone.year})")
    summary = _readme_summary(milestone.folder / "README.md")
    if summary:
        out.print(summary, soft_wrap=False)
    missing = {m.id for m in state.missing(milestone.requires)}
    needs = ", ".join(
        f"{course.module(key).id} {course.module(key).slug}"
        + (" (not done)" if course.module(key).id in missing else "")
        for key in milestone.requires
    )
    out.print(f"Target: {milestone.target.describe()}")
    out.print(f"Requires: {needs}")
    try:
        settings = read_settings(milestone)
    except SettingsError as exc:
        out.print(f"Settings: {exc}", markup=False)
    else:
        if settings.config:
            out.print("Defaults: " + ", ".join(f"{k}={v}" for k, v in settings.config.items()), markup=False)
        if settings.datasets:
            out.print("Datasets: " + ", ".join(settings.datasets), markup=False)
    out.print(f"Script: {course.shown(script_path(milestone))}; story: {course.shown(milestone.folder / 'README.md')}")
    out.print(f"State: {_state(state, milestone)}")
    out.print(f"Run it with `tito milestone run {milestone.id}`.")


def _print_pictures(pictures: list[Path], where: str) -> None:
    """Name the pictures the run drew, or say how to get them."""
    from tito.milestones import plots

    if pictures:
        # The folder on a line of its own, then the names wrapped between names: a terminal of 80
        # columns would otherwise break the line inside the folder or a name.
        out = console()
        out.print(f"Pictures in {where}/:", markup=False, soft_wrap=True)
        names = ", ".join(path.name for path in pictures) + "."
        for line in textwrap.wrap(names, max(out.width - 2, 20), break_long_words=False, break_on_hyphens=False):
            out.print("  " + line, markup=False, soft_wrap=True)
    elif not plots.available():
        console().print(
            "No pictures: matplotlib is not installed. Run `pip install matplotlib` to draw them next time.",
            markup=False,
        )


@app.command()
def run(
    milestone_id: Annotated[str, typer.Argument(metavar="ID", help="A milestone id, such as lenet.")],
    dataset: Annotated[
        str | None, typer.Option(help="Train on another data set the milestone offers (see `info`).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Number of passes over the training set.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Images per training step.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate (the peak, for one-cycle schedules).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed for weights, shuffling and augmentation.")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", metavar="DIR", help="Read the data set's files from DIR instead of the cache."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A run of a few seconds that checks the pipeline; not judged.")
    ] = False,
    depthwise: Annotated[
        bool, typer.Option("--depthwise", help="Depthwise-separable convolutions, where the milestone has them.")
    ] = False,
    no_live: Annotated[bool, typer.Option("--no-live", help="Plain log lines instead of the live display.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also say how tito tuned this process for speed.")
    ] = False,
) -> None:
    """Train a milestone; exit 0 when it reaches its target (recorded in .tito/progress.yaml), 1 when not."""
    from tito.milestones.display import make_display
    from tito.milestones.milestone_run import MilestoneError, RunOptions, run_milestone

    course = load_course_or_exit()
    milestone = _milestone(course, milestone_id)
    state_or_exit(course)  # a record that cannot be written stops us before training, not after
    options = RunOptions(dataset, epochs, batch_size, lr, seed, data_dir, quick, depthwise)
    out = console()
    out.print(
        f"[bold]{escape(milestone.title)}[/bold] ({milestone.year}), target {milestone.target.describe()}"
        + (" (quick run)" if quick else "")
    )
    try:
        with make_display(out, live=not no_live) as display:
            result = run_milestone(course, milestone, options, display=display, verbose=verbose)
    except MilestoneError as exc:
        fail(str(exc), code=exc.code)
    except ProgressError as exc:
        fail(str(exc))
    for note in result.notes:
        out.print(note, markup=False)
    where = course.shown(result.run_dir)
    shown = milestone.target.format(result.target_value)
    if result.stopped:
        out.print(f"Files: {where}/")
        _print_pictures(result.pictures, where)
        fail(f"{result.stopped} Nothing was recorded.")
    out.print(f"{metric_name(milestone.target.metric)} {shown} in {result.seconds:.1f} s. Files: {where}/")
    _print_pictures(result.pictures, where)
    if quick:
        out.print(
            f"Quick run finished: the pipeline works. Run `tito milestone run {milestone.id}` for the real thing."
        )
        return
    if result.achieved:
        out.print("[green]Target reached[/green]: recorded in .tito/progress.yaml. See `tito milestone status`.")
        return
    fail(
        f"Target not reached ({shown}, needs {milestone.target.describe()}). Nothing was recorded; "
        f"try more epochs, e.g. `tito milestone run {milestone.id} --epochs N`."
    )
