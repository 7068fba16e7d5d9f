"""The test runner: a pytest subprocess in the course root, read back from a JSON report."""

from __future__ import annotations

import shutil
import subprocess
import sys

from course_builder import REPO, module_text, package_test_text

from tito.testing import run_module_tests


def run(fixture, module_id="01", **options):
    course = fixture.course
    return run_module_tests(course, course.module(module_id), **options)


def test_a_passing_module_counts_its_inline_and_package_tests(fixture_course):
    fixture_course.export()
    report = run(fixture_course)
    assert (report.passed, report.failed, report.skipped, report.errors) == (2, 0, 0, 0)
    assert (report.inline, report.package) == (1, 1)
    assert report.ok and report.problem() is None
    assert report.seconds > 0


def test_a_failing_test_is_reported_with_its_id_and_assertion(fixture_course):
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", body="return 3 * x"))
    fixture_course.export()
    report = run(fixture_course)
    assert (report.passed, report.failed) == (0, 2)
    assert not report.ok
    failures = {failure.test_id: failure for failure in report.failures}
    inline = failures["modules/01_alpha/alpha.py::test_unit_alpha_double"]
    assert "assert 6 == 4" in inline.message and inline.exception == "AssertionError" and inline.kind == "inline"
    package = failures["tests/01_alpha/test_alpha.py::test_alpha_double_of_three"]
    assert "assert 9 == 6" in package.message and package.kind == "package"
    assert package.function == "alpha_double" and inline.function == "alpha_double", "both point to the function"
    assert package.where == "modules/01_alpha/alpha.py:10", "a wrong value checked in a test points to its function"


def test_an_exception_in_the_students_code_points_at_their_line_not_the_package(fixture_course):
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", body="return 2 * undefined_name"))
    assert fixture_course.module_file("01").read_text().splitlines()[12].strip() == "return 2 * undefined_name"
    fixture_course.export()
    report = run(fixture_course)
    assert {(f.kind, f.exception, f.where) for f in report.failures} == {
        ("inline", "NameError", "modules/01_alpha/alpha.py:13"),
        ("package", "NameError", "modules/01_alpha/alpha.py:13"),  # raised in tinytorch/alpha.py, mapped
    }
    assert report.problem() == "2 failed in the tests of 01_alpha"


def test_a_module_with_no_tests_is_not_ok(fixture_course):
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", inline_test="# no tests yet\n"))
    fixture_course.write("tests/01_alpha/test_alpha.py", "# no tests yet\n")
    fixture_course.export()
    report = run(fixture_course)
    assert report.passed == 0 and report.failed == 0
    assert not report.ok
    assert "no tests ran" in report.problem()


def test_a_package_test_without_the_module_marker_is_an_error(fixture_course):
    fixture_course.write("tests/01_alpha/test_alpha.py", package_test_text("01", "alpha", marker=False))
    fixture_course.export()
    report = run(fixture_course)
    assert report.passed == 2 and report.errors == 1 and not report.ok
    (failure,) = report.failures
    assert failure.test_id == "tests/01_alpha/test_alpha.py::test_alpha_double_of_three"
    assert "pytestmark = pytest.mark.m01" in failure.message


def test_a_collection_error_is_reported(fixture_course):
    fixture_course.write("tests/01_alpha/test_broken.py", "import pytest\npytestmark = pytest.mark.m01\ndef test_x(:\n")
    fixture_course.export()
    report = run(fixture_course)
    assert report.errors >= 1 and not report.ok
    assert any("test_broken.py" in failure.test_id for failure in report.failures)


def test_the_tests_import_the_course_trees_tinytorch(fixture_course):
    fixture_course.write(
        "tests/01_alpha/test_where.py",
        "import pathlib, pytest, tinytorch\n"
        "pytestmark = pytest.mark.m01\n"
        "def test_tinytorch_is_the_course_copy():\n"
        "    assert pathlib.Path(tinytorch.__file__).parent == pathlib.Path(__file__).resolve().parents[2] / 'tinytorch'\n",
    )
    fixture_course.export()
    report = run(fixture_course)
    assert report.failures == [] and report.passed == 3


def test_a_timeout_stops_the_test_process(fixture_course):
    slow = "def test_unit_alpha_double():\n    import time\n    time.sleep(60)\n"
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", inline_test=slow))
    fixture_course.export()
    report = run(fixture_course, timeout=3)
    assert report.timed_out and not report.ok
    assert "stopped at the time limit of 3 s" in report.failures[0].message
    assert "endless loop" in report.problem()


def test_extra_args_reach_pytest(fixture_course):
    fixture_course.export()
    report = run(fixture_course, extra_args=("-k", "of_three"))
    assert report.passed == 1 and report.package == 1 and report.inline == 0
    assert report.ok, "a run narrowed by -k need not run both kinds of tests"


def _collect(root, *args):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_plain_pytest_collects_each_module_files_inline_tests_once(fixture_course):
    shutil.copyfile(REPO / "conftest.py", fixture_course.root / "conftest.py")
    fixture_course.export()
    everything = _collect(fixture_course.root, "tests", "modules")
    assert everything.count("modules/01_alpha/alpha.py::test_unit_alpha_double") == 1
    assert "modules/02_beta/beta.py::test_unit_beta_double" in everything
    explicit = _collect(fixture_course.root, "modules/01_alpha/alpha.py", "modules")
    assert explicit.count("modules/01_alpha/alpha.py::test_unit_alpha_double") == 1
    by_marker = _collect(fixture_course.root, "tests", "modules", "-m", "m01")
    assert sorted(by_marker) == [
        "modules/01_alpha/alpha.py::test_unit_alpha_double",
        "tests/01_alpha/test_alpha.py::test_alpha_double_of_three",
    ]
