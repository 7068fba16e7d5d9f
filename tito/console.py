"""The one rich Console tito prints through, honouring NO_COLOR and --no-color.

With either, output is plain text: no colours and no other terminal styling, so it pipes cleanly.
Emoji codes are off: `root:x:0` in a title is text, not `root❌0`; user data printed inside markup is
escaped where it is printed (rich.markup.escape). A terminal (or COLUMNS) narrower than MIN_WIDTH
is printed as MIN_WIDTH wide: wrapped lines beat a table of one letter per line, or none at all.
"""

from __future__ import annotations

import os

from rich.console import Console

_console: Console | None = None
MIN_WIDTH = 60  # columns


def _made(stderr: bool = False) -> Console:
    made = Console(
        stderr=stderr, no_color=_plain(), color_system=None if _plain() else "auto", highlight=False, emoji=False
    )
    if made.width < MIN_WIDTH:
        made.width = MIN_WIDTH
    return made


def _plain() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def console() -> Console:
    global _console
    if _console is None:
        _console = _made()
    return _console


def error_console() -> Console:
    return _made(stderr=True)


def disable_color() -> None:
    os.environ["NO_COLOR"] = "1"
    global _console
    _console = None
