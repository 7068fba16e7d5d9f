"""Hostile submissions against the invariants of `tito grade`, three or more variants per class:
a strict comparison, per-student isolation, linear reading, verdicts only, walls for kernel state,
names, and class-sized operation. One class of students is graded once (module 01 of the fixture
course, in bubblewrap); each test reads its part of the result.
"""

from __future__ import annotations

import os
import signal

import pytest
from grading_helpers import grading_course, needs_bwrap, read_csv, reasons, submit_files

from tito.grading.grader import remove_stale_temp
from tito.grading.students import find_students
from tito.grading.submissions import grade_submissions

pytestmark = needs_bwrap
HONEST_ADD = "    return np.add(a, b)"


def _verdict_code(expression: str) -> str:
    """A body for add() that raises RuntimeError when `expression` is true and LookupError otherwise:
    an exception's type is all a graded run can say."""
    return f"    import os, ctypes\n    raise RuntimeError() if ({expression}) else LookupError()"


VARIANTS = {
    # 1. full marks for nothing: another kind where the reference has floats
    "bools": HONEST_ADD.replace("np.add(a, b)", "np.ones(6, dtype=bool)"),
    "ints": HONEST_ADD.replace("np.add(a, b)", "np.round(np.add(a, b)).astype(np.int64)"),
    "nans": HONEST_ADD.replace("np.add(a, b)", "np.full(6, np.nan)"),
    "infs": HONEST_ADD.replace("np.add(a, b)", "np.full(6, np.inf)"),
    # 4 and 6. text out of the run: the reference, markup, a chosen class name
    "quoter": "    raise KeyError(open(__file__).read())",
    "ansi": "    E = type('\\x1b[32mPASSED 16/16', (Exception,), {})\n    raise E('<b>[ok](http://x)</b>')",
    "bidi": "    raise ValueError('\\u202eSSAP\\u202c ' * 500)",
    # 5. floods through the records: many refusals and checks into every descriptor
    "flood": "    rec = __import__('tito.grading.channel', fromlist=['x']).encode('refusal', error='z' * 60000, line='x')\n"
    "    for fd in range(3, 30):\n"
    "        try:\n"
    "            [os.write(fd, rec) for _ in range(300)]\n"
    "        except OSError:\n"
    "            pass\n"
    "    return np.add(a, b)",
    # 7 and 8. kernel state the rlimits miss: memfd, SysV shared memory, keyrings, message queues
    "memfd": _verdict_code("all(__import__('ctypes').CDLL(None).syscall(n, b'x', 0) == -1 for n in (319,))"),
    "sysv": _verdict_code("ctypes.CDLL(None).syscall(29, 0, 1 << 30, 0o1000 | 0o600) == -1"),
    "keyring": _verdict_code("ctypes.CDLL(None).syscall(248, b'user', b'k', b'v', 1, -4) == -1"),
    "mqueue": _verdict_code("ctypes.CDLL(None).syscall(240, b'/q', 0o100 | 2, 0o600, None) == -1"),
}
PARSER_BOMBS = {
    # 2 and 3. text that makes parsing, compiling or a regex slow or deep, each under the 2 MB limit
    "nested": "x = " + "(" * 4000 + "1" + ")" * 4000 + "\n",
    "attributes": "if False:\n    y = x" + ".a" * 4500 + "\n",
    "longline": "z = 1" + " " * 20000 + "\n",
    "directive": "# %%\n#| export a" + " " * 9000 + "b\n",
    "brackets": "w = " + "[\n" * 3000 + "]\n" * 3000,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    course = grading_course(root / "course")
    subs = root / "subs"
    source = course.module("01").source
    honest = source.read_text()
    submit_files(subs, "alice", source)
    for name, body in VARIANTS.items():
        folder = submit_files(subs, name, source)
        (folder / "calc.py").write_text(honest.replace(HONEST_ADD, body))
    for name, text in PARSER_BOMBS.items():
        folder = submit_files(subs, name, source)
        (folder / "calc.py").write_text(honest + "\n# %%\n#| export\n" + text)
    for name in ("张伟", "李娜", "José García", "Jose_Garc_a", "n" * 240):
        submit_files(subs, name, source)
    twice = submit_files(subs, "twice", source)
    (twice / "01_calc").mkdir()
    (twice / "01_calc" / "calc.py").write_text(honest)
    broken = submit_files(subs, "broken", source)
    (broken / "calc.py").write_text(honest.replace("def div(a, b):", "def div(a, b)"))
    out = root / "grades"
    kept = {}
    grade_submissions(
        course, subs, out, modules=[course.module("01")], timeout=20, workers=2,
        on_student=lambda grade: kept.update({grade.name: grade.modules[0]}),
    )  # fmt: skip
    return kept, out, course, subs


def test_another_kind_or_nan_or_inf_never_passes_for_a_float(graded):
    kept, *_ = graded
    for name in ("bools", "ints", "nans", "infs"):
        assert kept[name].score == pytest.approx(0.8), name  # add fails, the rest is honest
        assert reasons(kept[name])["adds"].startswith("`sum`"), reasons(kept[name])


def test_no_text_of_a_run_reaches_a_report_only_a_type_from_a_fixed_list(graded):
    kept, out, course, _ = graded
    assert reasons(kept["quoter"])["adds"] == "raised KeyError"
    assert reasons(kept["ansi"])["adds"] == "raised an exception"
    assert reasons(kept["bidi"])["adds"] == "raised ValueError"
    everything = "".join(p.read_text() for p in (out / "reports").iterdir())
    for leaked in ("np.divide", "PASSED", "\x1b", "<b>", "](http", "\u202e", "zzzz"):
        assert leaked not in everything, leaked


def test_a_flood_of_records_costs_nothing_and_says_nothing(graded):
    kept, out, *_ = graded
    assert kept["flood"].error is None and kept["flood"].seconds < 20  # read with limits, within its own budget
    assert kept["flood"].refusals == 0
    assert (out / "reports" / "flood.md").stat().st_size < 4000


def test_kernel_state_outside_the_rlimits_is_denied(graded):
    kept, *_ = graded
    for name in ("memfd", "sysv", "keyring", "mqueue"):
        assert reasons(kept[name])["adds"] == "raised RuntimeError", (name, reasons(kept[name]))


def test_text_built_to_blow_up_a_parser_costs_its_own_row_only(graded):
    kept, *_ = graded
    assert kept["alice"].score == 1.0
    for name in PARSER_BOMBS:
        assert kept[name].error is None and kept[name].score in (0.0, 1.0), name
    assert "longer than 10,000 characters" in reasons(kept["longline"])["adds"]
    assert kept["directive"].score == 0.0 or kept["directive"].score == 1.0


def test_every_folder_keeps_its_own_name_beside_a_unique_safe_id(graded):
    _, out, _, subs = graded
    rows = read_csv(out / "grades.csv")
    assert rows[0] == ["student", "id", "module", "score", "passed", "failed", "status"]
    names = {row[0]: row[1] for row in rows[1:]}
    assert set(names) == {p.name for p in find_students(subs)}
    assert len(set(names.values())) == len(names)  # no two students share an id, so no report either
    assert names["alice"] == "alice" and names["张伟"] != names["李娜"]
    assert names["José García"] != names["Jose_Garc_a"]
    for key in names.values():
        assert len(key) < 80 and (out / "reports" / f"{key}.md").is_file()
    assert all(row[6] == "graded" for row in rows[1:])


def test_two_copies_are_refused_and_a_broken_file_names_itself(graded):
    kept, *_ = graded
    assert reasons(kept["twice"])["adds"] == (
        "not graded: two copies of calc.py (01_calc/calc.py and calc.py): keep one and submit again"
    )
    (note,) = [n for n in kept["broken"].notes if "does not export" in n]
    assert note.startswith("your file does not export: calc.py") and ":None" not in note


def test_resume_keeps_finished_students_and_gives_the_same_grades(graded, tmp_path):
    _, out, course, subs = graded
    before = (out / "grades.csv").read_text()
    (out / "grades.csv").unlink()
    (out / "results" / "alice.json").unlink()  # as if the grader died before alice finished
    seen = []
    grade_submissions(
        course, subs, out, modules=[course.module("01")], timeout=20, workers=2, resume=True,
        on_start=lambda total, kept: seen.append((total, kept)),
    )  # fmt: skip
    students = len(find_students(subs))
    assert seen == [(students, students - 1)]
    rows = lambda text: sorted(line.split(",")[:3] for line in text.splitlines())  # noqa: E731
    assert rows((out / "grades.csv").read_text()) == rows(before)


def test_temporary_folders_of_dead_graders_are_removed(tmp_path):
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    stale = tmp_path / f"tito-grade-{dead}-abc"
    (stale / "kit").mkdir(parents=True)
    live = tmp_path / f"tito-grade-{os.getpid()}-abc"
    live.mkdir()
    assert remove_stale_temp(str(tmp_path)) == [str(stale)]
    assert live.is_dir() and not stale.exists()
    assert signal.SIGKILL  # a SIGKILLed grader is the case this covers


def test_a_reference_that_fails_makes_grader_errors_and_the_class_still_finishes(tmp_path):
    course = grading_course(tmp_path / "course")
    checks = course.module("01").tests / "grading.py"
    checks.write_text(checks.read_text().replace('    "add(a, b) adds."\n', '    "add(a, b) adds."\n    1 / 0\n'))
    subs = tmp_path / "subs"
    submit_files(subs, "alice", course.module("01").source)
    submit_files(subs, "bob", course.module("01").source)
    out = tmp_path / "grades"

    grade_submissions(course, subs, out, modules=[course.module("01")], timeout=20, workers=2)

    rows = read_csv(out / "grades.csv")
    assert [row[6] for row in rows[1:]] == ["grader error", "grader error"]
    report = (out / "reports" / "alice.md").read_text()
    assert "Grader error: the reference edition fails check `adds` of 01_calc" in report
