"""Installing datasets into the cache: download from a local server, import by hand, verify, load."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from dataset_fixtures import (  # noqa: E402
    FileServer,
    cifar_dataset,
    cifar_fixture,
    closed_port_url,
    md5,
    mnist_dataset,
    mnist_fixture,
    tar_gz,
)

from tito import datasets  # noqa: E402
from tito.datasets import registry  # noqa: E402
from tito.datasets.errors import ChecksumError, DataError, DownloadError, MissingDataError, UnsafeArchiveError  # noqa: E402

MNIST = mnist_fixture()
CIFAR = cifar_fixture()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder that the loaders and `tito data` use."""
    root = tmp_path / "cache"
    monkeypatch.setenv("TINYTORCH_DATA", str(root))
    return root


@pytest.fixture
def server():
    with FileServer() as srv:
        for name, data in MNIST.files.items():
            srv.files[f"/mnist/{name}"] = data
        srv.files["/cifar/cifar-10-python.tar.gz"] = CIFAR.archive
        yield srv


@pytest.fixture
def mnist(server, monkeypatch):
    """The fixture MNIST, served locally and standing in for the registry's entry."""
    entry = mnist_dataset(server.url + "/mnist", MNIST.files)
    monkeypatch.setitem(registry.DATASETS, "mnist", entry)
    return entry


@pytest.fixture
def cifar(server, monkeypatch):
    entry = cifar_dataset(server.url + "/cifar", CIFAR.archive, CIFAR.members)
    monkeypatch.setitem(registry.DATASETS, "cifar10", entry)
    return entry


def quietly(dataset, **options):
    return datasets.download(dataset, backoff=0, timeout=5, progress=False, **options)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- download ------------------------------------------------------------------------------------


def test_download_mnist_then_load_it_from_the_cache(cache, mnist):
    assert sorted(quietly(mnist)) == sorted(MNIST.files)
    x_train, y_train, x_test, y_test = datasets.load_mnist()
    assert x_train.shape == (6, 1, 28, 28) and x_train.dtype == np.float32
    np.testing.assert_allclose(x_train[:, 0] * 255, MNIST.x_train, atol=1e-4)
    assert y_test.dtype == np.int64 and y_test.tolist() == MNIST.y_test.tolist()
    assert files_under(cache) == sorted(f"mnist/{n}" for n in MNIST.files)  # nothing staged is left


def test_download_of_one_split_fetches_only_its_files(cache, mnist, server):
    quietly(mnist, split="test")
    assert files_under(cache / "mnist") == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert server.requests("/mnist/train-images-idx3-ubyte.gz") == []
    x_test, y_test = datasets.load_mnist(split="test")
    assert x_test.shape == (4, 1, 28, 28)


def test_download_skips_what_is_cached_unless_forced(cache, mnist, server):
    quietly(mnist)
    before = len(server.log)
    assert quietly(mnist) == []
    assert len(server.log) == before
    assert len(quietly(mnist, force=True)) == 4


def test_download_cifar_extracts_and_verifies_the_members(cache, cifar):
    installed = quietly(cifar)
    assert sorted(installed) == sorted(CIFAR.members)
    assert files_under(cache) == sorted(f"cifar10/{m}" for m in CIFAR.members)  # the archive is not kept
    x_train, y_train, x_test, y_test = datasets.load_cifar10()
    assert x_train.shape == (10, 3, 32, 32) and x_train.dtype == np.float32
    np.testing.assert_allclose(x_test * 255, CIFAR.x_test, atol=1e-4)
    assert y_train.dtype == np.int64 and y_train.tolist() == CIFAR.y_train.tolist()


def test_a_corrupt_download_names_the_file_and_leaves_the_cache_empty(cache, mnist, server):
    server.modes["/mnist/t10k-images-idx3-ubyte.gz"] = "corrupt"
    with pytest.raises(ChecksumError, match="t10k-images-idx3-ubyte.gz"):
        quietly(mnist, split="test")
    assert "t10k-images-idx3-ubyte.gz" not in files_under(cache / "mnist")
    assert not [p for p in files_under(cache) if p.endswith((".part", ".tmp"))]


def test_an_archive_with_a_parent_member_is_refused_and_nothing_escapes(cache, tmp_path, server, monkeypatch):
    evil = tar_gz({"cifar-10-batches-py/test_batch": b"x", "../escaped.txt": b"gotcha"})
    server.files["/cifar/cifar-10-python.tar.gz"] = evil
    entry = cifar_dataset(server.url + "/cifar", evil, CIFAR.members)
    with pytest.raises(UnsafeArchiveError, match=r"\.\./escaped\.txt"):
        quietly(entry)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert files_under(cache / "cifar10") == []  # no member, no scratch folder


