"""Where datasets live and what is there: the cache folder, the shipped folder, presence, checksums.

Downloaded datasets live in `$TINYTORCH_DATA/<name>/`, or in the platform's user cache folder
(`~/.cache/tinytorch/<name>/` on Linux). A file only ever enters that folder after its checksum
matched, so a folder holds complete files or none. Shipped datasets (tinydigits) live in the course,
in `datasets/<name>/`, beside a SHA256SUMS file written by their build script. Downloads in
progress wait in `<cache>/.downloads/`, where an interrupted one is resumed by the next run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tito.datasets.checksums import file_digest
from tito.datasets.errors import DataError, MissingDataError
from tito.datasets.registry import Dataset, FileSum

ENV_VAR = "TINYTORCH_DATA"
SUMS_FILE = "SHA256SUMS"
STAGING = ".downloads"  # under the cache root: partial and not-yet-installed downloads


def cache_root() -> Path:
    """$TINYTORCH_DATA, else the user cache folder (platformdirs when installed, else the usual place).

    Raises DataError when $TINYTORCH_DATA names something that is not a folder (a file, a device).
    """
    override = os.environ.get(ENV_VAR)
    if override:
        folder = Path(override).expanduser()
        if folder.exists() and not folder.is_dir():
            shown = override if len(override) <= 60 else override[:57] + "..."
            raise DataError(
                f"{ENV_VAR}={shown} is not a folder: point it at a folder (tito creates a missing one), "
                f"or run `unset {ENV_VAR}` to use the user cache folder."
            )
        return folder
    try:
        import platformdirs
    except ImportError:
        return _fallback_cache_dir()
    return Path(platformdirs.user_cache_dir("tinytorch", appauthor=False))


def _fallback_cache_dir() -> Path:
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "tinytorch" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "tinytorch"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "tinytorch"


def shipped_dir(dataset: Dataset) -> Path:
    """datasets/<name>/ of the course tito runs in, else of the checkout tito was installed from."""
    from tito.course import CourseError, find_root

    candidates = []
    try:
        candidates.append(find_root() / "datasets" / dataset.name)
    except CourseError:
        pass
    candidates.append(Path(__file__).resolve().parents[2] / "datasets" / dataset.name)
    for folder in candidates:
        if folder.is_dir():
            return folder
    return candidates[0]


def dataset_dir(dataset: Dataset, root: Path | None = None) -> Path:
    """The folder holding the dataset's files (it may not exist yet)."""
    if dataset.shipped:
        return shipped_dir(dataset)
    return Path(root or cache_root()) / dataset.name


def staging_dir(dataset: Dataset, root: Path | None = None) -> Path:
    return Path(root or cache_root()) / STAGING / dataset.name


def read_sums(path: Path) -> tuple[FileSum, ...]:
    """Parse a `sha256sum` file: one '<hex>  <name>' line per file."""
    if not path.is_file():
        raise MissingDataError(f"{path} is missing: the shipped data cannot be checked without it.")
    sums = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums.append(FileSum(name.lstrip("*"), digest.lower(), "sha256"))
    return tuple(sums)


def expected_files(dataset: Dataset, root: Path | None = None) -> tuple[FileSum, ...]:
    if dataset.shipped:
        return read_sums(dataset_dir(dataset) / SUMS_FILE)
    return dataset.files()


@dataclass(frozen=True)
class FileState:
    file: FileSum
    path: Path
    state: str  # "ok", "missing" or "bad"
    got: str | None = None  # the digest found, for "bad"


def check_file(file: FileSum, path: Path) -> FileState:
    if not path.is_file():
        return FileState(file, path, "missing")
    got = file_digest(path, file.algorithm)
    return FileState(file, path, "ok" if got == file.digest else "bad", got)


def verify(dataset: Dataset, root: Path | None = None) -> list[FileState]:
    """Check every file of the dataset against its checksum."""
    folder = dataset_dir(dataset, root)
    return [check_file(f, folder / f.path) for f in expected_files(dataset, root)]


def checksum_message(state: FileState, fix: str) -> str:
    return (
        f"{state.path} does not match its checksum ({state.file.algorithm} {state.got}, "
        f"expected {state.file.digest}): {fix}"
    )


@dataclass(frozen=True)
class Status:
    """What `tito data list` shows: presence and size only, no checksums (those are `verify`'s job)."""

    dataset: Dataset
    folder: Path
    present: int
    total: int
    size: int  # bytes on disk of the files present

    @property
    def state(self) -> str:
        if self.dataset.shipped:
            return "shipped" if self.present == self.total and self.total else "missing from the course"
        if self.present == self.total:
            return "cached"
        if self.present:
            return f"partial ({self.present} of {self.total} files)"
        return "not cached"


def status(dataset: Dataset, root: Path | None = None) -> Status:
    folder = dataset_dir(dataset, root)
    try:
        files = expected_files(dataset, root)
    except MissingDataError:
        files = ()
    present = [folder / f.path for f in files if (folder / f.path).is_file()]
    return Status(dataset, folder, len(present), len(files), sum(p.stat().st_size for p in present))
