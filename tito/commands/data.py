"""`tito data`: list, download, import, verify and locate the datasets the milestones train on.

A thin layer over `tito.datasets`; every message ends in the command to run next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tito import datasets
from tito.commands.common import MAX_SECONDS, fail, finite_seconds
from tito.console import console
from tito.datasets.cache import ENV_VAR

app = typer.Typer(
    help="Datasets for the milestones: list, download, import, verify, path.",
    no_args_is_help=True,
)


@app.callback()
def _check_cache_folder() -> None:
    """Every data command needs a usable cache folder: a $TINYTORCH_DATA that is a file is one line."""
    try:
        datasets.cache_root()
    except datasets.DataError as exc:
        fail(str(exc))


NameArg = Annotated[str, typer.Argument(help="Dataset name: tinydigits, mnist or cifar10 (see `tito data list`).")]


def _dataset(name: str) -> datasets.Dataset:
    try:
        return datasets.get(name)
    except datasets.UnknownDatasetError as exc:
        fail(str(exc), code=2)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _short(path: Path) -> str:
    """The path with the home folder written as ~, to keep the table narrow."""
    try:
        return "~/" + str(Path(path).relative_to(Path.home()))
    except ValueError:
        return str(path)


@app.command("list")
def list_() -> None:
    """Show each dataset: shipped or cached, its size (on disk, or to download), and where it lives."""
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    table.add_column("Dataset", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Size", no_wrap=True)
    table.add_column("Location", overflow="fold")
    for dataset in datasets.DATASETS.values():
        state = datasets.status(dataset)
        size = _size(state.size) if state.present or dataset.shipped else _size(dataset.download_size())
        table.add_row(dataset.name, state.state, size, _short(state.folder))
    out = console()
    out.print(table)
    out.print(
        f"Cache folder: {_short(datasets.cache_root())} (set {ENV_VAR} to use another). "
        "Fetch a dataset with `tito data download NAME`.",
        soft_wrap=True,
    )


@app.command()
def download(
    name: NameArg,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even what is already cached.")] = False,
    retries: Annotated[int, typer.Option(min=0, max=100, help="Extra attempts per URL when a transfer breaks.")] = 3,
    timeout: Annotated[
        float,
        typer.Option(
            min=1, max=MAX_SECONDS, callback=finite_seconds, help="Seconds to wait for the server before retrying."
        ),
    ] = 30.0,
) -> None:
    """Download a dataset into the cache, verifying every file's checksum before keeping it."""
    dataset = _dataset(name)
    folder = datasets.dataset_dir(dataset)
    if dataset.shipped:
        console().print(f"{dataset.name} ships with the course in {folder}: nothing to download.")
        return
    try:
        installed = datasets.download(dataset, force=force, retries=retries, timeout=timeout)
    except datasets.DataError as exc:
        fail(str(exc))
    if installed:
        console().print(f"Downloaded and verified {len(installed)} file(s) of {dataset.name} into {folder}.")
    else:
        console().print(f"{dataset.name} is already in {folder}: nothing to download (--force fetches it again).")


@app.command("import")
def import_(
    name: NameArg,
    path: Annotated[Path, typer.Argument(help="A downloaded archive or file, or a folder holding the files.")],
) -> None:
    """Import files you downloaded yourself: each must match its official checksum."""
    dataset = _dataset(name)
    if not path.exists():
        fail(f"{path} does not exist: give the path of a downloaded file or of a folder holding them.", code=2)
    try:
        installed = datasets.import_path(dataset, path)
    except datasets.DataError as exc:
        fail(str(exc))
    folder = datasets.dataset_dir(dataset)
    out = console()
    out.print(f"Imported {len(installed)} verified file(s) into {folder}: {', '.join(installed)}.")
    state = datasets.status(dataset)
    if state.present < state.total:
        out.print(
            f"{dataset.name} is {state.state}: the rest comes with `tito data download {dataset.name}` or another import."
        )


@app.command()
def verify(name: NameArg) -> None:
    """Check every file of a dataset against its checksum; exit 1 if one is missing or wrong."""
    dataset = _dataset(name)
    try:
        states = datasets.verify(dataset)
    except datasets.DataError as exc:
        fail(str(exc))
    out = console()
    for state in states:
        if state.state == "bad":
            detail = f"{state.file.algorithm} {state.got}, expected {state.file.digest}"
            out.print(f"BAD      {state.file.path} ({detail})")
        else:
            out.print(f"{state.state:<8} {state.file.path}")
    bad = [s for s in states if s.state == "bad"]
    missing = [s for s in states if s.state == "missing"]
    folder = datasets.dataset_dir(dataset)
    if bad:
        if dataset.shipped:
            fix = "restore it with `git checkout -- datasets/`"
        else:
            fix = f"run `tito data download {dataset.name} --force`"
        fail(f"{len(bad)} file(s) of {dataset.name} in {folder} do not match their checksum: {fix}.")
    if missing:
        fail(
            f"{len(missing)} of {len(states)} file(s) of {dataset.name} are not in {folder}: "
            f"run `tito data download {dataset.name}`."
        )
    out.print(f"All {len(states)} file(s) of {dataset.name} match their checksums.")


@app.command()
def path(name: NameArg) -> None:
    """Print the folder that holds (or will hold) a dataset, and nothing else."""
    typer.echo(str(datasets.dataset_dir(_dataset(name))))
