"""A tiny fixture course builder for tito's tests (conftest.py turns it into fixtures).

A fixture course has the real layout (course.yaml, modules/NN_slug/slug.py + README.md,
tests/NN_slug/, milestones/<id>/, tinytorch/__init__.py copied from this repository) but its modules
need no numpy: module NN_slug exports one function, `slug_double(x)`, so a test process starts fast.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import yaml

from tito.course import load_course

REPO = Path(__file__).resolve().parents[2]
SLUGS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota")


def module_text(slug: str, *, body: str | None = None, inline_test: str | None = None) -> str:
    """A percent-format module file exporting `{slug}_double`, with one inline test."""
    body = body if body is not None else "return 2 * x"
    if inline_test is None:
        inline_test = f"def test_unit_{slug}_double():\n    assert {slug}_double(2) == 4\n"
    return (
        "# %% [markdown]\n"
        f"# # {slug.title()}\n"
        "# Run `tito module complete 01` when it works.\n\n"
        "# %%\n"
        f"#| default_exp {slug}\n\n"
        "# %%\n"
        "#| export\n"
        f"def {slug}_double(x):\n"
        '    """Twice x."""\n'
        "    ### BEGIN SOLUTION\n"
        f"    {body}\n"
        "    ### END SOLUTION\n\n"
        "# %%\n"
        f"{inline_test}\n"
        "# %%\n"
        'if __name__ == "__main__":\n'
        f"    test_unit_{slug}_double()\n"
    )


def package_test_text(module_id: str, slug: str, *, marker: bool = True) -> str:
    mark = f"pytestmark = pytest.mark.m{module_id}\n\n" if marker else ""
    return (
        "import pytest\n\n"
        f"from tinytorch.{slug} import {slug}_double\n\n"
        f"{mark}"
        f"def test_{slug}_double_of_three():\n"
        f"    assert {slug}_double(3) == 6\n"
    )


class FixtureCourse:
    """Builds and edits a fixture course under a folder; `.course` loads its manifest afresh."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def course(self):
        return load_course(self.root)

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def module_file(self, module_id: str) -> Path:
        return self.course.module(module_id).source

    def export(self) -> None:
        """Export every module file into the fixture's tinytorch package."""
        from tito import exporter

        course = self.course
        exporter.write_plans(course, exporter.plan_export(course, exporter.exportable(course)))

    def git_commit(self, message: str = "fixture") -> None:
        def git(*args):
            subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True)

        if not (self.root / ".git").exists():
            git("init", "-q")
        git("add", "-A")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)


def build_course(root: Path, count: int = 2, *, edition: str = "reference", milestones: bool = True) -> FixtureCourse:
    """A course of `count` chained modules (each requires the one before) and one milestone."""
    root.mkdir(parents=True, exist_ok=True)
    modules = []
    for index, slug in enumerate(SLUGS[:count], start=1):
        module_id = f"{index:02d}"
        requires = [f"{index - 1:02d}"] if index > 1 else []
        modules.append({"id": module_id, "slug": slug, "title": slug.title(), "requires": requires, "hours": 1})
    manifest = {"schema": 1, "name": "Fixture", "edition": edition, "modules": modules, "milestones": []}
    if milestones:
        manifest["milestones"].append(
            {
                "id": "first",
                "year": 1957,
                "title": "The first milestone",
                "requires": [modules[0]["id"]],
                "target": {"metric": "test_accuracy", "at_least": 0.9},
            }
        )
        (root / "milestones" / "first").mkdir(parents=True, exist_ok=True)
        (root / "milestones" / "first" / "README.md").write_text("# First\n\nRun `tito module status`.\n")
    (root / "course.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    fixture = FixtureCourse(root)
    for module in modules:
        name = f"{module['id']}_{module['slug']}"
        fixture.write(f"modules/{name}/{module['slug']}.py", module_text(module["slug"]))
        fixture.write(
            f"modules/{name}/README.md",
            f"# {module['title']}\n\n## Objectives\n\n- Write `{module['slug']}_double`.\n- Test it.\n\n## Notes\n\nMore.\n",
        )
        fixture.write(f"tests/{name}/test_{module['slug']}.py", package_test_text(module["id"], module["slug"]))
    (root / "tinytorch").mkdir(exist_ok=True)
    shutil.copyfile(REPO / "tinytorch" / "__init__.py", root / "tinytorch" / "__init__.py")
    fixture.write(".gitignore", ".tito/\n__pycache__/\n")
    return fixture


def snapshot(root: Path) -> dict:
    """Every path under `root` with its kind, mode and (for regular files) bytes; caches aside.

    Compare two snapshots to prove a refused command left the course exactly as it was.
    """
    found = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        info = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        found[path.relative_to(root).as_posix()] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), content)
    return found
