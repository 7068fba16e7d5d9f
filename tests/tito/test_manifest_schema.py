"""course.yaml is checked field by field: an unknown key, a wrong type or bytes that are not text
stop every command with one line naming the file, the line and the fix, and a module folder the
manifest lists but the disk lacks is caught by every command, not only by `tito system doctor`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from course_builder import snapshot

from tito.course import CourseError, load_course
from tito.release import build_student_edition

COMMANDS = (
    ("module", "list"),
    ("module", "status"),
    ("module", "start", "01"),
    ("milestone", "list"),
    ("test", "01"),
    ("export", "--all"),
    ("system", "doctor"),
)


@pytest.fixture
def course(fixture_course, plain_output):
    """The fixture course, with wide plain output and doctor's package import (a subprocess) skipped."""
    return fixture_course


def assert_one_line(output: str, *expected: str) -> str:
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def doctor_row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.lstrip("│┃ ").startswith(name + " "))


def manifest_lines(fixture) -> list[str]:
    return (fixture.root / "course.yaml").read_text().splitlines()


def edit_manifest(fixture, old: str, new: str) -> None:
    path = fixture.root / "course.yaml"
    text = path.read_text()
    assert old in text, text
    path.write_text(text.replace(old, new, 1))


# --- bytes that are not a manifest ---------------------------------------------------------------

BINARY = {
    "random bytes": (
        bytes([0x8B, 0x1F, 0x00, 0xFF, 0x10, 0x80]) * 50,
        "is not UTF-8 text (byte 0x8b at line 1, column 1)",
    ),
    "UTF-16": ("schema: 1\nedition: reference\n".encode("utf-16"), "is not UTF-8 text (byte 0xff at line 1, column 1)"),
    "a NUL byte": (b"schema: 1\nedition: reference\x00\n", ":2: not valid YAML (it holds the character U+0000"),
    "empty": (b"", ":1: the manifest is empty"),
    "an impossible date": (
        b"schema: 1\nedition: 2025-02-30\n",
        ":1: not valid YAML (a value cannot be read: day is out of range for month)",
    ),
}


@pytest.mark.parametrize("case", sorted(BINARY))
def test_a_manifest_that_is_not_text_stops_every_command_in_one_line(course, tito, case):
    content, problem = BINARY[case]
    (course.root / "course.yaml").write_bytes(content)
    before = snapshot(course.root)
    for command in COMMANDS:
        result = tito(*command)
        assert result.exit_code == 1, (command, result.output)
        if command == ("system", "doctor"):
            row = doctor_row(result.output, "Course")
            assert "fail" in row and "course.yaml" in row and problem in row, row
            assert "Traceback" not in result.output
        else:
            assert_one_line(result.output, "course.yaml", problem, "Fix course.yaml, then run `tito system doctor`.")
        assert snapshot(course.root) == before, command


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX feature")
def test_a_fifo_in_place_of_the_manifest_is_refused_without_waiting_on_it(course):
    manifest = course.root / "course.yaml"
    manifest.unlink()
    os.mkfifo(manifest)
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE_ROOT"}
    for command in (("module", "status"), ("system", "doctor")):
        done = subprocess.run(
            [sys.executable, "-m", "tito", *command],
            cwd=course.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        assert "course.yaml is a FIFO (named pipe), not a regular file" in done.stdout + done.stderr
    assert stat.S_ISFIFO(manifest.lstat().st_mode)


def test_a_folder_in_place_of_the_manifest_is_named_not_skipped(course, tito):
    """Before, the search walked past it and reported no course at all (or found a course above)."""
    manifest = course.root / "course.yaml"
    manifest.unlink()
    manifest.mkdir()
    result = tito("module", "status")
    assert_one_line(result.output, "course.yaml is a folder, not a regular file")


# --- unknown keys and wrong types ----------------------------------------------------------------

UNKNOWN_KEYS = {
    "require in a module": (
        "  requires:\n  - '01'\n",
        "  require:\n  - '01'\n",
        "modules[1].require is not a known key (did you mean 'requires'?)",
    ),
    "milestone at top level": (
        "milestones:\n",
        "milestone:\n",
        "milestone is not a known key (did you mean 'milestones'?)",
    ),
    "atleast in a target": (
        "at_least: 0.9",
        "atleast: 0.9",
        "milestones[0].target.atleast is not a known key (did you mean 'at_least'?)",
    ),
    "a key like nothing known": (
        "  hours: 1\n",
        "  hours: 1\n  colour: red\n",
        "modules[0].colour is not a known key (the known keys are id, slug, title",
    ),
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_KEYS))
def test_an_unknown_key_is_an_error_naming_it_its_line_and_the_nearest_known_key(course, tito, case):
    old, new, problem = UNKNOWN_KEYS[case]
    edit_manifest(course, old, new)
    wrong = new.strip().splitlines()[-1 if case == "a key like nothing known" else 0].strip()
    line = next(n for n, text in enumerate(manifest_lines(course), start=1) if text.strip() == wrong)
    before = snapshot(course.root)
    for command in (("module", "status"), ("module", "start", "01"), ("system", "doctor")):
        result = tito(*command)
        assert result.exit_code == 1, result.output
        if command == ("system", "doctor"):
            assert problem in doctor_row(result.output, "Course")
        else:
            assert_one_line(result.output, f"course.yaml:{line}: {problem}")
    assert snapshot(course.root) == before


