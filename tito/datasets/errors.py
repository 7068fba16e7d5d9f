"""The errors the datasets package raises. Each message is one line that says what to do next."""

from __future__ import annotations


class DataError(Exception):
    """A dataset could not be found, fetched, checked or read."""


class MissingDataError(DataError):
    """A file the caller needs is not in the cache (or in the folder it was given)."""


class ChecksumError(DataError):
    """A file's bytes are not the official ones: corrupt, truncated or a different release."""


class DownloadError(DataError):
    """Every URL of a file failed (offline, refused, or the server kept cutting the transfer short)."""


class UnsafeArchiveError(DataError):
    """An archive holds a member that would land outside the folder it is extracted into."""


class UnknownDatasetError(DataError):
    """The name is not in the registry."""
