"""Helpers every command uses: find the course, resolve module names, fail with one clear line."""

from __future__ import annotations

from typing import NoReturn

import typer

from tito.course import Course, CourseError, Module, load_course
from tito.console import error_console


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line to stderr and leave with `code` (1 failed check, 2 usage error)."""
    error_console().print(f"Error: {message}", soft_wrap=True)
    raise typer.Exit(code)


def load_course_or_exit() -> Course:
    try:
        return load_course()
    except CourseError as exc:
        fail(str(exc))


def resolve_module(course: Course, key: str) -> Module:
    try:
        return course.module(key)
    except KeyError:
        fail(f"No module {key!r}. Valid modules: {', '.join(course.module_names())}.", code=2)


def resolve_modules(course: Course, keys: list[str]) -> list[Module]:
    return [resolve_module(course, key) for key in keys]
