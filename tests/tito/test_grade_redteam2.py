"""Holes an independent red team found in grading (issue 18), each shut by an invariant, not a case.

- A check's own judge sees only values of the reference's form: a judge written as arithmetic on
  the values (a maximum, a mean, `>`) passed NaN, which compares False with everything, so a stub
  returning NaN scored full marks on module 03's initialisation checks.
- A student folder whose name is not UTF-8 stopped the whole class with a traceback before any run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tito.grading.compare import judge, same_form
from tito.grading.declare import Check
from tito.grading.students import shown_name, student_ids


def _lenient(student, reference):
    """A judge in the style of tests/03_layers/grading.py: it compares by arithmetic, and NaN slips by."""
    samples = np.asarray(student["samples"], dtype=np.float64)
    if np.abs(samples).max() > 1.0 or abs(samples.mean()) > 0.1:
        return "out of range"
    return None


JUDGED = Check("draws", "draws uniform samples", 1.0, lambda rng: {}, judge=_lenient)
REFERENCE = {"samples": np.linspace(-0.9, 0.9, 50), "dtype": "float32", "fan_in": np.asarray(7)}


def test_the_lenient_judge_alone_would_pass_nan():
    assert _lenient({"samples": np.full(50, np.nan)}, REFERENCE) is None  # the hole this file closes


@pytest.mark.parametrize(
    "samples",
    [
        np.full(50, np.nan),
        np.r_[np.linspace(-0.9, 0.9, 49), np.inf],
        np.r_[np.zeros(49), -np.inf],
        np.ones(50, dtype=bool),  # booleans cast to numbers by the judge's own asarray
        np.zeros(50, dtype=np.int64),
        np.zeros(49),  # the wrong shape
        np.zeros((50, 1)),
    ],
)
def test_a_judge_never_sees_values_of_another_form(samples):
    student = {**REFERENCE, "samples": samples}
    reason = judge(JUDGED, student, REFERENCE)
    assert reason is not None and reason == same_form(student, REFERENCE)


def test_a_judge_still_judges_values_of_the_reference_form():
    assert judge(JUDGED, {**REFERENCE, "samples": np.linspace(-0.5, 0.5, 50)}, REFERENCE) is None
    assert judge(JUDGED, {**REFERENCE, "samples": np.full(50, 0.95)}, REFERENCE) == "out of range"


def test_nan_is_allowed_where_the_reference_has_some():
    reference = {"samples": np.array([np.nan, 0.5])}
    assert same_form({"samples": np.array([0.1, np.nan])}, reference) is None


def test_text_and_missing_keys_are_form_too():
    assert same_form({"samples": REFERENCE["samples"], "fan_in": np.asarray(7)}, REFERENCE) == "returned no `dtype`"
    assert "not text" in same_form({**REFERENCE, "dtype": np.asarray(1.0)}, REFERENCE)
    assert "text where" in same_form({**REFERENCE, "fan_in": "7"}, REFERENCE)


NOT_UTF8 = [os.fsdecode(b"caf\xe9"), os.fsdecode(b"\xff\xfe"), os.fsdecode(b"\xc3"), "plain", "Jos\u00e9"]


def test_a_folder_name_that_is_not_utf8_is_shown_as_text_every_output_can_hold():
    for name in NOT_UTF8:
        shown = shown_name(name)
        shown.encode("utf-8")  # would raise for a lone surrogate
        assert shown == name or "\ufffd" in shown
    assert len(set(student_ids(NOT_UTF8[:3]))) == 3  # ids keep the names' own bytes apart


def test_a_class_with_a_folder_name_that_is_not_utf8_is_fingerprinted(tmp_path):
    from tito.course import load_course
    from tito.grading.submissions import submission_fingerprint

    course = load_course(Path(__file__).resolve().parents[1] / "fixtures" / "grading" / "course")
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    (folder / "calc.py").write_text("x = 1\n")
    first = submission_fingerprint(folder, list(course.modules), "kit")
    assert first == submission_fingerprint(folder, list(course.modules), "kit")


def test_every_folder_others_may_write_is_cleaned_not_a_fixed_list(tmp_path):
    """/run/lock (1777) was not among the folders cleaned after a run on the user path, so a run's
    files outlived it there. Every folder with write permission for others is found, at any depth
    the walk reaches; a private one is not."""
    from tito.grading.graded_run import remove_files_of, shared_folders

    open_folder, private, nested = tmp_path / "lock", tmp_path / "private", tmp_path / "a" / "b" / "spool"
    for folder in (open_folder, private, nested):
        folder.mkdir(parents=True)
    open_folder.chmod(0o1777)
    nested.chmod(0o777)
    (tmp_path / "link").symlink_to(open_folder)  # links are not followed
    found = shared_folders((str(tmp_path),))
    assert str(open_folder) in found and str(nested) in found
    assert str(private) not in found and str(tmp_path / "link") not in found
    assert "/tmp" in found  # the fixed ones stay
    mine = open_folder / "left-behind"
    mine.write_text("x")
    (nested / "kept").write_text("x")
    owner = os.stat(mine).st_uid
    assert remove_files_of(owner, (str(open_folder),)) == 1 and not mine.exists()
    assert (nested / "kept").exists()  # only the folders named are cleaned


def test_a_folder_the_grader_may_not_enter_is_that_students_row_not_the_class(tmp_path, monkeypatch):
    """A zip can carry a folder of mode 000: as a user other than root, looking into it raised
    PermissionError, and `tito grade` stopped the class before grading anyone. (Root may enter any
    folder, so the denial is simulated.)"""
    from tito.course import load_course
    from tito.grading.students import find_module_file
    from tito.grading.submissions import submission_fingerprint

    course = load_course(Path(__file__).resolve().parents[1] / "fixtures" / "grading" / "course")
    module = course.module("01")
    locked = tmp_path / "locked"
    (locked / "modules" / module.name).mkdir(parents=True)
    (locked / "modules" / module.name / f"{module.slug}.py").write_text("x = 1\n")
    (locked / f"{module.slug}.py").write_text("x = 2\n")
    real = Path.is_file

    def is_file(self):
        if "modules" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    assert find_module_file(locked, module) == locked / f"{module.slug}.py"  # the one it may read
    assert submission_fingerprint(locked, [module], "kit")


REFERENCE_SHAPED = {"mean": np.linspace(0.0, 1.0, 6).reshape(2, 3)}


def _reasons_possible() -> set[str]:
    """Every reason the comparison may give against REFERENCE_SHAPED: nothing the run chose but a count."""
    kinds = ["booleans", "integers", "something else"]
    return (
        {"`mean` is text where the reference has numbers", "`mean` does not have the reference's shape (2, 3)"}
        | {f"`mean` holds {kind} where the reference holds floats" for kind in kinds}
        | {f"`mean` differs from the reference in {n} of 6 entries" for n in range(1, 7)}
        | {"`mean` holds NaN or infinity where the reference holds none"}
    )


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((0, 114, 101, 116, 117, 114, 110, 32, 110)),  # 8 bytes of the reference in a shape
        np.zeros((0, 4_000_000)),
        np.zeros((3, 2)),
        np.zeros(6),
        np.zeros((2, 3), dtype=np.int64),
        np.full((2, 3), np.nan),
        np.zeros((2, 3)),
        "return np.add(a, b)",
    ],
)
def test_a_reason_carries_no_number_the_run_chose_but_a_count(value):
    reason = judge(Check("averages", "", 1.0, lambda rng: {}), {"mean": value}, REFERENCE_SHAPED)
    assert reason in _reasons_possible()
    reason = judge(JUDGED_SHAPED, {"mean": value}, REFERENCE_SHAPED)
    assert reason in _reasons_possible() | {"judged"}


JUDGED_SHAPED = Check("averages", "", 1.0, lambda rng: {}, judge=lambda student, reference: "judged")


SOCKETS = """
import socket, sys
sys.path.insert(0, {root!r})
from tito.grading import seccomp
seccomp.install()
def refused(family, kind=socket.SOCK_STREAM):
    try:
        socket.socket(family, kind).close()
    except PermissionError:
        return True
    return False
