"""Which files of the reference go into an edition, and the few that are rewritten on the way.

Local state, version control, caches, build outputs, generated package files (they hold the
solutions), instructor-only material and a module's paired notebook stay behind; course.yaml says
`edition: student` and .gitignore keeps the starter copies `tito module reset` needs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tito import exporter
from tito.course import MANIFEST_NAME, Course
from tito.release.errors import ReleaseError

STARTER_DIR = Path(".tito") / "starter"

# Never part of an edition: local state, version control, caches, build outputs, environments.
LEFT_OUT_NAMES = frozenset(
    {
        ".git",
        ".tito",
        "__pycache__",
        ".pytest_cache",
        ".hypothesis",
        ".ipynb_checkpoints",
        ".mypy_cache",
        ".ruff_cache",
        ".venv",
        "venv",
        "build",
        "dist",
    }
)
LEFT_OUT_SUFFIXES = (".pyc", ".pyo", ".egg-info")
# Tests of tito itself: they check the tool against the reference solutions, so they cannot pass in
# a student edition and some of them hold solution text on purpose (the leak check, grading fixtures).
INSTRUCTOR_ONLY = (  # the last: graded checks
    "tests/tito",
    "tests/integration",
    "tests/parity",  # PyTorch beside the whole reference framework: CI's, not a student's
    "benchmarks/feedback_heldout.py",  # plants its mistakes by rewriting solution lines it quotes
    "tests/fixtures/grading",
    "tests/*/grading.py",
)

# An edition is built from an allowlist, never from "everything but": the manifest's own folders
# (modules/NN_slug/, tests/NN_slug/, milestones/<id>/), the folders of the framework and its tool,
# and the known top-level files. Anything else in the course (an autograder.zip, instructor notes, the
# instructor's CI in .ci/, a stray build) stays behind, whatever its name.
EDITION_FILES = frozenset(
    {
        MANIFEST_NAME,
        "pyproject.toml",
        "README.md",
        "README.student.md",
        ".gitignore",
        "conftest.py",
        "CONTRIBUTING.md",
        "LICENSE",
        "LICENSE.md",
        "LICENSE.txt",
        "milestones/README.md",
        "tests/conftest.py",
        "tests/__init__.py",
    }
)
EDITION_FOLDERS = ("tito", "tinytorch", "datasets", "docs", "benchmarks", "tests/fixtures", "tests/milestones")


def listed(course: Course, name: str) -> bool:
    """Is `name` (a relative posix path) one of the files an edition may hold, by the allowlist above?"""
    if name in EDITION_FILES:
        return True
    folders = [*EDITION_FOLDERS, *(f"modules/{m.name}" for m in course.modules)]
    folders += [f"tests/{m.name}" for m in course.modules] + [f"milestones/{ms.id}" for ms in course.milestones]
    return any(name.startswith(folder + "/") for folder in folders)


# The student edition's README: the student's guide, kept at the reference's root as this file.
STUDENT_README = "README.student.md"


def course_files(root: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    """The course's files (relative posix paths) that belong in an edition or a grading copy.

    In a git work tree this is what git tracks plus untracked files it does not ignore, so datasets
    downloaded into ignored folders stay behind; elsewhere it is every file. Either way local state,
    history, caches and anything under `skip` (such as the output folder) are left out.
    """
    names = _git_files(root)
    if names is None:
        names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()]
    skip_resolved = [s.resolve() for s in skip]
    chosen = []
    for name in sorted(set(names)):
        parts = name.split("/")
        if any(part in LEFT_OUT_NAMES or part.endswith(LEFT_OUT_SUFFIXES) for part in parts):
            continue
        path = root / name
        if path.is_symlink() or not path.is_file():
            continue
        if any(_inside(path.resolve(), s) for s in skip_resolved):
            continue
        chosen.append(name)
    return chosen


def _git_files(root: Path) -> list[str] | None:
    if shutil.which("git") is None:
        return None
    try:
        inside = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def is_generated(path: Path) -> bool:
    """True for files `tito export` wrote: their first line carries the generated mark."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return exporter.GENERATED_MARK in handle.readline()
    except OSError:
        return False


def student_manifest(text: str) -> str:
    """course.yaml with its `edition:` line saying student; every other line (and comment) kept."""
    new, count = re.subn(r"""^(edition:[ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s#]+)""", r"\1student", text, count=1, flags=re.M)
    if count != 1:
        raise ReleaseError(f"{MANIFEST_NAME}: no top-level 'edition:' line to set to student.")
    return new


STATE_RULES = ("/.tito/*", "!/.tito/starter/")
_STATE_LINES = {".tito", ".tito/", "/.tito", "/.tito/", ".tito/*", "/.tito/*", "!.tito/starter/", "!/.tito/starter/"}


def student_gitignore(text: str | None) -> str:
    """.gitignore that ignores tito's state but keeps the starter copies `tito module reset` needs.

    A plain `.tito/` line would hide `.tito/starter/` from git with no way to bring it back, so the
    first line about `.tito` becomes `/.tito/*` followed by `!/.tito/starter/`.
    """
    kept: list[str] = []
    placed = False
    for line in (text or "").splitlines():
        if line.strip() in _STATE_LINES:
            if not placed:
                kept.extend(STATE_RULES)
                placed = True
            continue
        kept.append(line)
    if not placed:
        kept.extend(STATE_RULES)
    return "\n".join(kept) + "\n"


def _is_module_notebook(course: Course, name: str) -> bool:
    """A module's paired notebook (modules/01_tensor/tensor.ipynb): students make their own."""
    return any(name == f"modules/{m.name}/{m.slug}.ipynb" for m in course.modules)


def _module_id(course: Course, name: str) -> str | None:
    for module in course.modules:
        if name.startswith(f"modules/{module.name}/"):
            return module.id
    return None
