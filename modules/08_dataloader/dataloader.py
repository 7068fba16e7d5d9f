# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 08: DataLoader
#
# A model learns from batches: 128 images and their labels at a time, in a fresh random order every
# epoch, often altered a little (cropped, flipped) so that the network cannot memorise pixels. This
# module builds the pipeline that feeds the Trainer of module 07, with PyTorch's names:
#
# - `Dataset`: anything with a length and a way to fetch example i; `TensorDataset` wraps arrays.
# - `DataLoader`: shuffles, cuts the order into batches, gathers each batch and hands out Tensors.
# - Batched transforms (`RandomCrop`, `RandomHorizontalFlip`, `Normalize`, `Compose`) that work on a
#   whole batch of images at once.
#
# **The systems view.** The loader runs once per batch, next to a forward and a backward pass that
# take milliseconds. Gathering 128 examples one by one in Python costs more than that; gathering them
# with one NumPy fancy index is a single copy at memory speed. The same holds for augmentation: a
# per-image Python loop over a batch is slow, one vectorised operation is not. We measure both.

# %%
#| default_exp data.loader

# %%
#| export
import math

import numpy as np

from tinytorch.tensor import Tensor

# %% [markdown]
# ## Datasets
#
# A `Dataset` answers two questions: how many examples (`len(dataset)`) and what is example i
# (`dataset[i]`, a tuple such as `(image, label)`). Fetching a batch one example at a time works for
# any dataset, so that is what the base class's `get_batch(indices)` does.
#
# When the examples already sit in arrays (images of shape (N, C, H, W), labels of shape (N,)), a
# batch is simply `images[indices]`: one fancy index, one copy, no Python loop. `TensorDataset`
# overrides `get_batch` to do exactly that. (PyTorch calls this batched hook `__getitems__`.)

