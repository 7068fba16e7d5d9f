"""Module 08 (dataloader)'s graded checks: batches in order and shuffled, and each transform.

Shuffles and random crops and flips may draw their random numbers in any order, so their checks are
judged by what must hold (every example once, each crop a window of the padded image, about p of
the images flipped) rather than against the reference's draws. Graded on the reference modules 01-07.
"""

import math

import numpy as np

from tito.grading.declare import check


def _data(rng, n=None):
    n = int(rng.integers(5, 40)) if n is None else n
    return rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 10, size=n)


@check()
def get_batch(rng):
    "TensorDataset.get_batch gathers the rows asked for, in that order."
    from tinytorch.data import TensorDataset

    x, y = _data(rng)
    picks = rng.integers(0, len(x), size=int(rng.integers(1, 8)))
    bx, by = TensorDataset(x, y).get_batch(picks)
    return {"x": bx, "y": by}


@check(weight=2)
def loader_in_order(rng):
    "DataLoader without shuffling: batches in order, the last one short or dropped, labels int64."
    from tinytorch.data import DataLoader, TensorDataset

    x, y = _data(rng, n=int(rng.integers(9, 40)))  # more than a batch, so drop_last keeps one
    results = {}
    for drop_last in (False, True):
        loader = DataLoader(TensorDataset(x, y), batch_size=int(rng.integers(1, 9)), drop_last=drop_last)
        batches = list(loader)
        results[f"x_{drop_last}"] = np.concatenate([bx.data for bx, _ in batches])
        results[f"y_{drop_last}"] = np.concatenate([by.data for _, by in batches])
        results[f"sizes_{drop_last}"] = np.array([len(by.data) for _, by in batches])
        results[f"types_{drop_last}"] = [f"{bx.dtype}/{by.dtype}" for bx, by in batches]
    return results


def _judge_shuffle(student, reference):
    x, y, size = reference["x"], reference["y"], int(reference["batch_size"])
    orders = []
    for epoch in (0, 1):
        bx, by = np.asarray(student.get(f"x_{epoch}")), np.asarray(student.get(f"y_{epoch}"))
        if bx.shape != x.shape or by.shape != y.shape:
            return "the batches do not hold every example exactly once"
        if not np.array_equal(student.get(f"sizes_{epoch}"), reference[f"sizes_{epoch}"]):
            return f"the batches are not of size {size} (the last one may be shorter)"
        rows = {tuple(row): label for row, label in zip(x.tolist(), y.tolist())}
        order = []
        for row, label in zip(bx.tolist(), by.tolist()):
            if rows.get(tuple(row)) != label:
                return "an example's input and label were separated"
            order.append(tuple(row))
        if len(set(order)) != len(order):
            return "an example came twice in one epoch"
        orders.append(order)
    if orders[0] == orders[1] or orders[0] == [tuple(r) for r in x.tolist()]:
        return "the order does not change (shuffle=True must reorder every epoch)"
    return None


@check(weight=2, judge=_judge_shuffle)
def loader_shuffles(rng):
    "DataLoader with shuffle=True: every example once per epoch, a new order each epoch."
    from tinytorch.data import DataLoader, TensorDataset

    x, y = _data(rng, n=int(rng.integers(20, 40)))
    x[:, 0] = np.arange(len(x))  # every row different
    size = int(rng.integers(2, 9))
    loader = DataLoader(TensorDataset(x, y), batch_size=size, shuffle=True, seed=int(rng.integers(2**31)))
    results = {"x": x, "y": y, "batch_size": size}
    for epoch in (0, 1):
        batches = list(loader)
        results[f"x_{epoch}"] = np.concatenate([bx.data for bx, _ in batches])
        results[f"y_{epoch}"] = np.concatenate([by.data for _, by in batches])
        results[f"sizes_{epoch}"] = np.array([len(by.data) for _, by in batches])
    return results


@check()
def loader_applies_transform(rng):
    "DataLoader applies its transform to the inputs of each batch."
    from tinytorch.data import DataLoader, TensorDataset
    from tinytorch.data.transforms import Normalize

    images = rng.uniform(0, 1, size=(int(rng.integers(3, 12)), 2, 3, 3)).astype(np.float32)
    transform = Normalize(mean=rng.uniform(0, 1, size=2).tolist(), std=rng.uniform(0.5, 2, size=2).tolist())
    loader = DataLoader(TensorDataset(images, np.arange(len(images))), batch_size=4, transform=transform)
    return {"x": np.concatenate([bx.data for bx, _ in loader])}


def _judge_crop(student, reference):
    images, size, pad = reference["images"], int(reference["size"]), int(reference["padding"])
    out = np.asarray(student.get("out"))
    if out.shape != (len(images), images.shape[1], size, size):
        return f"the crops have shape {out.shape}, not {(len(images), images.shape[1], size, size)}"
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    places = set()
    for i, crop in enumerate(out):
        spots = [
            (top, left)
            for top in range(padded.shape[2] - size + 1)
            for left in range(padded.shape[3] - size + 1)
            if np.array_equal(padded[i, :, top : top + size, left : left + size], crop)
        ]
        if not spots:
            return f"crop {i} is not a {size}x{size} window of its zero-padded image"
        places.add(spots[0])
    if len(places) < 3:
        return "the crops do not move around (each image needs its own random offset)"
    return None


@check(judge=_judge_crop)
def random_crop(rng):
    "RandomCrop cuts a random window of each zero-padded image."
    from tinytorch.data.transforms import RandomCrop

    images = rng.standard_normal((64, 2, 6, 6)).astype(np.float32)
    size, padding = int(rng.integers(3, 7)), int(rng.integers(1, 3))
    out = RandomCrop(size, padding=padding)(images, rng=np.random.default_rng(int(rng.integers(2**31))))
    return {"out": out, "images": images, "size": size, "padding": padding}


def _judge_flip(student, reference):
    images, p = reference["images"], float(reference["p"])
    out = np.asarray(student.get("out"))
    if out.shape != images.shape:
        return f"the output has shape {out.shape}, not {images.shape}"
    same = np.all(out == images, axis=(1, 2, 3))
    flipped = np.all(out == images[..., ::-1], axis=(1, 2, 3))
    if not np.all(same | flipped):
        return "an image is neither left as it was nor mirrored left-right"
    if abs(flipped.mean() - p) > 5 * math.sqrt(p * (1 - p) / len(images)):
        return f"flipped {flipped.mean():.2f} of the images with p = {p:.2f}"
    return None


@check(judge=_judge_flip)
def random_flip(rng):
    "RandomHorizontalFlip mirrors each image left-right with probability p."
    from tinytorch.data.transforms import RandomHorizontalFlip

    images = rng.standard_normal((400, 1, 2, 5)).astype(np.float32)
    p = float(rng.uniform(0.2, 0.8))
    out = RandomHorizontalFlip(p)(images, rng=np.random.default_rng(int(rng.integers(2**31))))
    return {"out": out, "images": images, "p": p}


@check()
def normalize(rng):
    "Normalize subtracts the mean and divides by the std, per channel or overall, in float32."
    from tinytorch.data.transforms import Normalize

    images = rng.uniform(0, 255, size=(4, 3, 2, 2))
    per_channel = Normalize(rng.uniform(0, 100, size=3).tolist(), rng.uniform(10, 60, size=3).tolist())(images)
    overall = Normalize(float(rng.uniform(0, 100)), float(rng.uniform(10, 60)))(images)
    return {"per_channel": per_channel, "overall": overall, "dtype": str(per_channel.dtype)}
