"""`tito data list | download | import | verify | path`, in-process, against a local server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from dataset_fixtures import (  # noqa: E402
    FileServer,
    cifar_dataset,
    cifar_fixture,
    closed_port_url,
    mnist_dataset,
    mnist_fixture,
)

from tito.cli import app  # noqa: E402
from tito.datasets import registry  # noqa: E402

MNIST = mnist_fixture()
CIFAR = cifar_fixture()
runner = CliRunner()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "cache"


@pytest.fixture
def server(monkeypatch):
    """Fixture MNIST and CIFAR-10 on 127.0.0.1, standing in for the registry's entries."""
    with FileServer() as srv:
        for name, data in MNIST.files.items():
            srv.files[f"/mnist/{name}"] = data
        srv.files["/cifar/cifar-10-python.tar.gz"] = CIFAR.archive
        monkeypatch.setitem(registry.DATASETS, "mnist", mnist_dataset(srv.url + "/mnist", MNIST.files))
        monkeypatch.setitem(
            registry.DATASETS, "cifar10", cifar_dataset(srv.url + "/cifar", CIFAR.archive, CIFAR.members)
        )
        yield srv


def data(*args: str):
    return runner.invoke(app, ["data", *args])


def rows(output: str) -> dict[str, str]:
    """`tito data list` lines by dataset name."""
    return {line.split()[0]: line for line in output.splitlines() if line.split()}


def test_list_shows_each_dataset_state_size_and_place(cache, server):
    cifar = data("download", "cifar10")
    assert cifar.exit_code == 0, cifar.output
    result = data("list")
    assert result.exit_code == 0
    table = rows(result.stdout)
    assert "shipped" in table["tinydigits"] and "117.7 KB" in table["tinydigits"]
    assert "datasets/tinydigits" in table["tinydigits"]
    assert table["cifar10"].split()[1] == "cached" and str(cache / "cifar10") in table["cifar10"]
    assert table["mnist"].split()[1:3] == ["not", "cached"]
    assert f"Cache folder: {cache}" in result.stdout


def test_download_fetches_and_verifies(cache, server):
    result = data("download", "mnist")
    assert result.exit_code == 0, result.output
    assert "Downloaded and verified 4 file(s) of mnist" in result.stdout
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(MNIST.files)
    again = data("download", "mnist")
    assert again.exit_code == 0 and "already in" in again.stdout


def test_download_of_a_corrupt_file_fails_naming_it(cache, server):
    server.modes["/mnist/train-labels-idx1-ubyte.gz"] = "corrupt"
    result = data("download", "mnist")
    assert result.exit_code == 1
    assert "train-labels-idx1-ubyte.gz" in result.stderr and "nothing was kept" in result.stderr
    assert not (cache / "mnist" / "train-labels-idx1-ubyte.gz").exists()


def test_download_offline_gives_one_error_line_with_url_and_import_command(cache, monkeypatch):
    entry = mnist_dataset(closed_port_url() + "/mnist", MNIST.files)
    monkeypatch.setitem(registry.DATASETS, "mnist", entry)
    result = data("download", "mnist", "--retries", "0")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert entry.resources[0].urls[0] in errors[0] and "tito data import mnist" in errors[0]


def test_import_a_downloaded_archive_then_verify(cache, server, tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(CIFAR.archive)
    result = data("import", "cifar10", str(archive))
    assert result.exit_code == 0, result.output
    assert "Imported 7 verified file(s)" in result.stdout
    checked = data("verify", "cifar10")
    assert checked.exit_code == 0 and "All 7 file(s) of cifar10 match" in checked.stdout


def test_import_part_of_mnist_says_what_is_still_missing(cache, server, tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(MNIST.files["t10k-images-idx3-ubyte.gz"])
    result = data("import", "mnist", str(tmp_path))
    assert result.exit_code == 0
    assert "partial (1 of 4 files)" in result.stdout and "tito data download mnist" in result.stdout
    checked = data("verify", "mnist")
    assert checked.exit_code == 1 and "3 of 4 file(s) of mnist are not in" in checked.stderr


def test_import_of_a_wrong_file_fails_and_a_missing_path_is_a_usage_error(cache, server, tmp_path):
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(b"not it")
    result = data("import", "mnist", str(bad))
    assert result.exit_code == 1 and "nothing was imported" in result.stderr
    assert not (cache / "mnist").exists() or not any((cache / "mnist").iterdir())
    assert data("import", "mnist", str(tmp_path / "nowhere")).exit_code == 2


def test_verify_reports_a_damaged_file(cache, server):
    assert data("download", "mnist").exit_code == 0
    damaged = cache / "mnist" / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(b"damaged")
    result = data("verify", "mnist")
    assert result.exit_code == 1
    assert "BAD      t10k-images-idx3-ubyte.gz" in result.stdout
    assert "tito data download mnist --force" in result.stderr


def test_verify_and_download_of_the_shipped_dataset(cache):
    assert data("verify", "tinydigits").exit_code == 0
    result = data("download", "tinydigits")
    assert result.exit_code == 0 and "ships with the course" in result.stdout


def test_path_prints_only_the_folder(cache):
    result = data("path", "mnist")
    assert result.exit_code == 0 and result.stdout == f"{cache / 'mnist'}\n"


def test_an_unknown_dataset_is_a_usage_error_listing_the_names(cache):
    result = data("verify", "imagenet")
    assert result.exit_code == 2 and "Valid datasets: tinydigits, mnist, cifar10" in result.stderr
