"""A broken `.tito/progress.yaml` (or what surrounds it) stops every command with one line, and
changes nothing: 29 ways the state can be damaged, each run through every command that reads it
and one that writes it.

For each case the commands `module status`, `milestone status`, `milestone list`, `system doctor`
and `module start 01` must exit non-zero, print no traceback, name the file and the command that
recovers it, and leave every byte and mode of the course (state, module and package files) as it
was. The FIFO case runs in a real process with a time limit, since a FIFO that is opened blocks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from course_builder import snapshot

STATE = ".tito/progress.yaml"
GOOD_MODULE = (
    "{status: completed, started_at: '2025-01-31T09:00:00Z', completed_at: '2025-01-31T10:00:00Z', "
    "source_hash: 'sha256:ab', tests: {passed: 2, failed: 0, skipped: 0}, seconds: 1.5}"
)
GOOD_RUN = "{at: '2025-01-31T11:00:00Z', achieved: true, metrics: {test_accuracy: 0.95}, seconds: 3.0, run_dir: r}"
GOOD_EVENT = "{at: '2025-01-31T09:00:00Z', event: module_started, module: '01'}"


def record(schema="1", modules=None, milestones=None, history=None) -> bytes:
    """A progress file that is valid unless one part is replaced by a broken one."""
    modules = modules if modules is not None else "{'01': " + GOOD_MODULE + "}"
    milestones = (
        milestones if milestones is not None else "{first: {runs: 1, best: " + GOOD_RUN + ", last: " + GOOD_RUN + "}}"
    )
    history = history if history is not None else "[" + GOOD_EVENT + "]"
    return f"schema: {schema}\nmodules: {modules}\nmilestones: {milestones}\nhistory: {history}\n".encode()


def module(**changes) -> str:
    fields = {
        "status": "completed",
        "started_at": "'2025-01-31T09:00:00Z'",
        "tests": "{passed: 2, failed: 0, skipped: 0}",
        "seconds": "1.5",
    }
    fields.update(changes)
    body = ", ".join(f"{key}: {value}" for key, value in fields.items() if value is not None)
    return "{'01': {" + body + "}}"


def run_entry(**changes) -> str:
    fields = {
        "at": "'2025-01-31T11:00:00Z'",
        "achieved": "true",
        "metrics": "{test_accuracy: 0.95}",
        "seconds": "3.0",
        "run_dir": "r",
    }
    fields.update(changes)
    body = ", ".join(f"{key}: {value}" for key, value in fields.items() if value is not None)
    return "{first: {runs: 1, last: {" + body + "}}}"


MOVE = "`mv {0} {0}.broken`"
RECOVER = "tito has not changed it"

# case: (bytes of progress.yaml, or None for none; what the message must hold)
CONTENT_CASES = {
    "empty file": (b"", "progress.yaml is empty"),
    "binary bytes": (bytes(range(256)) * 4, "is not UTF-8 text (byte 0x80 at line 2, column 118)"),
    "a NUL byte": (
        record().replace(b"schema: 1", b"schema: 1\x00"),
        "is not valid YAML (it holds the character U+0000, which YAML does not allow) at line 1",
    ),
    "UTF-16": (record().decode().encode("utf-16"), "is not UTF-8 text (byte 0xff at line 1, column 1)"),
    "not a mapping": (
        b"just some words\n",
        "the file must be a mapping with schema, modules, milestones and history, not 'just some words'",
    ),
    "a list": (b"- schema\n- modules\n", "the file must be a mapping"),
    "not YAML": (b"schema: 1\nmodules: {'01': [\n", "is not valid YAML"),
    "an impossible date": (
        record(modules=module(started_at="2025-13-45")),
        "is not valid YAML (a value cannot be read: month must be in 1..12)",
    ),
    "wrong schema": (record(schema="0"), "has schema 0; this tito reads schema 1"),
    "newer schema": (record(schema="2"), "has schema 2, newer than this tito understands (1); upgrade tito"),
    "modules not a mapping": (record(modules="[]"), "modules must be a mapping, not []"),
    "module key not a string": (
        record(modules="{1: " + GOOD_MODULE + "}"),
        "modules has the key 1, which must be a quoted id like '01'",
    ),
    "bad status": (
        record(modules=module(status="done")),
        "modules['01'].status must be one of started, completed, not 'done'",
    ),
    "tests missing keys": (record(modules=module(tests="{failed: 0}")), "modules['01'].tests is missing 'passed'"),
    "tests with a non-int": (
        record(modules=module(tests="{passed: two, failed: 0, skipped: 0}")),
        "modules['01'].tests.passed must be a whole number >= 0, not 'two'",
    ),
    "seconds not a number": (
        record(modules=module(seconds="fast")),
        "modules['01'].seconds must be a finite number >= 0, not 'fast'",
    ),
    "started_at not a string": (
        record(modules=module(started_at="5")),
        "modules['01'].started_at must be a quoted time",
    ),
    "completed_at an int": (
        record(modules=module(completed_at="20250131")),
        "modules['01'].completed_at must be a quoted time",
    ),
    "milestone entry not a mapping": (record(milestones="{first: 3}"), "milestones['first'] must be a mapping, not 3"),
    "run without metrics": (
        record(milestones=run_entry(metrics=None)),
        "milestones['first'].last is missing 'metrics'",
    ),
    "metrics not numbers": (
        record(milestones=run_entry(metrics="{test_accuracy: high}")),
        "milestones['first'].last.metrics['test_accuracy'] must be a number, not 'high'",
    ),
    "history not a list": (record(history="{}"), "history must be a list, not {}"),
}


def _progress(root: Path, content: bytes = record()) -> Path:
    path = root / STATE
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return path


def _fifo(root):
    (root / ".tito").mkdir()
    os.mkfifo(root / STATE)
    return "is a FIFO (named pipe), not a regular file", MOVE.format(STATE)


def _folder(root):
    (root / STATE).mkdir(parents=True)
    (root / STATE / "keep.txt").write_text("not tito's")
    return "is a folder, not a regular file", MOVE.format(STATE)


def _symlink_to_folder(root):
    (root / ".tito").mkdir()
    (root / "elsewhere").mkdir()
    (root / STATE).symlink_to(root / "elsewhere")
    return "is a symbolic link to a folder, not a regular file", MOVE.format(STATE)


def _lock_folder(root):
    _progress(root)
    (root / (STATE + ".lock")).mkdir()
    return ".tito/progress.yaml.lock is a folder", MOVE.format(STATE + ".lock")


def _backup_folder(root):
    _progress(root)
    (root / (STATE + ".bak")).mkdir()
    return ".tito/progress.yaml.bak is a folder", MOVE.format(STATE + ".bak")


def _read_only_folder(root):
    _progress(root)
    (root / ".tito").chmod(0o555)
    return ".tito is read-only, so tito cannot record progress in it", "`chmod u+w .tito`"


def _read_only_file(root):
    _progress(root).chmod(0o444)
    return ".tito/progress.yaml is read-only, so tito will not replace it", "`chmod u+w .tito/progress.yaml`"


def _state_folder_a_file(root):
    (root / ".tito").write_text("not a folder\n")
    return ".tito is not a folder, so tito cannot keep its state in it", MOVE.format(".tito")


PLACE_CASES = {
    ".tito a file": _state_folder_a_file,
    "a folder": _folder,
    "a symlink to a folder": _symlink_to_folder,
    "the lock a folder": _lock_folder,
    "the backup a folder": _backup_folder,
    "a read-only .tito": _read_only_folder,
    "a read-only progress.yaml": _read_only_file,
}

COMMANDS = (
    ("module", "status"),
    ("milestone", "status"),
    ("milestone", "list"),
    ("module", "start", "01"),
    ("system", "doctor"),
)


@pytest.fixture
def course(fixture_course, plain_output):
    """The fixture course, with wide plain output and doctor's package import (a subprocess) skipped."""
    yield fixture_course.root
    state = fixture_course.root / ".tito"
    if state.is_dir() and not state.is_symlink():
        state.chmod(0o755)  # so the temporary folder can be removed


