"""`tito test` points each failure at the student's function that holds the bug, and groups by it.

A fixture module with two functions the student writes (`scale`, `shift`), a given helper they call
(`_checked`), a given checker the tests use (`check_close`, which fails inside given code), inline
tests and parametrized package tests. Nothing is annotated: the plugin follows the tests' calls.
"""

from __future__ import annotations

import pytest

MODULE = '''# %%
#| default_exp alpha

# %%
#| export
def _checked(value):
    """Given: refuse what is not a number."""
    if not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {value!r}")
    return value


def scale(x, factor):
    """x times factor."""
    ### BEGIN SOLUTION
    return _checked(x * factor)
    ### END SOLUTION


def shift(x, offset):
    """x plus offset."""
    ### BEGIN SOLUTION
    return _checked(x + offset)
    ### END SOLUTION


def check_close(function, args, expected):
    """Given: the checker the tests use; it fails inside given code."""
    got = function(*args)
    assert abs(got - expected) < 1e-9, f"{function.__name__}{args} gave {got}, expected {expected}"


def alpha_double(x):
    return scale(x, 2)


# %%
def test_unit_scale():
    check_close(scale, (3, 2), 6)


def test_unit_shift():
    assert shift(3, 2) == 5
'''

TESTS = """import pytest

from tinytorch.alpha import check_close, scale, shift

pytestmark = pytest.mark.m01


@pytest.mark.parametrize("x, factor", [(1, 2), (3, 4), (0.5, 8)])
def test_scale(x, factor):
    assert scale(x, factor) == x * factor


@pytest.mark.parametrize("x, offset", [(1, 2), (3, -4)])
def test_shift(x, offset):
    check_close(shift, (x, offset), x + offset)


def test_shift_of_a_scaled_value():
    assert shift(scale(2, 3), 1) == 7
"""


@pytest.fixture
def course(fixture_course, monkeypatch):
    from tito import console

    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.setattr(console, "_console", None)
    fixture_course.write("tests/01_alpha/test_alpha.py", TESTS)
    return fixture_course


def plant(course, *changes) -> None:
    text = MODULE
    for old, new in changes:
        assert text.count(old) == 1
        text = text.replace(old, new)
    course.write("modules/01_alpha/alpha.py", text)


def headers(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]


def test_the_reference_passes(course, tito):
    plant(course)
    assert tito("test", "01").exit_code == 0


def test_one_bug_is_one_group_headed_by_its_function_whichever_test_found_it(course, tito):
    plant(course, ("x + offset", "x - offset"))
    result = tito("test", "01")
    assert result.exit_code == 1
    assert headers(result.output) == ["FAILED shift at modules/01_alpha/alpha.py:20: 4 tests"]
    assert "Fix shift at modules/01_alpha/alpha.py:20 (the first failure above)" in result.output


def test_two_bugs_are_two_groups_each_with_its_own_message_and_parameters(course, tito):
    plant(course, ("x + offset", "x - offset"), ("x * factor)", "x * factor + 1)"))
    result = tito("test", "01", "--all-failures")
    found = headers(result.output)
    assert sorted(found) == [
        "FAILED scale at modules/01_alpha/alpha.py:13: 5 tests",
        "FAILED shift at modules/01_alpha/alpha.py:20: 3 tests",
    ], result.output
    assert "test_scale[3-4]" in result.output and "test_shift[3--4]" in result.output
    assert "scale(3, 2) gave 7, expected 6" in result.output  # scale's group shows its own message
    assert "shift(1, 2) gave -1, expected 3" in result.output  # and shift's its own


def test_a_failure_inside_the_given_checker_names_the_students_function(course, tito):
    plant(course, ("x * factor)", "x * factor * factor)"))
    result = tito("test", "01")
    assert headers(result.output)[0].startswith("FAILED scale at modules/01_alpha/alpha.py:13:")


def test_a_given_helper_raising_for_the_students_mistake_names_the_student_function(course, tito):
    plant(course, ("_checked(x + offset)", "_checked(str(x) + str(offset))"))
    result = tito("test", "01")
    first = headers(result.output)[0]
    assert first.startswith("FAILED shift at modules/01_alpha/alpha.py:23:"), result.output  # the call, not _checked
    assert "TypeError: not a number" in result.output


def test_a_test_may_declare_what_it_checks(course, tito):
    course.write(
        "tests/01_alpha/test_alpha.py",
        TESTS + "\n\n@pytest.mark.checks('scale')\ndef test_declared():\n    assert shift(scale(1, 1), 0) == 2\n",
    )
    plant(course)
    result = tito("test", "01")
    assert headers(result.output) == ["FAILED scale at modules/01_alpha/alpha.py:13: 1 test"]


def test_an_error_while_a_test_file_is_imported_names_the_students_line_and_hides_no_other_file(course, tito):
    course.write(
        "tests/01_alpha/test_at_import.py",
        "import pytest\n\nfrom tinytorch.alpha import scale\n\npytestmark = pytest.mark.m01\n"
        "SCALED = scale(1, 2)\n\n\ndef test_scaled():\n    assert SCALED == 2\n",
    )
    plant(course, ("return _checked(x * factor)", 'raise NotImplementedError("TinyTorch 01: implement scale")'))
    result = tito("test", "01")
    assert result.output.startswith(
        "ERROR scale at modules/01_alpha/alpha.py:16: while importing tests/01_alpha/test_at_import.py\n"
    ), result.output
    assert "Tests: 3 of 8 tests passed" in result.output  # shift's tests ran, and passed
