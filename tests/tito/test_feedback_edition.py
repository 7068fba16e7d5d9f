"""Feedback in a released student edition: the first line a student reads names the function to fix.

The edition is released from this repository; module 01 is solved with one planted mistake, or
module 02's activations are written while its Module methods are still stubs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tito.cli import app
from tito.course import load_course
from tito.release import build_student_edition
from tito.release.solutions import find_blocks

REPO = Path(__file__).resolve().parents[2]
STUB = re.compile(r'^(\s*)raise NotImplementedError\("TinyTorch \d\d: implement ([\w.]+)"\)$')


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("feedback") / "student"
    build_student_edition(load_course(REPO), out, check_leaks=False)
    return out


def solved(student: str, reference: str, keep_stubs=()) -> str:
    """The student file with the reference's solutions pasted in, except the stubs of `keep_stubs`."""
    blocks = iter(find_blocks(reference, "reference"))
    lines = reference.splitlines(keepends=True)
    out = []
    for line in student.splitlines(keepends=True):
        match = STUB.match(line.rstrip("\n"))
        if not match:
            out.append(line)
            continue
        block = next(blocks)
        out.extend([line] if match[2] in keep_stubs else lines[block.begin : block.end - 1])
    return "".join(out)


@pytest.fixture
def student(edition, tmp_path, monkeypatch):
    root = tmp_path / "student"
    shutil.copytree(edition, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    from tito import console

    monkeypatch.setattr(console, "_console", None)
    return root


def write_module(root: Path, module_id: str, change=lambda text: text, keep_stubs=()) -> Path:
    module = load_course(root).module(module_id)
    reference = load_course(REPO).module(module_id).source.read_text(encoding="utf-8")
    text = solved(module.source.read_text(encoding="utf-8"), reference, keep_stubs)
    module.source.write_text(change(text), encoding="utf-8")
    return module.source


@pytest.mark.slow
@pytest.mark.parametrize(
    "function, old, new",
    [
        ("Tensor.mean", "np.mean(self.data, axis=axis, keepdims=keepdims)", "np.mean(self.data, keepdims=keepdims)"),
        ("Tensor.sum", "np.sum(self.data, axis=axis, keepdims=keepdims)", "np.sum(self.data, axis=axis)"),
        ("Tensor.__mul__", "self.data * other.data", "self.data * other.data.T"),
    ],
)
def test_a_planted_mistake_is_named_by_the_first_line(student, function, old, new):
    write_module(student, "01", lambda text: text.replace(old, new, 1))
    result = CliRunner().invoke(app, ["test", "01"])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"FAILED {function} at modules/01_tensor/tensor.py:"), result.output
    assert "Traceback" not in result.output
    assert f"Fix {function} at modules/01_tensor/tensor.py:" in " ".join(result.output.split())


@pytest.mark.slow
def test_an_unwritten_module_method_hides_no_activation_test(student):
    write_module(student, "01")
    assert CliRunner().invoke(app, ["module", "complete", "01"]).exit_code == 0
    stubs = ("Module.__setattr__", "Module.named_parameters", "Module.load_state_dict")
    write_module(student, "02", keep_stubs=stubs)
    result = CliRunner().invoke(app, ["test", "02"])
    assert result.exit_code == 1
    assert result.output.startswith("FAILED Module.__setattr__ at modules/02_activations/activations.py:")
    passed = re.search(r"Tests: (\d+) of (\d+) tests passed", result.output)
    assert passed and int(passed[1]) >= 20, result.output  # the activations' own tests ran, and passed
    assert "while importing" not in result.output


@pytest.mark.slow
def test_no_test_file_reaches_the_students_code_at_import(student):
    """Every module exported as it is handed out (all stubs): every test file still imports, so a
    stub fails only the tests that reach it."""
    import subprocess
    import sys

    assert CliRunner().invoke(app, ["export", "--all"]).exit_code == 0
    folders = [str(module.tests) for module in load_course(student).modules]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *folders],
        cwd=student,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stdout[-3000:]
    assert "error" not in collected.stdout.splitlines()[-1]
