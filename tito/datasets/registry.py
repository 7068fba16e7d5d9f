"""The datasets tito knows: where each file comes from and the checksum it must have.

An entry is plain data. Code that installs or loads a dataset looks the entry up by name at call
time (`get("mnist")`), so a test or a private mirror can put its own entry in `DATASETS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tito.datasets.errors import UnknownDatasetError


@dataclass(frozen=True)
class FileSum:
    """A file as it must look once installed: its path inside the dataset's folder and its digest."""

    path: str
    digest: str
    algorithm: str = "md5"


@dataclass(frozen=True)
class Resource:
    """One download: a file, the URLs to try in order, and its checksum.

    An archive lists `members`, the files it unpacks to, each with its own checksum; any other
    resource is installed as the file itself.
    """

    filename: str
    urls: tuple[str, ...]
    md5: str
    size: int | None = None  # bytes, when known: sizes the progress bar before the server says
    members: tuple[FileSum, ...] = ()

    def installs(self) -> tuple[FileSum, ...]:
        """The files this download leaves in the dataset's folder."""
        return self.members or (FileSum(self.filename, self.md5),)


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    homepage: str
    license: str
    resources: tuple[Resource, ...] = ()
    splits: dict[str, tuple[str, ...]] = field(default_factory=dict)  # split -> installed paths it reads
    shipped: bool = False  # ships with the course in datasets/<name>/ instead of being downloaded

    def files(self) -> tuple[FileSum, ...]:
        """Every file the installed dataset holds (shipped datasets list theirs in SHA256SUMS)."""
        return tuple(f for r in self.resources for f in r.installs())

    def resource_for(self, path: str) -> Resource:
        """The download that provides the installed file `path`."""
        for resource in self.resources:
            if any(f.path == path for f in resource.installs()):
                return resource
        raise KeyError(path)

    def resources_for(self, split: str | None = None) -> tuple[Resource, ...]:
        """The downloads a split needs (all of them for split=None)."""
        if split is None:
            return self.resources
        wanted = {self.resource_for(p).filename for p in self.split_files(split)}
        return tuple(r for r in self.resources if r.filename in wanted)

    def split_files(self, split: str) -> tuple[str, ...]:
        if split not in self.splits:
            raise ValueError(f"{self.name} has no split {split!r}; choose one of {', '.join(self.splits)}.")
        return self.splits[split]

    def download_size(self) -> int | None:
        """Bytes to download for every resource, or None when any size is unknown (or there are none)."""
        sizes = [r.size for r in self.resources if r.size is not None]
        return sum(sizes) if sizes and len(sizes) == len(self.resources) else None


# --- the entries -------------------------------------------------------------------------------

MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror: the original site often refuses scripts
    "http://yann.lecun.com/exdb/mnist/",  # the original
)


def _mnist(filename: str, md5: str, size: int) -> Resource:
    return Resource(filename, tuple(base + filename for base in MNIST_URLS), md5, size)


MNIST = Dataset(
    name="mnist",
    title="MNIST handwritten digits, 28x28 (60,000 train / 10,000 test)",
    homepage="http://yann.lecun.com/exdb/mnist/",
    license="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
    resources=(
        _mnist("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
        _mnist("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
        _mnist("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
        _mnist("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
    ),
    splits={
        "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    },
)

CIFAR10_FOLDER = "cifar-10-batches-py"


def _cifar(name: str, md5: str) -> FileSum:
    return FileSum(f"{CIFAR10_FOLDER}/{name}", md5)


CIFAR10 = Dataset(
    name="cifar10",
    title="CIFAR-10 colour images, 32x32 (50,000 train / 10,000 test)",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    license="free to use; cite Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images",
    resources=(
        Resource(
            "cifar-10-python.tar.gz",
            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            "c58f30108f718f92721af3b95e74349a",
            170_498_071,
            members=(
                _cifar("data_batch_1", "c99cafc152244af753f735de768cd75f"),
                _cifar("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                _cifar("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
                _cifar("data_batch_4", "634d18415352ddfa80567beed471001a"),
                _cifar("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
                _cifar("test_batch", "40351d587109b95175f43aff81a1287e"),
                _cifar("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
            ),
        ),
    ),
    splits={
        "train": tuple(f"{CIFAR10_FOLDER}/data_batch_{k}" for k in range(1, 6)),
        "test": (f"{CIFAR10_FOLDER}/test_batch",),
    },
)

TINYDIGITS = Dataset(
    name="tinydigits",
    title="8x8 handwritten digits from UCI via scikit-learn (1,797 images, fixed split)",
    homepage="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
    license="CC BY 4.0 (Alpaydin and Kaynak, UCI Machine Learning Repository)",
    splits={"train": ("tinydigits.npz",), "test": ("tinydigits.npz",)},
    shipped=True,
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (TINYDIGITS, MNIST, CIFAR10)}


def get(name: str) -> Dataset:
    """The entry called `name`, or an error that lists the valid names."""
    key = name.strip().lower()
    if key not in DATASETS:
        raise UnknownDatasetError(f"No dataset {name[:40]!r}. Valid datasets: {', '.join(DATASETS)}.")
    return DATASETS[key]
