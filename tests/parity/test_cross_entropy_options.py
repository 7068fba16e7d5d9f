"""CrossEntropyLoss's weight, ignore_index and (N, C, d1, ...) logits against PyTorch, values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.nn import CrossEntropyLoss

torch = pytest.importorskip("torch", reason="the parity tests compare with PyTorch: pip install torch==2.13.0")

pytestmark = pytest.mark.m04


@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3, 5), (3, 4, 7)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": True},
        {"ignore_index": 2},
        {"weight": True, "ignore_index": -100},
        {"weight": True, "label_smoothing": 0.1},
    ],
)
def test_cross_entropy_options_match_pytorch(shape, reduction, options):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(shape)
    targets = rng.integers(0, shape[1], size=(shape[0], *shape[2:]))
    targets.flat[::3] = options.get("ignore_index", -100)  # some targets ignored (PyTorch's default index too)
    weight = rng.uniform(0.5, 2.0, shape[1]) if options.get("weight") else None
    kwargs = {k: v for k, v in options.items() if k != "weight"}
    ours_logits = Tensor(logits, requires_grad=True, dtype=np.float64)
    theirs_logits = torch.tensor(logits, requires_grad=True)
    ours = CrossEntropyLoss(weight=weight, reduction=reduction, **kwargs)(ours_logits, targets)
    theirs = torch.nn.CrossEntropyLoss(
        weight=None if weight is None else torch.tensor(weight), reduction=reduction, **kwargs
    )(theirs_logits, torch.tensor(targets))
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad = rng.standard_normal(ours.shape)
    ours.backward(grad)
    theirs.backward(torch.tensor(grad))
    np.testing.assert_allclose(ours_logits.grad.data, theirs_logits.grad.numpy(), rtol=1e-9, atol=1e-12)
