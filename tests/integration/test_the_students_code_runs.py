"""The student's own code is what runs: later modules wrap module 01's operations, never replace them.

Module 05 (autograd) adds the graph and the backward rules around module 01's arithmetic; before
this, it installed forward passes of its own, so a stub or a bug in module 01 went unnoticed by every
test and milestone once module 05 was exported.
"""

from __future__ import annotations

import pytest
from course_copy import copy_course, edit, python, tito

from tito.release import strip_solutions

pytestmark = pytest.mark.slow


@pytest.fixture
def course(tmp_path):
    return copy_course(tmp_path / "course")


def test_with_module_01_stubbed_addition_reaches_module_01s_stub_with_and_without_gradients(course):
    tensor = course / "modules" / "01_tensor" / "tensor.py"
    stubbed, blocks = strip_solutions(tensor.read_text(encoding="utf-8"), "modules/01_tensor/tensor.py", "01")
    assert blocks > 10
    tensor.write_text(stubbed, encoding="utf-8")
    exported = tito(course, "export", "--all")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    code = (
        "import tinytorch\n"
        "from tinytorch import Tensor\n"
        "assert tinytorch.tensor.AUTOGRAD.enabled, 'module 05 is exported and fills the hook'\n"
        "for grad in (False, True):\n"
        "    try:\n"
        "        Tensor([1.0], requires_grad=grad) + Tensor([2.0])\n"
        "    except NotImplementedError as exc:\n"
        "        print(grad, exc)\n"
    )
    result = python(course, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "False TinyTorch 01: implement Tensor.__add__",
        "True TinyTorch 01: implement Tensor.__add__",
    ]


def test_a_wrong_operator_in_module_01_fails_its_tests_and_a_milestone(course):
    line = edit(
        course / "modules" / "01_tensor" / "tensor.py",
        "return Tensor._wrap(self.data + other.data)",
        "return Tensor._wrap(self.data - other.data)",
    )
    assert line > 0
    assert tito(course, "export", "--all").returncode == 0
    tested = tito(course, "test", "01")
    assert tested.returncode == 1, tested.stdout
    assert "tests/01_tensor/" in tested.stdout
    milestone = tito(course, "milestone", "run", "xor", "--quick", "--no-live")
    assert milestone.returncode == 1, milestone.stdout
    assert "training diverged" in milestone.stderr + milestone.stdout


def test_a_planted_bug_is_reported_at_the_students_line(course):
    line = edit(
        course / "modules" / "01_tensor" / "tensor.py",
        "return Tensor._wrap(self.data * other.data)",
        "return Tensor._wrap(self.data * other.dat)",
    )
    completed = tito(course, "module", "complete", "01")
    assert completed.returncode == 1
    assert f"modules/01_tensor/tensor.py:{line}" in completed.stdout + completed.stderr
    assert "tinytorch/tensor.py" not in completed.stdout + completed.stderr
    assert "AttributeError" in completed.stdout
