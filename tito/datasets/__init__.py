"""Datasets for the milestones: a registry with official URLs and checksums, a verified cache, loaders.

    from tito.datasets import load_tinydigits, load_mnist, load_cifar10
    x_train, y_train, x_test, y_test = load_tinydigits()

Files: registry (what exists), cache (where it lives, what is there), fetch (one file over HTTP),
archive (safe extraction), install (download or import into the cache), formats (IDX and CIFAR
readers), loaders (arrays out).
"""

import importlib

from tito.datasets.cache import cache_root, dataset_dir, status, verify
from tito.datasets.errors import (
    ChecksumError,
    DataError,
    DownloadError,
    MissingDataError,
    UnknownDatasetError,
    UnsafeArchiveError,
)
from tito.datasets.install import download, import_path
from tito.datasets.registry import DATASETS, Dataset, FileSum, Resource, get

# The readers and loaders need NumPy; `tito data` and `tito --help` do not, so they load on first use.
_LAZY = {
    "read_cifar_batch": "formats",
    "read_idx": "formats",
    "CIFAR10_CLASSES": "loaders",
    "load": "loaders",
    "load_cifar10": "loaders",
    "load_mnist": "loaders",
    "load_tinydigits": "loaders",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "ChecksumError",
    "DataError",
    "Dataset",
    "DownloadError",
    "FileSum",
    "MissingDataError",
    "Resource",
    "UnknownDatasetError",
    "UnsafeArchiveError",
    "cache_root",
    "dataset_dir",
    "download",
    "get",
    "import_path",
    "load",
    "load_cifar10",
    "load_mnist",
    "load_tinydigits",
    "read_cifar_batch",
    "read_idx",
    "status",
    "verify",
]
