"""Differential tests against PyTorch: the same weights and inputs through both frameworks.

They need PyTorch (`pip install -e ".[parity]"`, which pins the CPU build CI uses); without it the
whole folder is one skipped line. Test files may `import torch` at the top: this file runs first.
"""

import pytest

torch = pytest.importorskip("torch", reason='PyTorch is not installed: pip install -e ".[parity]" runs tests/parity')

torch.set_num_threads(1)  # small cases: one thread is fastest, and its sums are the most repeatable


@pytest.fixture(autouse=True)
def _seeded():
    """Each case starts from the same random state in both frameworks (weight initialisation)."""
    import tinytorch

    tinytorch.nn.manual_seed(0)
    torch.manual_seed(0)
