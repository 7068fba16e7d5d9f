"""`tito grade`: grades from a folder of submissions, and hostile submissions kept in their copies.

The course graded here is tests/fixtures/grading/course (module 01 calc: four functions and four
tests; module 02 stats: two tests), copied to a temporary folder and exported. Submissions are the
files in tests/fixtures/grading/submissions, with their @...@ names replaced by real paths.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tito import exporter
from tito.cli import app
from tito.course import load_course
from tito.grading import GradingError, find_module_file, grade_submissions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "grading"
TIMEOUT = 20.0  # generous for a loaded machine; only the looping submission ever reaches it


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(FIXTURES / "course", root)
    loaded = load_course(root)
    exporter.write_plans(loaded, exporter.plan_export(loaded, exporter.exportable(loaded)))
    return loaded


@pytest.fixture
def hostile(tmp_path, course):
    """Paths the hostile submissions aim at, and a function that fills in their @...@ names."""
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    places = {
        "SENTINEL": outside / "sentinel.txt",
        "SENTINEL_DIR": outside / "folder",
        "MARKER": outside / "spawned.txt",
        "SUBMISSIONS": tmp_path / "submissions",
        "COURSE": course.root,
    }
    places["SENTINEL"].write_text("still here")
    (outside / "folder" / "inside.txt").write_text("still here too")

    def submit(student: str, fixture: str, *, other_file: Path | None = None) -> Path:
        source = FIXTURES / "submissions" / fixture
        target = places["SUBMISSIONS"] / student
        shutil.copytree(source, target)
        for path in target.rglob("*.py"):
            text = path.read_text()
            for name, value in {**places, "OTHER_FILE": other_file or Path("/nonexistent")}.items():
                text = text.replace(f"@{name}@", str(value))
            path.write_text(text)
        return target

    return places, submit


def submit_reference(submissions: Path, student: str, course, *modules: str) -> None:
    """A complete submission: the reference module files, laid out flat."""
    folder = submissions / student
    folder.mkdir(parents=True)
    for key in modules:
        module = course.module(key)
        shutil.copy(module.source, folder / module.source.name)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_three_students_one_complete_one_partial_one_hostile(tmp_path, course, hostile):
    places, submit = hostile
    submissions = places["SUBMISSIONS"]
    submit_reference(submissions, "alice", course, "01", "02")
    bob = submit("bob", "partial")
    submit("mallory", "mallory", other_file=bob / "calc.py")
    out = tmp_path / "grades"

    grades = grade_submissions(course, submissions, out, timeout=TIMEOUT, workers=2)

    assert read_csv(out / "grades.csv") == [
        ["student", "module", "passed", "failed", "score"],
        ["alice", "01_calc", "4", "0", "1.000"],
        ["alice", "02_stats", "2", "0", "1.000"],
        ["bob", "01_calc", "2", "2", "0.500"],
        ["bob", "02_stats", "0", "2", "0.000"],
        ["mallory", "01_calc", "1", "3", "0.250"],
        ["mallory", "02_stats", "0", "2", "0.000"],
    ]
    # The hostile student's attempts were refused and everything outside its copy survived.
    assert places["SENTINEL"].read_text() == "still here"
    assert (places["SENTINEL_DIR"] / "inside.txt").read_text() == "still here too"
    assert (bob / "calc.py").exists()
    mallory = {item.module.id: item for item in grades[2].modules}
    refused = "\n".join(mallory["01"].refusals)
    assert f"refused os.remove() on {places['SENTINEL']}" in refused
    assert f"refused reading {bob / 'calc.py'}" in refused
    assert f"refused shutil.rmtree() on {places['SENTINEL_DIR']}" in refused
    # One report per student, naming the failing tests and why.
    report = (out / "reports" / "bob.md").read_text()
    assert "`tests/01_calc/check_calc.py::test_mul`: failed: NotImplementedError: TinyTorch 01: implement mul" in report
    assert "check_calc.py::test_add" not in report
    mallory_report = (out / "reports" / "mallory.md").read_text()
    assert "`tests/01_calc/check_calc.py::test_add`: failed: PermissionError: tito grade sandbox refused" in mallory_report
    assert "check_stats.py::test_mean_of_three`: not run" in mallory_report
    assert "pytest stopped early (internal error)" in mallory_report  # its sys.exit on import
    assert "last output: SystemExit: 0" in mallory_report
    assert {p.name for p in (out / "reports").iterdir()} == {"alice.md", "bob.md", "mallory.md"}


def test_loops_exits_and_escape_attempts_are_contained(tmp_path, course, hostile):
    places, submit = hostile
    submissions = places["SUBMISSIONS"]
    submit_reference(submissions, "alice", course, "01")
    submit("loop", "loop")
    submit("exits", "exits")
    submit("escape", "escape", other_file=submissions / "alice" / "calc.py")
    out = tmp_path / "grades"

    grades = grade_submissions(course, submissions, out, modules=[course.module("01")], timeout=4, workers=2)

    by_name = {grade.name: grade.modules[0] for grade in grades}
    assert {name: (item.passed, item.failed) for name, item in by_name.items()} == {
        "alice": (4, 0),
        "escape": (4, 0),  # it behaves once its attempts are refused: the score is its code's
        "exits": (2, 2),
        "loop": (3, 1),  # the tests that passed before the loop still count
    }
    assert any("did not finish within" in note for note in by_name["loop"].notes)
    assert any("ended before finishing (exit code 0)" in note for note in by_name["exits"].notes)
    exits = dict(by_name["exits"].failing())
    assert exits["tests/01_calc/check_calc.py::test_mul"].startswith("failed: SystemExit")
    assert exits["tests/01_calc/check_calc.py::test_div"] == "not run"

    refused = "\n".join(by_name["escape"].refusals)
    for expected in (
        f"os.remove() on {places['SENTINEL']}",
        f"shutil.rmtree() on {places['SENTINEL_DIR']}",
        f"writing {places['SENTINEL']}",
        f"os.rename() on {places['SENTINEL']}",
        f"reading {submissions / 'alice' / 'calc.py'}",
        f"os.listdir() on {submissions}",
        f"reading {course.root / 'course.yaml'}",
        "starting a process",
        "signalling a process",
        "using the network",
        "loading C code through ctypes",
        "changing resource limits",
        "walking the garbage collector",
    ):
        assert expected in refused, expected
    assert re.search(r"os\.listdir\(\) on /\S+/students: another submission's", refused)  # the other copies
    assert places["SENTINEL"].read_text() == "still here"
    assert (places["SENTINEL_DIR"] / "inside.txt").exists()
    assert not places["MARKER"].exists()
    assert (submissions / "alice" / "calc.py").exists()
    assert read_csv(out / "grades.csv")[1:] == [
        ["alice", "01_calc", "4", "0", "1.000"],
        ["escape", "01_calc", "4", "0", "1.000"],
        ["exits", "01_calc", "2", "2", "0.500"],
        ["loop", "01_calc", "3", "1", "0.750"],
    ]


def test_the_grader_leaves_no_temporary_copies(tmp_path, course, monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    submit_reference(tmp_path / "submissions", "alice", course, "01")
    grade_submissions(course, tmp_path / "submissions", tmp_path / "grades", modules=[course.module("01")], timeout=TIMEOUT)
    assert list(temp.iterdir()) == []


def test_module_files_are_found_in_each_layout(tmp_path, course):
    module = course.module("01")
    layouts = {
        "copy": "modules/01_calc/calc.py",
        "folder": "01_calc/calc.py",
        "flat": "calc.py",
        "named": "01_calc.py",
    }
    for student, relative in layouts.items():
        path = tmp_path / student / relative
        path.parent.mkdir(parents=True)
        path.write_text("x = 1\n")
        assert find_module_file(tmp_path / student, module) == path
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "calc.py").symlink_to(tmp_path / "flat" / "calc.py")
    assert find_module_file(tmp_path / "linked", module) is None


def test_grading_refuses_an_output_folder_inside_the_submissions(tmp_path, course):
    submit_reference(tmp_path / "subs", "alice", course, "01")
    with pytest.raises(GradingError, match="inside"):
        grade_submissions(course, tmp_path / "subs", tmp_path / "subs" / "grades")
    with pytest.raises(GradingError, match="no student folders"):
        (tmp_path / "empty").mkdir()
        grade_submissions(course, tmp_path / "empty", tmp_path / "grades")


def test_grade_command_writes_grades_and_prints_a_summary(tmp_path, course, monkeypatch):
    submit_reference(tmp_path / "subs", "alice", course, "01")
    monkeypatch.chdir(course.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    result = CliRunner().invoke(
        app, ["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "grades"), "--module", "01", "--timeout", "20"]
    )
    assert result.exit_code == 0, result.output
    assert "alice" in result.output and "4/4" in result.output
    assert read_csv(tmp_path / "grades" / "grades.csv")[1] == ["alice", "01_calc", "4", "0", "1.000"]


def test_grade_command_usage_errors_exit_2(tmp_path, course, monkeypatch):
    monkeypatch.chdir(course.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    missing = CliRunner().invoke(app, ["grade", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "not a folder" in missing.output
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    unknown = CliRunner().invoke(app, ["grade", str(tmp_path / "subs"), "--module", "99"])
    assert unknown.exit_code == 2
    assert "No module '99'" in unknown.output


@pytest.mark.slow
def test_grading_module_01_of_this_course(tmp_path):
    """The real module 01 under the guard: the reference passes every test and trips no refusal;
    the starter code fails the tests that need a solution (later modules stay unexported)."""
    repo = load_course(Path(__file__).resolve().parents[2])
    submissions = tmp_path / "subs"
    submit_reference(submissions, "reference", repo, "01")
    (submissions / "starter").mkdir()

    grades = grade_submissions(repo, submissions, tmp_path / "grades", modules=[repo.module("01")], timeout=120)

    reference, starter = (grade.modules[0] for grade in grades)
    assert reference.failed == 0 and reference.passed == len(reference.expected) >= 50
    assert reference.refusals == [] and starter.refusals == []
    assert 0 < starter.passed < reference.passed
    reasons = [why for _, why in starter.failing()]
    assert all("NotImplementedError: TinyTorch 01: implement Tensor." in why for why in reasons), reasons[:3]


def test_stopping_the_grader_stops_its_test_processes_and_removes_its_copies(tmp_path, course, hostile):
    places, submit = hostile
    submit("loop", "loop")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE_ROOT"}
    env["TMPDIR"] = str(temp)
    grader = subprocess.Popen(
        [sys.executable, "-m", "tito", "grade", str(places["SUBMISSIONS"]), "--out", str(tmp_path / "grades"),
         "--module", "01", "--timeout", "300"],
        cwd=course.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not list(temp.glob("tito-grade-*/students/loop/01_calc/results.jsonl")):  # the loop is running
        assert time.monotonic() < deadline and grader.poll() is None
        time.sleep(0.1)
    grader.send_signal(signal.SIGTERM)
    grader.wait(timeout=30)
    assert grader.returncode != 0
    assert list(temp.iterdir()) == []
    still_running = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(temp).encode() in cmdline.read_bytes():
                still_running.append(cmdline.parent.name)
        except OSError:
            pass
    assert still_running == []
