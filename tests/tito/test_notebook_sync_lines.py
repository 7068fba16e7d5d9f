"""Every sync of a module file and its notebook says which way it went; a reset resets the pair."""

from __future__ import annotations

import json
import os

from typer.testing import CliRunner

from tito.cli import app
from tito.notebooks import notebook_path, sync_newer


def edit_notebook(path, old: str, new: str) -> None:
    """Edit the notebook as Jupyter would, and make it the side saved last."""
    data = json.loads(path.read_text())
    for cell in data["cells"]:
        source = "".join(cell["source"])
        if old in source:
            cell["source"] = source.replace(old, new)
    path.write_text(json.dumps(data))
    stamp = os.stat(path).st_mtime + 10
    os.utime(path, (stamp, stamp))


def test_tito_test_says_when_it_copied_the_notebook_into_the_module_file(fixture_course):
    runner = CliRunner()
    assert runner.invoke(app, ["module", "start", "01", "--notebook"]).exit_code == 0
    path = notebook_path(fixture_course.course.module("01"))
    edit_notebook(path, "return 2 * x", "return 3 * x")
    tested = runner.invoke(app, ["test", "01"])
    assert tested.exception is None or isinstance(tested.exception, SystemExit), repr(tested.exception)
    text = " ".join(tested.output.split())
    assert (
        "alpha.ipynb was saved last, so it was copied into alpha.py (the old alpha.py is saved as .tito/backups/01_alpha/"
        in text
    )


def test_starting_again_says_what_the_sync_did(fixture_course):
    runner = CliRunner()
    assert runner.invoke(app, ["module", "start", "01", "--notebook"]).exit_code == 0
    edit_notebook(notebook_path(fixture_course.course.module("01")), "return 2 * x", "return 4 * x")
    again = runner.invoke(app, ["module", "start", "01", "--notebook"])
    assert "alpha.ipynb was saved last, so it was copied into alpha.py" in " ".join(again.output.split())


def test_reset_resets_the_notebook_too_so_the_next_sync_cannot_undo_it(fixture_course):
    fixture_course.git_commit()
    runner = CliRunner()
    module = fixture_course.course.module("01")
    original = module.source.read_text()
    assert runner.invoke(app, ["module", "start", "01", "--notebook"]).exit_code == 0
    path = notebook_path(module)
    edit_notebook(path, "return 2 * x", "return 5 * x")
    assert sync_newer(module) is not None and "return 5 * x" in module.source.read_text()

    reset = runner.invoke(app, ["module", "reset", "01", "--yes"])
    assert reset.exit_code == 0, reset.output
    assert "alpha.ipynb was reset too (the old one is saved as .tito/backups/01_alpha/" in " ".join(
        reset.output.split()
    )
    assert module.source.read_text() == original
    assert "return 5 * x" not in path.read_text() and "return 2 * x" in path.read_text()
    assert sync_newer(module) is None, "the pair agrees: nothing is copied back"
    assert module.source.read_text() == original
