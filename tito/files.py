"""Reading and writing the files tito owns, so that no input can hang tito or lose a byte.

Every file tito writes (package files, the progress file, module files on reset, notebooks, run
records, grades, reports, cached datasets) goes through `atomic_write` or `atomic_copy`: a temporary
file in the same folder, flushed, then renamed into place, so a reader sees the old file or the new
one, never a half-written mix. The new file keeps the mode of the one it replaces, or gets the
umask's mode (0644 under umask 022) when it is new. A file its owner made read-only, or something
that is not a regular file (a folder, a FIFO, a device), is refused instead of silently replaced.

`read_text` is the matching reader for tito's own state: it looks at what a path is before opening
it (a FIFO would block an `open` for ever), and turns bytes that are not UTF-8 into one sentence
with the line and column. Every refusal here is an OSError whose `strerror` is that sentence's
middle, so callers that already catch OSError report it in one line.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from datetime import datetime
from pathlib import Path

KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class FileRefused(OSError):
    """tito will not read or replace this path; `strerror` says why (e.g. "is a folder, not a file")."""

    def __init__(self, path, problem: str, code: int = errno.EINVAL):
        super().__init__(code, problem, str(path))
        self.problem = problem  # `strerror` holds the same words, but OSError types it as str | None


def problem(exc: OSError, doing: str = "read") -> str:
    """What went wrong, as words to follow a path: "is a folder, not a regular file" or
    "cannot be read (Permission denied)"."""
    if isinstance(exc, FileRefused):
        return exc.problem
    return f"cannot be {doing} ({exc.strerror or exc})"


def kind(mode: int) -> str:
    """What a stat mode describes, in words: "a regular file", "a folder", "a FIFO (named pipe)"..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def not_regular(path: Path) -> str | None:
    """Why `path` (following symlinks) is not a regular file, or None when it is one or is absent."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be looked at ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    link = "a symbolic link to " if os.path.islink(path) else ""
    return f"is {link}{kind(mode)}, not a regular file"


def read_only(path: Path) -> bool:
    """True when `path` exists and may not be written: no write bit at all, or none for this user.

    The write bits are looked at as well as os.access because root may write anything: a file
    someone made 0444 is read-only by intent, whoever runs tito.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not mode & 0o222 or not os.access(path, os.W_OK)


READ_LIMIT = 64 * 1024**2  # bytes: no file tito reads is near this (the largest module file is ~100 KB)


def size_words(size: int) -> str:
    """A size a person reads: "812 bytes", "3.2 MB"."""
    if size < 1024:
        return f"{size} bytes"
    amount, unit = size / 1024, "KB"
    for bigger in ("MB", "GB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    return f"{amount:.1f} {unit}"


def read_bytes(path: Path, limit: int = READ_LIMIT) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is refused without being
    opened (no FIFO hangs), and a bigger file is refused with its size (no reading for minutes)."""
    path = Path(path)
    refusal = not_regular(path)
    if refusal:
        raise FileRefused(path, refusal)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        status = os.fstat(fd)  # it may have changed since the look above
        if not stat.S_ISREG(status.st_mode):
            raise FileRefused(path, f"is {kind(status.st_mode)}, not a regular file")
        if status.st_size > limit:
            raise FileRefused(path, _too_big(status.st_size, limit), errno.EFBIG)
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            data = handle.read(limit + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:  # it grew while being read
        raise FileRefused(path, _too_big(len(data), limit), errno.EFBIG)
    return data


def _too_big(size: int, limit: int) -> str:
    return f"is {size_words(size)}, more than the {size_words(limit)} tito reads from such a file"


def utf8_error_position(data: bytes, exc: UnicodeDecodeError) -> tuple[int, int]:
    """(line, column), both from 1, of the first byte that is not UTF-8."""
    before = data[: exc.start]
    return before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1


def read_text(path: Path, limit: int = READ_LIMIT) -> str:
    """A regular file's text as UTF-8; other bytes are refused with where the first one is."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = utf8_error_position(data, exc)
        raise FileRefused(
            path, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, column {column})", errno.EILSEQ
        ) from None


def check_replaceable(path: Path) -> int | None:
    """The mode the new file should keep (None when `path` is new); refuse what must not be replaced."""
    refusal = not_regular(path)
    if refusal:
        raise FileRefused(path, refusal)
    if read_only(path):
        raise FileRefused(path, "is read-only", errno.EACCES)
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def _replace_with(path: Path, fill) -> None:
    """Create a temporary sibling of `path`, let `fill(tmp_path)` write it, then rename it over `path`.

    A symlink is written through (its target is replaced, the link stays). The temporary file is
    created with mode 0666 so the kernel applies the umask, as for any new file; a file that is
    being replaced passes its own mode on instead.
    """
    path = Path(os.path.realpath(path))
    keep_mode = check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, flags, 0o666))
            break
        except FileExistsError:
            continue
    try:
        fill(tmp)
        if keep_mode is not None:
            os.chmod(tmp, keep_mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
    """Copy `source`'s bytes to `path` atomically (the mode follows the rules above, not `source`)."""
    _replace_with(Path(path), lambda tmp: shutil.copyfile(source, tmp))


def backup(path: Path, folder: Path) -> Path:
    """Copy `path` into `folder` as stem-YYYYmmdd-HHMMSS.suffix (-2, -3... if taken); return the copy."""
    path, folder = Path(path), Path(folder)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    copy = folder / f"{path.stem}-{stamp}{path.suffix}"
    counter = 1
    while copy.exists():
        counter += 1
        copy = folder / f"{path.stem}-{stamp}-{counter}{path.suffix}"
    atomic_copy(path, copy)
    return copy
