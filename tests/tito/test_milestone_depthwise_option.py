"""`tito milestone run ID --depthwise`: the option reaches a script that declares it, and only such a script.

A fixture milestone whose CONFIG has a "depthwise" key reports the value it was given, so each test
checks the runner's plumbing, not a network (tests/milestones/test_lenet_depthwise.py runs the real one).
"""

from __future__ import annotations

import json
import textwrap

import pytest
from course_builder import build_course
from typer.testing import CliRunner

from tito.cli import app

SCRIPT = textwrap.dedent(
    """
    CONFIG = {"epochs": 1, "depthwise": False}


    def run(config):
        settings = {**CONFIG, **config}
        settings["progress"]("settings", **settings)
        return {"test_accuracy": 0.9 if settings["depthwise"] else 0.95, "depthwise": int(settings["depthwise"])}
    """
).lstrip()
PLAIN = 'CONFIG = {"epochs": 1}\n\n\ndef run(config):\n    return {"test_accuracy": 0.95}\n'


@pytest.fixture
def course(tmp_path, monkeypatch):
    fixture = build_course(tmp_path / "course")
    fixture.write("milestones/first/first.py", SCRIPT)
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    monkeypatch.setenv("TITO_NO_TUNING", "1")
    result = CliRunner().invoke(app, ["export", "01"])
    assert result.exit_code == 0, result.output
    return fixture


def run_tito(*args):
    result = CliRunner().invoke(app, ["milestone", "run", "first", "--no-live", *args])
    return result.exit_code, result.output


def records(fixture) -> list[dict]:
    folder = fixture.root / ".tito" / "runs" / "first"
    return (
        [json.loads((run / "metrics.json").read_text()) for run in sorted(folder.iterdir())] if folder.exists() else []
    )


def test_depthwise_reaches_the_script_and_its_record(course):
    code, output = run_tito("--depthwise")
    assert code == 0, output
    (record,) = records(course)
    assert record["config"]["depthwise"] is True and record["metrics"]["depthwise"] == 1


def test_without_the_option_the_script_keeps_its_default(course):
    code, output = run_tito()
    assert code == 0, output
    (record,) = records(course)
    assert record["config"]["depthwise"] is False and record["metrics"]["depthwise"] == 0


def test_a_milestone_without_the_variant_refuses_it_in_one_line(course):
    course.write("milestones/first/first.py", PLAIN)
    code, output = run_tito("--depthwise")
    assert code == 2
    assert "has no depthwise-separable variant: leave out --depthwise" in output
    assert "Traceback" not in output and records(course) == []
