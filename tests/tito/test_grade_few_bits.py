"""What a report says of how a run ended carries few bits the run chose: not its exit code (8 bits a
module), and its time only in whole seconds (not milliseconds)."""

from __future__ import annotations

import pytest

from tito.grading.channel import Stream
from tito.grading.grade_reports import module_section
from tito.grading.graded_run import Outcome
from tito.grading.verdict import ModuleGrade, _missing_reason


def _ended(returncode: int) -> Outcome:
    return Outcome(channel=b"", output_tail="", returncode=returncode, timed_out=False, overflowed=False, seconds=1.0)


@pytest.mark.parametrize("code", [1, 7, 77, 200, 255])
def test_an_early_exit_names_no_code(code):
    reason = _missing_reason(Stream(records=[], malformed=False), _ended(code))
    assert reason == "not reached: the run ended early (it exited)"


@pytest.mark.parametrize("signal", [-9, -11, -15])
def test_a_run_killed_by_a_signal_says_only_that(signal):
    reason = _missing_reason(Stream(records=[], malformed=False), _ended(signal))
    assert reason == "not reached: the run ended early (killed by a signal)"


@pytest.mark.parametrize(("seconds", "shown"), [(0.2, "about 1 s"), (1.234, "about 1 s"), (2.718, "about 3 s")])
def test_a_run_time_is_shown_in_whole_seconds(seconds, shown, tmp_path):
    from tito.course import Module

    module = Module(id="01", slug="calc", title="Calc", requires=(), hours=1.0, root=tmp_path)
    grade = ModuleGrade(module, [])
    grade.seconds = seconds
    first = module_section(grade)[0]
    assert shown in first and str(seconds) not in first
