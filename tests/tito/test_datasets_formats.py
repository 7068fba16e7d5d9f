"""The IDX and CIFAR readers, and the loaders reading a folder in the official layout (--data-dir)."""

from __future__ import annotations

import gzip
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from dataset_fixtures import cifar_batch, cifar_fixture, idx_bytes, mnist_fixture  # noqa: E402

from tito import datasets  # noqa: E402
from tito.datasets.errors import DataError, MissingDataError  # noqa: E402
from tito.datasets.formats import read_cifar_batch, read_idx  # noqa: E402

MNIST = mnist_fixture()
CIFAR = cifar_fixture()


def test_read_idx_reads_gzipped_and_plain_files(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "a").write_bytes(idx_bytes(images))
    for name in ("a.gz", "a"):
        got = read_idx(tmp_path / name)
        assert got.dtype == np.uint8 and np.array_equal(got, images)


def test_read_idx_decodes_big_endian_integers(tmp_path):
    values = np.array([1, -2, 70000], dtype=np.int32)
    (tmp_path / "ints").write_bytes(idx_bytes(values))
    assert read_idx(tmp_path / "ints").tolist() == [1, -2, 70000]


def test_read_idx_rejects_other_files_and_wrong_sizes(tmp_path):
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "text")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((3, 2, 2), np.uint8))[:-1])
    with pytest.raises(DataError, match=r"truncated.*\(3, 2, 2\)"):
        read_idx(tmp_path / "short")


def test_read_cifar_batch_returns_nchw_uint8_and_int64_labels(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    (tmp_path / "batch").write_bytes(cifar_batch(images, np.array([4, 0, 9]), "b"))
    got, labels = read_cifar_batch(tmp_path / "batch")
    assert np.array_equal(got, images) and labels.dtype == np.int64 and labels.tolist() == [4, 0, 9]


class _Payload:
    """Unpickling this would create a file: the reader must refuse before that happens."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_read_cifar_batch_refuses_pickles_that_run_code(tmp_path):
    marker = tmp_path / "was_run"
    (tmp_path / "batch").write_bytes(pickle.dumps({b"data": _Payload(marker), b"labels": []}))
    with pytest.raises(DataError, match="refusing to unpickle"):
        read_cifar_batch(tmp_path / "batch")
    assert not marker.exists()


def test_read_cifar_batch_checks_the_shape(tmp_path):
    (tmp_path / "batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [1, 2]}))
    with pytest.raises(DataError, match=r"\(N, 3072\)"):
        read_cifar_batch(tmp_path / "batch")


# --- loaders on a folder ---------------------------------------------------------------------------


def write_mnist(folder: Path, names, gzipped: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        data = MNIST.files[name]
        if gzipped:
            (folder / name).write_bytes(data)
        else:
            (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    return folder


def test_load_mnist_test_split_from_a_folder_with_only_the_t10k_files(tmp_path):
    folder = write_mnist(tmp_path, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    x, y = datasets.load_mnist(folder, split="test")
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x[:, 0] * 255, MNIST.x_test, atol=1e-4)
    assert y.tolist() == MNIST.y_test.tolist()
    with pytest.raises(MissingDataError, match=r"train-images-idx3-ubyte\.gz.*split='test'"):
        datasets.load_mnist(folder)


def test_load_mnist_reads_un_gzipped_files_too(tmp_path):
    folder = write_mnist(tmp_path, list(MNIST.files), gzipped=False)
    x_train, y_train, x_test, y_test = datasets.load_mnist(str(folder))
    assert x_train.shape == (6, 1, 28, 28) and x_test.shape == (4, 1, 28, 28)
    assert y_train.tolist() == MNIST.y_train.tolist()


def test_load_cifar10_from_either_folder(tmp_path):
    for path, data in CIFAR.members.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    x_train, y_train, x_test, y_test = datasets.load_cifar10(tmp_path)
    assert x_train.shape == (10, 3, 32, 32) and x_train.dtype == np.float32
    np.testing.assert_allclose(x_train * 255, CIFAR.x_train, atol=1e-4)
    assert y_train.dtype == np.int64 and y_train.tolist() == CIFAR.y_train.tolist()
    x_only, y_only = datasets.load_cifar10(tmp_path / "cifar-10-batches-py", split="test")
    assert np.array_equal(x_only, x_test) and y_only.tolist() == CIFAR.y_test.tolist()


def test_load_cifar10_names_a_missing_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(CIFAR.members["cifar-10-batches-py/test_batch"])
    assert datasets.load_cifar10(tmp_path, split="test")[0].shape == (3, 3, 32, 32)
    with pytest.raises(MissingDataError, match="data_batch_1"):
        datasets.load_cifar10(tmp_path, split="train")
    with pytest.raises(MissingDataError, match="holds no cifar-10-batches-py"):
        datasets.load_cifar10(tmp_path / "elsewhere")


def test_load_by_name_and_split_checks(tmp_path):
    folder = write_mnist(tmp_path, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    x, y = datasets.load("mnist", folder, split="test")
    assert len(x) == len(y) == 4
    with pytest.raises(ValueError, match="split must be"):
        datasets.load("mnist", folder, split="validation")
    with pytest.raises(datasets.UnknownDatasetError, match="tinydigits, mnist, cifar10"):
        datasets.load("imagenet")
