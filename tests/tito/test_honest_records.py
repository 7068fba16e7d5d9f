"""No fault is ever recorded as a pass, and a refused command leaves every file as it was.

Each case here failed before: completion without package tests, an endless loop at import, a test
process outliving tito, a module exporting over another module's file, and a byte that is not
UTF-8. Each bad input must exit non-zero with one line saying what is wrong and what to run, no
traceback, and the progress file, the module files and the package byte for byte unchanged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from course_builder import module_text

from tito.process_tree import descendants


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file a refused command must leave alone: module files, the package, the progress record."""
    files = [*root.glob("modules/**/*.py"), *root.glob("tinytorch/**/*.py"), *root.glob(".tito/*.yaml")]
    return {str(path.relative_to(root)): path.read_bytes() for path in files}


def refused(result, *phrases: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.output, result.output


# --- completion needs the package tests ------------------------------------------------------------


def test_complete_refuses_when_the_package_test_folder_is_missing(fixture_course, tito):
    import shutil

    shutil.rmtree(fixture_course.root / "tests" / "01_alpha")
    before = snapshot(fixture_course.root)
    result = tito("module", "complete", "01")
    refused(result, "tests/01_alpha/ is missing", "Nothing was recorded")
    assert snapshot(fixture_course.root) == before
    assert not (fixture_course.root / ".tito" / "progress.yaml").exists()


def test_complete_refuses_when_the_package_tests_collect_nothing(fixture_course, tito):
    fixture_course.write("tests/01_alpha/test_alpha.py", "import pytest\n\npytestmark = pytest.mark.m01\n")
    result = tito("module", "complete", "01")
    refused(result, "(tests/01_alpha/) collected no tests", "nothing was recorded")
    assert not (fixture_course.root / ".tito" / "progress.yaml").exists()


def test_complete_refuses_when_the_module_file_has_no_inline_tests(fixture_course, tito):
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", inline_test="# none yet\n"))
    result = tito("module", "complete", "01")
    refused(result, "has no inline tests", "nothing was recorded")
    assert not (fixture_course.root / ".tito" / "progress.yaml").exists()


def test_complete_records_when_both_kinds_ran_and_passed(fixture_course, tito):
    result = tito("module", "complete", "01")
    assert result.exit_code == 0, result.output
    assert "2 of 2 tests passed (inline 1 of 1, package 1 of 1)" in result.output


# --- a time limit on the whole process tree -------------------------------------------------------


def test_an_endless_loop_at_import_stops_at_the_time_limit(fixture_course, tito):
    looping = module_text("alpha") + "\n# %%\n#| export\nwhile True:\n    pass\n"
    fixture_course.write("modules/01_alpha/alpha.py", looping)
    started = time.perf_counter()
    result = tito("module", "complete", "01", "--timeout", "3")
    assert time.perf_counter() - started < 30
    refused(result, "time limit of 3 s", "endless loop", "imported", "nothing was recorded")
    assert not (fixture_course.root / ".tito" / "progress.yaml").exists()


def test_the_time_limit_can_be_set_for_tito_test_too(fixture_course, tito):
    slow = "def test_unit_alpha_double():\n    import time\n    time.sleep(60)\n"
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", inline_test=slow))
    result = tito("test", "01", "--timeout", "2")
    refused(result, "time limit of 2 s")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's bookkeeping is left


@pytest.mark.skipif(sys.platform != "linux", reason="reads the process tree from /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_to_tito_ends_its_test_processes_and_removes_its_temp_folder(fixture_course, tmp_path, signum):
    slow = "def test_unit_alpha_double():\n    import time\n    time.sleep(120)\n"
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", inline_test=slow))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "NO_COLOR": "1"}
    env.pop("TITO_COURSE_ROOT", None)
    tito = subprocess.Popen(
        [sys.executable, "-m", "tito", "module", "complete", "01"],
        cwd=fixture_course.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    children: list[int] = []
    while time.monotonic() < deadline and not (list(temp.glob("tito-test-*")) and children):
        time.sleep(0.2)
        children = descendants(tito.pid)
    assert children, "the test process started"
    tito.send_signal(signum)
    _, err = tito.communicate(timeout=30)
    assert tito.returncode == 128 + signum, err
    assert "Traceback" not in err and "the test processes were ended" in err
    for _ in range(50):
        if not any(_alive(pid) for pid in children):
            break
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "no test process outlives tito"
    assert not list(temp.glob("tito-test-*")), "tito removes its temporary folder"
    assert not (fixture_course.root / ".tito" / "progress.yaml").exists()


# --- one owner per package file --------------------------------------------------------------------


def test_a_module_may_not_export_over_another_modules_file(fixture_course, tito):
    fixture_course.export()
    text = fixture_course.module_file("01").read_text().replace("#| default_exp alpha", "#| default_exp beta")
    fixture_course.write("modules/01_alpha/alpha.py", text)
    before = snapshot(fixture_course.root)
    for command in (("module", "complete", "01"), ("export", "01"), ("test", "01"), ("export", "--all")):
        result = tito(*command)
        refused(result, "tinytorch/beta.py", "module 02_beta", "01_alpha")
        assert snapshot(fixture_course.root) == before, command
    assert not (fixture_course.root / ".tito" / "progress.yaml").exists()


def test_a_module_may_not_export_over_a_hand_written_file(fixture_course, tito):
    fixture_course.write("tinytorch/gamma.py", "# written by hand\nVALUE = 1\n")
    text = fixture_course.module_file("01").read_text().replace("#| default_exp alpha", "#| default_exp gamma")
    fixture_course.write("modules/01_alpha/alpha.py", text)
    before = snapshot(fixture_course.root)
    refused(tito("export", "01"), "tinytorch/gamma.py was written by hand")
    assert snapshot(fixture_course.root) == before


# --- module files are UTF-8 -------------------------------------------------------------------------


def _latin1(fixture_course) -> None:
    text = module_text("alpha").replace("# # Alpha\n", "# # Alpha\n# caf\xe9\n", 1)
    (fixture_course.root / "modules/01_alpha/alpha.py").write_bytes(text.encode("latin-1"))


@pytest.mark.parametrize(
    "command",
    [("module", "complete", "01"), ("export", "01"), ("test", "01"), ("export", "--check"), ("export", "--all")],
)
def test_a_byte_that_is_not_utf8_is_one_line_naming_file_line_and_column(fixture_course, tito, command):
    _latin1(fixture_course)
    before = snapshot(fixture_course.root)
    result = tito(*command)
    refused(result, "modules/01_alpha/alpha.py:3:6: byte 0xe9 is not UTF-8", "re-save the file as UTF-8")
    assert snapshot(fixture_course.root) == before


def test_module_reset_works_whatever_the_file_holds(fixture_course, tito):
    fixture_course.git_commit()
    _latin1(fixture_course)
    broken = fixture_course.module_file("01").read_bytes()
    result = tito("module", "reset", "01", "--yes")
    assert result.exit_code == 0, result.output
    assert fixture_course.module_file("01").read_text(encoding="utf-8") == module_text("alpha")
    (backup,) = (fixture_course.root / ".tito" / "backups" / "01_alpha").iterdir()
    assert backup.read_bytes() == broken, "the student's bytes are kept, whatever they are"


def test_a_modules_time_limit_can_be_set_in_course_yaml(fixture_course, tito):
    import yaml

    manifest = yaml.safe_load((fixture_course.root / "course.yaml").read_text())
    manifest["modules"][0]["timeout"] = 2
    (fixture_course.root / "course.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    slow = "def test_unit_alpha_double():\n    import time\n    time.sleep(60)\n"
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", inline_test=slow))
    refused(tito("module", "complete", "01"), "time limit of 2 s", "endless loop")
    assert tito("module", "complete", "02").exit_code == 0, "module 02 keeps the default limit"