def _assert_refused(command, exit_code: int, output: str, problem: str, fix: str) -> None:
    assert exit_code != 0, (command, output)
    assert "Traceback" not in output, output
    if command == ("system", "doctor"):
        assert exit_code == 1
        row = next(line for line in output.splitlines() if line.lstrip("│┃ ").startswith("Progress"))
        assert "fail" in row and problem in row and fix in row, row
        assert "check(s) failed" in output and "Progress" in output.splitlines()[-1]
        return
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ") and problem in lines[0] and fix in lines[0], lines[0]
    assert lines[0].endswith("then run `tito module status`."), lines[0]


def test_the_base_record_of_the_table_is_valid(course, tito):
    """So each case below fails because of the one part it breaks."""
    _progress(course)
    for command in COMMANDS:
        result = tito(*command)
        assert result.exit_code == 0, (command, result.output)


@pytest.mark.parametrize("case", sorted(CONTENT_CASES))
def test_a_damaged_progress_file_stops_every_command_in_one_line_and_stays_as_it_was(course, tito, case):
    content, problem = CONTENT_CASES[case]
    _progress(course, content)
    before = snapshot(course)
    for command in COMMANDS:
        result = tito(*command)
        _assert_refused(command, result.exit_code, result.output, problem, "`tito module status`")
        assert f"{STATE} " in result.output and RECOVER in result.output
        assert snapshot(course) == before, command


