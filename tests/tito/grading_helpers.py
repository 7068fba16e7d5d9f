"""What the grading tests share: the fixture course, hostile submissions with real paths filled in,
and the checks that nothing outside a run was touched."""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import pytest

from tito import exporter
from tito.course import load_course

BWRAP_HINT = "grading runs need bubblewrap: sudo apt-get install bubblewrap (CI installs it)"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason=BWRAP_HINT)


def _python_open_to_others() -> bool:
    from tito.grading.sandbox import python_folders
    from tito.grading.walls import open_to_others

    return all(open_to_others(Path(p)) for p in python_folders())


USER_PATH = os.geteuid() == 0 and _python_open_to_others()
# Without bubblewrap, as root, runs are an unprivileged user: that user must be able to read this Python.
USER_PATH_WHY = "the unprivileged-user path needs root and a Python other users can read (/usr/bin/python3 in a venv)"
if os.environ.get("TITO_REQUIRE_USER_PATH") and not USER_PATH:  # .ci/run's second pass: a skip would hide the path
    raise pytest.UsageError(f"TITO_REQUIRE_USER_PATH is set, but {USER_PATH_WHY}: {sys.executable} is not")
needs_user_path = pytest.mark.skipif(not USER_PATH, reason=USER_PATH_WHY)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "grading"
REPO = Path(__file__).resolve().parents[2]


def grading_course(root: Path):
    """A copy of the two-module fixture course, exported, with a secret the submissions must not read."""
    shutil.copytree(FIXTURES / "course", root)
    (root / "SECRET.txt").write_text("instructor-secret-7f3a9\n")
    course = load_course(root)
    exporter.write_plans(course, exporter.plan_export(course, exporter.exportable(course)))
    return course


def submit(submissions: Path, student: str, fixture: str, places: dict | None = None) -> Path:
    """Copy submissions/<fixture> to submissions/<student>, with its @NAME@ placeholders filled in."""
    target = submissions / student
    shutil.copytree(FIXTURES / "submissions" / fixture, target)
    for path in target.rglob("*.py"):
        text = path.read_text()
        for name, value in (places or {}).items():
            text = text.replace(f"@{name}@", str(value))
        path.write_text(text)
    return target


def submit_files(submissions: Path, student: str, *sources: Path) -> Path:
    folder = submissions / student
    folder.mkdir(parents=True)
    for source in sources:
        shutil.copy(source, folder / source.name)
    return folder


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def processes_with(marker: str, *, ours: bool = False) -> list[str]:
    """Command lines of running processes that mention `marker`; with `ours`, only those of a grading this
    test process ran (their command line names its temporary folder, tito-grade-<this pid>-...), so that
    another grader on the same machine is not taken for one of ours."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in text and str(os.getpid()) != cmdline.parent.name:
            if not ours or f"tito-grade-{os.getpid()}-" in text:
                found.append(text)
    return found


def snapshot(*folders: Path) -> dict:
    """Every file under `folders` with its contents: compare two snapshots to see what changed."""
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[str(path)] = path.read_bytes()
    return files


def reasons(grade) -> dict:
    """check name -> reason it failed ('' when it passed), for one ModuleGrade."""
    return {r.check.name: r.reason for r in grade.results}