def test_an_archive_whose_member_is_wrong_installs_nothing(cache, server):
    members = dict(CIFAR.members)
    members["cifar-10-batches-py/test_batch"] = b"not the official batch"
    archive = tar_gz(members)
    server.files["/cifar/cifar-10-python.tar.gz"] = archive
    entry = cifar_dataset(server.url + "/cifar", archive, CIFAR.members)  # checksums of the right members
    with pytest.raises(ChecksumError, match="test_batch"):
        quietly(entry)
    assert files_under(cache / "cifar10") == []


def test_offline_download_gives_one_message_with_file_url_and_import_command(cache, monkeypatch):
    entry = mnist_dataset(closed_port_url() + "/mnist", MNIST.files)
    with pytest.raises(DownloadError) as error:
        quietly(entry, retries=0)
    message = str(error.value)
    assert "\n" not in message
    assert "train-images-idx3-ubyte.gz" in message
    assert entry.resources[0].urls[0] in message
    assert "tito data import mnist" in message
    assert files_under(cache / "mnist") == []


# --- loading what is not there -------------------------------------------------------------------


def test_loading_a_missing_dataset_says_what_to_fetch_and_how(cache, mnist):
    with pytest.raises(MissingDataError) as error:
        datasets.load_mnist(split="test")
    message = str(error.value)
    assert "t10k-images-idx3-ubyte.gz" in message and str(cache / "mnist") in message
    assert mnist.resources[2].urls[0].rsplit("/", 1)[0] in message
    assert "tito data download mnist" in message and "tito data import mnist" in message


def test_loading_with_download_true_fetches_first(cache, mnist):
    x_test, y_test = datasets.load_mnist(split="test", download=True)
    assert y_test.tolist() == MNIST.y_test.tolist()


def test_a_tampered_cache_file_is_caught_before_use(cache, mnist):
    quietly(mnist, split="test")
    path = cache / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(ChecksumError) as error:
        datasets.load_mnist(split="test")
    assert str(path) in str(error.value) and "tito data download mnist --force" in str(error.value)


# --- import ----------------------------------------------------------------------------------------


def test_import_a_downloaded_archive(cache, cifar, tmp_path):
    archive = tmp_path / "downloads" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(CIFAR.archive)
    assert sorted(datasets.import_path(cifar, archive)) == sorted(CIFAR.members)
    assert archive.exists()  # the user's file is left alone
    assert datasets.load_cifar10(split="test")[1].tolist() == CIFAR.y_test.tolist()


def test_import_an_extracted_folder(cache, cifar, tmp_path):
    for path, data in CIFAR.members.items():
        (tmp_path / "mine" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "mine" / path).write_bytes(data)
    assert sorted(datasets.import_path(cifar, tmp_path / "mine")) == sorted(CIFAR.members)
    assert [s.state for s in datasets.verify(cifar)] == ["ok"] * len(CIFAR.members)


def test_import_a_folder_with_some_of_the_files(cache, mnist, tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(MNIST.files[name])
    (tmp_path / "notes.txt").write_text("unrelated")
    assert sorted(datasets.import_path(mnist, tmp_path)) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert datasets.status(mnist).state == "partial (2 of 4 files)"
    assert [s.state for s in datasets.verify(mnist)] == ["missing", "missing", "ok", "ok"]


def test_import_a_renamed_file_is_matched_by_checksum(cache, mnist, tmp_path):
    renamed = tmp_path / "t10k-labels-idx1-ubyte (1).gz"
    renamed.write_bytes(MNIST.files["t10k-labels-idx1-ubyte.gz"])
    assert datasets.import_path(mnist, renamed) == ["t10k-labels-idx1-ubyte.gz"]


def test_import_of_a_bad_file_names_it_and_imports_nothing(cache, mnist, tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(MNIST.files["t10k-images-idx3-ubyte.gz"])
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(b"truncated")
    with pytest.raises(ChecksumError) as error:
        datasets.import_path(mnist, tmp_path)
    assert str(bad) in str(error.value) and md5(MNIST.files[bad.name]) in str(error.value)
    assert files_under(cache) == []  # the good file was not imported either


def test_import_of_a_folder_without_the_files_says_what_it_looked_for(cache, mnist, tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"un-gzipped")
    with pytest.raises(MissingDataError, match="t10k-images-idx3-ubyte.gz.*--data-dir"):
        datasets.import_path(mnist, tmp_path)


def test_shipped_datasets_are_not_downloaded_or_imported(cache, tmp_path):
    tinydigits = registry.get("tinydigits")
    assert datasets.download(tinydigits, progress=False) == []
    with pytest.raises(DataError, match="ships with the course"):
        datasets.import_path(tinydigits, tmp_path)
