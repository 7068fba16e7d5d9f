"""Writing files so that a reader sees the old file or the new one, never a half-written mix.

Every file tito owns (package files, the progress file, run records, grades, cached datasets) is
written through these two functions: a temporary file in the same folder, flushed, then renamed
into place, which is atomic on every platform Python supports.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def _replace_with(path: Path, fill) -> None:
    """Create a temporary sibling of `path`, let `fill(tmp_path)` write it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        fill(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (UTF-8, newlines as written)."""

    def fill(tmp):
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    _replace_with(Path(path), fill)


def atomic_copy(source: Path, path: Path) -> None:
    """Copy `source` to `path` atomically."""
    _replace_with(Path(path), lambda tmp: shutil.copyfile(source, tmp))
