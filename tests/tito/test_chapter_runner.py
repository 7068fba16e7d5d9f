"""A module file run as a script: a line per inline test, demonstrations after the tests, then a tally.

One runner (tito/chapter.py) for every module file and for the scaffold of a new one; module 01's
inline tests catch the mistakes a student makes most in it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tito.course import load_course

REPO = Path(__file__).resolve().parents[2]
OWN_RUNNER: set[str] = set()  # every module file ends with the one runner


def run_file(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_a_chapter_prints_a_line_per_test_runs_demos_after_the_tests_and_tallies(tmp_path):
    source = tmp_path / "07_demo" / "demo.py"
    source.parent.mkdir()
    source.write_text(
        "from tito.chapter import demo\n\n"
        "def double(x):\n    return 2 * x\n\n"
        "def half(x):\n    return x + 1\n\n"
        'def unwritten(x):\n    raise NotImplementedError("TinyTorch 07: implement unwritten")\n\n'
        "def show():\n    print('the demonstration ran')\n    unwritten(1)\n\n"
        "if __name__ == '__main__':\n    demo(show)\n\n"
        "def test_unit_double():\n    assert double(2) == 4\n    print('double(2) is 4')\n\n"
        "def test_unit_half():\n    assert half(4) == 2, 'half of 4 is 2'\n\n"
        "def test_unit_unwritten():\n    assert unwritten(1) == 1\n\n"
        "if __name__ == '__main__':\n    from tito.chapter import run_chapter\n\n    run_chapter(globals())\n"
    )
    ran = run_file(source)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert ran.stdout.splitlines() == [
        "PASSED  test_unit_double: double(2) is 4",
        "FAILED  test_unit_half: AssertionError: half of 4 is 2 (line 24)",
        "NOT YET test_unit_unwritten: needs unwritten",
        "the demonstration ran",
        "(show needs unwritten: write it, then run this again)",
        "Module 07: 1 of 3 inline tests passed",
        "Still to write: unwritten",
    ]


def test_every_module_file_ends_with_the_one_runner_and_defers_its_demonstrations():
    for module in load_course(REPO).modules:
        if module.id in OWN_RUNNER:
            continue
        tree = ast.parse(module.source.read_text(encoding="utf-8"))
        mains = [
            node
            for node in tree.body
            if isinstance(node, ast.If)
            and "__name__" in ast.unparse(node.test)
            and "__main__" in ast.unparse(node.test)
        ]
        assert mains, module.name
        assert "run_chapter(globals())" in ast.unparse(mains[-1]), f"{module.name} ends with another runner"
        for block in mains[:-1]:  # a demonstration waits for the tests: demo(f), never f() before them
            for call in (n for n in ast.walk(block) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
                called = tree_function_names(tree)
                assert call.func.id not in called or call.func.id == "demo", (
                    f"{module.name}: {call.func.id}() runs before the inline tests; write demo({call.func.id})"
                )


def tree_function_names(tree: ast.Module) -> set[str]:
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


BUGS_MODULE_01 = {
    "__add__ without as_tensor": (
        "        other = as_tensor(other, like=self)\n        return Tensor._wrap(self.data + other.data)\n",
        "        return Tensor._wrap(self.data + (other.data if isinstance(other, Tensor) else other))\n",
    ),
    "sum ignoring keepdims": (
        "np.sum(self.data, axis=axis, keepdims=keepdims)",
        "np.sum(self.data, axis=axis)",
    ),
    "mean dividing by the whole size": (
        "np.mean(self.data, axis=axis, keepdims=keepdims)",
        "np.sum(self.data, axis=axis, keepdims=keepdims) / self.data.size",
    ),
}


@pytest.mark.parametrize("bug", list(BUGS_MODULE_01))
def test_module_01_inline_tests_catch_its_common_mistakes(bug, tmp_path):
    original, planted = BUGS_MODULE_01[bug]
    text = load_course(REPO).module("01").source.read_text(encoding="utf-8")
    assert text.count(original) == 1
    source = tmp_path / "01_tensor" / "tensor.py"
    source.parent.mkdir()
    source.write_text(text.replace(original, planted), encoding="utf-8")
    ran = run_file(source)
    assert ran.returncode == 1, ran.stdout
    assert "FAILED  test_unit_" in ran.stdout and "Module 01: 5 of 6 inline tests passed" in ran.stdout


def test_the_scaffold_of_a_new_module_uses_the_runner(fixture_course, tito):
    assert tito("dev", "new-module", "03", "gamma").exit_code == 0
    ran = run_file(load_course(fixture_course.root).module("03").source)
    assert ran.returncode == 1
    assert ran.stdout.splitlines() == [
        "NOT YET test_unit_gamma: needs gamma",
        "Module 03: 0 of 1 inline tests passed",
        "Still to write: gamma",
    ]
