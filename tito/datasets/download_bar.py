"""The download progress bar: a rich bar on stderr, so stdout stays clean for `tito data path`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tito.console import error_console
from tito.datasets.fetch import ByteHook


@contextmanager
def download_bar(label: str, enabled: bool = True, total: int | None = None) -> Iterator[ByteHook | None]:
    """Yield a hook for `fetch(on_bytes=...)` that moves a bar named `label` (None when disabled).

    `total` (bytes, when known) sizes the bar until the server sends its Content-Length.
    """
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=error_console()) as bar:
        task = bar.add_task(label, total=total)

        def on_bytes(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield on_bytes
