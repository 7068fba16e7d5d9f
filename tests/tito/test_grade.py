"""`tito grade` on the two-module fixture course: scores, reports, layouts, the command, stopping.

The course is tests/fixtures/grading/course (module 01 calc: four checks worth 1, 1, 1 and 2 points;
module 02 stats: one check). Every run happens in the real bubblewrap sandbox: where bwrap is missing
these tests skip, naming the install command (CI installs it, so they run there).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from grading_helpers import (
    grading_course,
    needs_bwrap,
    processes_with,
    read_csv,
    reasons,
    submit,
    submit_files,
)
from typer.testing import CliRunner

from tito.cli import app
from tito.grading import grader
from tito.grading.errors import GradingError
from tito.grading.grader import grade_students
from tito.grading.students import find_module_file
from tito.grading.submissions import grade_submissions

TIMEOUT = 20.0


@pytest.fixture
def course(tmp_path):
    return grading_course(tmp_path / "course")


@needs_bwrap
def test_a_complete_a_partial_and_a_missing_submission(tmp_path, course):
    subs = tmp_path / "subs"
    submit_files(subs, "alice", course.module("01").source, course.module("02").source)
    submit(subs, "bob", "partial")
    (subs / "carol").mkdir()
    out = tmp_path / "grades"

    grade_submissions(course, subs, out, timeout=TIMEOUT, workers=2)

    assert read_csv(out / "grades.csv") == [
        ["student", "id", "module", "score", "passed", "failed", "status"],
        ["alice", "alice", "01_calc", "1.000", "4", "0", "graded"],
        ["alice", "alice", "02_stats", "1.000", "1", "0", "graded"],
        ["bob", "bob", "01_calc", "0.400", "2", "2", "graded"],  # add and sub, 1 + 1 of 5 points
        ["bob", "bob", "02_stats", "0.000", "0", "1", "graded"],
        ["carol", "carol", "01_calc", "0.000", "0", "4", "graded"],
        ["carol", "carol", "02_stats", "0.000", "0", "1", "graded"],
    ]
    bob = (out / "reports" / "bob.md").read_text()
    assert "## 01_calc: 0.400 (2 of 5 points, 2 of 4 checks passed)" in bob
    assert "- `multiplies`, 1 point (mul(a, b) multiplies): raised NotImplementedError." in bob
    assert "- `divides`, 2 points (div(a, b) divides)" in bob and "`adds`" not in bob
    stub_line = 1 + (subs / "bob" / "calc.py").read_text().splitlines().index(
        '    raise NotImplementedError("TinyTorch 01: implement mul")'
    )
    assert f"raised NotImplementedError. Raised at calc.py:{stub_line}." in bob, (
        "the line of bob's own file, not the package's"
    )
    assert "graded on the reference 01_calc" in bob  # module 02 builds on the reference calc, not bob's
    assert "a mistake costs marks only in the module where it is" in bob
    assert "no stats.py was found in the submission" in bob
    assert "Score: 0.40 of 2 modules." in bob
    assert {p.name for p in (out / "reports").iterdir()} == {"alice.md", "bob.md", "carol.md"}
    assert "TinyTorch 01" not in bob, "no text of the run reaches the report"


@needs_bwrap
def test_a_bug_in_one_module_costs_marks_in_that_module_only(tmp_path, course):
    subs = tmp_path / "subs"
    buggy = submit_files(subs, "dave", course.module("01").source, course.module("02").source)
    (buggy / "calc.py").write_text((buggy / "calc.py").read_text().replace("np.divide(a, b)", "np.divide(b, a)"))

    (dave,) = grade_students(course, [("dave", buggy)], timeout=TIMEOUT)

    assert [round(item.score, 3) for item in dave.modules] == [0.6, 1.0]  # stats divides with the reference calc
    assert reasons(dave.modules[0])["divides"].startswith("`quotient` differs from the reference in ")


@needs_bwrap
def test_the_unchanged_starter_scores_zero_without_running(tmp_path, course):
    release = tmp_path / "edition"
    from tito.release import build_student_edition

    build_student_edition(course, release)
    folder = submit_files(
        tmp_path / "subs",
        "erin",
        release / "modules" / "01_calc" / "calc.py",
        release / "modules" / "02_stats" / "stats.py",
    )
    (folder / "calc.py").write_text(
        (folder / "calc.py").read_text().replace("# %% [markdown]", "# %% [markdown]\n# my notes")
    )

    (erin,) = grade_students(course, [("erin", folder)], timeout=TIMEOUT)

    assert [item.score for item in erin.modules] == [0.0, 0.0]
    assert all(item.seconds == 0 for item in erin.modules)  # no run was started
    assert set(reasons(erin.modules[0]).values()) == {"not graded: every solution block is as the starter left it"}


@needs_bwrap
def test_a_file_that_does_not_export_scores_zero_and_says_why(tmp_path, course):
    folder = submit_files(tmp_path / "subs", "frank", course.module("01").source)
    (folder / "calc.py").write_text((folder / "calc.py").read_text().replace("def div(a, b):", "def div(a, b)"))

    (frank,) = grade_students(course, [("frank", folder)], modules=[course.module("01")], timeout=TIMEOUT)

    (calc,) = frank.modules
    assert calc.score == 0.0 and set(reasons(calc).values()) == {"not graded: the file does not export"}
    (note,) = calc.notes
    assert note.startswith("your file does not export: calc.py:") and "syntax error" in note


@needs_bwrap
def test_a_check_that_hangs_is_stopped_and_the_others_count(tmp_path, course):
    subs = tmp_path / "subs"
    loop, stubborn = submit(subs, "loop", "loop"), submit(subs, "stubborn", "stubborn")

    looped, held = grade_students(
        course, [("loop", loop), ("stubborn", stubborn)], modules=[course.module("01")], timeout=4, workers=2
    )

    assert looped.modules[0].score == pytest.approx(0.6)  # its own 3 s limit stopped div, the run went on
    assert reasons(looped.modules[0])["divides"] == "did not finish within 3 s"
    assert held.modules[0].score == pytest.approx(0.6)  # it swallowed that; the run's limit killed it
    assert reasons(held.modules[0])["divides"] == "not reached: the run was stopped at its time limit"
    assert any("stopped at its time limit" in note for note in held.modules[0].notes)
    assert processes_with("/grading/checks.py", ours=True) == []


def test_module_files_are_found_in_each_layout_and_symlinks_are_not(tmp_path, course):
    module = course.module("01")
    for student, relative in {
        "copy": "modules/01_calc/calc.py",
        "folder": "01_calc/calc.py",
        "flat": "calc.py",
        "named": "01_calc.py",
    }.items():
        path = tmp_path / student / relative
        path.parent.mkdir(parents=True)
        path.write_text("x = 1\n")
        assert find_module_file(tmp_path / student, module) == path
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "calc.py").symlink_to(course.module("01").source)  # the instructor's own file
    (tmp_path / "linked-folder").mkdir()
    (tmp_path / "linked-folder" / "modules").symlink_to(course.root / "modules")
    assert find_module_file(tmp_path / "linked", module) is None
    assert find_module_file(tmp_path / "linked-folder", module) is None


def test_grading_refuses_unusable_folders(tmp_path, course):
    submit_files(tmp_path / "subs", "alice", course.module("01").source)
    with pytest.raises(GradingError, match="inside"):
        grade_submissions(course, tmp_path / "subs", tmp_path / "subs" / "grades")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GradingError, match="no student folders"):
        grade_submissions(course, tmp_path / "empty", tmp_path / "grades")


@needs_bwrap
def test_grade_command_writes_grades_and_prints_a_summary(tmp_path, course, monkeypatch):
    submit_files(tmp_path / "subs", "alice", course.module("01").source)
    monkeypatch.chdir(course.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    result = CliRunner().invoke(
        app, ["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "grades"), "--module", "01", "--timeout", "20"]
    )
    assert result.exit_code == 0, result.output
    assert "alice: 01 1.00" in result.output
    assert read_csv(tmp_path / "grades" / "grades.csv")[1] == ["alice", "alice", "01_calc", "1.000", "4", "0", "graded"]


def test_grade_command_usage_errors_exit_2(tmp_path, course, monkeypatch):
    monkeypatch.chdir(course.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    missing = CliRunner().invoke(app, ["grade", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "not a folder" in missing.output
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    unknown = CliRunner().invoke(app, ["grade", str(tmp_path / "subs"), "--module", "99"])
    assert unknown.exit_code == 2 and "No module '99'" in unknown.output


def test_without_bubblewrap_the_grader_refuses_and_says_how_to_install_it(tmp_path, course, monkeypatch):
    submit_files(tmp_path / "subs", "alice", course.module("01").source)
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    (no_bwrap / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(no_bwrap))
    monkeypatch.chdir(course.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    result = CliRunner().invoke(app, ["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "g")])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "apt-get install bubblewrap" in result.stderr
    assert "--no-sandbox" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "g").exists()


def test_no_sandbox_grades_behind_the_guard_and_every_report_says_so(tmp_path, course, monkeypatch):
    # the wall of a grader that is not root, or whose Python other users cannot read (test_grade_user.py: the other)
    monkeypatch.setattr(grader, "wall_without_bubblewrap", lambda: "guard")
    subs = tmp_path / "subs"
    submit_files(subs, "alice", course.module("01").source)
    own = submit_files(subs, "mallory", course.module("01").source)
    (own / "calc.py").write_text(
        (own / "calc.py")
        .read_text()
        .replace("    return np.add(a, b)", "    ctypes.CDLL('libc.so.6')\n    return np.add(a, b)")
    )
    alice, mallory = grade_students(
        course,
        [("alice", subs / "alice"), ("mallory", own)],
        modules=[course.module("01")],
        timeout=TIMEOUT,
        sandbox=False,
    )

    for grade in (alice, mallory):
        assert "graded WITHOUT the bubblewrap sandbox" in grade.modules[0].notes[0]
    assert alice.modules[0].score == 1.0 and alice.modules[0].refusals == 0  # the course's own ctypes call
    assert mallory.modules[0].score == pytest.approx(0.8)
    assert mallory.modules[0].refusals == 1
    ctypes_line = 1 + (own / "calc.py").read_text().splitlines().index("    ctypes.CDLL('libc.so.6')")
    assert [r.where for r in mallory.modules[0].results if not r.passed] == [f"calc.py:{ctypes_line}"]


@needs_bwrap
def test_stopping_the_grader_stops_its_runs_and_removes_its_copies(tmp_path, course):
    submit(tmp_path / "subs", "stubborn", "stubborn")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE_ROOT"}
    env["TMPDIR"] = str(temp)
    grader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tito",
            "grade",
            str(tmp_path / "subs"),
            "--out",
            str(tmp_path / "grades"),
            "--module",
            "01",
            "--timeout",
            "300",
        ],
        cwd=course.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not list(temp.glob("tito-grade-*/runs/stubborn-*/01_calc/package")):  # the run has started
        assert time.monotonic() < deadline and grader.poll() is None
        time.sleep(0.1)
    time.sleep(1.0)
    grader.send_signal(signal.SIGTERM)
    grader.wait(timeout=30)
    assert grader.returncode != 0
    assert list(temp.iterdir()) == []
    assert processes_with(str(temp)) == [] and processes_with("/grading/checks.py", ours=True) == []
