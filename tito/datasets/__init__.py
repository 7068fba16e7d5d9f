"""Datasets for the milestones: a registry with official URLs and checksums, a verified cache, loaders.

    from tito.datasets import load_tinydigits, load_mnist, load_cifar10
    x_train, y_train, x_test, y_test = load_tinydigits()

Files: registry (what exists), cache (where it lives, what is there), fetch (one file over HTTP),
archive (safe extraction), install (download or import into the cache), formats (IDX and CIFAR
readers), loaders (arrays out).
"""

from tito.datasets.cache import cache_root, dataset_dir, status, verify
from tito.datasets.errors import (
    ChecksumError,
    DataError,
    DownloadError,
    MissingDataError,
    UnknownDatasetError,
    UnsafeArchiveError,
)
from tito.datasets.formats import read_cifar_batch, read_idx
from tito.datasets.install import download, import_path
from tito.datasets.loaders import CIFAR10_CLASSES, load, load_cifar10, load_mnist, load_tinydigits
from tito.datasets.registry import DATASETS, Dataset, FileSum, Resource, get

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
