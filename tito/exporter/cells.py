"""Reading a module file: its text (UTF-8, checked), its cells and the lines each cell exports.

A module file is a jupytext percent file: `# %%` starts a code cell, `# %% [markdown]` a prose cell.
Directives are `#| name argument` lines at the top of a code cell:

    #| default_exp tensor          the package file the module's exported cells go to
    #| export                      this cell goes to the default package file
    #| export nn.conv              this cell goes to tinytorch/nn/conv.py instead
    #| doc Conv2d, the layer.      the docstring of the file this cell goes to (tito/exporter/assemble.py)

What a cell exports is its code without the directives, the `### BEGIN/END SOLUTION` markers and the
`# Hint:` comments written for students: scaffolding stays in the module file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tito import files

CELL_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
# The argument is stripped in code: a lazy `.*?` before `\s*$` made a long run of spaces quadratic.
DIRECTIVE = re.compile(r"^#\|\s*(?P<name>[\w-]+)(?P<arg>.*)$")
SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
HINT = re.compile(r"^(?P<indent>\s*)# Hint:")
DOTTED = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")


class ExportError(Exception):
    """A module file cannot be exported; the message starts with file:line."""


@dataclass(frozen=True)
class Cell:
    kind: str  # "code", "markdown" or "header" (the lines before the first `# %%`)
    line: int  # 1-based line of the cell's first source line
    lines: tuple[str, ...]
    directives: dict

    @property
    def exported(self) -> bool:
        return self.kind == "code" and "export" in self.directives

    def code_lines(self) -> list[tuple[int, str]]:
        """(module line, text) of what this cell exports: no directives, markers or hints; no blank edges."""
        kept: list[tuple[int, str]] = []
        hint_indent = None
        for number, text in enumerate(self.lines, start=self.line):
            if hint_indent is not None:
                if text.startswith(hint_indent + "#") and not SOLUTION_MARKER.match(text):
                    continue  # a hint's continuation line
                hint_indent = None
            hint = HINT.match(text)
            if hint:
                hint_indent = hint["indent"]
                continue
            if DIRECTIVE.match(text) or SOLUTION_MARKER.match(text):
                continue
            kept.append((number, text))
        while kept and not kept[0][1].strip():
            kept.pop(0)
        while kept and not kept[-1][1].strip():
            kept.pop()
        return kept


MODULE_LIMIT = 8 * 1024**2  # bytes; the longest module file is ~100 KB


def read_source(path: Path, shown: str | None = None) -> str:
    """A module file's text. Module files are UTF-8 (a byte-order mark is allowed); any other byte is
    an ExportError naming the file, line and column and how to fix it."""
    shown = shown or str(path)
    try:
        data = files.read_bytes(Path(path), MODULE_LIMIT)  # a FIFO or a folder is refused, never opened
    except OSError as exc:
        raise ExportError(f"{shown}: cannot read the module file ({exc.strerror}).") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = files.utf8_error_position(data, exc)
        raise ExportError(
            f"{shown}:{line}:{column}: byte 0x{data[exc.start]:02x} is not UTF-8, and module files must be "
            "UTF-8: retype that character or re-save the file as UTF-8 in your editor."
        ) from None


def parse_cells(text: str) -> list[Cell]:
    """Split a percent-format file into cells; lines before the first `# %%` are a header cell."""
    cells: list[Cell] = []
    kind, start = "header", 1
    body: list[str] = []

    def close():
        directives = {}
        for line in body:
            match = DIRECTIVE.match(line)
            if match:
                directives[match["name"]] = match["arg"].strip()
            elif line.strip():
                break
        cells.append(Cell(kind, start, tuple(body), directives))

    for number, line in enumerate(text.splitlines(), start=1):
        match = CELL_MARKER.match(line)
        if match:
            close()
            kind = "markdown" if "[markdown]" in match["rest"] else "code"
            start, body = number + 1, []
        else:
            body.append(line)
    close()
    return cells


def dotted_target(value: str, where: str, directive: str) -> str:
    """A checked package module name such as "tensor" or "nn.conv"."""
    if not DOTTED.fullmatch(value):
        raise ExportError(
            f"{where}: '#| {directive} {value}' does not name a package module: write a dotted lower-case "
            "name such as tensor or nn.conv."
        )
    return value


def default_exp(cells: list[Cell], where: str) -> str | None:
    """The package module named by `#| default_exp`, such as "tensor" or "nn.conv"; a module file has at most one."""
    found = [cell for cell in cells if cell.kind == "code" and "default_exp" in cell.directives]
    if len(found) > 1:
        lines = ", ".join(str(cell.line) for cell in found)
        raise ExportError(
            f"{where}:{found[1].line}: a module file names its package file once, but '#| default_exp' appears "
            f"{len(found)} times (lines {lines}): keep one and remove the others."
        )
    if found:
        return dotted_target(found[0].directives["default_exp"], f"{where}:{found[0].line}", "default_exp")
    return None


def cell_target(cell: Cell, default: str, where: str) -> str:
    """Where an exported cell goes: its own `#| export nn.conv`, or the module's default."""
    named = cell.directives.get("export", "")
    return dotted_target(named, f"{where}:{cell.line}", "export") if named else default
