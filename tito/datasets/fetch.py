"""Fetch one file over HTTP: retried, resumed where the server allows it, verified before it is kept.

The bytes go to `<dest>.part`. When a transfer breaks, the next attempt asks the server for the
rest (an HTTP Range request); a server that ignores the request sends the whole file again. Only
when the file is complete and its md5 matches is it renamed to `dest`. A wrong checksum deletes the
part file, so a corrupt download never looks like a finished one; a transfer that keeps breaking
leaves it, and the next run resumes from it.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from tito import __version__
from tito.datasets.checksums import CHUNK, file_digest
from tito.datasets.errors import ChecksumError, DownloadError
from tito.datasets.registry import Resource

# Called with (bytes so far, total bytes or None) as a download progresses.
ByteHook = Callable[[int, int | None], None]

USER_AGENT = f"tinytorch-tito/{__version__}"


class _Transient(Exception):
    """A failure worth another attempt: a cut connection, a timeout, a busy server."""


def fetch(
    resource: Resource,
    dest: Path,
    *,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 30.0,
    on_bytes: ByteHook | None = None,
) -> Path:
    """Download `resource` to `dest`, trying its URLs in order; return `dest`, whose md5 matched.

    Each URL gets `retries` more attempts after the first, waiting `backoff`, then twice as long, and
    so on. Raises ChecksumError when a URL delivered the wrong bytes and no URL delivered the right
    ones, DownloadError when no URL delivered at all.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures: list[tuple[str, str]] = []
    bad_bytes: ChecksumError | None = None
    for url in resource.urls:
        for fresh_start in (False, True):
            if fresh_start:
                part.unlink(missing_ok=True)
            try:
                resumed = _download(url, part, resource, retries, backoff, timeout, on_bytes)
            except DownloadError as exc:
                failures.append((url, str(exc)))
                break
            got = file_digest(part, "md5")
            if got == resource.md5:
                os.replace(part, dest)
                return dest
            part.unlink()
            if resumed and not fresh_start:
                continue  # the earlier partial bytes may be stale: try once more from byte 0
            bad_bytes = ChecksumError(
                f"{resource.filename} from {url} has md5 {got}, expected {resource.md5}: "
                "the download was discarded and nothing was kept."
            )
            break
    if bad_bytes is not None:
        raise bad_bytes
    raise DownloadError(f"Could not download {resource.filename}: {_summary(failures)}.")


def _summary(failures: list[tuple[str, str]]) -> str:
    """'URL: reason' for each URL, or 'URL or URL: reason' when they all failed the same way."""
    reasons = {reason for _, reason in failures}
    if len(reasons) == 1:
        return f"{' or '.join(url for url, _ in failures)}: {reasons.pop()}"
    return "; ".join(f"{url}: {reason}" for url, reason in failures)


def _download(url, part: Path, resource: Resource, retries, backoff, timeout, on_bytes) -> bool:
    """Fill `part` with the whole file from `url`; return True if any bytes came from a resumed request."""
    resumed = False
    last = "no attempt was made"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        have = part.stat().st_size if part.exists() else 0
        if have and have == resource.size:
            return True  # a complete file left by an earlier run; the checksum decides
        try:
            resumed |= _transfer(url, part, have, resource.size, timeout, on_bytes)
            return resumed
        except _Transient as exc:
            last = str(exc)
    raise DownloadError(f"{last} (gave up after {retries + 1} attempts)")


def _transfer(url, part: Path, have: int, size_hint, timeout, on_bytes) -> bool:
    """One HTTP request that appends to `part` from byte `have`; True if the server honoured the Range."""
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with urlopen(Request(url, headers=headers), timeout=timeout) as response:
            resumed = have > 0 and response.status == 206 and _range_start(response) == have
            start = have if resumed else 0
            length = response.headers.get("Content-Length")
            expected = int(length) if length is not None else None
            total = start + expected if expected is not None else size_hint
            received = 0
            with open(part, "ab" if resumed else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    if on_bytes:
                        on_bytes(start + received, total)
            if expected is not None and received != expected:
                raise _Transient(f"the connection closed after {received:,} of {expected:,} bytes")
            return resumed
    except HTTPError as exc:
        if exc.code == 416 and have:
            part.unlink(missing_ok=True)  # our partial file is not a prefix the server knows: restart
            raise _Transient("the server refused to resume; starting again") from None
        if exc.code in (408, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from None
    except URLError as exc:
        if isinstance(exc.reason, socket.gaierror):
            raise DownloadError(f"cannot resolve the host, are you offline? ({exc.reason})") from None
        raise _Transient(str(exc.reason)) from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, TLS errors mid-transfer
        raise _Transient(f"{type(exc).__name__}: {exc}") from None


def _range_start(response) -> int | None:
    """The first byte of a 206 answer, from 'Content-Range: bytes START-END/TOTAL'."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None