# %%
#| export data.dataset
#| doc Dataset, examples by index, and TensorDataset, examples held in arrays
class Dataset:
    """Examples by index. Subclasses define __len__ and __getitem__ (returning a tuple of arrays or Tensors)."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__.")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__.")

    def get_batch(self, indices: np.ndarray) -> tuple:
        """The examples at `indices`, each field stacked into one array (the slow, general way)."""
        examples = [self[int(i)] for i in indices]
        return tuple(np.stack([np.asarray(example[field]) for example in examples]) for field in range(len(examples[0])))


def _array(data) -> np.ndarray:
    return data.data if isinstance(data, Tensor) else np.asarray(data)


class TensorDataset(Dataset):
    """Arrays (or Tensors) that share their first dimension; example i is (a[i] for each array)."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array, such as TensorDataset(images, labels).")
        self.arrays = tuple(_array(a) for a in arrays)
        lengths = [len(a) if a.ndim else 0 for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset arrays must have the same length (first dimension), got {lengths}.")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple:
        """One fancy index per array: a single copy of exactly the rows asked for."""
        # Hint: indexing a NumPy array with an array of indices gathers those rows.
        ### BEGIN SOLUTION
        return tuple(a[indices] for a in self.arrays)
        ### END SOLUTION


# %% [markdown]
# ## The DataLoader
#
# Each pass over the loader (each epoch) does:
#
# 1. An order: `0, 1, ..., n-1`, or a fresh random permutation when `shuffle=True`.
# 2. Batches: consecutive slices of `batch_size` indices from that order; the last one is smaller
#    unless `drop_last=True` drops it.
# 3. Gathering: `dataset.get_batch(indices)`, one fancy index for array datasets.
# 4. The transform, if any, applied to the whole batch of inputs at once.
# 5. Tensors out: the inputs in their own dtype (float32 data gives float32 batches, float64 data
#    float64, as in PyTorch) and the labels, integer labels as int64 (what CrossEntropyLoss expects;
#    float targets for regression or BCE stay float).
#
# Randomness (shuffling and augmentation) comes from the loader's own NumPy `Generator`, made from
# `seed`: the same seed gives the same batches in the same order, epoch after epoch, whatever else
# the program draws. Without a seed, the loader takes one from NumPy's global generator, so
# `seed_everything` (module 07) makes it reproducible too.

# %%
#| export
#| doc DataLoader: shuffled batches of a dataset, gathered with one index, transformed, as Tensors
def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(
            f"DataLoader batch_size must be a positive whole number, got {batch_size!r}: "
            "use for example batch_size=32."
        )
    return int(batch_size)


def _to_tensors(fields) -> tuple:
    """Inputs as Tensors of their own dtype; integer labels and other fields as int64."""
    tensors = [Tensor(fields[0])]
    for field in fields[1:]:
        field = np.asarray(field)
        tensors.append(Tensor(field, dtype=np.int64) if field.dtype.kind in "iu" else Tensor(field))
    return tuple(tensors)


class DataLoader:
    """Batches from a dataset: shuffled per epoch, gathered with one index, transformed, as Tensors.

    >>> loader = DataLoader(TensorDataset(np.zeros((10, 3)), np.arange(10)), batch_size=4)
    >>> [(x.shape, y.dtype.name) for x, y in loader]
    [((4, 3), 'int64'), ((4, 3), 'int64'), ((2, 3), 'int64')]
    """

    def __init__(self, dataset, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False, seed=None, transform=None):
        self.batch_size = _check_batch_size(batch_size)
        if len(dataset) == 0:
            raise ValueError("DataLoader got an empty dataset: check that the data loaded (len(dataset) is 0).")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader transform must be callable, got {type(transform).__name__}.")
        self.dataset, self.shuffle, self.drop_last, self.transform = dataset, bool(shuffle), bool(drop_last), transform
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))  # from the global generator: seed_everything covers it
        self.seed = seed
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Batches per epoch."""
        count = len(self.dataset) / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)

    def _gather(self, indices: np.ndarray) -> tuple:
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            return tuple(get_batch(indices))
        return Dataset.get_batch(self.dataset, indices)  # any object with __len__ and __getitem__

    def __iter__(self):
        n = len(self.dataset)
        # Hint: an order (self.generator.permutation(n) or np.arange(n)); for each of the len(self)
        # batches take its slice of indices, self._gather them, apply the transform to the first
        # field with _apply(self.transform, ..., self.generator), and yield the fields as Tensors.
        ### BEGIN SOLUTION
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        for batch in range(len(self)):
            indices = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            fields = list(self._gather(indices))
            if self.transform is not None:
                fields[0] = _apply(self.transform, fields[0], self.generator)
            yield _to_tensors(fields)
        ### END SOLUTION

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset):,} examples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed}, {len(self)} batches)"
        )


# %% [markdown]
# ## Batched transforms
#
# A transform takes a whole batch of images, a NumPy array of shape (N, C, H, W), and returns a new
# array (it never changes its input in place: that input may be the dataset itself). Random
# transforms draw from the `rng` they are given (the DataLoader passes its generator) or, used on
# their own, from their own generator made from `seed`.
#
# - `RandomCrop(size, padding)`: pad every image with `padding` zeros on each side, then cut a
#   size x size window at a random position per image. Vectorised: pad once for the whole batch, take
#   a *view* of every possible window (`sliding_window_view`, no copy), then pick each image's window
#   with one fancy index.
# - `RandomHorizontalFlip(p)`: mirror each image left-right with probability p: one `np.where`
#   between the batch and its mirrored view `images[..., ::-1]`.
# - `Normalize(mean, std)`: per channel, `(x - mean) / std`, in float32.
# - `Compose([...])`: one after another.

# %%
#| export data.transforms
#| doc Batched image transforms: RandomCrop, RandomHorizontalFlip, Normalize and Compose
def _apply(transform, images, rng):
    """Call a transform with the loader's generator when it takes one (our transforms do)."""
    return transform(images, rng=rng) if isinstance(transform, Transform) else transform(images)


class Transform:
    """A batched image transform: __call__(images (N, C, H, W), rng=None) -> new array."""

    def __init__(self, seed=None):
        self.generator = np.random.default_rng(int(np.random.randint(0, 2**31 - 1)) if seed is None else seed)

    def __call__(self, images: np.ndarray, rng=None) -> np.ndarray:
        return self.apply(np.asarray(images), self.generator if rng is None else rng)

    def apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define apply(images, rng).")

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({settings})"


def _check_images(name: str, images: np.ndarray) -> None:
    if images.ndim != 4:
        raise ValueError(f"{name} works on a batch of images of shape (N, C, H, W), got shape {images.shape}.")


