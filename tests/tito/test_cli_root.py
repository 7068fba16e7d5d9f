"""The root of the command line: help for every command, --version, colour switches, no stray files."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from tito import console as console_module
from tito.cli import app


def command_paths(command=None, path=()):
    """Every command and group of the real CLI, as argument lists: [], ["module"], ["module", "list"], ..."""
    command = command or typer.main.get_command(app)
    yield list(path)
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


@pytest.mark.parametrize("path", list(command_paths()), ids=lambda p: " ".join(p) or "tito")
def test_every_command_renders_its_help(tito, path):
    result = tito(*path, "--help")
    assert result.exit_code == 0, result.output
    assert f"Usage: tito {' '.join(path)}".rstrip() in result.output
    assert "<bool>" not in result.output  # flags render as flags, without a value type


def test_version_answers_without_importing_numpy():
    probe = (
        "import sys; sys.argv = ['tito', '--version']\n"
        "from tito.__main__ import main; main()\n"
        "print('numpy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["tito", "0.1.0", "False"], result.stderr


def test_help_and_the_data_commands_load_without_numpy():
    """The CLI's command tree (every command module) imports without NumPy; only the loaders need it."""
    probe = (
        "import sys, tito.cli, tito.datasets\n"
        "print('numpy' in sys.modules)\n"
        "tito.datasets.load_tinydigits\n"
        "print('numpy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "True"], result.stderr


def test_version_works_after_other_root_options(tito):
    result = tito("--no-color", "--version")
    assert result.exit_code == 0 and result.output.strip() == "tito 0.1.0"


COLOR_CODE = "\x1b[32m"  # green: completed modules and ok checks are green


def test_color_is_used_on_a_forced_terminal_and_dropped_by_no_color(fixture_course, tito, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(console_module, "_console", None)
    fixture_course.export()
    colored = tito("system", "doctor").output
    assert COLOR_CODE in colored
    plain = tito("--no-color", "system", "doctor").output
    assert "\x1b[" not in plain
    monkeypatch.setattr(console_module, "_console", None)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in tito("system", "doctor").output


def test_an_unknown_command_is_a_usage_error(tito):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["modul", "list"])
    assert result.exit_code == 2
