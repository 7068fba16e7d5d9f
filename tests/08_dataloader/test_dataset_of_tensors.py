"""A Dataset may return Tensors, as a PyTorch Dataset returns torch tensors: the loader stacks them."""

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.data import DataLoader, Dataset

pytestmark = pytest.mark.m08


def test_a_dataloader_batches_a_dataset_that_returns_tensors():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return Tensor([float(i), float(i * i)]), Tensor(i)

    batches = list(DataLoader(Squares(), batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
    assert batches[1][0].data.tolist() == [[2.0, 4.0], [3.0, 9.0]] and batches[1][1].dtype == np.int64
