"""`tito module list | status | start | complete | reset`, in-process with typer's CliRunner."""

from __future__ import annotations

import os

import pytest
import yaml
from course_builder import module_text

from tito import notebooks
from tito.progress_store import ProgressStore


def progress(fixture) -> dict:
    return ProgressStore(fixture.course).read()


def test_list_shows_every_module_and_the_first_command(fixture_course, tito):
    result = tito("module", "list")
    assert result.exit_code == 0
    assert "01_alpha" in result.output and "02_beta" in result.output
    assert "Start the first one with `tito module start 01`." in result.output


def test_status_shows_states_and_the_next_step(fixture_course, tito):
    result = tito("module", "status")
    assert result.exit_code == 0
    assert "ready" in result.output and "locked" in result.output
    assert "0/2 modules completed" in result.output
    assert "Next: run `tito module start 01`." in result.output


@pytest.mark.parametrize("name", ["01", "1", "alpha", "01_alpha", "ALPHA"])
def test_a_module_is_named_by_number_or_slug(fixture_course, tito, name):
    result = tito("module", "start", name)
    assert result.exit_code == 0
    assert "Module 01: Alpha" in result.output


def test_complete_records_the_module_and_says_what_is_unlocked(fixture_course, tito):
    result = tito("module", "complete", "1")
    assert result.exit_code == 0, result.output
    assert "Module 01_alpha completed." in result.output
    assert "2 of 2 tests passed (inline 1 of 1, package 1 of 1)" in result.output
    assert "tinytorch/alpha.py (written)" in result.output
    assert "module 02_beta, milestone first" in result.output  # what is now unlocked
    entry = progress(fixture_course)["modules"]["01"]
    assert entry["status"] == "completed"
    assert entry["tests"] == {"passed": 2, "failed": 0, "skipped": 0}
    status = tito("module", "status")
    assert "completed" in status.output and "2 passed" in status.output and "1/2 modules completed" in status.output


def test_a_failing_test_is_shown_and_nothing_is_recorded(fixture_course, tito):
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", body="return 3 * x"))
    result = tito("module", "complete", "01")
    assert result.exit_code == 1
    assert "FAILED alpha_double at modules/01_alpha/alpha.py:10: 2 tests" in result.output
    assert "modules/01_alpha/alpha.py::test_unit_alpha_double" in result.output and "assert 6 == 4" in result.output
    assert "nothing was recorded" in result.output and "`tito module complete 01`" in result.output
    assert progress(fixture_course)["modules"] == {}


def test_a_module_with_zero_tests_is_not_recorded(fixture_course, tito):
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", inline_test="# none\n"))
    fixture_course.write("tests/01_alpha/test_alpha.py", "# none\n")
    result = tito("module", "complete", "01")
    assert result.exit_code == 1
    assert "no tests ran for 01_alpha" in result.output
    assert progress(fixture_course)["modules"] == {}


def test_a_failing_recompletion_keeps_the_earlier_record(fixture_course, tito):
    assert tito("module", "complete", "01").exit_code == 0
    before = ProgressStore(fixture_course.course).path.read_bytes()
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", body="return 3 * x"))
    assert tito("module", "complete", "01").exit_code == 1
    assert ProgressStore(fixture_course.course).path.read_bytes() == before
    assert "01_alpha changed after it was completed" in tito("module", "status").output


def test_a_syntax_error_stops_before_export_and_names_the_line(fixture_course, tito):
    fixture_course.write("modules/01_alpha/alpha.py", module_text("alpha", body="return 2 *"))
    result = tito("module", "complete", "01")
    assert result.exit_code == 1
    assert "modules/01_alpha/alpha.py:13: syntax error" in result.output
    assert not (fixture_course.root / "tinytorch" / "alpha.py").exists()
    assert progress(fixture_course)["modules"] == {}


@pytest.mark.parametrize("command", ["start", "complete", "reset"])
def test_an_unknown_module_exits_2_listing_the_valid_names(fixture_course, tito, command):
    result = tito("module", command, "99")
    assert result.exit_code == 2
    assert "No module '99'" in result.output and "01_alpha, 02_beta" in result.output


def test_start_prints_the_file_the_objectives_and_the_next_command(fixture_course, tito):
    result = tito("module", "start", "alpha")
    assert result.exit_code == 0
    assert "File: modules/01_alpha/alpha.py" in result.output
    assert "Write alpha_double." in result.output and "Test it." in result.output and "More." not in result.output
    assert "`tito module complete 01`" in result.output
    assert progress(fixture_course)["modules"]["01"]["status"] == "started"


def test_start_notebook_shows_a_notebook_error_and_exits_1(fixture_course, tito, monkeypatch):
    def refuse(module):
        raise notebooks.NotebookError('jupytext is not installed: run `pip install -e ".[notebooks]"`.')

    monkeypatch.setattr(notebooks, "start_notebook", refuse)
    result = tito("module", "start", "01", "--notebook")
    assert result.exit_code == 1
    assert "jupytext is not installed" in result.output


