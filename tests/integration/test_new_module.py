"""Adding a module to the real course: `tito dev new-module 10 normalization`, a trivial solution,
`tito module complete 10`, and pytest still collects the whole course and passes the new module.

Everything runs in a scratch copy of the course, in processes of its own, as an author would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from course_copy import copy_course, tito

pytestmark = pytest.mark.slow


def pytest_in(root, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("TITO_COURSE_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_new_module_is_scaffolded_completed_and_tested(tmp_path):
    root = copy_course(tmp_path / "course")
    added = tito(root, "dev", "new-module", "10", "normalization")
    assert added.returncode == 0, added.stdout + added.stderr
    assert "then run `tito module complete 10`." in added.stdout

    source = root / "modules" / "10_normalization" / "normalization.py"
    stub = 'raise NotImplementedError("TinyTorch 10: implement normalization")'
    assert stub in source.read_text()
    source.write_text(source.read_text().replace(stub, "return x"))
    completed = tito(root, "module", "complete", "10")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Module 10_normalization completed." in completed.stdout
    assert "2 of 2 tests passed (inline 1 of 1, package 1 of 1)" in completed.stdout

    tested = pytest_in(root, "-m", "m10", "-q")
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert "2 passed" in tested.stdout
    collected = pytest_in(root, "--collect-only", "-q")
    assert collected.returncode == 0, collected.stdout[-3000:]
    lines = collected.stdout.splitlines()
    assert "modules/10_normalization/normalization.py::test_unit_normalization" in lines
    assert "tests/10_normalization/test_normalization.py::test_normalization_of_three" in lines
    assert any(line.startswith("modules/01_tensor/tensor.py::") for line in lines)  # the rest still collects
    assert tito(root, "export", "--check").returncode == 0
