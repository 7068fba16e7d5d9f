"""`tito module complete` as a student runs it: a real `tito` process in a copy of a fixture course."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import yaml


def tree(root):
    """Every file under root except bytecode caches, as relative paths."""
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_complete_in_a_subprocess_records_and_leaves_no_stray_files(fixture_course, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(fixture_course.root, copy)
    before = tree(copy)
    env = {k: v for k, v in os.environ.items() if k not in ("TITO_COURSE_ROOT", "NO_COLOR", "FORCE_COLOR")}
    result = subprocess.run(
        [sys.executable, "-m", "tito", "module", "complete", "01"],
        cwd=copy / "modules" / "01_alpha",  # tito finds the course root by walking up
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Module 01_alpha completed." in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: plain text
    record = yaml.safe_load((copy / ".tito" / "progress.yaml").read_text())
    assert record["modules"]["01"]["status"] == "completed"
    assert record["modules"]["01"]["tests"]["passed"] == 2
    added = tree(copy) - before
    assert added == {
        ".tito/progress.yaml",
        ".tito/progress.yaml.lock",
        "tinytorch/_catalog.py",
        "tinytorch/alpha.py",
    } - ({".tito/progress.yaml.lock"} - tree(copy))  # filelock may remove its lock file
    assert not (fixture_course.root / ".tito").exists()  # the original course was not touched


def test_complete_of_an_unknown_module_exits_2_in_a_subprocess(fixture_course):
    result = subprocess.run(
        [sys.executable, "-m", "tito", "module", "complete", "99"],
        cwd=fixture_course.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "01_alpha, 02_beta" in result.stderr
