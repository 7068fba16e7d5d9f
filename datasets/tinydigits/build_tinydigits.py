#!/usr/bin/env python3
"""Rebuild tinydigits.npz and SHA256SUMS from the digits that scikit-learn bundles.

    pip install scikit-learn          # needed only here, never to use the data
    python datasets/tinydigits/build_tinydigits.py            # rewrite the files
    python datasets/tinydigits/build_tinydigits.py --check    # exit 1 if the shipped files differ

The 1,797 images (8x8, values 0..16) are split with a fixed seed: 36 of each digit go to the test
set (360, a balanced fifth), the other 1,437 to training; each split keeps the original order.
The npz is written uncompressed with fixed timestamps, so the same data always gives the same bytes and the same checksum.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "tinydigits.npz"
SUMS = HERE / "SHA256SUMS"
SEED = 1797
TEST_PER_DIGIT = 36


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split: for each digit, a seeded choice of 36 of its images go to test."""
    rng = np.random.default_rng(SEED)
    test = []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        test.extend(rng.permutation(members)[:TEST_PER_DIGIT])
    test = np.sort(np.array(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def build_arrays() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # integers 0..16 stored as float64 by scikit-learn
    labels = digits.target.astype(np.uint8)
    assert images.shape == (1797, 8, 8) and np.array_equal(images, digits.images), "unexpected digits data"
    train, test = split_indices(labels)
    return {"x_train": images[train], "y_train": labels[train], "x_test": images[test], "y_test": labels[test]}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz (a zip of .npy files) that np.load reads, with fixed timestamps so it is reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), npy.getvalue())
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the shipped files; write nothing")
    args = parser.parse_args()

    data = npz_bytes(build_arrays())
    sums = f"{hashlib.sha256(data).hexdigest()}  {DATA.name}\n"
    if args.check:
        same = DATA.is_file() and DATA.read_bytes() == data and SUMS.is_file() and SUMS.read_text() == sums
        verdict = "match" if same else "DIFFER from"
        print(f"tinydigits: the shipped files {verdict} a fresh build.")
        return 0 if same else 1
    write_atomic(DATA, data)
    write_atomic(SUMS, sums.encode())
    print(f"wrote {DATA.name} ({len(data):,} bytes) and {SUMS.name}: {sums.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
