"""`tito grade SUBMISSIONS`: a folder with one folder per student in, grades.csv and reports out."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tito.course import Course, Module
from tito.grading.report import write_grades, write_report
from tito.grading.runner import (
    DEFAULT_TIMEOUT,
    GradingError,
    SubmissionsError,
    find_students,
    grade_students,
    safe_name,
)
from tito.grading.verdict import StudentGrade


def grade_submissions(
    course: Course,
    submissions: Path,
    out: Path,
    *,
    modules: list[Module] | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    sandbox: bool = True,
    keep_temp: bool = False,
    on_graded: Callable[[StudentGrade], None] | None = None,
) -> list[StudentGrade]:
    """Grade every student folder in `submissions`; write grades.csv and reports/ into `out`."""
    if os.name != "posix":
        raise GradingError("tito grade needs Linux: each run is a bubblewrap sandbox, run `tito grade` there.")
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise SubmissionsError(f"{submissions} is not a folder: give the folder holding one folder per student.")
    if out == submissions or submissions in out.parents:
        raise SubmissionsError(f"{out} is inside {submissions}; write the grades somewhere else (--out).")
    students = find_students(submissions)
    if not students:
        raise SubmissionsError(f"{submissions} has no student folders: put each submission in its own folder.")
    grades = grade_students(
        course,
        _unique_names(students),
        modules=modules,
        workers=workers,
        timeout=timeout,
        sandbox=sandbox,
        keep_temp=keep_temp,
        hidden=(submissions, out),
        on_graded=on_graded,
    )
    write_grades(out, grades)
    for grade in grades:
        write_report(out, grade)
    return grades


def _unique_names(students: list[Path]) -> list[tuple[str, Path]]:
    named, used = [], set()
    for folder in students:
        name, counter = safe_name(folder.name), 1
        while name in used:
            counter += 1
            name = f"{safe_name(folder.name)}-{counter}"
        used.add(name)
        named.append((name, folder))
    return named
