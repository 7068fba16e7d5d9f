"""The student edition of this repository: no solution survives, and a student can work through it.

The leak search here is written independently of tito/release/leaks.py's own check: it takes every
solution line of every module file in course.yaml and searches every file of the edition for it.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tito import exporter
from tito.cli import app
from tito.course import load_course
from tito.progress_record import completed_ids
from tito.progress_store import ProgressStore
from tito.release import build_student_edition

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = re.compile(r'^\s*raise NotImplementedError\("TinyTorch \d\d: implement [\w.]+"\)$')


def solution_lines(text: str) -> tuple[list[str], list[str]]:
    """(lines inside solution blocks, lines outside them) of a module file."""
    inside, outside, in_block = [], [], False
    for line in text.splitlines():
        if line.strip() == BEGIN:
            in_block = True
        elif line.strip() == END:
            in_block = False
        else:
            (inside if in_block else outside).append(line)
    return inside, outside


def squeeze(line: str) -> str:
    return " ".join(line.split())


@pytest.fixture(scope="module")
def reference():
    return load_course(REPO)


@pytest.fixture(scope="module")
def edition(reference, tmp_path_factory):
    """The edition without release's own leak check, so the search below is what judges leaks."""
    out = tmp_path_factory.mktemp("release") / "student"
    build_student_edition(reference, out, check_leaks=False)
    return out


def test_no_line_of_any_reference_solution_appears_anywhere_in_the_edition(reference, edition):
    secrets, shown = set(), set()
    for module in reference.modules:
        if module.source.is_file():
            inside, outside = solution_lines(module.source.read_text(encoding="utf-8"))
            secrets.update(squeeze(line) for line in inside)
            shown.update(squeeze(line) for line in outside)
    # Non-trivial: long enough to say something, and not also written outside the blocks.
    searched = {line for line in secrets if len(line.replace(" ", "")) >= 12 and line not in shown}
    assert len(searched) >= 50, "too few solution lines to make this search mean something"
    found = []
    for path in edition.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = squeeze(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(edition)}: {line}" for line in searched if line in text]
    assert found == []


def test_the_edition_has_no_state_history_caches_or_generated_code(reference, edition):
    names = {p.relative_to(edition).as_posix() for p in edition.rglob("*")}
    assert not [n for n in names if n.startswith(".git/") or n == ".git"]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or ".egg-info" in n]
    assert sorted(n for n in names if n.startswith(".tito/") and "/" in n[6:]) == sorted(
        f".tito/starter/{m.name}" if i == 0 else f".tito/starter/{m.name}/{m.source.name}"
        for m in reference.modules
        if m.source.is_file()
        for i in (0, 1)
    )
    generated = [
        p.relative_to(edition).as_posix()
        for p in edition.rglob("*.py")
        if exporter.GENERATED_MARK in p.read_text(encoding="utf-8").split("\n", 1)[0]
    ]
    assert generated == ["tinytorch/_catalog.py"]
    assert (edition / "tinytorch/_catalog.py").read_text() == (REPO / "tinytorch/_catalog.py").read_text()
    manifest = (edition / "course.yaml").read_text()
    assert manifest == (REPO / "course.yaml").read_text().replace("edition: reference", "edition: student", 1)


def test_signatures_and_docstrings_survive_and_every_block_became_one_stub(reference, edition):
    def faces(text):
        tree = ast.parse(text)
        return [
            (node.name, ast.dump(node.args) if not isinstance(node, ast.ClassDef) else "", ast.get_docstring(node))
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]

    for module in reference.modules:
        if not module.source.is_file():
            continue
        original = module.source.read_text(encoding="utf-8")
        student = (edition / module.source.relative_to(REPO)).read_text(encoding="utf-8")
        assert faces(student) == faces(original), module.name
        stubs = [line for line in student.splitlines() if STUB.match(line)]
        assert len(stubs) == original.count(BEGIN) and BEGIN not in student, module.name


def test_the_package_face_imports_and_names_the_module_to_complete(edition):
    code = "import tinytorch\ntry:\n    tinytorch.Tensor\nexcept ImportError as e:\n    print(e)"
    ran = subprocess.run([sys.executable, "-c", code], cwd=edition, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert "run `tito module complete 01`" in ran.stdout


def paste_solutions(student: str, reference: str) -> str:
    """The student file with the reference's solution blocks written where its stubs are."""
    blocks, block, in_block = [], [], False
    for line in reference.splitlines(keepends=True):
        if line.strip() == BEGIN:
            in_block, block = True, []
        elif line.strip() == END:
            in_block = False
            blocks.append(block)
        elif in_block:
            block.append(line)
    pasted, queue = [], iter(blocks)
    for line in student.splitlines(keepends=True):
        pasted.extend(next(queue) if STUB.match(line.rstrip("\n")) else [line])
    assert next(queue, None) is None
    return "".join(pasted)


@pytest.mark.slow
def test_a_student_completes_module_01_only_once_the_code_is_written(reference, edition, tmp_path, monkeypatch):
    course_root = tmp_path / "student"
    shutil.copytree(edition, course_root)
    monkeypatch.chdir(course_root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    runner = CliRunner()
    course = load_course(course_root)
    tensor = course.module("01").source

    first = runner.invoke(app, ["module", "complete", "01"])
    assert first.exit_code == 1
    assert (
        first.output.startswith("FAILED Tensor.") and " at modules/01_tensor/tensor.py:" in first.output.splitlines()[0]
    )
    assert "NotImplementedError: TinyTorch 01: implement Tensor." in first.output
    assert completed_ids(ProgressStore(course).read()) == set()

    locked = runner.invoke(app, ["module", "complete", "02"])
    assert locked.exit_code != 0
    assert "01_tensor completed first" in locked.output

    tensor.write_text(paste_solutions(tensor.read_text(), reference.module("01").source.read_text()))
    second = runner.invoke(app, ["module", "complete", "01"])
    assert second.exit_code == 0, second.output
    assert completed_ids(ProgressStore(course).read()) == {"01"}

    written = tensor.read_text()
    reset = runner.invoke(app, ["module", "reset", "01", "--yes"])
    assert reset.exit_code == 0, reset.output
    assert tensor.read_text() == (course_root / ".tito/starter/01_tensor/tensor.py").read_text()
    backups = list((course_root / ".tito/backups/01_tensor").iterdir())
    assert [b.read_text() for b in backups] == [written]
