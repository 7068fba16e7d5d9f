"""Which wall `tito grade --no-sandbox` gets, told to the instructor: a run is an unprivileged user of
its own only as root and with a Python other users can read; otherwise the note says why not, and how."""

from __future__ import annotations

import pytest

from tito.grading import walls


@pytest.fixture
def python_in(monkeypatch):
    """Pretend this Python lives in `folder` alone, and that tito runs as `uid`."""

    def pretend(folder, uid: int) -> None:
        monkeypatch.setattr(walls, "python_folders", lambda: (str(folder),))
        monkeypatch.setattr(walls.os, "geteuid", lambda: uid)

    return pretend


def test_as_root_with_a_python_others_can_read_each_run_is_a_user_of_its_own(python_in):
    python_in("/usr/lib", 0)
    assert walls.private_python() is None
    assert walls.wall_without_bubblewrap() == "user"
    assert walls.wall_note() == "each run is an unprivileged user of its own."


def test_as_root_with_a_private_python_the_note_names_it_and_the_fix(python_in, tmp_path):
    private = tmp_path / "home" / ".pyenv"
    private.mkdir(parents=True)
    private.parent.chmod(0o700)
    python_in(private, 0)
    assert walls.private_python() == str(private)
    assert walls.wall_without_bubblewrap() == "guard"
    note = walls.wall_note()
    assert f"other users cannot read {private}" in note and "/usr/bin/python3 -m venv" in note
    assert "\n" not in note


def test_not_as_root_only_the_guard_remains_and_the_note_says_root_would_do_better(python_in):
    python_in("/usr/lib", 1000)
    assert walls.wall_without_bubblewrap() == "guard"
    assert "in-process guard" in walls.wall_note() and "as root" in walls.wall_note()
