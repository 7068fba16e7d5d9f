"""Faults an independent battery found after issue 23 (engineer "faults2"), one test per family.

Each failed before its fix: a 300-letter slug written as a file name too long and echoed whole, a
TITO_COURSE_ROOT that is a symlink loop or too long a name (a traceback), a working folder deleted
under tito ("cannot be read or written", naming nothing), COLUMNS=0 (a table of nothing), and a
failure "placed" in pytest's or tito's own files (`Fix ../../site-packages/_pytest/capture.py:229`).
"""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from tito import console
from tito.progress_store import ProgressStore


def one_line_error(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_a_slug_too_long_for_a_file_name_is_refused_and_shortened(fixture_course, tito, plain_output):
    before = (fixture_course.root / "course.yaml").read_bytes()
    error = one_line_error(tito("dev", "new-module", "03", "a" * 300), code=2)
    assert "is not a slug" in error and "at most 40 characters" in error
    assert "a" * 50 not in error  # echoed shortened
    assert (fixture_course.root / "course.yaml").read_bytes() == before
    assert not list((fixture_course.root / "modules").glob("03_*"))


@pytest.mark.parametrize("kind", ["symlink loop", "name too long", "missing"])
def test_a_garbage_course_root_variable_is_one_line_saying_what_to_do(kind, tmp_path, monkeypatch, tito, plain_output):
    target = {"symlink loop": tmp_path / "loop", "name too long": tmp_path / ("x" * 5000), "missing": tmp_path / "no"}
    if kind == "symlink loop":
        target[kind].symlink_to(target[kind])
    monkeypatch.setenv("TITO_COURSE_ROOT", str(target[kind]))
    error = one_line_error(tito("module", "list"))
    assert "TITO_COURSE_ROOT=" in error and "unset TITO_COURSE_ROOT" in error
    assert len(error) < 300


def test_a_working_folder_deleted_under_tito_is_named(tmp_path, monkeypatch, tito, plain_output):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    gone.rmdir()
    error = one_line_error(tito("module", "list"))
    assert "no longer exists" in error and "cd" in error


@pytest.mark.parametrize("columns", ["0", "1"])
def test_a_terminal_too_narrow_still_shows_the_modules(columns, fixture_course, tito, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(console, "_console", None)
    result = tito("module", "list")
    assert result.exit_code == 0, result.output
    assert "01" in result.output and "Alpha" in result.output
    assert len(result.output.splitlines()) < 20, result.output


@pytest.mark.parametrize(
    "body",
    [
        "import sys\n\ndef test_a():\n    sys.stdin.read()\n",  # raised inside pytest's capture
        "def deeper():\n    return deeper()\n\ndef test_a():\n    deeper()\n",  # raised in tito's call recorder
    ],
    ids=["stdin", "recursion"],
)
def test_a_failure_is_placed_inside_the_course_never_in_pytest_or_tito(body, fixture_course, tito, plain_output):
    text = "import pytest\n\npytestmark = pytest.mark.m01\n\n" + textwrap.dedent(body)
    fixture_course.write("tests/01_alpha/test_zz_place.py", text)
    error = one_line_error(tito("module", "complete", "01"))
    assert "Fix tests/01_alpha/test_zz_place.py:" in error, error
    assert ".." + os.sep not in error and "site-packages" not in error


def package_test(fixture, body: str) -> None:
    text = "import os, threading, time\n\nimport pytest\n\npytestmark = pytest.mark.m01\n\n"
    fixture.write("tests/01_alpha/test_zz_held.py", text + textwrap.dedent(body))


@pytest.mark.parametrize("ending", ["os.abort()", "os.kill(os.getpid(), 9)"])
def test_a_test_process_killed_by_a_signal_names_the_signal_and_the_test(ending, fixture_course, tito, plain_output):
    package_test(fixture_course, f"def test_dies():\n    {ending}\n")
    result = tito("module", "complete", "01")
    error = one_line_error(result)
    assert "killed by SIG" in result.output and "test_zz_held.py::test_dies" in result.output
    assert "Fix tests/01_alpha/test_zz_held.py" in error
    assert "pluggy" not in result.output  # not the dying process's stack dump


def test_a_thread_left_running_ends_the_run_at_once_and_is_not_a_pass(fixture_course, tito, plain_output):
    package_test(
        fixture_course, "def test_leaves_a_thread():\n    threading.Thread(target=time.sleep, args=(600,)).start()\n"
    )
    started = time.monotonic()
    error = one_line_error(tito("module", "complete", "01", "--timeout", "60"))
    assert time.monotonic() - started < 30  # not the time limit
    assert "left 1 thread(s) running" in error and "time limit" not in error
    assert "01" not in ProgressStore(fixture_course.course).read()["modules"]


def test_a_thread_that_ends_soon_after_the_tests_does_not_spoil_a_pass(fixture_course, tito, plain_output):
    package_test(
        fixture_course, "def test_short_thread():\n    threading.Thread(target=time.sleep, args=(0.5,)).start()\n"
    )
    result = tito("module", "complete", "01")
    assert result.exit_code == 0, result.output


def test_an_idle_thread_pool_kept_for_the_process_does_not_spoil_a_pass(fixture_course, tito, plain_output):
    """A pool kept for the whole process (module 09's engine keeps one) is ended by Python at exit."""
    package_test(
        fixture_course,
        "from concurrent.futures import ThreadPoolExecutor\n\nPOOL = ThreadPoolExecutor(2)\n\n\n"
        "def test_uses_the_pool():\n    assert POOL.submit(sum, [1, 2]).result() == 3\n",
    )
    result = tito("module", "complete", "01")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", [["list"], ["path", "mnist"], ["download", "mnist"], ["verify", "mnist"]])
def test_a_data_cache_variable_naming_a_file_is_one_line(command, tmp_path, monkeypatch, tito, plain_output):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file\n")
    monkeypatch.setenv("TINYTORCH_DATA", str(not_a_folder))
    error = one_line_error(tito("data", *command))
    assert "is not a folder" in error and "unset TINYTORCH_DATA" in error
    assert not_a_folder.read_text() == "a file\n"


@pytest.mark.parametrize("submissions", ["", "."])
def test_grading_the_course_itself_is_refused_in_one_line(submissions, fixture_course, tito, plain_output, tmp_path):
    result = tito("grade", submissions, "--out", str(tmp_path / "grades"))
    error = one_line_error(result, code=2)
    assert "holds the course itself" in error
    assert result.output.strip() == error  # no progress bar before a refusal
    assert not (tmp_path / "grades").exists()


def test_a_moved_default_exp_leaves_no_old_package_file_to_pass_the_tests(fixture_course, tito, plain_output):
    fixture_course.export()
    source = fixture_course.module_file("01")
    source.write_text(source.read_text().replace("#| default_exp alpha", "#| default_exp moved.alpha"))
    check = tito("export", "--check")
    assert check.exit_code == 1 and "left over (no module exports it now): tinytorch/alpha.py" in check.output
    result = tito("module", "complete", "01")  # tests/01_alpha imports tinytorch.alpha: the old file is gone
    assert result.exit_code == 1, result.output
    assert not (fixture_course.root / "tinytorch" / "alpha.py").exists()
    assert (fixture_course.root / "tinytorch" / "moved" / "alpha.py").is_file()
    assert "01" not in ProgressStore(fixture_course.course).read()["modules"]


@pytest.mark.parametrize("title", ['"\\e[2J\\e]0;pwned\\a"', '"tab\\tin a title"', "x" * 201])
def test_a_title_with_control_characters_is_refused_not_sent_to_the_terminal(title, fixture_course, tito, plain_output):
    manifest = fixture_course.root / "course.yaml"
    manifest.write_text(manifest.read_text().replace("title: Alpha", f"title: {title}"))
    result = tito("module", "list")
    error = one_line_error(result)
    assert "modules[0].title must be a text of at most 200 printable characters" in error
    assert "\x1b" not in result.output
