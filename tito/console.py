"""The one rich Console tito prints through, honouring NO_COLOR and --no-color."""

from __future__ import annotations

import os

from rich.console import Console

_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        _console = Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False)
    return _console


def error_console() -> Console:
    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def disable_color() -> None:
    os.environ["NO_COLOR"] = "1"
    global _console
    _console = None
