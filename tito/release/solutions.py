"""Solution blocks: finding `### BEGIN SOLUTION ... ### END SOLUTION` and replacing each with its stub.

Each block becomes `raise NotImplementedError("TinyTorch 01: implement Tensor.__add__")`, indented like
the block, so signatures, docstrings and the hints around the block stay.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tito.release.errors import ReleaseError

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")


@dataclass(frozen=True)
class SolutionBlock:
    """One `### BEGIN SOLUTION ... ### END SOLUTION` block of a file (line numbers are 1-based)."""

    path: str  # relative to the course root, posix
    begin: int
    end: int
    indent: str
    lines: tuple[str, ...]  # the solution itself, between the markers


def find_blocks(text: str, path: str) -> list[SolutionBlock]:
    """Every solution block in `text`; unbalanced markers raise ReleaseError naming the line."""
    blocks: list[SolutionBlock] = []
    open_at, indent = 0, ""
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        begin = BEGIN.match(line)
        if begin:
            if open_at:
                raise ReleaseError(f"{path}:{number}: BEGIN SOLUTION inside the block opened at line {open_at}.")
            open_at, indent, body = number, begin["indent"], []
        elif END.match(line):
            if not open_at:
                raise ReleaseError(f"{path}:{number}: END SOLUTION without a BEGIN SOLUTION above it.")
            blocks.append(SolutionBlock(path, open_at, number, indent, tuple(body)))
            open_at = 0
        elif open_at:
            body.append(line)
    if open_at:
        raise ReleaseError(f"{path}:{open_at}: BEGIN SOLUTION is never closed by END SOLUTION.")
    return blocks


Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _enclosing_scopes(tree: ast.AST, line: int) -> list[Scope]:
    """The classes and functions whose lines hold `line`, outermost first (their spans nest)."""
    scopes = [n for n in ast.walk(tree) if isinstance(n, Scope) and n.lineno <= line <= (n.end_lineno or n.lineno)]
    return sorted(scopes, key=lambda node: node.lineno)


def what_to_implement(tree: ast.AST | None, block: SolutionBlock) -> str:
    """'implement Tensor.__add__', from the function the block sits in; ReleaseError if none."""
    if tree is None:
        return "write this part of the solution"
    chain = _enclosing_scopes(tree, block.begin)
    if not chain or isinstance(chain[-1], ast.ClassDef):
        where = f"class {chain[-1].name}'s body" if chain else "module level"
        raise ReleaseError(
            f"{block.path}:{block.begin}: this solution block sits at {where}, where the "
            "NotImplementedError that replaces it would run on import; put the markers inside a function."
        )
    return "implement " + ".".join(node.name for node in chain)


def stub_line(block: SolutionBlock, module_id: str | None, what: str) -> str:
    label = f"TinyTorch {module_id}" if module_id else "TinyTorch"
    message = f"{label}: {what}".replace("\\", "\\\\").replace('"', '\\"')
    return f'{block.indent}raise NotImplementedError("{message}")'


def strip_solutions(text: str, path: str, module_id: str | None = None) -> tuple[str, int]:
    """`text` with each solution block replaced by its NotImplementedError; returns (text, blocks)."""
    blocks = find_blocks(text, path)
    if not blocks:
        return text, 0
    tree = None
    if path.endswith(".py"):
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError as exc:
            raise ReleaseError(f"{path}:{exc.lineno}: syntax error ({exc.msg}); fix it before releasing.") from None
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    previous_end = 0
    for block in blocks:
        out.extend(lines[previous_end : block.begin - 1])
        newline = "\n" if lines[block.begin - 1].endswith("\n") else ""
        out.append(stub_line(block, module_id, what_to_implement(tree, block)) + newline)
        previous_end = block.end
    out.extend(lines[previous_end:])
    stripped = "".join(out)
    if tree is not None:
        try:
            compile(stripped, path, "exec")
        except SyntaxError as exc:
            raise ReleaseError(
                f"{path}:{exc.lineno}: without its solutions the file does not compile ({exc.msg}); "
                "put the solution markers around whole statements."
            ) from None
    return stripped, len(blocks)
