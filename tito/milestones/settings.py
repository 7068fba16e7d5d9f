"""A milestone script's settings, read from its source without running it.

A script declares them as plain constants at its top (see milestones/lenet/lenet.py):

    DATASETS = ("tinydigits", "mnist")   # what `--dataset` may choose
    CONFIG = {"epochs": 10, "lr": 0.01}  # its defaults, which `tito milestone info` shows
    SAMPLE_UNIT = "images"               # what the display counts per second (default: samples)
    BLAS_THREADS = 1                     # BLAS threads for its matrices (default: left as they are)

They are read with `ast`, never by importing the script: `info` needs no NumPy, and the runner checks
the options it was given before the script (and the framework under it) is loaded. This is the one
reader of these settings; the script's `run(config)` merges CONFIG with the options itself.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from tito import files
from tito.course import Milestone

NAMES = ("DATASETS", "CONFIG", "SAMPLE_UNIT", "BLAS_THREADS")


class SettingsError(Exception):
    """A script's settings cannot be read; the message names the file and line and what to fix."""


@dataclass(frozen=True)
class ScriptSettings:
    datasets: tuple[str, ...] = ()
    config: dict = field(default_factory=dict)  # the script's defaults
    sample_unit: str = "samples"
    blas_threads: int | None = None


def _literals(tree: ast.Module) -> dict[str, tuple[ast.expr, int]]:
    """{name: (value node, line)} for each top-level assignment to one of NAMES (the last one wins)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in NAMES:
                found[target.id] = (value, node.lineno)
    return found


CHECKS = {
    "DATASETS": (lambda v: isinstance(v, (tuple, list)) and all(isinstance(d, str) for d in v), "a tuple of names"),
    "CONFIG": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "a dict with text keys"),
    "SAMPLE_UNIT": (lambda v: isinstance(v, str) and bool(v), "a word such as 'images'"),
    "BLAS_THREADS": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "a whole number of at least 1",
    ),
}


def script_path(milestone: Milestone) -> Path:
    """milestones/<id>/<id>.py"""
    return milestone.folder / f"{milestone.id}.py"


def read_settings(milestone: Milestone, again: str | None = None) -> ScriptSettings:
    """The settings the milestone's script declares (defaults for those it leaves out).

    Raises SettingsError for a script that is missing, does not parse, or declares a setting that is
    not a literal of the right kind; its message ends in the command `again` (default: `info`).
    """
    path = script_path(milestone)
    shown = path.relative_to(milestone.root).as_posix()
    again = f"then run `{again or f'tito milestone info {milestone.id}'}`."
    try:
        tree = ast.parse(files.read_text(path), filename=shown)
    except FileNotFoundError:
        raise SettingsError(f"Milestone {milestone.id} has no script at {shown}: restore it, {again}") from None
    except OSError as exc:
        raise SettingsError(f"{shown} {files.problem(exc)}: restore it, {again}") from None
    except SyntaxError as exc:
        raise SettingsError(f"{shown}:{exc.lineno}: syntax error ({exc.msg}); fix it, {again}") from None
    values = {}
    for name, (node, line) in _literals(tree).items():
        check, wanted = CHECKS[name]
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, RecursionError):  # an expression, not a literal
            value = None
        if value is None or not check(value):
            raise SettingsError(
                f"{shown}:{line}: {name} must be {wanted}, written as a literal (tito reads it without "
                f"running the script); fix it, {again}"
            )
        values[name] = value
    return ScriptSettings(
        datasets=tuple(values.get("DATASETS", ())),
        config=dict(values.get("CONFIG", {})),
        sample_unit=values.get("SAMPLE_UNIT", "samples"),
        blas_threads=values.get("BLAS_THREADS"),
    )
