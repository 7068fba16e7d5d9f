"""Module 05: a tensor used more than once gets the sum of its gradients (the engine, run_backward).

Every gradient test goes through run_backward, so a bug in it (a gradient that overwrites instead of
adding) fails tests all over the module and the failure ranking blames each operation in turn. These
tests declare what they check, which names run_backward as a suspect; tito then sees the one function
every failing test went through."""

import numpy as np
import pytest

from tinytorch import Tensor

pytestmark = pytest.mark.m05


def leaf(values):
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# Only Add and Sub (given, not written by the student) and an explicit output gradient (no Sum): these
# tests fail only when the engine is wrong, so a wrong backward rule never makes the engine a suspect.
@pytest.mark.checks("run_backward")
def test_a_tensor_used_twice_in_one_operation_gets_both_gradients():
    x = leaf([1.0, -2.0, 3.0])
    (x + x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0], err_msg="x + x: each use adds 1 to x's gradient")


@pytest.mark.checks("run_backward")
def test_a_tensor_used_by_several_paths_gets_the_sum_of_their_gradients():
    x = leaf([0.5, 2.0])
    y = x + x
    (y + y - x).backward(np.ones(2))  # d/dx (2x + 2x - x) = 3
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
