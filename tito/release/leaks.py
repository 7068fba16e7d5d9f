"""The leak check: no line of any solution may reach a student edition, in any file.

Before an edition is moved into place, every file in it is searched for every non-trivial line of every
solution block, and any hit stops the release.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tito.release.solutions import BEGIN, END, SolutionBlock

# A solution line shorter than this (spaces removed) says nothing about the solution: `return out`.
MIN_SECRET_CHARS = 12


@dataclass(frozen=True)
class Leak:
    path: str  # file in the edition
    line: int
    secret: str  # the solution line found there
    source: str  # where that line is in the reference, path:line


def normalise(line: str) -> str:
    """A line with its indentation dropped and runs of spaces collapsed, for comparison."""
    return " ".join(line.split())


def secret_lines(blocks: list[SolutionBlock], published: set[str]) -> dict[str, str]:
    """The solution lines the edition must not contain: normalised line -> where it came from.

    Short lines (`return out`) and lines the reference also shows outside any solution block (such
    as `other = as_tensor(other, like=self)`, used in both) reveal nothing and are not searched for.
    """
    secrets: dict[str, str] = {}
    for block in blocks:
        for offset, line in enumerate(block.lines, start=1):
            text = normalise(line)
            if len(text.replace(" ", "")) >= MIN_SECRET_CHARS and text not in published:
                secrets.setdefault(text, f"{block.path}:{block.begin + offset}")
    return secrets


def published_lines(stripped_texts: list[str]) -> set[str]:
    """Every normalised line of the stripped files: what the student edition shows on purpose."""
    return {normalise(line) for text in stripped_texts for line in text.splitlines()}


def plain_text(path: Path) -> str | None:
    """A file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def searchable_text(path: Path) -> str | None:
    """A file's text for the leak search, or None for binary files; notebooks add their cells' code."""
    text = plain_text(path)
    if text is not None and path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
            text += "\n" + "\n".join("".join(cell.get("source", "")) for cell in cells)
        except (ValueError, AttributeError):
            pass
    return text


def find_leaks(root: Path, secrets: dict[str, str], skip: tuple[str, ...] = ()) -> list[Leak]:
    """Every place under `root` where one of the secret lines appears, even inside a longer line.

    Folders named in `skip` (relative, posix) are not searched.
    """
    leaks: list[Leak] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if any(path.relative_to(root).as_posix().startswith(folder + "/") for folder in skip):
            continue
        text = searchable_text(path)
        if text is None:
            continue
        lines = [normalise(line) for line in text.splitlines()]
        flat = "\n".join(lines)
        for secret, source in secrets.items():
            if secret in flat:
                number = next((i for i, line in enumerate(lines, start=1) if secret in line), 0)
                leaks.append(Leak(path.relative_to(root).as_posix(), number, secret, source))
    return leaks


def _reference_line(path: Path, leak: Leak) -> int | None:
    """Where the leaked text sits in the reference file, outside its solution blocks (for the fix)."""
    text = plain_text(path) if path.is_file() else None
    if text is None:
        return None
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if BEGIN.match(line) or END.match(line):
            inside = bool(BEGIN.match(line))
        elif not inside and leak.secret in normalise(line):
            return number
    return None
