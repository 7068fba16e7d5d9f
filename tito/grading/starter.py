"""Is a submitted module file still the starter? Then it scores 0, whatever the given code does.

The student edition replaces each solution block with `raise NotImplementedError("TinyTorch NN: ...")`
inside some function. A file counts as unchanged when every such function is, statement for
statement, what the starter has (comments, blank lines and docstrings do not count as work). The
idea comes from nbgrader, which compares a returned notebook's cells against what was handed out.
"""

from __future__ import annotations

import ast
import functools

STUB_PREFIX = "TinyTorch"

Function = ast.FunctionDef | ast.AsyncFunctionDef
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _stub_functions(tree: ast.AST) -> dict[str, Function]:
    """qualified name -> function node, for every function whose body holds a starter stub."""
    found: dict[str, Function] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef) and _has_stub(child):
                    found[name] = child
                visit(child, name + ".")

    visit(tree, "")
    return found


def _has_stub(function: Function) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
            if getattr(call.func, "id", None) == "NotImplementedError" and call.args:
                first = call.args[0]
                if isinstance(first, ast.Constant) and str(first.value).startswith(STUB_PREFIX):
                    return True
    return False


def _body(function: Definition) -> str:
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring
    return ast.dump(ast.Module(body=body, type_ignores=[]), annotate_fields=False)


@functools.lru_cache(maxsize=64)
def _starter_bodies(starter: str) -> tuple[tuple[str, str], ...] | None:
    """(qualified name, body) of every function holding a stub; None when the starter does not parse.
    Worked out once per starter, not once per student."""
    try:
        return tuple((name, _body(function)) for name, function in _stub_functions(ast.parse(starter)).items())
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def unchanged_from_starter(submitted: str, starter: str) -> bool:
    """True when every function holding a stub in `starter` is the same in `submitted`."""
    expected = _starter_bodies(starter)
    if not expected:
        return False  # a starter that does not parse, or has no stubs, is nothing to be unchanged from
    try:
        submitted_tree = ast.parse(submitted)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False  # not the starter; the export will say what is wrong with it
    submitted_functions: dict[str, Definition] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                submitted_functions[name] = child
                visit(child, name + ".")

    visit(submitted_tree, "")
    return all(name in submitted_functions and _body(submitted_functions[name]) == body for name, body in expected)