def test_complete_calls_the_notebook_sync_first(fixture_course, tito, monkeypatch):
    seen = []
    monkeypatch.setattr(
        notebooks, "sync_newer", lambda module: seen.append(module.id) or "Copied alpha.ipynb into alpha.py."
    )
    result = tito("module", "complete", "01")
    assert result.exit_code == 0 and seen == ["01"]
    assert "Copied alpha.ipynb into alpha.py." in result.output


def test_the_reference_edition_only_notes_missing_prerequisites(fixture_course, tito):
    result = tito("module", "complete", "02")
    assert result.exit_code == 0
    assert "Note: 02_beta requires 01_alpha" in result.output


def test_a_student_edition_refuses_while_prerequisites_are_incomplete(make_course, tito, monkeypatch):
    fixture = make_course("student", edition="student")
    monkeypatch.chdir(fixture.root)
    for command in ("start", "complete"):
        result = tito("module", command, "02")
        assert result.exit_code == 1
        assert "02_beta needs 01_alpha completed first: run `tito module complete 01`." in result.output
    assert progress(fixture)["modules"] == {}


def test_reset_restores_from_git_head_with_a_backup(fixture_course, tito):
    fixture_course.git_commit()
    source = fixture_course.root / "modules" / "01_alpha" / "alpha.py"
    original = source.read_text()
    assert tito("module", "complete", "01").exit_code == 0
    source.write_text(original + "\n# my work\n")
    result = tito("module", "reset", "01", "--yes")
    assert result.exit_code == 0, result.output
    assert source.read_text() == original
    backups = list((fixture_course.root / ".tito" / "backups" / "01_alpha").iterdir())
    assert len(backups) == 1 and backups[0].read_text().endswith("# my work\n")
    assert progress(fixture_course)["modules"]["01"]["status"] == "started"
    assert "from git HEAD:modules/01_alpha/alpha.py" in result.output


def test_reset_without_a_commit_explains_and_changes_nothing(fixture_course, tito):
    source = fixture_course.root / "modules" / "01_alpha" / "alpha.py"
    before = source.read_bytes()
    result = tito("module", "reset", "01", "--yes")
    assert result.exit_code == 1
    assert "Cannot read modules/01_alpha/alpha.py from git HEAD" in result.output
    assert source.read_bytes() == before


def test_reset_in_a_student_edition_uses_the_starter_copy(make_course, tito, monkeypatch):
    fixture = make_course("student", edition="student")
    monkeypatch.chdir(fixture.root)
    missing = tito("module", "reset", "01", "--yes")
    assert missing.exit_code == 1 and ".tito/starter/01_alpha/alpha.py" in missing.output
    starter = module_text("alpha", body='raise NotImplementedError("TinyTorch 01: alpha_double")')
    fixture.write(".tito/starter/01_alpha/alpha.py", starter)
    result = tito("module", "reset", "alpha", "--yes")
    assert result.exit_code == 0
    assert (fixture.root / "modules" / "01_alpha" / "alpha.py").read_text() == starter


def test_reset_refuses_a_starter_copy_that_is_a_fifo_or_not_utf8_without_hanging(make_course, tito, monkeypatch):
    fixture = make_course("student", edition="student")
    monkeypatch.chdir(fixture.root)
    source = fixture.root / "modules" / "01_alpha" / "alpha.py"
    before = source.read_bytes()
    starter = fixture.root / ".tito" / "starter" / "01_alpha" / "alpha.py"
    starter.parent.mkdir(parents=True)
    os.mkfifo(starter)
    fifo = tito("module", "reset", "01", "--yes")
    assert fifo.exit_code == 1 and "FIFO" in fifo.output and "Traceback" not in fifo.output
    starter.unlink()
    starter.write_bytes(b"x = 1  # caf\xe9\n")
    latin = tito("module", "reset", "01", "--yes")
    assert latin.exit_code == 1 and "is not UTF-8 text" in latin.output
    assert source.read_bytes() == before


def test_reset_asks_before_replacing_and_needs_yes_when_not_interactive(fixture_course, tito):
    result = tito("module", "reset", "01")
    assert result.exit_code == 2
    assert "`tito module reset 01 --yes`" in result.output


def test_a_corrupt_progress_file_stops_every_command_and_is_kept(fixture_course, tito):
    path = fixture_course.root / ".tito" / "progress.yaml"
    path.parent.mkdir()
    path.write_bytes(b"modules: [oops\n")
    for args in (("module", "status"), ("module", "start", "01"), ("module", "complete", "01")):
        result = tito(*args)
        assert result.exit_code == 1, args
        assert ".tito/progress.yaml is not valid YAML" in result.output
    assert path.read_bytes() == b"modules: [oops\n"


def test_a_wrong_typed_progress_file_is_reported_and_kept(fixture_course, tito):
    path = fixture_course.root / ".tito" / "progress.yaml"
    path.parent.mkdir()
    content = yaml.safe_dump({"schema": 1, "modules": {"01": "done"}, "milestones": {}, "history": []}).encode()
    path.write_bytes(content)
    result = tito("module", "complete", "01")
    assert result.exit_code == 1
    assert "modules['01'] must be a mapping, not 'done'" in result.output
    assert path.read_bytes() == content
