"""A scratch copy of this course (the reference edition), for tests that change a module file.

Commands run in it as separate processes (`python -m tito ...`), so each imports the copy's own
tinytorch and never the one this test process has already imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COPIED = ("course.yaml", "pyproject.toml", "conftest.py", "modules", "tinytorch", "milestones", "datasets")


def copy_course(folder: Path) -> Path:
    """The course's modules, package, milestones, datasets and module tests, copied into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=ignore)
        else:
            shutil.copyfile(source, folder / name)
    for tests in sorted((REPO / "tests").glob("[0-9][0-9]_*")):
        shutil.copytree(tests, folder / "tests" / tests.name, ignore=ignore)
    return folder


def tito(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run tito in the copy as a user would, in a process of its own."""
    env = {**os.environ, "TITO_NO_TUNING": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("TITO_COURSE_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "tito", *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )


def python(root: Path, code: str) -> subprocess.CompletedProcess:
    """Run Python code in the copy, importing the copy's tinytorch."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def edit(path: Path, old: str, new: str) -> int:
    """Replace the one line holding `old` in a module file; return that line's number (1-based)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    (number,) = [i for i, line in enumerate(lines, start=1) if old in line]
    lines[number - 1] = lines[number - 1].replace(old, new)
    path.write_text("".join(lines), encoding="utf-8")
    return number
