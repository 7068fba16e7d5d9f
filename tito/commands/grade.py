"""`tito grade`: placeholder; its owner replaces this file."""

from tito.commands.common import fail


def grade() -> None:
    """Grade student submissions (not built yet)."""
    fail("tito grade is not built yet.")
