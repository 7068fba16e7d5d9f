"""Extract a tar archive without letting any member escape the target folder.

A tar member can be named `../../.bashrc` or `/etc/passwd`, or be a link pointing anywhere; a naive
`extractall` writes wherever the archive says. Every member is checked before anything is written:
a path that is absolute, climbs out with `..`, or a link whose target lies outside, rejects the whole
archive. Only plain files, folders and links inside the target are allowed.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from tito.datasets.errors import UnsafeArchiveError


def safe_extract(archive: Path, target: Path) -> list[Path]:
    """Extract `archive` (any tar, compressed or not) into `target`; return the files written."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member, target, archive)
            if hasattr(tarfile, "data_filter"):  # Python 3.12, 3.11.4+ and 3.10.12+: a second guard
                tar.extractall(target, members=members, filter="data")
            else:
                tar.extractall(target, members=members)
    except getattr(tarfile, "FilterError", ()) as exc:  # the standard library's own guard caught something
        raise UnsafeArchiveError(f"{archive}: refusing to extract it ({exc}). Nothing usable was extracted.") from None
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise UnsafeArchiveError(f"{archive} is not a readable tar archive ({exc}).") from None
    except OSError as exc:  # a full disk, a read-only folder, a damaged bz2 stream
        raise UnsafeArchiveError(f"{archive} could not be extracted into {target} ({exc.strerror or exc}).") from None
    return [target / m.name for m in members if m.isfile()]


def check_member(member: tarfile.TarInfo, target: Path, archive: Path | str = "the archive") -> None:
    """Raise UnsafeArchiveError if extracting `member` into `target` could write outside it."""
    root = Path(target).resolve()

    def refuse(why: str):
        raise UnsafeArchiveError(
            f"{archive}: refusing to extract member {member.name!r}: {why}. Nothing was extracted."
        )

    name = member.name
    if _is_absolute(name):
        refuse("its path is absolute")
    if ".." in PurePosixPath(name).parts:
        refuse("its path climbs out of the target folder with '..'")
    dest = (root / name).resolve()
    if not _inside(dest, root):
        refuse("it would land outside the target folder")
    if member.issym() or member.islnk():
        link = member.linkname
        if _is_absolute(link):
            refuse(f"it links to the absolute path {link!r}")
        base = dest.parent if member.issym() else root  # hard links name a path inside the archive
        if not _inside((base / link).resolve(), root):
            refuse(f"it links to {link!r}, outside the target folder")
    elif not (member.isfile() or member.isdir()):
        refuse("it is a device, pipe or other special file")


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or PureWindowsPath(name).is_absolute() or bool(PureWindowsPath(name).drive)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
