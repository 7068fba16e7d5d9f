"""tito/milestones/settings.py: a milestone script's settings, read once, without running it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from course_builder import REPO, build_course

from tito.course import load_course
from tito.milestones.settings import ScriptSettings, SettingsError, read_settings


@pytest.fixture
def milestone(tmp_path):
    fixture = build_course(tmp_path / "course")
    return fixture, fixture.course.milestone("first")


def write_script(fixture, text: str) -> None:
    fixture.write("milestones/first/first.py", textwrap.dedent(text).lstrip())


def test_every_setting_is_read_from_its_literal(milestone):
    fixture, first = milestone
    write_script(
        fixture,
        """
        import numpy  # never imported by the reader
        DATASETS = ("easy", "hard")
        CONFIG: dict = {"dataset": "easy", "epochs": 3}
        SAMPLE_UNIT = "points"
        BLAS_THREADS = 2
        OTHER = numpy.zeros(3)
    """,
    )
    assert read_settings(first) == ScriptSettings(("easy", "hard"), {"dataset": "easy", "epochs": 3}, "points", 2)


def test_a_script_that_declares_nothing_gets_the_defaults(milestone):
    fixture, first = milestone
    write_script(fixture, "def run(config):\n    return {}\n")
    assert read_settings(first) == ScriptSettings((), {}, "samples", None)


@pytest.mark.parametrize(
    "text, words",
    [
        ("DATASETS = tuple(['a'])\n", "first.py:1: DATASETS must be a tuple of names, written as a literal"),
        ("CONFIG = 3\n", "first.py:1: CONFIG must be a dict with text keys"),
        ("EPOCHS = 1\nBLAS_THREADS = 0\n", "first.py:2: BLAS_THREADS must be a whole number of at least 1"),
        ("SAMPLE_UNIT = ''\n", "SAMPLE_UNIT must be a word"),
        ("def run(:\n", "first.py:1: syntax error"),
    ],
)
def test_a_setting_that_cannot_be_read_is_one_line_naming_it(milestone, text, words):
    fixture, first = milestone
    write_script(fixture, text)
    with pytest.raises(SettingsError) as caught:
        read_settings(first, again="tito milestone run first")
    message = str(caught.value)
    assert words in message and message.endswith("then run `tito milestone run first`.")
    assert "\n" not in message


def test_a_missing_script_is_named(milestone):
    _fixture, first = milestone
    with pytest.raises(SettingsError, match=r"Milestone first has no script at milestones/first/first.py"):
        read_settings(first)


def test_reading_the_courses_settings_imports_no_numpy():
    code = (
        "import sys\n"
        "from tito.course import load_course\n"
        "from tito.milestones.settings import read_settings\n"
        f"course = load_course({str(REPO)!r})\n"
        "settings = {m.id: read_settings(m) for m in course.milestones}\n"
        "print(settings['lenet'].datasets, settings['lenet'].blas_threads, settings['lenet'].sample_unit)\n"
        "print('numpy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["('tinydigits', 'mnist') 1 images", "False"]


def test_info_and_the_runner_read_the_same_settings(milestone, monkeypatch):
    from typer.testing import CliRunner

    from tito.cli import app

    fixture, _first = milestone
    write_script(fixture, 'DATASETS = ("easy",)\nCONFIG = {"epochs": 2}\n\ndef run(config):\n    return {}\n')
    fixture.export()
    monkeypatch.chdir(fixture.root)
    monkeypatch.delenv("TITO_COURSE_ROOT", raising=False)
    info = CliRunner().invoke(app, ["milestone", "info", "first"]).output
    assert "Defaults: epochs=2" in info and "Datasets: easy" in info
    refused = CliRunner().invoke(app, ["milestone", "run", "first", "--dataset", "hard"])
    assert refused.exit_code == 2 and "choose from: easy." in refused.output
    write_script(fixture, "DATASETS = ['easy', 3]\n")
    info = CliRunner().invoke(app, ["milestone", "info", "first"])
    assert (
        info.exit_code == 0
        and "Settings: milestones/first/first.py:1: DATASETS must be a tuple of names" in info.output
    )
    refused = CliRunner().invoke(app, ["milestone", "run", "first"])
    assert refused.exit_code == 1 and refused.output.rstrip().endswith("then run `tito milestone run first`.")
    assert load_course(fixture.root).milestone("first")  # the manifest is untouched
