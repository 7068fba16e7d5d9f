"""Module 08: datasets, the DataLoader and batched transforms."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.data import DataLoader, Dataset, TensorDataset
from tinytorch.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip
from tinytorch.training import seed_everything

pytestmark = pytest.mark.m08


def numbered(n=10, dtype=np.int32):
    """Inputs that say which example they are: x[i] == i, label i."""
    return TensorDataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n, dtype=dtype))


def labels_of(loader):
    return [y.data.tolist() for _, y in loader]


# --- datasets ----------------------------------------------------------------------------------
def test_tensor_dataset_indexes_every_array_together():
    images = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2 * 3, 1, 2, 2)
    dataset = TensorDataset(Tensor(images), np.array([5, 4, 3, 2, 1, 0]))
    assert len(dataset) == 6
    image, label = dataset[1]
    assert np.array_equal(image, images[1]) and label == 4
    x, y = dataset.get_batch(np.array([3, 3, 0]))
    assert np.array_equal(x, images[[3, 3, 0]]) and y.tolist() == [2, 2, 5]


def test_tensor_dataset_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError, match=r"same length .* got \[4, 3\]"):
        TensorDataset(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()


class CountingDataset(TensorDataset):
    """Counts how the loader fetches: per example (__getitem__) or per batch (get_batch)."""

    def __init__(self, *arrays):
        super().__init__(*arrays)
        self.batch_calls, self.item_calls = [], 0

    def __getitem__(self, index):
        self.item_calls += 1
        return super().__getitem__(index)

    def get_batch(self, indices):
        self.batch_calls.append(np.array(indices))
        return super().get_batch(indices)


def test_array_datasets_are_gathered_with_one_index_per_batch():
    dataset = CountingDataset(np.arange(100, dtype=np.float32)[:, None], np.arange(100))
    loader = DataLoader(dataset, batch_size=32, shuffle=True, seed=0)
    batches = list(loader)
    assert dataset.item_calls == 0, "no per-example access"
    assert [len(i) for i in dataset.batch_calls] == [32, 32, 32, 4], "one gather per batch"
    for indices, (_, y) in zip(dataset.batch_calls, batches):
        assert y.data.tolist() == indices.tolist()


class Squares(Dataset):
    """A dataset that only knows how to make example i."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i % 2


def test_a_dataset_with_only_getitem_is_batched_example_by_example():
    (x, y), (x2, y2) = list(DataLoader(Squares(), batch_size=3))
    assert x.data.tolist() == [[0, 0], [1, 1], [2, 4]] and y.data.tolist() == [0, 1, 0]
    assert y.dtype == np.int64 and x.dtype == np.float32
    assert x2.shape == (2, 2)


def test_a_plain_sequence_of_pairs_works_too():
    pairs = [(np.array([float(i)]), i) for i in range(4)]
    assert labels_of(DataLoader(pairs, batch_size=3)) == [[0, 1, 2], [3]]


# --- the loader --------------------------------------------------------------------------------
def test_batches_in_order_with_a_smaller_last_batch():
    loader = DataLoader(numbered(10), batch_size=4)
    assert len(loader) == 3
    assert labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, _ = next(iter(loader))
    assert x.data[:, 0].tolist() == [0, 1, 2, 3]


def test_drop_last_drops_the_incomplete_batch():
    loader = DataLoader(numbered(10), batch_size=4, drop_last=True)
    assert len(loader) == 2 and labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(numbered(8), batch_size=4, drop_last=True)) == 2


def test_yields_tensors_with_int64_labels_and_inputs_of_their_own_dtype():
    dataset = TensorDataset(np.zeros((6, 3), dtype=np.float32), np.array([1, 2, 3, 4, 5, 6], dtype=np.uint8))
    x, y = next(iter(DataLoader(dataset, batch_size=6)))
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert not x.requires_grad and not y.requires_grad
    targets = TensorDataset(np.zeros((4, 2), dtype=np.float64), np.array([[0.5], [1.0], [0.0], [1.0]]))
    x, t = next(iter(DataLoader(targets, batch_size=4)))
    assert x.dtype == t.dtype == np.float64, "float64 data stays float64, as PyTorch's loader keeps it"


def test_shuffle_visits_every_example_once_per_epoch_in_a_new_order():
    loader = DataLoader(numbered(50), batch_size=8, shuffle=True, seed=3)
    first = sum(labels_of(loader), [])
    second = sum(labels_of(loader), [])
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != list(range(50)) and first != second


