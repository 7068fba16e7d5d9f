"""The shipped tinydigits: its files match the checksum the build script recorded, and load as promised."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from tito import datasets
from tito.datasets.errors import ChecksumError

FOLDER = Path(__file__).resolve().parents[2] / "datasets" / "tinydigits"


def recorded_sums() -> dict[str, str]:
    lines = (FOLDER / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def test_the_shipped_files_match_the_recorded_checksums():
    sums = recorded_sums()
    assert sorted(sums) == ["tinydigits.npz"]
    for name, digest in sums.items():
        assert hashlib.sha256((FOLDER / name).read_bytes()).hexdigest() == digest


def test_the_data_is_compact_uint8_with_values_0_to_16():
    assert (FOLDER / "tinydigits.npz").stat().st_size < 200_000
    with np.load(FOLDER / "tinydigits.npz", allow_pickle=False) as stored:
        assert sorted(stored.files) == ["x_test", "x_train", "y_test", "y_train"]
        for key in stored.files:
            assert stored[key].dtype == np.uint8
        assert stored["x_train"].max() == 16 and stored["y_test"].max() == 9


def test_the_build_script_writes_these_exact_bytes_from_these_arrays():
    """The npz writer is reproducible (fixed timestamps), so a rebuild gives the recorded checksum."""
    spec = importlib.util.spec_from_file_location("build_tinydigits", FOLDER / "build_tinydigits.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)  # scikit-learn is imported only inside build_arrays(), not here
    with np.load(FOLDER / "tinydigits.npz", allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    assert build.npz_bytes(arrays) == (FOLDER / "tinydigits.npz").read_bytes()


def test_load_tinydigits_returns_the_fixed_split_as_float_nchw():
    x_train, y_train, x_test, y_test = datasets.load_tinydigits()
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.array_equal(x_train * 16, np.round(x_train * 16))  # the stored 0..16 levels, divided by 16
    assert np.bincount(y_test).tolist() == [36] * 10
    assert len(y_train) + len(y_test) == 1797
    x_only, y_only = datasets.load_tinydigits(split="test")
    assert np.array_equal(x_only, x_test) and np.array_equal(y_only, y_test)


def test_verify_and_status_see_the_shipped_files():
    tinydigits = datasets.get("tinydigits")
    assert [(s.file.path, s.state) for s in datasets.verify(tinydigits)] == [("tinydigits.npz", "ok")]
    assert datasets.status(tinydigits).state == "shipped"


def test_a_damaged_copy_is_refused(tmp_path):
    copy = tmp_path / "tinydigits"
    shutil.copytree(FOLDER, copy)
    data = bytearray((copy / "tinydigits.npz").read_bytes())
    data[-1] ^= 0xFF
    (copy / "tinydigits.npz").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="tinydigits.npz"):
        datasets.load_tinydigits(copy)
