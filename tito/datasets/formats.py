"""Readers for the two on-disk formats: IDX (MNIST) and the pickled CIFAR-10 batches.

They return raw arrays as stored (uint8 pixels); the loaders turn them into float32 NCHW.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from tito import files
from tito.datasets.errors import DataError

# IDX type codes (the third byte of the magic number) and the dtype each one means, big-endian.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _require_regular(path: Path) -> None:
    """A FIFO or a device would block `open` or never end: refuse it by name."""
    problem = files.not_regular(path)
    if problem:
        raise DataError(f"{path} {problem}; replace it with the real file.")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not): magic 00 00 TYPE NDIM, NDIM big-endian sizes, then the data."""
    path = Path(path)
    _require_regular(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} cannot be read ({exc}): download or import it again.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (it does not start with an IDX magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    if len(raw) != header + int(np.prod(shape)) * dtype.itemsize:
        raise DataError(f"{path} is truncated or padded: its header promises shape {shape}.")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


# The only things a CIFAR batch needs to rebuild its arrays. Anything else in a pickle could run code.
_PICKLE_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and NumPy arrays, and refuses every other class or function."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}: a CIFAR batch holds only arrays and lists")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickled CIFAR-10 batch: images uint8 (N, 3, 32, 32) and labels int64 (N,)."""
    path = Path(path)
    _require_regular(path)
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}.") from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DataError(f"{path} is not a CIFAR-10 batch ({exc}).") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path} is not a CIFAR-10 batch: it has no b'data' and b'labels'.")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path}: expected data of shape (N, 3072) and N labels, got {data.shape} and {len(labels)}.")
    return data.reshape(-1, 3, 32, 32), labels
