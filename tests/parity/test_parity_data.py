"""Data utilities and training helpers against torch.utils.data and torch.nn.utils.

Shuffling draws from different generators in the two frameworks, so what is compared is the
deterministic part: batches in order, their dtypes, drop_last, and a shuffle's batches as a set.
"""

import itertools

import numpy as np
import pytest
from torch_reference import assert_close, torch

from tinytorch import Tensor, data
from tinytorch.training import clip_grad_norm_

torch_data = torch.utils.data


def arrays(n, dtype):
    rng = np.random.default_rng(n)
    return rng.standard_normal((n, 3, 2)).astype(dtype), rng.integers(0, 10, n)


@pytest.mark.parametrize(
    "n, batch_size, drop_last, dtype",
    list(itertools.product([7, 12], [1, 5, 12], [False, True], [np.float32, np.float64])),
)
def test_dataloader_batches_in_order(n, batch_size, drop_last, dtype):
    x, y = arrays(n, dtype)
    ours = list(data.DataLoader(data.TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last))
    theirs = list(
        torch_data.DataLoader(
            torch_data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
            batch_size=batch_size,
            drop_last=drop_last,
        )
    )
    assert len(ours) == len(theirs)
    for (xb, yb), (txb, tyb) in zip(ours, theirs):
        assert_close(xb, txb, "inputs")
        assert_close(yb, tyb, "labels")


def test_a_dataset_returning_tensors_batches_as_in_torch():
    class Ours(data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return Tensor(np.full(2, i, dtype=np.float32)), Tensor(np.int64(i))

    class Theirs(torch_data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return torch.full((2,), float(i)), torch.tensor(i)

    for (xb, yb), (txb, tyb) in zip(
        data.DataLoader(Ours(), batch_size=2), torch_data.DataLoader(Theirs(), batch_size=2)
    ):
        assert_close(xb, txb, "inputs")
        assert_close(yb, tyb, "labels")


def test_a_shuffled_epoch_holds_every_example_once_as_in_torch():
    x, y = arrays(20, np.float32)
    ours = np.concatenate(
        [yb.data for _, yb in data.DataLoader(data.TensorDataset(x, y), batch_size=6, shuffle=True, seed=1)]
    )
    theirs = torch.cat(
        [
            yb
            for _, yb in torch_data.DataLoader(
                torch_data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=6, shuffle=True
            )
        ]
    )
    assert sorted(ours.tolist()) == sorted(theirs.tolist()) == sorted(y.tolist())


@pytest.mark.parametrize("max_norm, scale", [(1.0, 10.0), (100.0, 1.0), (0.5, 0.001)])
def test_clip_grad_norm(max_norm, scale):
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(shape).astype(np.float32) * scale for shape in [(3, 4), (5,)]]
    ours = [Tensor(np.zeros(g.shape, dtype=np.float32), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad, tp.grad = Tensor(g.copy()), torch.from_numpy(g.copy())
    norm = clip_grad_norm_(ours, max_norm)
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert norm == pytest.approx(torch_norm.item(), rel=1e-5)
    for p, tp in zip(ours, theirs):
        assert_close(p.grad, tp.grad, "clipped gradient")


def test_normalize_and_flip_match_torch_arithmetic():
    images = np.random.default_rng(3).uniform(0, 1, (4, 3, 5, 6)).astype(np.float32)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    t = torch.from_numpy(images)
    expected = (t - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    assert_close(data.transforms.Normalize(mean, std)(images), expected, "Normalize")
    assert_close(data.transforms.RandomHorizontalFlip(p=1.0)(images), torch.flip(t, dims=[3]), "flip p=1")
    assert_close(data.transforms.RandomCrop(5, padding=0)(images[..., :5]), t[..., :5], "crop to the same size")
