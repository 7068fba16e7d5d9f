"""Every `tito ...` command line the course writes down parses with the real command line.

So no README, module file, milestone page or tito message advertises a command or option that does
not exist. Lines are discovered, not listed: every Markdown file in the repository, every Python
file under modules/, milestones/, datasets/, benchmarks/ and tito/ (comments, prose cells and
message strings alike). A command counts when it is written in backticks (`tito test 01`) or on its
own line in a fenced code block (`tito test 01` or `$ tito test 01`). Placeholders in f-strings
(`tito module complete {module.id}`) are filled with "01". Tests are not scanned: they hold
deliberately wrong commands.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from course_builder import REPO

from tito.cli import app

PY_FOLDERS = ("modules", "milestones", "datasets", "benchmarks", "tito")
SKIP_PARTS = {".git", ".venv", "venv", "node_modules", "build", "dist", ".tito", "__pycache__", "tests"}
INLINE = re.compile(r"`(tito(?:\s[^`\n]*)?)`")
FENCE = re.compile(r"^\s*(```|~~~)")
SHELL_LINE = re.compile(r"^\s*(?:\$\s+)?(tito(?:\s.*)?)$")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")  # f-string fields
ANGLE_PLACEHOLDER = re.compile(r"<[^<>]+>")  # <path to file>
CAPS_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*(\.\.\.)?$")  # MODULE, NN, N, PATH...
STOP_TOKENS = {"&&", "||", "|", ";", ">", ">>", "2>&1", "<"}


def documents() -> list[Path]:
    def keep(path: Path) -> bool:
        return not SKIP_PARTS.intersection(path.relative_to(REPO).parts[:-1])

    found = [p for p in REPO.rglob("*.md") if keep(p)]
    for folder in PY_FOLDERS:
        found += [p for p in (REPO / folder).rglob("*.py") if keep(p)]
    return sorted(set(found))


def command_lines(path: Path):
    """(line number, command text) for each tito command written in a file."""
    fenced = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = re.sub(r"^\s*#\s?", "", raw) if path.suffix == ".py" else raw
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            match = SHELL_LINE.match(line)
            if match:
                yield number, match[1]
                continue
        for match in INLINE.finditer(raw):
            yield number, match[1]


def all_commands():
    found = []
    for path in documents():
        for number, text in command_lines(path):
            found.append(pytest.param(text, id=f"{path.relative_to(REPO).as_posix()}:{number}"))
    return found


def arguments(text: str) -> list[str]:
    text = ANGLE_PLACEHOLDER.sub("x", PLACEHOLDER.sub("01", text))
    tokens = shlex.split(text, comments=True)
    for index, token in enumerate(tokens):
        if token in STOP_TOKENS:
            tokens = tokens[:index]
            break
    assert tokens[0] == "tito"
    # A capitalised placeholder stands for a value; "1" parses as a string, a number or a module.
    return ["1" if CAPS_PLACEHOLDER.match(token) else token for token in tokens[1:]]


def _usage_errors():
    vendored = getattr(typer, "_click", None)
    if vendored is not None:
        return vendored.exceptions.UsageError, vendored.exceptions.MissingParameter
    import click

    return click.UsageError, click.MissingParameter


def parse(argv: list[str]) -> None:
    """Parse argv down to the last subcommand, as `tito` would, without running anything.

    A command named without its required arguments (`tito module complete` in prose) parses: the
    command exists. An unknown command or option, or an argument of the wrong type, does not.
    """
    usage_error, missing_parameter = _usage_errors()
    command = typer.main.get_command(app)
    try:
        context = command.make_context("tito", list(argv))
        while hasattr(command, "resolve_command"):
            rest = [*getattr(context, "_protected_args", []), *getattr(context, "protected_args", []), *context.args]
            if not rest:
                return  # a group named alone shows its help
            name, command, rest = command.resolve_command(context, rest)
            context = command.make_context(name, rest, parent=context)
    except typer.Exit:
        return  # --help and --version stop parsing successfully
    except missing_parameter:
        return
    except usage_error as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            return
        raise AssertionError(f"`tito {' '.join(argv)}` does not parse: {error.format_message()}") from None


COMMANDS = all_commands()


@pytest.mark.parametrize("text", COMMANDS)
def test_the_written_command_parses(text):
    parse(arguments(text))


def test_the_scan_finds_the_readme_commands():
    readme = [p for p in COMMANDS if p.id.startswith("README.md:")]
    assert len(readme) >= 3


def test_a_wrong_command_is_caught():
    for wrong in (
        ["module", "finish", "01"],
        ["test", "--everything"],
        ["test", "01", "--timeout", "soon"],
        ["export", "01", "--al"],
    ):
        with pytest.raises(AssertionError, match="does not parse"):
            parse(wrong)
    parse(["module", "complete", "01"])
    parse(["--no-color", "test", "01", "02", "--timeout", "5"])
