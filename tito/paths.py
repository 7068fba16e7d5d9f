"""Showing a path as a person in the course types it: the one rule, used through `Course.shown`."""

from __future__ import annotations

from pathlib import Path


def shown_path(path: Path | str, root: Path) -> str:
    """`path` as a person in the course types it: relative to `root` when it is inside it.

    The path as given is tried first, so a symlink inside the course shows where it is rather than
    what it points at; then with symlinks resolved, so a path that reaches the course another way
    still shows short. A path outside the course shows whole.
    """
    path = Path(path)
    candidates = [(path, root)]
    try:
        candidates.append((path.resolve(), root.resolve()))
    except (OSError, RuntimeError):  # a symlink loop
        pass
    for candidate, base in candidates:
        try:
            return candidate.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.as_posix()
