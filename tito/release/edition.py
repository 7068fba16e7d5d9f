"""Building a student edition: in a temporary folder, checked, then moved into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from tito import exporter
from tito.course import MANIFEST_NAME, Course, CourseError, load_course
from tito.files import atomic_write
from tito.release.errors import ReleaseError, ReleaseUsageError
from tito.release.leaks import _reference_line, find_leaks, plain_text, published_lines, secret_lines
from tito.release.selection import (
    INSTRUCTOR_ONLY,
    STARTER_DIR,
    STUDENT_README,
    _inside,
    _is_module_notebook,
    _module_id,
    course_files,
    is_generated,
    listed,
    student_gitignore,
    student_manifest,
)
from tito.release.solutions import SolutionBlock, find_blocks, strip_solutions


@dataclass
class Release:
    """What a release wrote, for the summary the command prints."""

    out: Path
    files: int = 0
    stripped: dict[str, int] = field(default_factory=dict)  # path -> blocks replaced
    generated_left_out: list[str] = field(default_factory=list)
    instructor_only_left_out: list[str] = field(default_factory=list)
    notebooks_left_out: list[str] = field(default_factory=list)
    unlisted_left_out: list[str] = field(default_factory=list)  # not on the allowlist (selection.listed)
    starters: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # solution lines no edition may hold -> where from
    secrets_checked: int = 0  # how many of them the leak check searched for (0 when it was skipped)


def check_out_folder(course: Course, out: Path, force: bool) -> Path:
    """The resolved output folder, or ReleaseError when writing there would lose something."""
    out = Path(out).expanduser().resolve()
    root = course.root.resolve()
    if _inside(root, out):
        raise ReleaseUsageError(f"{out} holds the course itself; choose a folder outside {root}.")
    if _inside(out, root):
        raise ReleaseUsageError(
            f"{out} is inside the course, so the edition would become part of the course it is made from; "
            f"choose a folder outside it: `tito release student {root.parent / (root.name + '-student')}`."
        )
    if out.exists() and not out.is_dir():
        raise ReleaseUsageError(f"{out} is a file, not a folder; choose an empty or new folder.")
    held = [entry.name for entry in out.iterdir()] if out.exists() else []
    if held and not force:
        raise ReleaseUsageError(f"{out} is not empty; choose a new folder or pass --force to replace what is in it.")
    if held and MANIFEST_NAME not in held and held != [".git"]:
        raise ReleaseUsageError(
            f"{out} holds files but no {MANIFEST_NAME}, so it is not an earlier edition and --force will not "
            "delete them; choose an empty or new folder."
        )
    return out


def build_student_edition(course: Course, out: Path, *, force: bool = False, check_leaks: bool = True) -> Release:
    """Write the student edition of `course` to `out`; see the module docstring for what that means.

    The edition is built in a temporary folder beside `out` and moved there only after every check
    passed, so a failed release leaves `out` as it was. With `force`, what `out` held is replaced,
    except its own `.git` (so a student repository can be refreshed in place). `check_leaks=False`
    skips the search for solution lines outside the blocks (the grader's private copies use it: a
    hint that quotes a solution line is the instructor's to fix, not a reason to stop grading).
    """
    if course.edition != "reference":
        raise ReleaseUsageError(
            f"{course.manifest} says edition: {course.edition}; release from the reference edition."
        )
    out = check_out_folder(course, out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        release = _build(course, build, out, check_leaks)
        release.out = out
        _move_into_place(build, out)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return release


def _build(course: Course, build: Path, out: Path, check_leaks: bool = True) -> Release:
    root = course.root
    release = Release(out=build)
    blocks: list[SolutionBlock] = []
    stripped_texts: list[str] = []
    catalog = course.package_root / exporter.CATALOG_NAME
    for name in course_files(root, skip=(build, out)):
        source = root / name
        if name == STUDENT_README or (name == "README.md" and (root / STUDENT_README).is_file()):
            continue  # the edition's README is the student's guide, written below
        if any(fnmatchcase(name, prefix) or name.startswith(prefix + "/") for prefix in INSTRUCTOR_ONLY):
            release.instructor_only_left_out.append(name)
            continue
        if not listed(course, name):
            release.unlisted_left_out.append(name)
            continue
        if source.resolve() != catalog.resolve() and is_generated(source):
            release.generated_left_out.append(name)
            continue
        if _is_module_notebook(course, name):
            release.notebooks_left_out.append(name)
            continue
        target = build / name
        target.parent.mkdir(parents=True, exist_ok=True)
        text = plain_text(source)
        if text is None and name.endswith(".py"):  # unreadable as text, so it could not be searched or stripped
            try:
                exporter.read_source(source, name)
            except exporter.ExportError as exc:
                raise ReleaseError(str(exc)) from None
            raise ReleaseError(f"{name} holds a NUL byte, so it is not a Python text file; remove it or fix it.")
        found = find_blocks(text, name) if text is not None else []
        if text is not None and found:
            new, count = strip_solutions(text, name, _module_id(course, name))
            blocks.extend(found)
            stripped_texts.append(new)
            release.stripped[name] = count
            target.write_text(new, encoding="utf-8", newline="")
        elif name == MANIFEST_NAME:
            target.write_text(student_manifest(text or ""), encoding="utf-8", newline="")
        else:
            shutil.copy2(source, target)
        release.files += 1

    if (root / STUDENT_README).is_file():  # the reference README is the instructor's; students get their guide
        shutil.copy2(root / STUDENT_README, build / "README.md")
        release.files += 1

    gitignore = build / ".gitignore"
    existing = gitignore.read_text(encoding="utf-8") if gitignore.exists() else None
    gitignore.write_text(student_gitignore(existing), encoding="utf-8")

    student = _load(build)
    _rebuild_catalog(course, student)
    for module in student.modules:
        if module.source.is_file():
            starter = build / STARTER_DIR / module.name / module.source.name
            starter.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(module.source, starter)
            release.starters.append(starter.relative_to(build).as_posix())

    release.secrets = secrets = secret_lines(blocks, published_lines(stripped_texts))
    if not check_leaks:
        return release
    release.secrets_checked = len(secrets)
    leaks = find_leaks(build, secrets, skip=(STARTER_DIR.as_posix(),))  # starters copy the module files
    if leaks:
        shown = "; ".join(
            f"{leak.path}:{_reference_line(root / leak.path, leak) or leak.line} repeats {leak.source}"
            for leak in leaks[:5]
        )
        more = f" (and {len(leaks) - 5} more)" if len(leaks) > 5 else ""
        raise ReleaseError(
            f"solution text would reach the student edition: {shown}{more}. Reword or remove it there "
            "(a hint must not quote a solution line, nor a test or doc repeat one) and release again."
        )
    return release


def _load(build: Path) -> Course:
    try:
        return load_course(build)
    except CourseError as exc:
        raise ReleaseError(f"the student edition's manifest does not load: {exc}") from None


def _rebuild_catalog(reference: Course, student: Course) -> None:
    """Write the student catalog from the stripped files; it must name exactly what the reference does."""
    try:
        wanted = exporter.plan_catalog(reference)
        plan = exporter.plan_catalog(student)
    except exporter.ExportError as exc:
        raise ReleaseError(f"cannot build the package name index: {exc}") from None
    if plan.names != wanted.names:
        lost = sorted(set(wanted.names) - set(plan.names))
        raise ReleaseError(
            f"without their solutions the module files no longer define {', '.join(lost) or 'the same names'}; "
            "keep every def and class outside the solution markers."
        )
    atomic_write(plan.target, plan.text)


def _move_into_place(build: Path, out: Path) -> None:
    if out.exists():
        for entry in out.iterdir():
            if entry.name == ".git":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for entry in build.iterdir():
        os.replace(entry, out / entry.name)
