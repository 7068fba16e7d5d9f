"""tinytorch.data: Dataset, TensorDataset and DataLoader (course module 08), as torch.utils.data.

Batched image transforms (RandomCrop, RandomHorizontalFlip, Normalize, Compose) are in
tinytorch.data.transforms.
"""

from tinytorch import _lazy

__all__ = ["Dataset", "TensorDataset", "DataLoader"]

__getattr__, __dir__ = _lazy(__name__, __all__)
