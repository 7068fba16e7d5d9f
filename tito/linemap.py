"""Where a line of a generated package file came from: the line map `tito export` writes.

A student edits `modules/01_tensor/tensor.py`; Python runs `tinytorch/tensor.py`. So that every
location a person sees is in the file they edit, each generated file ends with its line map:

    # tito line map: modules/01_tensor/tensor.py 10-52=31 57=90 ...

`10-52=31` says package lines 10 to 52 are module lines 31 to 73, in order; `57=90` maps one line.
A long map continues on more lines that start with `# tito line map: +`. Tracebacks, pytest's
failure locations and grading reports are rewritten through it (`source_location`).

Only the standard library is used: the pytest plugin that rewrites locations loads this file too.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

PREFIX = "# tito line map: "
RUN = re.compile(r"^(\d+)(?:-(\d+))?=(\d+)$")
WIDTH = 100  # characters per line of the map, so a generated file stays readable


@dataclass(frozen=True)
class LineMap:
    source: str  # the module file, relative to the course root (posix)
    runs: tuple[tuple[int, int, int], ...]  # (first package line, last package line, first module line)

    def module_line(self, package_line: int) -> int | None:
        for first, last, start in self.runs:
            if first <= package_line <= last:
                return start + package_line - first
        return None


def runs_from_pairs(pairs: list[tuple[int, int]]) -> tuple[tuple[int, int, int], ...]:
    """Compress (package line, module line) pairs, in package order, into runs of consecutive lines."""
    runs: list[list[int]] = []
    for package_line, module_line in pairs:
        if runs and package_line == runs[-1][1] + 1 and module_line == runs[-1][2] + (package_line - runs[-1][0]):
            runs[-1][1] = package_line
        else:
            runs.append([package_line, package_line, module_line])
    return tuple((first, last, start) for first, last, start in runs)


def format_map(source: str, runs) -> str:
    """The comment lines that end a generated file (wrapped at WIDTH characters)."""
    words = [f"{first}={start}" if first == last else f"{first}-{last}={start}" for first, last, start in runs]
    lines, current = [], PREFIX + source
    for word in words:
        if len(current) + 1 + len(word) > WIDTH:
            lines.append(current)
            current = PREFIX + "+"
        current += " " + word
    lines.append(current)
    return "\n".join(lines) + "\n"


def parse_map(text: str) -> LineMap | None:
    """The line map at the end of a generated file's text, or None when it has none."""
    source, runs = None, []
    for line in text.splitlines():
        if not line.startswith(PREFIX):
            continue
        words = line[len(PREFIX) :].split()
        if words and words[0] != "+":
            source = words[0]
        for word in words[1:]:
            match = RUN.match(word)
            if match:
                first, last, start = int(match[1]), int(match[2] or match[1]), int(match[3])
                runs.append((first, last, start))
    return LineMap(source, tuple(runs)) if source else None


_cache: dict[str, tuple[float, LineMap | None]] = {}


def read_map(path) -> LineMap | None:
    """The line map of a package file on disk (cached by modification time), or None."""
    path = os.fspath(path)
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return None
    cached = _cache.get(path)
    if cached is None or cached[0] != stamp:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                cached = (stamp, parse_map(handle.read()))
        except OSError:
            cached = (stamp, None)
        _cache[path] = cached
    return cached[1]


def source_location(path, line: int | None) -> tuple[str, int | None]:
    """(path, line) of what a person should look at: the module file's line for a generated file.

    A mapped location names the module file relative to the course root, as the student sees it.
    """
    mapping = read_map(path) if line is not None else None
    module_line = mapping.module_line(int(line)) if mapping is not None and line is not None else None
    if mapping is None or module_line is None:
        return os.fspath(path), line
    return mapping.source, module_line
