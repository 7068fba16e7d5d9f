"""Module 04 (losses)'s graded checks: each loss and reduction on random predictions and targets,
graded on the reference Tensor and activations. Extreme scores check the stable formulas."""

import numpy as np

from tito.grading.declare import check


def _reduced(function, prediction, target, **options):
    return {
        reduction: function(prediction, target, reduction=reduction, **options).data
        for reduction in ("mean", "sum", "none")
    }


@check()
def mse(rng):
    "mse_loss with each reduction."
    from tinytorch import Tensor
    from tinytorch.nn.functional import mse_loss

    shape = tuple(int(v) for v in rng.integers(1, 6, size=2))
    return _reduced(mse_loss, Tensor(rng.standard_normal(shape)), rng.standard_normal(shape))


def _logits(rng, scale=3.0):
    from tinytorch import Tensor

    rows, classes = int(rng.integers(1, 8)), int(rng.integers(2, 6))
    values = rng.standard_normal((rows, classes)) * scale
    values[0, 0] = 500.0  # a confident score: log_softmax must not overflow
    return Tensor(values), rows, classes


@check(weight=2)
def cross_entropy_with_labels(rng):
    "cross_entropy on class indices, each reduction, with and without label smoothing."
    from tinytorch.nn.functional import cross_entropy

    logits, rows, classes = _logits(rng)
    labels = rng.integers(0, classes, size=rows)
    smoothing = float(rng.uniform(0.05, 0.3))
    return {
        **_reduced(cross_entropy, logits, labels),
        "smoothed": cross_entropy(logits, labels, label_smoothing=smoothing).data,
    }


@check()
def cross_entropy_with_probabilities(rng):
    "cross_entropy on target probabilities (N, C)."
    from tinytorch.nn.functional import cross_entropy

    logits, rows, classes = _logits(rng)
    targets = rng.dirichlet(np.ones(classes), size=rows)
    return _reduced(cross_entropy, logits, targets)


@check()
def binary_cross_entropy(rng):
    "binary_cross_entropy, with probabilities of exactly 0 and 1 clipped."
    from tinytorch import Tensor
    from tinytorch.nn.functional import binary_cross_entropy

    p = rng.uniform(0, 1, size=int(rng.integers(3, 10)))
    p[0], p[1] = 0.0, 1.0
    t = (rng.uniform(size=p.shape) > 0.5).astype(float)
    t[0], t[1] = 1.0, 0.0
    return _reduced(binary_cross_entropy, Tensor(p, dtype=np.float64), t)


@check()
def binary_cross_entropy_with_logits(rng):
    "binary_cross_entropy_with_logits, stable for logits of +-500."
    from tinytorch import Tensor
    from tinytorch.nn.functional import binary_cross_entropy_with_logits

    x = rng.standard_normal(int(rng.integers(3, 10))) * 4
    x[0], x[1] = 500.0, -500.0
    t = (rng.uniform(size=x.shape) > 0.5).astype(float)
    return _reduced(binary_cross_entropy_with_logits, Tensor(x), t)
