"""Grading without bubblewrap, as root: each run is an unprivileged user of its own, the audit hook a
second layer only. A submission that switches the hook off still reads, writes, kills and keeps
nothing, and a process it leaves behind is killed with its user."""

from __future__ import annotations

import os

import pytest
from grading_helpers import grading_course, needs_user_path, processes_with, reasons, snapshot, submit, submit_files

from tito.grading import batch
from tito.grading.grader import grade_students

pytestmark = needs_user_path


@pytest.mark.parametrize("hook", ["kept", "removed"])
def test_a_submission_that_gets_past_the_guard_meets_the_user_walls(tmp_path, monkeypatch, hook):
    """With the hook kept, the attempts to switch it off are refused by it; with the hook removed
    (as if a submission had found a way past it), the walls beneath it hold alone."""
    if hook == "removed":
        python = batch.Batch._python
        monkeypatch.setattr(
            batch.Batch,
            "_python",
            staticmethod(lambda job, tool: python({k: v for k, v in job.items() if k != "guard"}, tool)),
        )
    course = grading_course(tmp_path / "course")
    out = tmp_path / "grades"
    out.mkdir()
    places = {
        "COURSE": course.root,
        "OUT": out,
        "MARKER": str(800000 + os.getpid() % 100000),
        "GRADER_PID": os.getpid(),
    }
    subs = tmp_path / "subs"
    alice = submit_files(subs, "alice", course.module("01").source)
    mallory = submit(subs, "mallory", "unwalled", places)
    before = snapshot(course.root, out)

    honest, hostile = grade_students(
        course, [("alice", alice), ("mallory", mallory)], modules=[course.module("01")], timeout=20,
        sandbox=False, hidden=(subs, out),
    )  # fmt: skip

    assert honest.modules[0].score == 1.0
    assert "an unprivileged user of its own" in honest.modules[0].notes[0]
    assert (hostile.modules[0].refusals > 0) == (hook == "kept")  # the hook reads no path object's own code
    assert reasons(hostile.modules[0]) == dict.fromkeys(
        ["adds", "subtracts", "multiplies", "divides"], "raised RuntimeError"
    )
    assert snapshot(course.root, out) == before and not os.path.exists("/etc/tito-planted")
    assert processes_with(f"sleep {places['MARKER']}") == []  # the daemon died with its user
    for folder in ("/tmp", "/dev/shm", "/var/tmp"):  # and its files went with it
        assert not os.path.exists(f"{folder}/tito-left-{places['MARKER']}")
    assert not list((tmp_path).glob("tito-grade-*"))