def test_the_same_seed_gives_the_same_order_and_another_seed_another():
    orders = [sum(labels_of(DataLoader(numbered(50), batch_size=8, shuffle=True, seed=s)), []) for s in (1, 1, 2)]
    assert orders[0] == orders[1] != orders[2]


def test_without_a_seed_seed_everything_makes_loaders_reproducible():
    def order():
        seed_everything(11)
        return sum(labels_of(DataLoader(numbered(30), batch_size=8, shuffle=True)), [])

    assert order() == order()


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "32", None])
def test_a_batch_size_that_is_not_a_positive_integer_is_refused(bad):
    with pytest.raises(ValueError, match=f"batch_size must be a positive whole number, got {bad!r}"):
        DataLoader(numbered(4), batch_size=bad)


def test_an_empty_dataset_and_a_non_callable_transform_are_refused():
    with pytest.raises(ValueError, match="empty dataset"):
        DataLoader(TensorDataset(np.zeros((0, 2)), np.zeros(0)), batch_size=2)
    with pytest.raises(TypeError, match="transform must be callable"):
        DataLoader(numbered(4), transform="flip")


def test_the_transform_sees_whole_batches_of_inputs_only():
    seen = []

    def double(images):
        seen.append(images.shape)
        return images * 2

    loader = DataLoader(numbered(5), batch_size=2, transform=double)
    xs = [x.data[:, 0].tolist() for x, _ in loader]
    assert xs == [[0, 2], [4, 6], [8]] and seen == [(2, 1), (2, 1), (1, 1)]
    assert labels_of(loader) == [[0, 1], [2, 3], [4]]


# --- transforms --------------------------------------------------------------------------------
IMAGE = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def distinct_images(n=64, channels=2, size=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, channels, size, size)).astype(np.float32) + 10


def test_random_crop_without_padding_at_full_size_is_the_identity():
    images = distinct_images()
    assert np.array_equal(RandomCrop(4, seed=0)(images), images)


def test_random_crop_with_padding_cuts_a_window_of_each_zero_padded_image():
    crops = RandomCrop(3, padding=1, seed=0)(np.repeat(IMAGE, 200, axis=0))
    padded = np.pad(IMAGE[0, 0], 1)
    windows = [padded[y : y + 3, x : x + 3] for y in range(3) for x in range(3)]
    found = set()
    for crop in crops:
        matches = [k for k, window in enumerate(windows) if np.array_equal(crop[0], window)]
        assert len(matches) == 1
        found.add(matches[0])
    assert found == set(range(9)), "every offset occurs"
    assert crops.shape == (200, 1, 3, 3) and crops.dtype == np.float32
    centred = windows[4]
    assert np.array_equal(centred, IMAGE[0, 0])
    assert np.array_equal(windows[0], [[0, 0, 0], [0, 1, 2], [0, 4, 5]]), "hand-made: top-left offset"


def test_random_crop_takes_the_same_window_in_every_channel_and_its_own_per_image():
    images = distinct_images(n=64, channels=3, size=6)
    crops = RandomCrop(4, padding=2, seed=1)(images)
    padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(len(images)):
        hits = [
            (y, x) for y in range(7) for x in range(7) if np.array_equal(crops[i], padded[i, :, y : y + 4, x : x + 4])
        ]
        assert len(hits) == 1, f"image {i}: its crop is one window of its own padded image, all channels alike"
        offsets.add(hits[0])
    assert len(offsets) > 10, "offsets vary between images"


