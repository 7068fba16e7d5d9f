"""Hostile submissions against `tito grade`: each one scores no more than its honest score, reads and
writes nothing outside its run, and leaves no process behind.

Each attack is one module file of the fixture course (tests/fixtures/grading/submissions/), graded
on that module alone, in the real bubblewrap sandbox.

| attack | what it tries |
|---|---|
| forger | patch pytest's TestReport, write forged records into every descriptor and file it can reach, patch the grader's harness and encoder, replace os._exit, end the process early |
| forger_once | one well-formed forged record per check, down the grader's own channel, then end the process |
| escaper | read the course and another submission by path, /proc/self/root, /proc/1/root, dir_fd with ../, symlinks; write outside by path, dir_fd and sqlite3; start processes (subprocess's _posixsubprocess.fork_exec, a setsid daemon); kill the grader; connect to the grader's machine and the internet |
| bomber | fork 1,000 processes, allocate 20 GB, fill the disk, print 100 MB |
| quoter | send the course's solution code (the prerequisites' reference, visible to the run) back in an error message |
| flooder | write 20 MB into every descriptor, the results channel among them |
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from grading_helpers import grading_course, needs_bwrap, processes_with, reasons, snapshot, submit, submit_files

from tito.grading.submissions import grade_submissions

pytestmark = needs_bwrap

TIMEOUT = 20.0
OTHER_TOKEN = "other-student-token-51c2"


@pytest.fixture
def scene(tmp_path):
    """The course, a folder of submissions with an honest student, and an outside folder with a sentinel."""
    course = grading_course(tmp_path / "course")
    subs = tmp_path / "subs"
    alice = submit_files(subs, "alice", course.module("01").source)
    (alice / "calc.py").write_text((alice / "calc.py").read_text() + f"\n# {OTHER_TOKEN}\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sentinel.txt").write_text("still here")
    places = {
        "COURSE": course.root,
        "OTHER_FILE": alice / "calc.py",
        "OUTSIDE": outside,
        "SENTINEL": outside / "sentinel.txt",
        "MARKER": str(700000 + os.getpid() % 100000),
        "GRADER_PID": os.getpid(),
    }
    return course, subs, places


def _grade(course, subs, out, module="01", **options):
    graded = {}
    grade_submissions(
        course, subs, out, modules=[course.module(module)], timeout=TIMEOUT, workers=2,
        on_student=lambda grade: graded.update({grade.name: grade.modules[0]}), **options,
    )  # fmt: skip
    return graded


def _assert_nothing_left(places, out: Path, before: dict, watched: list[Path]):
    assert snapshot(*watched) == before, "a file outside the runs was written"
    everything = "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert "instructor-secret-7f3a9" not in everything and OTHER_TOKEN not in everything
    assert processes_with(f"sleep {places['MARKER']}") == []
    assert processes_with("/grading/checks.py", ours=True) == []


@pytest.mark.parametrize("attack", ["forger", "forger_once"])
def test_forged_results_score_nothing(tmp_path, scene, attack):
    course, subs, places = scene
    submit(subs, "forger", attack, places)
    watched = [course.root, subs, places["OUTSIDE"]]
    before = snapshot(*watched)

    graded = _grade(course, subs, tmp_path / "grades")

    assert graded["alice"].score == 1.0
    forger = graded["forger"]
    assert forger.score == 0.0 and forger.passed == 0  # its honest score: it computes nothing
    assert set(reasons(forger)) == {"adds", "subtracts", "multiplies", "divides"}
    for why in reasons(forger).values():
        assert why.startswith(("reported twice", "`", "returned no")), why
    _assert_nothing_left(places, tmp_path / "grades", before, watched)


def test_escapes_are_stopped_by_the_sandbox(tmp_path, scene):
    course, subs, places = scene
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    places["PORT"] = listener.getsockname()[1]
    submit(subs, "escaper", "escaper", places)
    watched = [course.root, subs, places["OUTSIDE"]]
    before = snapshot(*watched)

    graded = _grade(course, subs, tmp_path / "grades")

    escaper = reasons(graded["escaper"])
    # RuntimeError: every attempt went as expected (the fixture says so with the type, the one thing it can)
    assert escaper["adds"] == "raised RuntimeError"  # nine reads, none got anything
    assert escaper["subtracts"] == "raised RuntimeError"  # seven writes, none landed
    # Starting processes inside the run is allowed (up to its limit); the grader's pid is out of reach.
    assert escaper["multiplies"] == "raised RuntimeError"
    assert escaper["divides"] == "raised RuntimeError"  # no network
    assert graded["escaper"].score == 0.0
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected to the grader's machine
    listener.close()
    assert sorted(p.name for p in places["OUTSIDE"].iterdir()) == ["sentinel.txt"]
    assert not (course.root / "planted.txt").exists()
    _assert_nothing_left(places, tmp_path / "grades", before, watched)


def test_resource_bombs_hit_the_run_limits_and_leave_nothing(tmp_path, scene):
    course, subs, places = scene
    submit(subs, "bomber", "bomber", places)
    watched = [course.root, subs, places["OUTSIDE"]]
    before = snapshot(*watched)

    graded = _grade(course, subs, tmp_path / "grades", keep_temp=False)

    bomber = graded["bomber"]
    assert bomber.score == pytest.approx(0.8)  # its honest score: sub, mul, div work; add reports
    # RuntimeError, not LookupError: fewer than 64 of 1,000 forks, a MemoryError for 20 GB, at most 64 MB
    # written (the run's scratch tmpfs, not the grader's disk)
    assert reasons(bomber)["adds"] == "raised RuntimeError"
    _assert_nothing_left(places, tmp_path / "grades", before, watched)


def test_course_code_in_an_error_message_is_withheld(tmp_path, scene):
    course, subs, places = scene
    quoter = submit_files(subs, "quoter", course.module("02").source)
    (quoter / "stats.py").write_text(
        (quoter / "stats.py")
        .read_text()
        .replace(
            "    total = 0.0\n",
            "    import tinytorch.calc as calc\n"
            "    code = open(calc.__file__).read().split('# tito line map')[0]  # the code, not its line map\n"
            "    raise RuntimeError(' '.join(code.split())[-120:])\n",
        )
    )

    graded = _grade(course, subs, tmp_path / "grades", module="02")

    assert reasons(graded["quoter"])["averages"] == "raised RuntimeError"  # its type, never its message
    report = (tmp_path / "grades" / "reports" / "quoter.md").read_text()
    assert "np.divide(a, b)" not in report and "np.multiply" not in report
    assert graded["alice"].score == 0.0  # alice sent no stats.py


def test_flooding_the_results_channel_is_cut_off(tmp_path, scene):
    course, subs, places = scene
    flooder = submit_files(subs, "flooder", course.module("01").source)
    (flooder / "calc.py").write_text(
        (flooder / "calc.py")
        .read_text()
        .replace(
            "def add(a, b):",
            "for _fd in range(3, 1024):  # the channel is among them\n"
            "    try:\n"
            "        os.write(_fd, bytes(20 * 2**20))\n"
            "    except OSError:\n"
            "        pass\n\n\n"
            "def add(a, b):",
        )
        .replace("import ctypes\n", "import ctypes\nimport os\n")
    )

    graded = _grade(course, subs, tmp_path / "grades")

    assert graded["flooder"].score == 0.0
    assert set(reasons(graded["flooder"]).values()) == {"not reached: the run sent more than 16 MB of results"}
    assert processes_with("/grading/checks.py", ours=True) == []