a, b = socket.socketpair()
a.sendall(b"local"); print(b.recv(5).decode())
print(refused(socket.AF_INET), refused(socket.AF_INET6), refused(socket.AF_INET, socket.SOCK_DGRAM),
      refused(socket.AF_NETLINK, socket.SOCK_RAW), refused(socket.AF_UNIX))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux's")
def test_a_run_opens_no_network_socket_even_without_bubblewrap():
    """Past the guard on the unprivileged-user path (no network namespace), a module-02 run sent the
    reference calc.py it may read to a listener over TCP. The filter now refuses every socket family
    but AF_UNIX, behind both walls."""
    from tito.grading import seccomp

    if seccomp.platform.machine() not in seccomp.ARCHES:
        pytest.skip("no filter for this architecture")
    root = str(Path(seccomp.__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", SOCKETS.format(root=root)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["local", "True True True True False"]


GREEDY = """
import os, time
for _ in range({children}):
    if os.fork() == 0:
        block = bytearray({each})
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(5)
        os._exit(0)
time.sleep(5)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc")
@pytest.mark.parametrize("children, stopped", [(3, True), (1, False)])
def test_a_run_is_weighed_as_a_whole_not_process_by_process(children, stopped):
    """RLIMIT_AS bounds each process alone: a run forking 3 children of 1.5 GB held 2.4 GB of a 2 GB
    budget (64 processes could hold 128 GB). The grader now weighs all of a run's processes together."""
    from tito.grading.graded_run import Running, run

    code = GREEDY.format(children=children, each=120 * 1024**2)
    outcome = run(
        [sys.executable, "-c", code], env=dict(os.environ), cwd="/", timeout=20, running=Running(), memory=200 * 1024**2
    )
    assert outcome.over_memory is stopped
    assert (outcome.seconds < 4) is stopped  # stopped as soon as it passed the budget, not at its end
