"""Differential tests against PyTorch: the same weights and inputs through both frameworks.

They need PyTorch (`pip install -e ".[parity]"`, which pins the CPU build CI uses). Every test file
imports torch_reference first, which skips the file when PyTorch is missing; the skips share one
reason line. A new test file does the same (or calls `pytest.importorskip("torch")` itself).
"""

import pytest

try:
    import torch
except ModuleNotFoundError:
    torch = None
else:
    torch.set_num_threads(1)  # small cases: one thread is fastest, and its sums are the most repeatable


@pytest.fixture(autouse=True)
def _seeded():
    """Each case starts from the same random state in both frameworks (weight initialisation)."""
    import tinytorch

    tinytorch.manual_seed(0)
    if torch is not None:
        torch.manual_seed(0)
