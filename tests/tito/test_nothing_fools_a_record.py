"""Issue 23: nothing fools a record or outlives a command. One test (or a few) per numbered failure.

Each failed before its fix: an interrupted test run recorded as a pass, an autograder zip inside the
course copied into the student edition, a second `#| default_exp` accepted, a progress file deleted by
a test silently rebuilt from nothing, daemons outliving tito, reads that never ended, a Windows time
limit that stopped nothing, tracebacks, and the smaller message faults listed in the issue.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tito import process_tree
from tito.progress_store import ProgressError, ProgressStore

PROGRESS = ".tito/progress.yaml"
PACKAGE_TEST = "tests/01_alpha/test_zz_{name}.py"


def extra_test(fixture, name: str, body: str) -> None:
    """Add a package test file to module 01 (after test_alpha.py, so its own test ran first)."""
    text = "import os, subprocess, sys, time\n\nimport pytest\n\npytestmark = pytest.mark.m01\n\n"
    fixture.write(PACKAGE_TEST.format(name=name), text + textwrap.dedent(body))


def one_line_error(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def record(fixture) -> dict:
    return ProgressStore(fixture.course).read()


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- 1. a pass is a whole run ------------------------------------------------------------------------

ENDINGS = {
    "KeyboardInterrupt": "def test_stop():\n    raise KeyboardInterrupt\n",
    "pytest.exit(returncode=0)": 'def test_stop():\n    pytest.exit("bye", returncode=0)\n',
    "session.shouldstop": 'def test_stop(request):\n    request.session.shouldstop = "enough"\n',
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_run_a_test_ended_early_is_not_recorded(fixture_course, tito, ending):
    extra_test(fixture_course, "stop", ENDINGS[ending] + "\n\ndef test_after():\n    assert 2 * 2 == 4\n")
    line = one_line_error(tito("module", "complete", "01"))
    assert "nothing was recorded" in line
    assert "01" not in record(fixture_course)["modules"]


def test_a_test_that_rewrites_tito_report_file_is_refused_without_a_traceback(fixture_course, tito):
    extra_test(
        fixture_course,
        "forge",
        """
        import atexit


        def forge(path):
            with open(path, "w") as handle:
                handle.write('{"tests": [{"id": 1, "kind": [], "outcome": {}}], "errors": 5}')


        def test_forge():  # the report is rewritten after pytest wrote it, as the process exits
            atexit.register(forge, sys.argv[sys.argv.index("--tito-report") + 1])
        """,
    )
    line = one_line_error(tito("module", "complete", "01"))
    assert "nothing was recorded" in line
    assert "01" not in record(fixture_course)["modules"]


# --- 2. a release copies what it knows -----------------------------------------------------------------


def test_release_gradescope_refuses_an_out_inside_the_course(fixture_course, tito):
    line = one_line_error(tito("release", "gradescope", "gs"), code=2)
    assert "inside the course" in line
    assert not (fixture_course.root / "gs").exists()


def test_the_student_edition_leaves_out_what_is_not_on_its_allowlist(make_course, tmp_path):
    from tito.release import build_student_edition

    fixture = make_course("course", count=2)
    fixture.write("gs/autograder.zip", "    return 2 * x\n")  # a solution line, as a zip holds them
    fixture.write(".ci/run", "#!/bin/sh\npytest\n")
    fixture.write("notes/answers.md", "The answer is `return 2 * x`.\n")
    release = build_student_edition(fixture.course, tmp_path / "student")
    held = {p.relative_to(tmp_path / "student").as_posix() for p in (tmp_path / "student").rglob("*") if p.is_file()}
    assert not {name for name in held if name.startswith(("gs/", ".ci/", "notes/"))}
    assert {"gs/autograder.zip", ".ci/run", "notes/answers.md"} <= set(release.unlisted_left_out)


# --- 3. one default_exp per module ----------------------------------------------------------------------


def test_a_second_default_exp_is_refused_in_one_line(fixture_course, tito):
    path = fixture_course.module_file("01")
    path.write_text(path.read_text() + "\n# %%\n#| default_exp other\n")
    line = one_line_error(tito("export", "01"))
    assert "'#| default_exp' appears 2 times" in line
    assert not (fixture_course.root / "tinytorch/other.py").exists()


# --- 4. the state is merged, never rebuilt from nothing --------------------------------------------------


def test_a_progress_file_deleted_by_a_test_is_refused_and_the_held_record_kept(fixture_course, tito):
    assert tito("module", "complete", "01").exit_code == 0
    fixture_course.write(
        "tests/02_beta/test_zz_delete.py",
        "import os\n\nimport pytest\n\npytestmark = pytest.mark.m02\n\n\n"
        "def test_delete():\n    os.remove('.tito/progress.yaml')\n",
    )
    line = one_line_error(tito("module", "complete", "02"))
    assert "it vanished" in line and "tito put back the record it held" in line and "nothing was recorded" in line
    modules = record(fixture_course)["modules"]
    assert modules["01"]["status"] == "completed" and "02" not in modules


def test_a_progress_file_rewritten_without_an_entry_is_refused(fixture_course, tito):
    assert tito("module", "complete", "01").exit_code == 0
    fixture_course.write(
        "tests/02_beta/test_zz_rewrite.py",
        "import pytest\n\npytestmark = pytest.mark.m02\n\n\n"
        "def test_rewrite():\n    with open('.tito/progress.yaml', 'w') as handle:\n"
        "        handle.write('schema: 1\\nmodules: {}\\nmilestones: {}\\nhistory: []\\n')\n",
    )
    line = one_line_error(tito("module", "complete", "02"))
    assert "lost the record of module 01" in line and "tito put back the record it held" in line
    modules = record(fixture_course)["modules"]
    assert modules["01"]["status"] == "completed" and "02" not in modules


@pytest.mark.parametrize("change", ["delete", "rewrite"])
def test_the_store_refuses_to_write_over_a_record_that_lost_what_it_held(fixture_course, tito, change):
    assert tito("module", "complete", "01").exit_code == 0
    store = ProgressStore(fixture_course.course)
    store.read()  # what this command holds
    path = fixture_course.root / PROGRESS
    if change == "delete":
        path.unlink()
    else:
        path.write_text("schema: 1\nmodules: {}\nmilestones: {}\nhistory: []\n")
    with pytest.raises(ProgressError, match="recorded nothing; it put back the record it read"):
        store.record_module_started("02")
    modules = record(fixture_course)["modules"]
    assert modules["01"]["status"] == "completed" and "02" not in modules


# --- 5. every process a command starts ends with it ------------------------------------------------------

DAEMONS = {
    "double fork and setsid": """
        def test_daemon():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    with open("daemon.pid", "w") as handle:
                        handle.write(str(os.getpid()))
                    time.sleep(120)
                os._exit(0)
            for _ in range(200):
                if os.path.exists("daemon.pid") and open("daemon.pid").read():
                    break
                time.sleep(0.01)
        """,
    "Popen in a new session": """
        def test_daemon():
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
            with open("daemon.pid", "w") as handle:
                handle.write(str(child.pid))
        """,
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a subreaper is Linux's")
@pytest.mark.parametrize("kind", sorted(DAEMONS))
def test_a_process_a_passing_test_leaves_behind_ends_with_tito_and_is_named(fixture_course, tito, kind):
    extra_test(fixture_course, "daemon", DAEMONS[kind])
    started = time.monotonic()
    line = one_line_error(tito("test", "01", "--timeout", "30"))
    assert time.monotonic() - started < 25  # tito waited for pytest, not for the daemon's pipes
    assert "left 1 process(es) running" in line and "endless loop" not in line
    pid = int((fixture_course.root / "daemon.pid").read_text())
    assert not pid_alive(pid)


def test_the_time_limit_names_the_test_that_was_running(fixture_course, tito):
    extra_test(fixture_course, "loop", "def test_spins():\n    while True:\n        pass\n")
    line = one_line_error(tito("test", "01", "--timeout", "3"))
    assert "time limit of 3 s while tests/01_alpha/test_zz_loop.py::test_spins ran" in line


def test_a_student_edition_gets_a_student_sized_default_limit(fixture_course):
    from tito.testing import module_timeout

    module = fixture_course.course.module("01")
    assert module_timeout(module, None, "student") == 120
    assert module_timeout(module, None, "reference") == 600
    assert module_timeout(module, 7, "student") == 7


# --- 6. every read is bounded ------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_in_place_of_a_package_file_neither_hangs_export_check_nor_export(fixture_course):
    fixture_course.export()
    target = fixture_course.root / "tinytorch/alpha.py"
    target.unlink()
    os.mkfifo(target)
    for args in (["export", "--check"], ["export", "--all"]):
        done = subprocess.run(
            [sys.executable, "-m", "tito", *args], cwd=fixture_course.root, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def test_a_huge_progress_file_is_refused_at_once_with_its_size(fixture_course, tito):
    path = fixture_course.root / ".tito/progress.yaml"
    path.parent.mkdir()
    path.write_text("schema: 1\nmodules: {}\nmilestones: {}\nhistory: []\n" + "#" * (5 * 1024**2))
    started = time.monotonic()
    line = one_line_error(tito("module", "status"))
    assert time.monotonic() - started < 5
    assert ".tito/progress.yaml is 5.0 MB, more than the 1.0 MB" in line


def test_a_command_that_prints_without_end_costs_only_the_tail(tmp_path):
    script = "import os\nfor _ in range(2000):\n    os.write(1, b'x' * 65536)\nos.write(1, b'END')\n"
    finished = process_tree.run([sys.executable, "-c", script], cwd=tmp_path, env=dict(os.environ), timeout=60)
    assert finished.exit_code == 0 and finished.output.endswith("END")
    assert len(finished.output) <= process_tree.OUTPUT_TAIL_BYTES


# --- 7. Windows: the time limit stops the tree without POSIX groups ------------------------------------------


def test_kill_tree_without_posix_groups_stops_an_endless_child_and_its_children(tmp_path, monkeypatch):
    monkeypatch.setattr(process_tree, "POSIX", False)
    monkeypatch.setattr(process_tree, "LINUX", False)
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(tmp_path / 'child.pid')!r}, 'w').write(str(child.pid))\n"
        "while True:\n    time.sleep(0.01)\n"
    )
    started = time.monotonic()
    finished = process_tree.run([sys.executable, "-c", script], cwd=tmp_path, env=dict(os.environ), timeout=3)
    assert finished.timed_out and time.monotonic() - started < 20
    pid = int((tmp_path / "child.pid").read_text())
    for _ in range(100):
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    assert not pid_alive(pid)


# --- 8. no traceback, one command each -----------------------------------------------------------------------


def test_a_symlink_loop_as_progress_file_is_one_line(fixture_course, tito):
    folder = fixture_course.root / ".tito"
    folder.mkdir()
    (folder / "progress.yaml").symlink_to(folder / "loop")
    (folder / "loop").symlink_to(folder / "progress.yaml")
    assert ".tito/progress.yaml" in one_line_error(tito("module", "status"))


def test_a_huge_module_reference_is_refused_and_shortened(fixture_course, tito):
    line = one_line_error(tito("module", "start", "9" * 10000), code=2)
    assert "No module '999" in line and len(line) < 400


@pytest.mark.parametrize("value", ["inf", "1e308", "nan", "-inf"])
def test_a_time_limit_must_be_a_finite_number_of_seconds(fixture_course, tito, value):
    result = tito("test", "01", "--timeout", value)
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.fixture
def milestone_course(fixture_course, monkeypatch):
    monkeypatch.setenv("TITO_NO_TUNING", "1")
    fixture_course.write(
        "milestones/first/first.py",
        'CONFIG = {"epochs": 1}\n\n\ndef run(config):\n    return {"test_accuracy": 0.95}\n',
    )
    fixture_course.export()
    return fixture_course


@pytest.mark.parametrize(
    "args, words",
    [
        (["--seed", "-1"], "--seed must be a whole number from 0"),
        (["--seed", str(2**64)], "--seed must be a whole number from 0"),
        (["--lr", "inf"], "--lr must be a finite number above 0"),
        (["--lr", "nan"], "--lr must be a finite number above 0"),
        (["--epochs", str(10**30)], "--epochs must be a whole number from 1"),
    ],
)
def test_milestone_options_are_bounded(milestone_course, tito, args, words):
    assert words in one_line_error(tito("milestone", "run", "first", *args), code=2)


def test_a_full_disk_while_keeping_a_run_record_is_one_line(milestone_course, tito, monkeypatch):
    from tito.milestones import rundir

    def full(folder, record):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "metrics.json"))

    monkeypatch.setattr(rundir, "write_metrics", full)
    line = one_line_error(tito("milestone", "run", "first", "--no-live"))
    assert "metrics.json cannot be written (No space left on device)" in line and "nothing was recorded" in line


def test_a_target_metric_the_script_does_not_measure_is_refused(milestone_course, tito):
    manifest = milestone_course.root / "course.yaml"
    manifest.write_text(manifest.read_text().replace("metric: test_accuracy", "metric: f1"))
    line = one_line_error(tito("milestone", "run", "first", "--no-live"))
    assert "f1, which its script does not measure" in line and "try more epochs" not in line


def test_a_garbage_npz_under_data_dir_is_a_data_error(tmp_path):
    from tito.datasets.errors import DataError
    from tito.datasets.loaders import load_tinydigits

    (tmp_path / "tinydigits.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="is not a NumPy archive tito can read"):
        load_tinydigits(tmp_path)


def test_release_student_onto_a_file_system_that_refuses_is_one_line(fixture_course, tito, tmp_path, monkeypatch):
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out"))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    line = one_line_error(tito("release", "student", str(tmp_path / "out")))
    assert "Read-only file system" in line


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_ctrl_c_while_tito_imports_exits_130_quietly(fixture_course, tmp_path):
    ready = tmp_path / "imported"
    code = (
        "import sys\nimport tito.__main__ as entry\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "sys.argv = ['tito', 'module', 'status']\nentry.main()\n"
    )
    env = {**os.environ, "TITO_NO_TUNING": "1"}
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1):
        ready.unlink(missing_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=fixture_course.root, env=env, stderr=subprocess.PIPE, text=True
        )
        while not ready.exists() and process.poll() is None:
            time.sleep(0.001)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert "Traceback" not in stderr, stderr
        assert process.returncode in (130, 0), (delay, process.returncode, stderr)


# --- 9. the smaller faults ----------------------------------------------------------------------------------


def test_duplicate_keys_are_refused_in_the_progress_file_and_the_manifest(fixture_course, tito):
    folder = fixture_course.root / ".tito"
    folder.mkdir()
    (folder / "progress.yaml").write_text("schema: 1\nschema: 1\nmodules: {}\nmilestones: {}\nhistory: []\n")
    assert "written twice" in one_line_error(tito("module", "status"))
    (folder / "progress.yaml").unlink()
    manifest = fixture_course.root / "course.yaml"
    manifest.write_text(manifest.read_text() + "edition: student\n")
    line = one_line_error(tito("module", "status"))
    assert "written twice" in line and line.startswith("Error: course.yaml:")


def test_the_advice_to_restore_the_backup_is_given_only_when_the_backup_is_good(fixture_course, tito):
    folder = fixture_course.root / ".tito"
    folder.mkdir()
    (folder / "progress.yaml").write_text("schema: [\n")
    (folder / "progress.yaml.bak").write_text("schema: [\n")
    assert "cp .tito/progress.yaml.bak" not in one_line_error(tito("module", "status"))
    (folder / "progress.yaml.bak").write_text("schema: 1\nmodules: {}\nmilestones: {}\nhistory: []\n")
    assert "cp .tito/progress.yaml.bak" in one_line_error(tito("module", "status"))


def test_a_nul_byte_in_a_module_file_is_reported_at_its_line(fixture_course, tito):
    path = fixture_course.module_file("01")
    path.write_text(path.read_text().replace("# %%\n#| export", "# %%\nx = 1\x00\n#| export", 1))
    line = one_line_error(tito("export", "01"))
    assert "None" not in line and "NUL byte" in line


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_module_file_that_is_not_a_file_is_named_as_such(fixture_course, tito, kind):
    path = fixture_course.module_file("01")
    path.unlink()
    if kind == "folder":
        path.mkdir()
    elif hasattr(os, "mkfifo"):
        os.mkfifo(path)
    else:
        pytest.skip("FIFOs are POSIX")
    line = one_line_error(tito("module", "complete", "01"))
    assert "could not write" not in line.lower()
    assert ("a folder" if kind == "folder" else "a FIFO") in line


def test_user_data_is_printed_as_text_not_markup(fixture_course, tito, plain_output):
    manifest = fixture_course.root / "course.yaml"
    manifest.write_text(manifest.read_text().replace("title: Alpha", "title: 'root:x:0 [bold]x[/bold]'"))
    result = tito("module", "list")
    assert result.exit_code == 0, result.output
    assert "root:x:0 [bold]x[/bold]" in result.output


def test_paths_in_manifest_errors_are_relative_to_the_course(fixture_course, tito):
    manifest = fixture_course.root / "course.yaml"
    manifest.write_text(manifest.read_text().replace("edition: reference", "edition: teacher"))
    line = one_line_error(tito("module", "status"))
    assert line.startswith("Error: course.yaml:") and str(fixture_course.root) not in line
