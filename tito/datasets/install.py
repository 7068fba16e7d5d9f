"""Put a dataset into the cache: by downloading it, or by importing files fetched by hand.

Either way a file enters the dataset's folder only after its checksum matched, through a temporary
name and a rename, so the folder never holds a half-written or unverified file. Archives are
extracted (safely) into a temporary folder beside it, their members checked, then moved in.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from tito.datasets.archive import safe_extract
from tito.datasets.cache import check_file, dataset_dir, staging_dir
from tito.datasets.checksums import file_digest
from tito.datasets.download_bar import download_bar
from tito.datasets.errors import ChecksumError, DataError, DownloadError, MissingDataError
from tito.datasets.fetch import fetch
from tito.datasets.registry import Dataset, FileSum, Resource
from tito.files import atomic_copy


def download(
    dataset: Dataset,
    *,
    root: Path | None = None,
    split: str | None = None,
    force: bool = False,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 30.0,
    progress: bool = True,
) -> list[str]:
    """Fetch what is missing (everything with force=True) into the cache; return the paths installed.

    `split` limits the work to the files that split needs; `root` overrides the cache folder.
    """
    if dataset.shipped:
        return []
    folder = dataset_dir(dataset, root)
    installed: list[str] = []
    needed = [
        r for r in dataset.resources_for(split) if force or not all((folder / f.path).is_file() for f in r.installs())
    ]
    for position, resource in enumerate(needed):
        staged = staging_dir(dataset, root) / resource.filename
        with download_bar(resource.filename, progress, resource.size) as on_bytes:
            try:
                fetch(resource, staged, retries=retries, backoff=backoff, timeout=timeout, on_bytes=on_bytes)
            except DownloadError as exc:
                rest = needed[position:]
                raise DownloadError(
                    f"{exc} To install {dataset.name} offline, {fetch_by_hand(dataset, rest)}."
                ) from None
        try:
            installed += install_resource(resource, staged, folder)
        finally:
            staged.unlink(missing_ok=True)
    return installed


def import_path(dataset: Dataset, path: Path, *, root: Path | None = None) -> list[str]:
    """Install the dataset's files found at `path` (an archive, one file, or a folder of them).

    Every file found is checked before any is copied: one bad file and nothing is imported.
    """
    if dataset.shipped:
        raise DataError(f"{dataset.name} ships with the course in {dataset_dir(dataset)}: there is nothing to import.")
    path = Path(path).expanduser()
    if not path.exists():
        raise MissingDataError(
            f"{path} does not exist: give the path of a downloaded file or of a folder holding them."
        )
    found = _find_files(dataset, path)
    for source, expected in found:
        _check_before_import(source, expected)
    folder = dataset_dir(dataset, root)
    installed: list[str] = []
    for source, expected in found:
        if isinstance(expected, Resource):
            installed += install_resource(expected, source, folder)
        elif expected.path not in installed:
            atomic_copy(source, folder / expected.path)
            installed.append(expected.path)
    return list(dict.fromkeys(installed))


def install_resource(resource: Resource, file: Path, folder: Path) -> list[str]:
    """Install a downloaded resource whose checksum matched: extract an archive, else copy the file."""
    if not resource.members:
        atomic_copy(file, folder / resource.filename)
        return [resource.filename]
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder))
    try:
        safe_extract(file, scratch)
        states = [check_file(member, scratch / member.path) for member in resource.members]
        for state in states:
            if state.state == "missing":
                raise DataError(
                    f"{file} has no member {state.file.path}: it is not {resource.filename}. Nothing was installed."
                )
            if state.state == "bad":
                raise ChecksumError(
                    f"{state.file.path} in {file} has md5 {state.got}, expected {state.file.digest}. Nothing was installed."
                )
        for member in resource.members:
            (folder / member.path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(scratch / member.path, folder / member.path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [m.path for m in resource.members]


def fetch_by_hand(dataset: Dataset, resources: list[Resource] | tuple[Resource, ...]) -> str:
    """The clause that tells a user offline how to get files in by hand."""
    if len(resources) == 1:
        what, target = resources[0].urls[0], f"<path to {resources[0].filename}>"
    else:
        bases = {r.urls[0].rsplit("/", 1)[0] for r in resources}
        names = ", ".join(r.filename for r in resources)
        what = f"{names} from {bases.pop()}/" if len(bases) == 1 else ", ".join(r.urls[0] for r in resources)
        target = "<folder holding them>"
    return f"download {what} by hand and run `tito data import {dataset.name} {target}`"


def missing_message(dataset: Dataset, missing: list[str], folder: Path) -> str:
    """One line for files not in the cache: which, where, and the two ways to get them."""
    resources = list(dict.fromkeys(dataset.resource_for(p) for p in missing))
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return (
        f"{dataset.name} is not in the cache: {folder} has no {missing[0]}{more}. "
        f"Run `tito data download {dataset.name}`, or {fetch_by_hand(dataset, resources)}."
    )


# --- helpers -----------------------------------------------------------------------------------


def _find_files(dataset: Dataset, path: Path) -> list[tuple[Path, Resource | FileSum]]:
    """Pair each file at `path` with the download or installed file it should be, by name (or md5)."""
    by_name: dict[str, Resource | FileSum] = {r.filename: r for r in dataset.resources}
    for resource in dataset.resources:
        for member in resource.members:
            by_name.setdefault(PurePosixPath(member.path).name, member)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    found = [(f, by_name[f.name]) for f in files if f.name in by_name]
    if not found and path.is_file():
        md5 = file_digest(path, "md5")
        found = [(path, e) for e in by_name.values() if (e.md5 if isinstance(e, Resource) else e.digest) == md5]
    if not found:
        names = ", ".join(by_name)
        raise MissingDataError(
            f"{path} holds none of {dataset.name}'s files (looked for {names}). "
            "Files in another form (un-gzipped, re-packed) cannot be checked against the official checksums: "
            "point the loader at their folder instead (--data-dir)."
        )
    return found


def _check_before_import(source: Path, expected: Resource | FileSum) -> None:
    name, digest = (
        (expected.filename, expected.md5) if isinstance(expected, Resource) else (expected.path, expected.digest)
    )
    algorithm = "md5" if isinstance(expected, Resource) else expected.algorithm
    got = file_digest(source, algorithm)
    if got != digest:
        raise ChecksumError(
            f"{source} has {algorithm} {got}, but the official {name} has {algorithm} {digest}: nothing was imported. "
            "If it is your own copy in the official layout, point the loader at its folder instead (--data-dir)."
        )
