"""`tito test` and `tito module complete` say what fits the state the module is in.

Walked in order: a prerequisite not exported, a prerequisite not completed, failing tests, passing
but not recorded, recorded, and changed since it was recorded. Each message names the next command.
"""

from __future__ import annotations

import pytest
from course_builder import module_text


@pytest.fixture
def student_course(make_course, monkeypatch):
    fixture = make_course("student", edition="student")
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    return fixture


def test_every_state_has_its_own_message(student_course, tito):
    beta_first = tito("test", "02")
    assert beta_first.exit_code == 1 and "Traceback" not in beta_first.output
    assert "02_beta builds on 01_alpha, which is not exported into tinytorch yet" in beta_first.output
    assert "run `tito module complete 01` first" in beta_first.output

    locked = tito("module", "complete", "02")
    assert locked.exit_code == 1
    assert "02_beta needs 01_alpha completed first: run `tito module complete 01`." in locked.output

    student_course.write("modules/01_alpha/alpha.py", module_text("alpha", body="return 3 * x"))
    failing = tito("test", "01")
    assert failing.exit_code == 1
    assert failing.output.startswith("FAILED alpha_double at modules/01_alpha/alpha.py:10: 2 tests\n")
    assert "modules/01_alpha/alpha.py::test_unit_alpha_double" in failing.output
    assert "0 of 2 tests passed (inline 0 of 1, package 0 of 1)" in failing.output
    assert (
        "Fix alpha_double at modules/01_alpha/alpha.py:10 (the first failure above), then run `tito test 01`."
        in failing.output
    )
    failing_complete = tito("module", "complete", "01")
    assert failing_complete.exit_code == 1
    assert (
        "nothing was recorded" in failing_complete.output and "run `tito module complete 01`" in failing_complete.output
    )

    student_course.write("modules/01_alpha/alpha.py", module_text("alpha"))
    passing = tito("test", "01")
    assert passing.exit_code == 0
    assert "All tests of 01_alpha passed: run `tito module complete 01` to record it." in passing.output

    assert tito("module", "complete", "01").exit_code == 0
    recorded = tito("test", "01")
    assert recorded.exit_code == 0
    assert "All tests of 01_alpha passed, and it is recorded as completed" in recorded.output
    assert "run `tito module complete 01` to record it" not in recorded.output

    student_course.write("modules/01_alpha/alpha.py", module_text("alpha", body="return x + x"))
    changed = tito("test", "01")
    assert changed.exit_code == 0
    assert "the file changed since it was recorded as completed: run `tito module complete 01`" in changed.output


def test_the_reference_edition_exports_what_a_module_builds_on(fixture_course, tito):
    result = tito("test", "02")
    assert result.exit_code == 0, result.output
    assert (fixture_course.root / "tinytorch" / "alpha.py").is_file(), "module 01 was exported for it"