def test_random_crop_rectangular_size_and_bad_sizes():
    assert RandomCrop((2, 3), seed=0)(distinct_images(size=4)).shape == (64, 2, 2, 3)
    with pytest.raises(ValueError, match="larger than the padded images"):
        RandomCrop(7, padding=1)(distinct_images(size=4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomCrop(2)(np.zeros((4, 4)))


def test_horizontal_flip_mirrors_by_hand_and_never_edits_its_input():
    original = IMAGE.copy()
    flipped = RandomHorizontalFlip(p=1.0)(IMAGE)
    assert np.array_equal(flipped[0, 0], [[3, 2, 1], [6, 5, 4], [9, 8, 7]])
    assert np.array_equal(IMAGE, original)
    assert np.array_equal(RandomHorizontalFlip(p=0.0)(IMAGE), IMAGE)


def test_horizontal_flip_flips_about_p_of_the_images_each_whole():
    images = distinct_images(n=400)
    out = RandomHorizontalFlip(p=0.5, seed=0)(images)
    flipped = [bool(np.array_equal(o, i[..., ::-1])) for o, i in zip(out, images)]
    kept = [bool(np.array_equal(o, i)) for o, i in zip(out, images)]
    assert all(f != k for f, k in zip(flipped, kept)), "each image is either mirrored or unchanged"
    assert 150 < sum(flipped) < 250
    assert sum(RandomHorizontalFlip(p=0.25, seed=0)(images)[:, 0, 0, 0] != images[:, 0, 0, 0]) < 150


def test_normalize_per_channel_by_hand():
    images = np.stack([np.full((2, 2), 3.0), np.full((2, 2), 10.0)])[None].astype(np.uint8)  # 1 image, 2 channels
    out = Normalize(mean=[1.0, 4.0], std=[2.0, 3.0])(images)
    assert out.dtype == np.float32
    assert np.array_equal(out[0, 0], np.full((2, 2), 1.0)) and np.array_equal(out[0, 1], np.full((2, 2), 2.0))
    scalar = Normalize(mean=0.5, std=0.25)(np.array([[0.0, 1.0]], dtype=np.float32))
    assert scalar.tolist() == [[-2.0, 2.0]]


def test_normalize_refuses_mismatched_channels_and_bad_std():
    with pytest.raises(ValueError, match="3 mean values for images with 2 channels"):
        Normalize(mean=[0, 0, 0], std=[1, 1, 1])(np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="positive std"):
        Normalize(mean=0.0, std=0.0)


def test_compose_applies_in_order():
    images = distinct_images(n=8)
    pipeline = Compose([RandomCrop(4, padding=1), Normalize(mean=10.0, std=2.0)])
    out = pipeline(images, rng=np.random.default_rng(5))
    crops = RandomCrop(4, padding=1)(images, rng=np.random.default_rng(5))
    assert np.array_equal(out, (crops - 10.0) / 2.0), "crop (zero padding) first, then normalize"
    assert np.any(out == -5.0), "normalized padding shows the order"


def test_transforms_are_reproducible_by_seed():
    images = distinct_images(n=32)
    augment = lambda seed: Compose([RandomHorizontalFlip(seed=seed), RandomCrop(4, padding=2, seed=seed)])
    a = [augment(7)(images, rng=np.random.default_rng(1)) for _ in range(2)]
    assert np.array_equal(a[0], a[1])
    assert np.array_equal(RandomCrop(4, padding=2, seed=3)(images), RandomCrop(4, padding=2, seed=3)(images))
    assert not np.array_equal(RandomCrop(4, padding=2, seed=3)(images), RandomCrop(4, padding=2, seed=4)(images))
    composed = [Compose([RandomHorizontalFlip(), RandomCrop(4, padding=2)], seed=9)(images) for _ in range(2)]
    assert np.array_equal(composed[0], composed[1]), "Compose used alone draws from its own seeded generator"


def test_uint8_images_are_augmented_then_normalized_to_float32():
    images = np.random.default_rng(0).integers(0, 256, size=(6, 3, 8, 8), dtype=np.uint8)
    dataset = TensorDataset(images, np.arange(6))
    mean, std = [125.3, 123.0, 113.9], [63.0, 62.1, 66.7]
    pipeline = Compose([RandomCrop(8, padding=2), RandomHorizontalFlip(), Normalize(mean, std)])
    x, y = next(iter(DataLoader(dataset, batch_size=6, seed=0, transform=pipeline)))
    assert x.dtype == np.float32 and x.shape == (6, 3, 8, 8) and y.dtype == np.int64
    plain = next(iter(DataLoader(dataset, batch_size=6, transform=Normalize(mean, std))))[0]
    expected = (images.astype(np.float32) - np.float32(mean).reshape(1, 3, 1, 1)) / np.float32(std).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(plain.data, expected, rtol=1e-6, atol=1e-6)


def test_loader_with_augmentation_repeats_by_seed_and_leaves_the_dataset_alone():
    images = distinct_images(n=40)
    dataset = TensorDataset(images.copy(), np.arange(40))
    augment = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip(), Normalize(10.0, 1.0)])

    def run(seed):
        loader = DataLoader(dataset, batch_size=16, shuffle=True, seed=seed, transform=augment)
        return [x.data for _ in range(2) for x, _ in loader]

    first, again, other = run(0), run(0), run(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert np.array_equal(dataset.arrays[0], images)
    assert first[0].dtype == np.float32 and first[0].shape == (16, 2, 4, 4)
