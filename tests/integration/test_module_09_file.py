"""Module 09's file runs top to bottom in any state, and its fast engine runs the student's kernels."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from course_copy import copy_course, edit, python, tito

from tito.release import strip_solutions

pytestmark = pytest.mark.slow
SPATIAL = "modules/09_spatial/spatial.py"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("m09") / "course")
    assert tito(root, "export", "--all").returncode == 0
    return root


def run_module_file(root):
    env = {**os.environ, "PYTHONPATH": str(root), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, SPATIAL], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_with_every_solution_stubbed_the_file_runs_to_the_end_and_names_what_to_write(course, tmp_path):
    path = course / SPATIAL
    reference = path.read_text(encoding="utf-8")
    try:
        stubbed, blocks = strip_solutions(reference, SPATIAL, "09")
        path.write_text(stubbed, encoding="utf-8")
        result = run_module_file(course)
    finally:
        path.write_text(reference, encoding="utf-8")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    last, names = result.stdout.strip().splitlines()[-2:]
    assert last == "Module 09: 0 of 13 inline tests passed"
    assert names.startswith("Still to write: conv_output_size, conv2d_loops, maxpool2d_loops, im2col, conv2d_forward")
    assert len(names.split(", ")) == blocks == 14


def test_a_transposed_weight_gradient_fails_inline_and_is_named(course):
    path = course / SPATIAL
    reference = path.read_text(encoding="utf-8")
    try:
        edit(
            path,
            "dweight = _weight_from_matrix(cols.transpose(0, 2, 1) @ dout_stack, weight.shape)",
            "dweight = _weight_from_matrix(cols.transpose(0, 2, 1) @ dout_stack, weight.shape).transpose(0, 1, 3, 2)",
        )
        result = run_module_file(course)
    finally:
        path.write_text(reference, encoding="utf-8")
    assert result.returncode == 1
    assert re.search(r"FAILED\s+test_unit_conv_backward", result.stdout)
    assert "Module 09: 10 of 13 inline tests passed" in result.stdout  # the layer's gradcheck fails too


def test_the_reference_passes_every_inline_test(course):
    result = run_module_file(course)
    assert result.returncode == 0, result.stdout[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "Module 09: 13 of 13 inline tests passed"


def test_a_wrong_kernel_makes_the_fast_layers_wrong_too(course):
    path = course / SPATIAL
    reference = path.read_text(encoding="utf-8")
    try:
        edit(path, "        rows += bias", "        rows -= bias")
        assert tito(course, "export", "09").returncode == 0
        check = (
            "import numpy as np\n"
            "from tinytorch.nn import Conv2d\nfrom tinytorch import Tensor\nfrom tinytorch.nn.kernels import conv2d_loops\n"
            "conv = Conv2d(3, 4, 3, padding=1)\n"
            "conv.bias.data[...] = 1.0\n"
            "x = np.random.default_rng(0).standard_normal((8, 3, 6, 6)).astype(np.float32)\n"
            "fast = conv(Tensor(x)).data\n"
            "loops = conv2d_loops(x, conv.weight.data, conv.bias.data, 1, 1)\n"
            "print(float(np.abs(fast - loops).max()))\n"
        )
        result = python(course, check)
    finally:
        path.write_text(reference, encoding="utf-8")
        tito(course, "export", "09")
    assert result.returncode == 0, result.stderr
    assert abs(float(result.stdout) - 2.0) < 1e-5, "the layer adds the bias the way the student's kernel does"