class RandomCrop(Transform):
    """Pad each image by `padding` zeros, then crop a random size x size window from it."""

    def __init__(self, size, padding: int = 0, seed=None):
        super().__init__(seed)
        self.size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
        self.padding = int(padding)
        if min(self.size) < 1 or self.padding < 0:
            raise ValueError(f"RandomCrop needs a positive size and padding >= 0, got size={size}, padding={padding}.")

    def apply(self, images, rng):
        _check_images("RandomCrop", images)
        n, channels, height, width = images.shape
        (crop_h, crop_w), pad = self.size, self.padding
        if crop_h > height + 2 * pad or crop_w > width + 2 * pad:
            raise ValueError(f"RandomCrop size {self.size} is larger than the padded images ({height + 2 * pad}, {width + 2 * pad}).")
        # Hint: a zero array of the padded shape with the images copied into its middle; one random
        # top and left offset per image (rng.integers); sliding_window_view(padded, (crop_h, crop_w),
        # axis=(2, 3)); then pick window [i, :, top[i], left[i]] for every i with one fancy index.
        ### BEGIN SOLUTION
        padded = np.zeros((n, channels, height + 2 * pad, width + 2 * pad), dtype=images.dtype)
        padded[:, :, pad : pad + height, pad : pad + width] = images
        top = rng.integers(0, height + 2 * pad - crop_h + 1, size=n)
        left = rng.integers(0, width + 2 * pad - crop_w + 1, size=n)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (crop_h, crop_w), axis=(2, 3))
        # windows[i, c, y, x] is the crop of image i, channel c, starting at (y, x): a view, no copy.
        return windows[np.arange(n), :, top, left]  # (n, channels, crop_h, crop_w), one gather
        ### END SOLUTION


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability p."""

    def __init__(self, p: float = 0.5, seed=None):
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip p must be between 0 and 1, got {p}.")
        self.p = float(p)

    def apply(self, images, rng):
        _check_images("RandomHorizontalFlip", images)
        # Hint: one random number per image decides; np.where chooses between images[..., ::-1] and
        # images, with the decision shaped (N, 1, 1, 1) to broadcast.
        ### BEGIN SOLUTION
        flip = rng.random(len(images)) < self.p
        return np.where(flip[:, None, None, None], images[..., ::-1], images)
        ### END SOLUTION


class Normalize(Transform):
    """(images - mean) / std per channel, as float32; mean and std are numbers or one per channel."""

    def __init__(self, mean, std):
        super().__init__(seed=0)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.ndim > 1 or self.std.ndim > 1 or np.any(self.std <= 0):
            raise ValueError(f"Normalize needs numbers or per-channel lists for mean and positive std, got {mean}, {std}.")

    def apply(self, images, rng):
        shape = (1, -1, 1, 1) if self.mean.ndim or self.std.ndim else ()
        if shape:
            _check_images("Normalize with per-channel mean and std", images)
            for name, values in (("mean", self.mean), ("std", self.std)):
                if values.size not in (1, images.shape[1]):
                    raise ValueError(f"Normalize has {values.size} {name} values for images with {images.shape[1]} channels.")
        # Hint: reshape mean and std to `shape` so they broadcast per channel; work in float32.
        ### BEGIN SOLUTION
        mean, scale = self.mean.reshape(shape), (1.0 / self.std).reshape(shape)
        return (images.astype(np.float32, copy=False) - mean) * scale
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Compose(Transform):
    """Apply transforms one after another, all drawing from one generator (the loader's, or its own)."""

    def __init__(self, transforms, seed=None):
        super().__init__(seed)
        self.transforms = list(transforms)
        for position, transform in enumerate(self.transforms):
            if not callable(transform):
                raise TypeError(f"Compose step {position} is a {type(transform).__name__}, which cannot be called.")

    def apply(self, images, rng):
        for transform in self.transforms:
            images = _apply(transform, images, rng)
        return images

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


# %% [markdown]
# ## The systems view, measured
#
# A CIFAR-sized array dataset (2,048 colour images of 32x32 here, to keep the cell quick) and a batch
# of 128. First the gathering: a Python loop over the batch that stacks examples one by one, against
# one fancy index. Then the augmentation: a per-image loop that pads and crops, against the vectorised
# RandomCrop.

# %%
def _median_ms(function, repeats=15):
    import time

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _crop_loop(images, size, pad, rng):
    """RandomCrop the slow way: one image at a time."""
    n, channels, height, width = images.shape
    out = np.empty((n, channels, size, size), dtype=images.dtype)
    padded = np.zeros((channels, height + 2 * pad, width + 2 * pad), dtype=images.dtype)
    for i, image in enumerate(images):
        padded[:, pad : pad + height, pad : pad + width] = image
        top, left = rng.integers(0, 2 * pad + 1, size=2)
        out[i] = padded[:, top : top + size, left : left + size]
    return out


def measure_loading() -> None:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2048, 3, 32, 32), dtype=np.float32)
    labels = rng.integers(0, 10, size=2048)
    dataset = TensorDataset(images, labels)
    indices = rng.permutation(2048)[:128]
    looped = _median_ms(lambda: Dataset.get_batch(dataset, indices))
    gathered = _median_ms(lambda: dataset.get_batch(indices))
    batch = dataset.get_batch(indices)[0]
    print(f"batch of 128 ({batch.nbytes / 1e6:.1f} MB): per-example loop {looped:.2f} ms, "
          f"one fancy index {gathered:.3f} ms ({looped / gathered:.0f}x)")
    crop = RandomCrop(32, padding=4, seed=0)
    slow = _median_ms(lambda: _crop_loop(batch, 32, 4, rng))
    fast = _median_ms(lambda: crop(batch))
    print(f"RandomCrop(32, padding=4) on the batch: per-image loop {slow:.2f} ms, vectorised {fast:.2f} ms "
          f"({slow / fast:.1f}x)")
    flip = _median_ms(lambda: RandomHorizontalFlip(seed=0)(batch))
    print(f"RandomHorizontalFlip on the batch: {flip:.2f} ms")


