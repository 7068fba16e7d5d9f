"""Helpers every command uses: find the course, resolve module names, fail with one clear line."""

from __future__ import annotations

import math
from typing import NoReturn

import typer

from tito.console import error_console
from tito.course import Course, CourseError, Module, NotInCourseError, load_course, missing_module_folders


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line to stderr and leave with `code` (1 failed check, 2 usage error)."""
    error_console().print(f"Error: {message}", soft_wrap=True, markup=False)
    raise typer.Exit(code)


def load_course_or_exit(*, need_module_folders: bool = True) -> Course:
    """The course around the working directory; exit 1 with one line when it cannot be used.

    Every command comes through here, so this is where a module folder that course.yaml lists but
    the disk lacks is caught. `tito module reset` passes need_module_folders=False: it is the way
    a student edition brings a module file back.
    """
    try:
        course = load_course()
    except NotInCourseError as exc:
        fail(str(exc))
    except CourseError as exc:
        fail(f"{exc} Fix course.yaml, then run `tito system doctor`.")
    missing = missing_module_folders(course) if need_module_folders else []
    if missing:
        first = missing[0]
        folder = f"modules/{first.name}"
        more = f" (and {len(missing) - 1} more module folder(s))" if len(missing) > 1 else ""
        if course.edition == "student":
            restore = f"bring its starting file back with `tito module reset {first.id} --yes`"
        else:
            restore = f"restore it with `git checkout -- {folder}`"
        fail(
            f"{folder}/ is missing{more}, but {course.manifest.name} lists module {first.name}: {restore} "
            "(or remove the module from course.yaml), then run `tito system doctor`."
        )
    return course


MAX_SECONDS = 86400.0  # the longest time limit an option may ask for: a day


def shorten(text: str, limit: int = 40) -> str:
    """`text` as echoed back in a message: at most `limit` characters, marked when cut."""
    text = str(text)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def finite_seconds(value: float | None) -> float | None:
    """A typer callback: a time limit is a finite number of seconds (click's range lets NaN through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(
            f"{shorten(str(value))} is not a number of seconds; give one from 1 to {MAX_SECONDS:g}."
        )
    return value


def finite_number(value: float | None) -> float | None:
    """A typer callback for any other number option: finite (click's range lets NaN through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{shorten(str(value))} is not a finite number.")
    return value


def resolve_module(course: Course, key: str) -> Module:
    try:
        return course.module(key)
    except KeyError:
        fail(
            f"No module {shorten(key)!r}; the valid names are {', '.join(course.module_names())} "
            "(or just the number or the slug): run `tito module list` to see them.",
            code=2,
        )


def resolve_modules(course: Course, keys: list[str]) -> list[Module]:
    return [resolve_module(course, key) for key in keys]


def progress_or_exit(course: Course):
    """The course's ProgressStore and its current record; an unusable file exits 1 with how to recover."""
    from tito.progress_store import ProgressError, ProgressStore

    store = ProgressStore(course)
    try:
        return store, store.read()
    except ProgressError as exc:
        fail(str(exc))


STATE_STYLE = {"locked": "dim", "ready": "cyan", "started": "yellow", "completed": "green", "achieved": "green"}


def styled(state: str) -> str:
    """A module's or milestone's state in its colour, for rich: "[cyan]ready[/cyan]"."""
    return f"[{STATE_STYLE[state]}]{state}[/{STATE_STYLE[state]}]"


def state_or_exit(course: Course):
    """The course's ProgressStore and its CourseState (what is locked, ready, done); exits 1 like progress_or_exit."""
    from tito.course_state import CourseState

    store, record = progress_or_exit(course)
    return store, CourseState.of(course, record)
