"""How an instructor declares a module's graded checks, and how the grader finds them.

Each module's checks live in one file, `tests/NN_slug/grading.py`, beside its package tests. A check
is a function that takes `rng` (a NumPy Generator the grader seeds afresh for every run) and returns
a dict of named results: arrays, numbers, booleans, strings or lists of strings. It imports tinytorch
inside its body, so the same file can be read by the grader (for names, weights and judges) without
importing anybody's tinytorch:

    from tito.grading.declare import check

    @check(weight=2)
    def linear_adds_its_bias(rng):
        "Linear(in, out) computes x @ W.T + b on a random batch."
        from tinytorch.nn import Linear
        ...
        return {"out": layer(x).data}

The grader runs every check twice on the same seed: on the student's package inside the sandbox
and on the reference package in its own process, then compares the two dicts. A check passes when
its `judge` says so; the default judge wants the same keys, shapes and values within rtol/atol.
Give a check its own judge where the right answer is random (a dropout mask): the judge runs in the
grader's process, on plain arrays, and returns None for a pass or the reason it failed.

This file is imported inside the sandbox too, so it needs nothing but the standard library.
"""

from __future__ import annotations

import importlib.util
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHECKS_FILE = "grading.py"  # in tests/NN_slug/; not a test_*.py name, so pytest never collects it
DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-5
DEFAULT_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    """One graded check of a module."""

    name: str
    description: str
    weight: float
    function: Callable
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    seconds: float = DEFAULT_SECONDS
    judge: Callable | None = None  # judge(student: dict, reference: dict) -> reason or None


def check(
    weight: float = 1.0,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    seconds: float = DEFAULT_SECONDS,
    judge: Callable | None = None,
) -> Callable:
    """Mark a function as a graded check worth `weight` points (see the module docstring)."""
    if not weight > 0:
        raise ValueError(f"a check's weight must be positive, got {weight!r}.")

    def mark(function: Callable) -> Callable:
        lines = (function.__doc__ or "").strip().splitlines()
        function.graded_check = Check(  # type: ignore[attr-defined]  # Callable cannot declare a function's attributes
            name=function.__name__,
            description=lines[0].strip() if lines else function.__name__.replace("_", " "),
            weight=float(weight),
            function=function,
            rtol=rtol,
            atol=atol,
            seconds=seconds,
            judge=judge,
        )
        return function

    return mark


def load_checks(path: Path | str) -> list[Check]:
    """The checks declared in a checks file, in the order they appear in it."""
    path = Path(path)
    name = f"tito_checks_{zlib.crc32(str(path).encode()):08x}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the checks file {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle-free helpers look modules up by name
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ beside the checks
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes
    found = [value.graded_check for value in vars(module).values() if hasattr(value, "graded_check")]
    found.sort(key=lambda item: item.function.__code__.co_firstlineno)
    names = [item.name for item in found]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: two checks share a name; give each check function its own name.")
    return found


def rng_for(seed: int, check_name: str):
    """The generator a check gets: from the run's seed and the check's name, so checks do not depend
    on each other's order or on whether an earlier check failed halfway."""
    import numpy as np

    return np.random.default_rng([int(seed), zlib.crc32(check_name.encode("utf-8"))])