@pytest.mark.parametrize("case", sorted(PLACE_CASES))
def test_a_state_path_that_tito_cannot_use_stops_every_command_in_one_line(course, tito, case):
    problem, fix = PLACE_CASES[case](course)
    before = snapshot(course)
    for command in COMMANDS:
        result = tito(*command)
        _assert_refused(command, result.exit_code, result.output, problem, fix)
        assert snapshot(course) == before, command


def test_a_damaged_file_with_a_backup_names_the_copy_to_restore(course, tito):
    _progress(course, b"\xff\xfe")
    (course / (STATE + ".bak")).write_bytes(record())
    result = tito("module", "start", "01")
    assert "restore the last good copy with `cp .tito/progress.yaml.bak .tito/progress.yaml`" in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX feature")
def test_a_fifo_in_place_of_the_progress_file_is_refused_without_waiting_on_it(course):
    problem, fix = _fifo(course)
    before = snapshot(course)
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE_ROOT"}
    for command in COMMANDS:
        done = subprocess.run(
            [sys.executable, "-m", "tito", *command], cwd=course, env=env, capture_output=True, text=True, timeout=60
        )
        _assert_refused(command, done.returncode, done.stdout + done.stderr, problem, fix)
        assert snapshot(course) == before, command


def test_a_milestone_run_stops_before_training_when_its_result_could_not_be_recorded(course, tito):
    problem, fix = _read_only_file(course)
    before = snapshot(course)
    result = tito("milestone", "run", "first", "--quick")
    _assert_refused(("milestone", "run"), result.exit_code, result.output, problem, fix)
    assert not (course / ".tito" / "runs").exists() and snapshot(course) == before


def test_a_record_written_by_an_earlier_tito_with_yaml_anchors_still_reads(course, tito):
    """PyYAML wrote the shared best/last run once, as an anchor and an alias."""
    content = record(milestones="{first: {runs: 1, best: &id001 " + GOOD_RUN + ", last: *id001}}")
    _progress(course, content)
    assert tito("milestone", "status").exit_code == 0
    assert tito("module", "start", "02").exit_code == 0
    assert "best run 2025-01-31T11:00:00Z" in tito("milestone", "status").output


def test_aliases_that_expand_exponentially_are_refused_at_once(course):
    """A "billion laughs": nine levels of nine aliases would be 9**9 values if anything walked them."""
    levels = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, 9)]
    event = "{at: '2025-01-31T09:00:00Z', event: module_started, laughs: {" + ", ".join(levels) + "}}"
    _progress(course, record(history="[" + event + "]"))
    before = snapshot(course)
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE_ROOT"}
    for command in (("module", "status"), ("module", "start", "01")):
        done = subprocess.run(
            [sys.executable, "-m", "tito", *command], cwd=course, env=env, capture_output=True, text=True, timeout=60
        )
        _assert_refused(
            command,
            done.returncode,
            done.stdout + done.stderr,
            "history[0].laughs must be a text, a number",
            "`tito module status`",
        )
    assert snapshot(course) == before
