"""benchmarks/feedback.py, the bug catalogue: the bugs it plants, and how it judges tito's answer."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import feedback  # noqa: E402

SOURCE = """import numpy as np


def given(x):
    return x + 1


def softmax(x, axis=-1):
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)
    ### END SOLUTION


class Linear:
    def forward(self, x):
        ### BEGIN SOLUTION
        return x @ self.weight.T + self.bias
        ### END SOLUTION

    def window(self, x, n):
        ### BEGIN SOLUTION
        return [x[i : i + 2] for i in range(0, n - 1)]
        ### END SOLUTION
"""


def test_it_plants_each_kind_of_bug_inside_solution_blocks_only(tmp_path):
    path = tmp_path / "module.py"
    path.write_text(SOURCE)
    mutants = feedback.plant("01", path, per_function=20)
    kinds = {m.kind for m in mutants}
    assert {"operator", "term", "axis", "keepdims", "transpose", "bound", "arguments"} <= kinds
    assert {m.function for m in mutants} == {"softmax", "Linear.forward", "Linear.window"}  # not `given`
    changes = {m.change for m in mutants}
    assert "x - x.max(axis=axis, keepdims=True) -> x" in changes  # the max-shift dropped
    assert "x @ self.weight.T + self.bias -> x @ self.weight.T" in changes  # the bias dropped
    assert "self.weight.T -> self.weight" in changes  # the transpose dropped
    for mutant in mutants:
        ast.parse(mutant.text)
        assert mutant.text != SOURCE and "def given(x):\n    return x + 1" in mutant.text


def test_located_means_the_first_place_shown_is_inside_the_function_with_the_bug(tmp_path):
    path = tmp_path / "module.py"
    path.write_text(SOURCE)
    mutant = next(m for m in feedback.plant("01", path, 5) if m.function == "Linear.forward")
    inside = "FAILED Linear.forward at modules/01_x/x.py:17: 3 tests\n    AssertionError: wrong\n"
    elsewhere = "FAILED softmax at modules/01_x/x.py:8: 3 tests\nFAILED Linear.forward at modules/01_x/x.py:17\n"
    judged = feedback.judge(mutant, "modules/01_x/x.py", 1, inside, 1.0)
    assert judged.caught and judged.located and judged.groups == 1 and not judged.traceback
    missed = feedback.judge(mutant, "modules/01_x/x.py", 1, elsewhere, 1.0)
    assert missed.caught and not missed.located and missed.groups == 2
    survived = feedback.judge(mutant, "modules/01_x/x.py", 0, "All tests passed", 1.0)
    assert not survived.caught and not survived.located
    raw = feedback.judge(mutant, "modules/01_x/x.py", 1, "Traceback (most recent call last):\n", 1.0)
    assert raw.traceback
