"""The loaders: plain functions returning NumPy arrays ready for `tinytorch.data`.

Images come back float32, NCHW, scaled to [0, 1]; labels int64. With `split=None` a loader returns
`(x_train, y_train, x_test, y_test)`; with `split="train"` or `split="test"` it returns `(x, y)` and
reads only that split's files.

    x_train, y_train, x_test, y_test = load_tinydigits()     # (1437, 1, 8, 8) and (360, 1, 8, 8)
    x_test, y_test = load_mnist("/data/mnist", split="test")  # a folder with just the t10k files
    x_train, y_train, x_test, y_test = load_cifar10("/data")  # /data/cifar-10-batches-py/

`data_dir=None` reads the cache (or, for tinydigits, the course's datasets/ folder) and checks each
file against its official checksum before using it. A folder you pass is read as it is, which is how
you use your own copy in the official layout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tito import files
from tito.datasets import install, registry
from tito.datasets.cache import SUMS_FILE, check_file, checksum_message, dataset_dir, read_sums
from tito.datasets.errors import ChecksumError, DataError, MissingDataError
from tito.datasets.formats import read_cifar_batch, read_idx
from tito.datasets.registry import CIFAR10_FOLDER, Dataset

SPLITS = ("train", "test")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MNIST_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_BATCHES = {"train": tuple(f"data_batch_{k}" for k in range(1, 6)), "test": ("test_batch",)}


def _read_npz(path: Path, wanted: list[str]) -> dict:
    """The arrays of an .npz archive; a damaged or foreign file is a DataError naming it, never a traceback."""
    if files.not_regular(path):
        raise DataError(f"{path} is not a regular file; remove it and give a folder holding the real file.")
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except Exception as exc:  # BadZipFile, a bad array header, a truncated member, a pickle...
        raise DataError(
            f"{path} is not a NumPy archive tito can read ({type(exc).__name__}); replace it with the course's copy."
        ) from None
    missing = [key for key in wanted if key not in arrays]
    if missing:
        raise DataError(f"{path} lacks the arrays {', '.join(missing)}; replace it with the course's copy.")
    return arrays


def load_tinydigits(data_dir: str | Path | None = None, *, split: str | None = None, download: bool = False):
    """The shipped 8x8 digits: x float32 (N, 1, 8, 8) in [0, 1], y int64; 1,437 train and 360 test.

    `data_dir` is a folder holding tinydigits.npz (default: the course's datasets/tinydigits/).
    `download` is accepted so all loaders share one signature; there is nothing to download.
    """
    dataset = registry.get("tinydigits")
    folder = Path(data_dir) if data_dir is not None else dataset_dir(dataset)
    path = folder / "tinydigits.npz"
    if not path.is_file():
        raise MissingDataError(
            f"{path} is missing: tinydigits ships with the course in datasets/tinydigits/; "
            "run from inside the course folder, or restore it with `git checkout -- datasets/tinydigits`."
        )
    if data_dir is None or (folder / SUMS_FILE).is_file():
        for expected in read_sums(folder / SUMS_FILE):
            state = check_file(expected, folder / expected.path)
            _require_ok(state, "restore it with `git checkout -- datasets/tinydigits`.")
    arrays = _read_npz(path, [f"{kind}_{name}" for name in ("train", "test") for kind in ("x", "y")])

    def part(name: str):
        return _scaled(arrays[f"x_{name}"], 16.0), arrays[f"y_{name}"].astype(np.int64)

    return _splits(split, part)


def load_mnist(data_dir: str | Path | None = None, *, split: str | None = None, download: bool = False):
    """MNIST: x float32 (N, 1, 28, 28) in [0, 1], y int64; 60,000 train and 10,000 test.

    `data_dir` holds the IDX files, gzipped or not (`t10k-images-idx3-ubyte.gz` or
    `t10k-images-idx3-ubyte`); split="test" needs only the two t10k files. `download=True` fetches
    missing files into the cache first.
    """
    dataset = registry.get("mnist")
    cached = _from_cache(dataset, split, download) if data_dir is None else {}

    def part(name: str):
        if data_dir is None:
            image_path, label_path = (cached[p] for p in dataset.split_files(name))
        else:
            image_path, label_path = (_find_idx(Path(data_dir), stem, name) for stem in MNIST_STEMS[name])
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{image_path} and {label_path} do not fit together: shapes {images.shape} and {labels.shape}."
            )
        return _scaled(images, 255.0), labels.astype(np.int64)

    return _splits(split, part)


def load_cifar10(data_dir: str | Path | None = None, *, split: str | None = None, download: bool = False):
    """CIFAR-10: x float32 (N, 3, 32, 32) in [0, 1] (RGB), y int64; 50,000 train and 10,000 test.

    `data_dir` holds `cifar-10-batches-py/` (or is that folder). Class names: CIFAR10_CLASSES.
    `download=True` fetches the archive into the cache first (170 MB).
    """
    dataset = registry.get("cifar10")
    cached = _from_cache(dataset, split, download) if data_dir is None else {}

    def part(name: str):
        if data_dir is None:
            paths = [cached[p] for p in dataset.split_files(name)]
        else:
            folder = _cifar_folder(Path(data_dir))
            paths = [folder / batch for batch in CIFAR10_BATCHES[name]]
            for path in paths:
                if not path.is_file():
                    raise MissingDataError(
                        f"{path} is missing: {folder} should hold CIFAR-10's python layout "
                        "(data_batch_1 ... data_batch_5, test_batch)."
                    )
        batches = [read_cifar_batch(p) for p in paths]
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        return _scaled(images, 255.0), labels

    return _splits(split, part)


LOADERS: dict[str, Callable] = {"tinydigits": load_tinydigits, "mnist": load_mnist, "cifar10": load_cifar10}


def load(name: str, data_dir: str | Path | None = None, *, split: str | None = None, **options):
    """Load a dataset by name (for a `--dataset NAME` option): load("mnist", split="test")."""
    registry.get(name)  # an unknown name fails with the list of valid ones
    return LOADERS[name.strip().lower()](data_dir, split=split, **options)


# --- helpers -----------------------------------------------------------------------------------


def _splits(split: str | None, part: Callable):
    if split is None:
        return (*part("train"), *part("test"))
    if split not in SPLITS:
        raise ValueError(f"split must be 'train', 'test' or None (both), not {split!r}.")
    return part(split)


def _scaled(raw: np.ndarray, top: float) -> np.ndarray:
    """uint8 pixels (N, H, W) or (N, C, H, W) -> float32 NCHW in [0, 1]."""
    images = raw.astype(np.float32)
    images *= np.float32(1.0 / top)
    return images[:, None] if images.ndim == 3 else images


# Files already checked in this process, by (path, size, mtime): a second load does not hash again.
_verified: set[tuple[str, int, int]] = set()


def _from_cache(dataset: Dataset, split: str | None, download: bool) -> dict[str, Path]:
    """The cached files a split (None: both) needs, each checked against its checksum; fetched first if asked."""
    folder = dataset_dir(dataset)
    splits = SPLITS if split is None else (split,)
    wanted = list(dict.fromkeys(p for name in splits for p in dataset.split_files(name)))
    missing = [p for p in wanted if not (folder / p).is_file()]
    if missing and download:
        install.download(dataset, split=split)
        missing = [p for p in wanted if not (folder / p).is_file()]
    if missing:
        raise MissingDataError(install.missing_message(dataset, missing, folder))
    sums = {f.path: f for f in dataset.files()}
    for relative in wanted:
        path = folder / relative
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _verified:
            _require_ok(check_file(sums[relative], path), f"run `tito data download {dataset.name} --force`.")
            _verified.add(key)
    return {p: folder / p for p in wanted}


def _require_ok(state, fix: str) -> None:
    if state.state == "missing":
        raise MissingDataError(f"{state.path} is missing: {fix}")
    if state.state == "bad":
        raise ChecksumError(checksum_message(state, fix))


def _find_idx(folder: Path, stem: str, split: str) -> Path:
    """`stem`.gz or `stem` in `folder` (also the `t10k-images.idx3-ubyte` spelling some copies use)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        if (folder / name).is_file():
            return folder / name
    hint = " (for the t10k files alone, load split='test')" if split == "train" else ""
    raise MissingDataError(f"{folder} has no {stem}.gz (nor {stem}): it should hold MNIST's IDX files{hint}.")


def _cifar_folder(data_dir: Path) -> Path:
    if (data_dir / CIFAR10_FOLDER).is_dir():
        return data_dir / CIFAR10_FOLDER
    if (data_dir / "test_batch").is_file() or (data_dir / "data_batch_1").is_file():
        return data_dir
    raise MissingDataError(
        f"{data_dir} holds no {CIFAR10_FOLDER}/: extract cifar-10-python.tar.gz there, "
        f"or run `tito data import cifar10 <path to cifar-10-python.tar.gz>` and leave out the folder."
    )