if __name__ == "__main__":
    from tito.chapter import demo

    demo(measure_loading)

# %% [markdown]
# The gap grows with the batch: the loop pays Python's cost per example, the fancy index pays it once.
# Both move the same bytes, which at 1.5 MB per batch takes well under a millisecond.

# %% [markdown]
# ## Unit tests

# %%
def test_unit_tensor_dataset():
    images, labels = np.arange(24, dtype=np.float32).reshape(6, 4), np.arange(6)
    dataset = TensorDataset(images, labels)
    assert len(dataset) == 6 and dataset[2][1] == 2
    x, y = dataset.get_batch(np.array([5, 0]))
    assert np.array_equal(x, images[[5, 0]]) and y.tolist() == [5, 0]
    try:
        TensorDataset(images, labels[:5])
    except ValueError as error:
        assert "[6, 5]" in str(error)
    else:
        raise AssertionError("arrays of different lengths must be refused")
    print("TensorDataset: length, example i, a batch by one fancy index; different lengths refused")


def test_unit_dataloader_batches():
    dataset = TensorDataset(np.arange(10, dtype=np.float32)[:, None], np.arange(10, dtype=np.int32))
    loader = DataLoader(dataset, batch_size=4)
    sizes = [len(y) for _, y in loader]
    assert sizes == [4, 4, 2] and len(loader) == 3
    assert len(DataLoader(dataset, batch_size=4, drop_last=True)) == 2
    x, y = next(iter(loader))
    assert x.dtype == np.float32 and y.dtype == np.int64 and y.data.tolist() == [0, 1, 2, 3]
    shuffled = DataLoader(dataset, batch_size=4, shuffle=True, seed=0)
    epoch = np.concatenate([y.data for _, y in shuffled])
    assert sorted(epoch.tolist()) == list(range(10)) and epoch.tolist() != list(range(10))
    try:
        DataLoader(dataset, batch_size=0)
    except ValueError as error:
        assert "batch_size" in str(error)
    else:
        raise AssertionError("batch_size 0 must be refused")
    print("DataLoader: batches of 4, 4, 2 (drop_last: 2 batches), int64 labels, shuffles all; batch_size 0 refused")


def test_unit_seeded_loaders_repeat():
    dataset = TensorDataset(np.arange(20, dtype=np.float32).reshape(20, 1, 1, 1), np.arange(20))
    augment = Compose([RandomHorizontalFlip(), RandomCrop(1, padding=1)])

    def epochs(seed):
        loader = DataLoader(dataset, batch_size=8, shuffle=True, seed=seed, transform=augment)
        return [np.concatenate([x.data.ravel() for x, _ in loader]) for _ in range(2)]

    a, b = epochs(1), epochs(1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b)), "same seed, same batches"
    assert not np.array_equal(a[0], a[1]), "a new order every epoch"
    print("seeded DataLoader: the same seed repeats order and augmentation; each epoch differs")


def test_unit_transforms():
    image = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)  # [[1, 2], [3, 4]]
    assert np.array_equal(RandomHorizontalFlip(p=1.0)(image)[0, 0], [[2, 1], [4, 3]])
    crops = RandomCrop(2, padding=1, seed=0)(np.repeat(image, 50, axis=0))
    padded = np.pad(image[0, 0], 1)
    windows = {padded[y : y + 2, x : x + 2].tobytes() for y in range(3) for x in range(3)}
    assert all(crop[0].tobytes() in windows for crop in crops), "every crop is a window of the padded image"
    normalized = Normalize(mean=[2.0], std=[0.5])(image)
    assert normalized.dtype == np.float32 and np.array_equal(normalized[0, 0], [[-2, 0], [2, 4]])
    print("transforms: flip mirrors, every crop is a window of the zero-padded image, normalize (x-2)/0.5")


if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())
