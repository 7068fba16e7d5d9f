"""Helpers every command uses: find the course, resolve module names, fail with one clear line."""

from __future__ import annotations

from typing import NoReturn

import typer

from tito.course import Course, CourseError, Module, NotInCourseError, load_course
from tito.console import error_console


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line to stderr and leave with `code` (1 failed check, 2 usage error)."""
    error_console().print(f"Error: {message}", soft_wrap=True, markup=False)
    raise typer.Exit(code)


def load_course_or_exit() -> Course:
    try:
        return load_course()
    except NotInCourseError as exc:
        fail(str(exc))
    except CourseError as exc:
        fail(f"{exc} Fix course.yaml, then run `tito system doctor`.")


def resolve_module(course: Course, key: str) -> Module:
    try:
        return course.module(key)
    except KeyError:
        fail(
            f"No module {key!r}; the valid names are {', '.join(course.module_names())} "
            "(or just the number or the slug): run `tito module list` to see them.",
            code=2,
        )


def resolve_modules(course: Course, keys: list[str]) -> list[Module]:
    return [resolve_module(course, key) for key in keys]


def progress_or_exit(course: Course):
    """The course's ProgressStore and its current record; an unusable file exits 1 with how to recover."""
    from tito.progress import ProgressError, ProgressStore

    store = ProgressStore(course)
    try:
        return store, store.read()
    except ProgressError as exc:
        fail(str(exc))


def shown(course: Course, path) -> str:
    """A path as the student sees it: relative to the course root."""
    from tito.exporter import relative

    return relative(path, course.root)