WRONG_TYPES = {
    "hours in words": (
        "  hours: 1\n",
        "  hours: three\n",
        "modules[0].hours must be a finite number >= 0, not 'three'",
    ),
    "timeout zero": (
        "  hours: 1\n",
        "  hours: 1\n  timeout: 0\n",
        "modules[0].timeout must be a number of seconds from 1 to 86400, not 0",
    ),
    "timeout negative": (
        "  hours: 1\n",
        "  hours: 1\n  timeout: -5\n",
        "modules[0].timeout must be a number of seconds from 1 to 86400, not -5",
    ),
    "timeout infinite": (
        "  hours: 1\n",
        "  hours: 1\n  timeout: .inf\n",
        "modules[0].timeout must be a number of seconds from 1 to 86400, not inf",
    ),
    "timeout quoted": (
        "  hours: 1\n",
        "  hours: 1\n  timeout: '10'\n",
        "modules[0].timeout must be a number of seconds from 1 to 86400, not '10'",
    ),
    "requires as text": (
        "  requires:\n  - '01'\n",
        "  requires: '01'\n",
        "modules[1].requires must be a list of quoted ids",
    ),
    "requires an unquoted id": (
        "  requires:\n  - '01'\n",
        "  requires:\n  - 1\n",
        "modules[1].requires[0] must be a quoted id",
    ),
    "year as text": ("year: 1957", "year: '1957'", "milestones[0].year must be a whole number, not '1957'"),
    "target in words": (
        "at_least: 0.9",
        "at_least: high",
        "milestones[0].target.at_least must be a number, not 'high'",
    ),
    "an edition not known": (
        "edition: reference",
        "edition: teacher",
        "edition must be one of reference, student, not 'teacher'",
    ),
    "a non-ASCII slug": ("slug: alpha", "slug: alphä", "modules[0].slug must be a lower-case ASCII Python name"),
    "a boolean title": (
        "title: Alpha",
        "title: yes",
        "modules[0].title must be a text of at most 200 printable characters, no control characters, not True",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_a_field_of_the_wrong_type_is_an_error_with_its_line(course, tito, case):
    old, new, problem = WRONG_TYPES[case]
    edit_manifest(course, old, new)
    result = tito("module", "status")
    assert result.exit_code == 1
    assert_one_line(result.output, problem, "Fix course.yaml, then run `tito system doctor`.")


def test_a_module_may_set_its_time_limit(course):
    edit_manifest(course, "  hours: 1\n", "  hours: 1\n  timeout: 90\n")
    loaded = load_course(course.root)
    assert loaded.module("01").timeout == 90.0
    assert loaded.module("02").timeout is None  # tito's default applies


def test_the_real_manifest_follows_the_schema():
    loaded = load_course()
    assert [m.timeout for m in loaded.modules] == [None] * len(loaded.modules)


def test_a_typo_no_longer_drops_prerequisites_silently(course):
    edit_manifest(course, "  requires:\n  - '01'\n", "  require:\n  - '01'\n")
    with pytest.raises(CourseError, match=r"did you mean 'requires'\?"):
        load_course(course.root)


# --- module folders the manifest lists -----------------------------------------------------------


def test_a_missing_module_folder_stops_every_command_and_doctor_still_reports_it(course, tito):
    import shutil

    shutil.rmtree(course.root / "modules" / "02_beta")
    before = snapshot(course.root)
    for command in COMMANDS[:-1]:
        result = tito(*command)
        assert result.exit_code == 1, (command, result.output)
        assert_one_line(
            result.output,
            "modules/02_beta/ is missing, but course.yaml lists module 02_beta",
            "restore it with `git checkout -- modules/02_beta`",
            "then run `tito system doctor`.",
        )
        assert snapshot(course.root) == before, command
    result = tito("system", "doctor")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    row = doctor_row(result.output, "Manifest")
    assert "fail" in row and "modules/02_beta/beta.py is missing" in row


def test_in_a_student_edition_a_missing_module_folder_is_brought_back_by_reset(course, tmp_path, tito, monkeypatch):
    import shutil

    edition = tmp_path / "student"
    build_student_edition(course.course, edition)
    monkeypatch.chdir(edition)
    shutil.rmtree(edition / "modules" / "02_beta")
    result = tito("module", "status")
    assert result.exit_code == 1
    assert_one_line(
        result.output, "modules/02_beta/ is missing", "bring its starting file back with `tito module reset 02 --yes`"
    )
    reset = tito("module", "reset", "02", "--yes")
    assert reset.exit_code == 0, reset.output
    assert (edition / "modules/02_beta/beta.py").read_bytes() == (
        edition / ".tito/starter/02_beta/beta.py"
    ).read_bytes()
    assert tito("module", "status").exit_code == 0
