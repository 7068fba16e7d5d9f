"""The registry's official entries, and where the cache lives."""

from __future__ import annotations

import sys

import pytest

from tito import datasets
from tito.datasets import cache, registry


def test_mnist_has_the_four_official_files_and_their_well_known_md5s():
    mnist = datasets.get("mnist")
    assert {r.filename: r.md5 for r in mnist.resources} == {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    for resource in mnist.resources:
        assert any(url == f"http://yann.lecun.com/exdb/mnist/{resource.filename}" for url in resource.urls)
    assert [r.filename for r in mnist.resources_for("test")] == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


def test_cifar10_is_the_official_python_tarball():
    (tarball,) = datasets.get("cifar10").resources
    assert tarball.urls == ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
    assert tarball.md5 == "c58f30108f718f92721af3b95e74349a"
    names = [m.path.split("/")[-1] for m in tarball.members]
    assert names == [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch", "batches.meta"]


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(datasets.UnknownDatasetError, match="tinydigits, mnist, cifar10"):
        datasets.get("mnits")
    assert datasets.get(" MNIST ") is registry.MNIST


def test_the_cache_follows_tinytorch_data(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path / "data"))
    assert cache.cache_root() == tmp_path / "data"
    assert datasets.dataset_dir(datasets.get("cifar10")) == tmp_path / "data" / "cifar10"


def test_without_platformdirs_the_cache_is_the_usual_user_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYTORCH_DATA", raising=False)
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # importing it now raises ImportError
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "tinytorch"
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / "Library" / "Caches" / "tinytorch"


def test_status_counts_present_files(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    mnist = datasets.get("mnist")
    assert datasets.status(mnist).state == "not cached"
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"12345")
    state = datasets.status(mnist)
    assert (state.present, state.total, state.size, state.state) == (1, 4, 5, "partial (1 of 4 files)")
