"""`tito grade SUBMISSIONS`: a folder with one folder per student in, grades.csv and reports out.

Each student's report and stored result (results/<id>.json) are written, atomically, as soon as
that student is graded, so a grading that dies half-way loses nothing already done. With `resume`,
a student whose stored result was made from the same submission and the same grading kit (see
the fingerprint functions below), and holds no grader error, is not graded again; grades.csv is written last, from every stored result.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import tito
from tito.course import Course, Module
from tito.grading.declare import CHECKS_FILE
from tito.grading.errors import GradingError, SubmissionsError
from tito.grading.grade_reports import load_result, store_result, stored_result, write_grades, write_report
from tito.grading.grader import DEFAULT_TIMEOUT, grade_students
from tito.grading.students import (
    MAX_MODULE_FILE,
    TwoCopies,
    find_module_file,
    find_students,
    read_regular,
    shown_name,
    student_ids,
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
    resume: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_graded: Callable[[dict], None] | None = None,
    on_student: Callable[[StudentGrade], None] | None = None,
) -> list[dict]:
    """Grade every student folder in `submissions`; write grades.csv, reports/ and results/ into `out`.

    `on_start(students, already graded)` is called once the class is known; `on_graded(result)` for
    each student as they finish (the stored result: name, id and rows), resumed ones first;
    `on_student(grade)` with the whole StudentGrade of each student graded now."""
    if os.name != "posix":
        raise GradingError("tito grade needs Linux: each run is a bubblewrap sandbox, run `tito grade` there.")
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise SubmissionsError(f"{submissions} is not a folder: give the folder holding one folder per student.")
    if submissions == course.root or submissions in course.root.parents:
        raise SubmissionsError(
            f"{submissions} holds the course itself, not submissions: give the folder holding one folder per student."
        )
    if out == submissions or submissions in out.parents:
        raise SubmissionsError(f"{out} is inside {submissions}; write the grades somewhere else (--out).")
    folders = find_students(submissions)
    if not folders:
        raise SubmissionsError(f"{submissions} has no student folders: put each submission in its own folder.")
    chosen = list(modules or course.modules)
    ids = student_ids([folder.name for folder in folders])
    kit_print = kit_fingerprint(course, chosen, timeout, sandbox)
    prints = {key: submission_fingerprint(folder, chosen, kit_print) for key, folder in zip(ids, folders)}
    results: dict[str, dict] = {}
    if resume:
        for key in ids:
            stored = load_result(out, key)
            if (
                stored is not None
                and stored.get("fingerprint") == prints[key]
                and stored.get("id") == key
                and all(row.get("status") == "graded" for row in stored["rows"])  # grader errors: try again
            ):
                results[key] = stored
    if on_start:
        on_start(len(folders), len(results))
    for key in ids:
        if key in results and on_graded:
            on_graded(results[key])

    def finished(grade: StudentGrade) -> None:
        write_report(out, grade)
        result = stored_result(grade, prints[grade.key])
        store_result(out, result)
        results[grade.key] = result
        if on_student:
            on_student(grade)
        if on_graded:
            on_graded(result)

    todo = [(key, folder) for key, folder in zip(ids, folders) if key not in results]
    if todo:
        grade_students(
            course,
            [(shown_name(folder.name), folder) for _, folder in todo],
            ids=[key for key, _ in todo],
            modules=chosen,
            workers=workers,
            timeout=timeout,
            sandbox=sandbox,
            keep_temp=keep_temp,
            hidden=(submissions, out),
            on_graded=finished,
        )
    ordered = [results[key] for key in ids]
    write_grades(out, ordered)
    return ordered


def kit_fingerprint(course: Course, modules: list[Module], timeout: float, sandbox: bool) -> str:
    """What a grade depends on besides the submission: tito, the modules' reference files and checks,
    the time limit and the wall. Any change grades every student again."""
    digest = hashlib.sha256(f"{tito.__version__}|{timeout}|{sandbox}".encode())
    for module in course.modules:
        digest.update(module.id.encode() + b"\0" + _bytes(module.source))
    for module in modules:
        digest.update(b"checks\0" + module.id.encode() + b"\0" + _bytes(module.tests / CHECKS_FILE))
    return digest.hexdigest()


def submission_fingerprint(folder: Path, modules: list[Module], kit_print: str) -> str:
    """The files of `folder` that grading reads, with the kit's fingerprint."""
    digest = hashlib.sha256(kit_print.encode())
    for module in modules:
        try:
            path = find_module_file(folder, module)
        except TwoCopies as exc:
            digest.update(f"{module.id}: {exc}".encode())
            continue
        data = read_regular(path, MAX_MODULE_FILE) if path is not None else None
        digest.update(
            f"{module.id}|".encode() + os.fsencode(path or "") + b"|" + (data if data is not None else b"\0missing")
        )
    return digest.hexdigest()


def _bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""
