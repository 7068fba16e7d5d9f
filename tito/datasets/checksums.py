"""File digests, read in chunks so a 170 MB archive never sits in memory at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def new_hash(algorithm: str):
    """A hashlib object; md5 is used only to match published checksums, not for security."""
    return hashlib.new(algorithm, usedforsecurity=False)


def file_digest(path: Path, algorithm: str = "md5") -> str:
    digest = new_hash(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
