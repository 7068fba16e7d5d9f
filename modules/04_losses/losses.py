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
# # Module 04: Losses
#
# A loss turns "how wrong is the network?" into one number. Training (modules 05-07) then moves every
# weight in the direction that makes that number smaller, so the loss is the definition of what the
# network learns. You build the four PyTorch users reach for first:
#
# | class | for | input | target |
# |---|---|---|---|
# | `MSELoss` | regression | predictions, any shape | numbers, same shape |
# | `CrossEntropyLoss` | choosing one of C classes | raw scores (logits), (N, C) | class indices (N,) |
# | `BCELoss` | yes/no, from probabilities | probabilities in [0, 1] | 0/1 (or soft labels) |
# | `BCEWithLogitsLoss` | yes/no, from raw scores | logits, any shape | 0/1, same shape |
#
# As in module 02, every loss is built from Tensor operations only, so module 05 makes each one
# differentiable for free. And as in module 02, the hard part is numbers: the log of a probability
# that rounded to 0 is -infinity, and one infinite loss ruins a whole training run.
#
# **The systems view.** A loss is cheap next to the network: cross-entropy on a batch of 128 examples
# and 10 classes touches 1,280 numbers, while the layer that produced those scores multiplied
# thousands of times as many. What a loss costs is not time but *trust*: a wrong loss trains the
# wrong thing, quietly. The checks at the end of this module (a fresh classifier must score log C)
# are the cheapest debugging tool in deep learning.

# %%
#| default_exp nn.losses

# %%
#| export
import math

import numpy as np

from tinytorch.nn.activations import log_softmax, softplus
from tinytorch.tensor import Tensor, as_tensor
from tinytorch.nn.module import Module

# %% [markdown]
# ## Reduction
#
# Every loss first computes one number per example (or per element), then reduces them. PyTorch's
# `reduction=` argument chooses how: `"mean"` (the default, so the learning rate does not depend on
# the batch size), `"sum"`, or `"none"` (the per-example losses, handy for finding the examples a
# model gets most wrong).

# %%
#| export nn.losses
#| doc The loss functions and their layers: mean squared error, cross-entropy, binary cross-entropy (on probabilities or on logits)
REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}.")
    return reduction


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _target_like(target, prediction: Tensor) -> Tensor:
    """The target as a Tensor; arrays and numbers take the prediction's float dtype."""
    if isinstance(target, Tensor):
        return target
    return Tensor(target, dtype=prediction.dtype if prediction.dtype.kind == "f" else None)


def _check_same_shape(name: str, prediction: Tensor, target: Tensor) -> None:
    """Shapes (N, 1) and (N,) would broadcast to (N, N): a silently wrong loss, so refuse it."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"{name}: prediction shape {prediction.shape} and target shape {target.shape} differ; "
            "reshape one to match (for example target.reshape(prediction.shape))."
        )


# %% [markdown]
# ## Mean squared error
#
# `mean((prediction - target)^2)`. Squaring makes every error positive and punishes big errors more
# than small ones.

# %%
#| export nn.losses
def mse_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """Mean of squared differences between prediction and target (same shapes)."""
    prediction = as_tensor(prediction)
    target = _target_like(target, prediction)
    _check_same_shape("MSELoss", prediction, target)
    # Hint: square the difference, then _reduce(..., reduction).
    ### BEGIN SOLUTION
    return _reduce((prediction - target) ** 2, _check_reduction(reduction))
    ### END SOLUTION


# %% [markdown]
# ## Cross-entropy
#
# A classifier outputs a score (logit) per class. Softmax turns the scores into probabilities `p`,
# and the loss of an example whose correct class is `y` is `-log p_y`: zero when the network is sure
# and right, large when it is sure and wrong. Two details make it work in practice:
#
# 1. **Stability: go through log-softmax, never through softmax.** `log p = x - logsumexp(x)`, with
#    the row maximum subtracted inside the log-sum-exp (module 02), stays finite for any scores.
#    `softmax(x).log()` would take the log of a probability that rounded to 0.
# 2. **Class indices, not one-hot vectors.** Targets are integers (N,), as in PyTorch. We still build a
#    one-hot matrix `q` (N, C) internally, because `-(q * log p).sum(axis=1)` picks each row's target
#    log-probability with one multiply (backward: one multiply too), where fancy indexing would need
#    a scatter in backward. An index out of range is a bug in the data, so we stop with an error
#    that names the index and where it is.
#
# **Label smoothing** (Szegedy et al., 2016) mixes the one-hot target with a uniform distribution:
# `q = (1 - eps) * onehot + eps / C`. The network is never pushed towards infinitely confident
# scores, which often improves accuracy and calibration. With the target written as a distribution
# `q`, the loss is the same line of code for any eps: `-(q * log p).sum(axis=1)`. PyTorch computes
# exactly this, and also accepts a full distribution (N, C) of floats as the target; so do we.

# %%
#| export nn.losses
def _class_targets(targets, logits: Tensor, label_smoothing: float, ignore_index: int = -100) -> tuple:
    """(q, kept): the target distribution q (N, C) for class-index targets (N,) or probability targets (N, C),
    and which rows count (False where the target is ignore_index; None for probability targets)."""
    n, classes = logits.shape
    array = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    kept = None
    if array.dtype.kind == "f" and array.shape == logits.shape:
        q = array.astype(logits.dtype)  # class probabilities given directly
    else:
        if array.dtype.kind not in "iu":
            raise ValueError(
                f"CrossEntropyLoss targets must be integer class indices of shape ({n},), got dtype "
                f"{array.dtype} and shape {array.shape}: convert them with .astype(int)."
            )
        if array.shape != (n,):
            raise ValueError(f"CrossEntropyLoss: {n} rows of logits need {n} class indices, got shape {array.shape}.")
        kept = array != ignore_index  # rows marked ignore_index (padding, unlabelled pixels) count for nothing
        array = np.where(kept, array, 0)
        outside = (array < 0) | (array >= classes)
        if outside.any():
            position = int(np.argmax(outside))
            raise ValueError(
                f"CrossEntropyLoss: target class index {int(array[position])} at position {position} is out of "
                f"range for {classes} classes (valid indices are 0 to {classes - 1})."
            )
        # Hint: a zero (n, classes) array of the logits' dtype with a 1 at each row's target column
        # (index it with np.arange(n) and the targets together).
        ### BEGIN SOLUTION
        q = np.zeros((n, classes), dtype=logits.dtype)
        q[np.arange(n), array] = 1.0
        ### END SOLUTION
    if label_smoothing:
        q = q * (1.0 - label_smoothing) + label_smoothing / classes
    if kept is not None:
        q[~kept] = 0.0
    return q, kept


def _rows_of_classes(logits: Tensor, targets) -> tuple:
    """Logits (N, C, d1, ...) and targets (N, d1, ...) as (N*d1*..., C) rows and their targets (per-pixel classes)."""
    if logits.ndim == 2:
        return logits, targets
    if logits.ndim < 2:
        raise ValueError(f"CrossEntropyLoss expects logits of shape (batch, classes) or (batch, classes, ...), got {logits.shape}.")
    array = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    expected = (logits.shape[0], *logits.shape[2:])
    if array.shape != expected:
        raise ValueError(f"CrossEntropyLoss: logits {logits.shape} need class indices of shape {expected}, got {array.shape}.")
    order = (0, *range(2, logits.ndim), 1)  # the class axis last: one row per pixel
    return logits.permute(*order).reshape(-1, logits.shape[1]), array.reshape(-1)


def cross_entropy(logits, targets, label_smoothing: float = 0.0, reduction: str = "mean", weight=None,
                  ignore_index: int = -100) -> Tensor:
    """-log softmax(logits)[target] per row, with optional label smoothing, class weights and an ignored index.

    logits (N, C) with targets (N,), or (N, C, d1, ...) with targets (N, d1, ...) (one class per pixel).
    """
    logits = as_tensor(logits)
    extra_shape = logits.shape[2:]
    logits, targets = _rows_of_classes(logits, targets)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0 and 1, got {label_smoothing}.")
    _check_reduction(reduction)
    q, kept = _class_targets(targets, logits, label_smoothing, ignore_index)
    if weight is not None:  # a weight per class: each term of the sum, and each row's share of the mean
        weight = np.asarray(getattr(weight, "data", weight), dtype=logits.dtype)
        if weight.shape != (logits.shape[1],):
            raise ValueError(f"CrossEntropyLoss weight needs one number per class, shape ({logits.shape[1]},), got {weight.shape}.")
        q = q * weight
    q = Tensor._wrap(q)
    # Hint: -(log_softmax(logits, dim=1) * q).sum(axis=1) is each example's loss.
    ### BEGIN SOLUTION
    per_example = -(log_softmax(logits, dim=1) * q).sum(axis=1)
    ### END SOLUTION
    if reduction == "mean" and (weight is not None or (kept is not None and not kept.all())):
        # PyTorch's weighted mean: divided by the total weight of the rows that count, not by N
        rows = np.ones(len(q.data), dtype=logits.dtype) if kept is None else kept.astype(logits.dtype)
        if weight is not None and kept is not None:
            rows = rows * weight[np.asarray(targets.data if isinstance(targets, Tensor) else targets).clip(0)]
        return per_example.sum() * (1.0 / rows.sum())
    if reduction == "none" and extra_shape:
        return per_example.reshape(-1, *extra_shape)
    return _reduce(per_example, reduction)


# %% [markdown]
# ## Binary cross-entropy
#
# For a yes/no question with predicted probability `p` and label `t` in {0, 1}:
# `-(t log p + (1 - t) log(1 - p))`.
#
# - **From probabilities (`BCELoss`).** If `p` rounds to exactly 0 or 1, a log is -infinity. We clip
#   `p` into `[eps, 1 - eps]` with `eps = 1e-7` first, which caps one example's loss at about 16.1
#   (= -log 1e-7). (PyTorch clamps each log at -100 instead; the idea is the same.) Inside the clip the
#   gradient is exact; outside, the clip passes none, so a saturated sigmoid should be fed to:
# - **From logits (`BCEWithLogitsLoss`).** With `p = sigmoid(x)`, the loss simplifies to
#   `softplus(x) - t * x`, and module 02's softplus is stable at any x. Its derivative is exactly
#   `sigmoid(x) - t`, however large x is. Prefer this one: it never saturates.

# %%
#| export nn.losses
BCE_EPS = 1e-7


def binary_cross_entropy(probabilities, targets, reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)), with p clipped into [1e-7, 1 - 1e-7]."""
    p = as_tensor(probabilities)
    t = _target_like(targets, p)
    _check_same_shape("BCELoss", p, t)
    if p.size and (p.data.min() < 0 or p.data.max() > 1):
        raise ValueError(
            f"BCELoss needs probabilities in [0, 1], got values from {p.data.min():.4g} to {p.data.max():.4g}: "
            "apply a sigmoid first, or use BCEWithLogitsLoss on the raw scores."
        )
    # Hint: clip p into [BCE_EPS, 1 - BCE_EPS] first, then -(t log p + (1 - t) log(1 - p)).
    ### BEGIN SOLUTION
    p = p.clip(BCE_EPS, 1.0 - BCE_EPS)
    losses = -(t * p.log() + (1 - t) * (1 - p).log())
    ### END SOLUTION
    return _reduce(losses, _check_reduction(reduction))


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> Tensor:
    """BCE of sigmoid(logits) computed stably as softplus(x) - t * x."""
    x = as_tensor(logits)
    t = _target_like(targets, x)
    _check_same_shape("BCEWithLogitsLoss", x, t)
    # Hint: softplus(x) - t * x.
    ### BEGIN SOLUTION
    losses = softplus(x) - t * x
    ### END SOLUTION
    return _reduce(losses, _check_reduction(reduction))


# %% [markdown]
# ## The classes
#
# `loss_fn = CrossEntropyLoss(label_smoothing=0.1)` then `loss = loss_fn(logits, labels)`, as in
# PyTorch. The settings live on the object; the call does the work. As in PyTorch, a loss is a
# `Module` (module 02) without parameters: calling it runs `forward`, and its repr shows its settings
# through `extra_repr`.

# %%
#| export nn.losses
class Loss(Module):
    """Base of the loss classes: a Module without parameters; `loss_fn(prediction, target)` runs `forward`."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, prediction, target) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, prediction, target).")

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(Loss):
    """Mean squared error for regression."""

    def forward(self, prediction, target):
        return mse_loss(prediction, target, reduction=self.reduction)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits (N, C) or (N, C, d1, ...) with class-index targets (N,) or (N, d1, ...).

    Options as in PyTorch: label_smoothing, a `weight` per class, and `ignore_index` (targets equal to it
    count for nothing, in the loss and in the mean's denominator).
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be between 0 and 1, got {label_smoothing}.")
        self.label_smoothing, self.ignore_index = float(label_smoothing), int(ignore_index)
        self.weight = None if weight is None else np.asarray(getattr(weight, "data", weight), dtype=np.float64)

    def forward(self, logits, targets):
        return cross_entropy(logits, targets, label_smoothing=self.label_smoothing, reduction=self.reduction,
                             weight=self.weight, ignore_index=self.ignore_index)

    def extra_repr(self) -> str:
        parts = [super().extra_repr()] + ([f"label_smoothing={self.label_smoothing}"] if self.label_smoothing else [])
        parts += [f"ignore_index={self.ignore_index}"] if self.ignore_index != -100 else []
        parts += ["weight=..."] if self.weight is not None else []
        return ", ".join(part for part in parts if part)


class BCELoss(Loss):
    """Binary cross-entropy on probabilities (clipped to [1e-7, 1 - 1e-7])."""

    def forward(self, probabilities, targets):
        return binary_cross_entropy(probabilities, targets, reduction=self.reduction)


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits: sigmoid and log fused into a stable softplus."""

    def forward(self, logits, targets):
        return binary_cross_entropy_with_logits(logits, targets, reduction=self.reduction)


# %% [markdown]
# ## The systems view: what a correct loss looks like at the start
#
# A freshly initialised classifier knows nothing, so its softmax is close to uniform and its
# cross-entropy is close to `log C`. If the first printed loss of a 10-class run is 23 rather than
# 2.3, something is wrong before training even starts (scores far too large, labels shuffled
# against their images, a missing softmax shift). The cell measures this on random scores of the
# size a fresh network produces, shows that the naive formula breaks where ours does not, and times
# the loss against the layer that would feed it.

# %%
def profile_cross_entropy(batch: int = 128, features: int = 512, classes: int = 10, repeats: int = 20) -> dict:
    """Loss at initialisation vs log(C), naive vs stable on large scores, and time vs the last layer."""
    import time

    rng = np.random.default_rng(0)
    features_in = Tensor(rng.standard_normal((batch, features)))
    weight = Tensor(rng.uniform(-1, 1, (features, classes)) / math.sqrt(features))
    labels = rng.integers(0, classes, batch)
    logits = features_in @ weight
    fresh = cross_entropy(logits, labels).item()
    print(f"fresh {classes}-class classifier: loss {fresh:.3f}, log(C) = {math.log(classes):.3f}")

    big = logits * 1000.0
    with np.errstate(all="ignore"):
        e = np.exp(big.data)
        naive = -np.log((e / e.sum(axis=1, keepdims=True))[np.arange(batch), labels]).mean()
    print(f"scores x1000: naive softmax-then-log gives {naive}, ours gives {cross_entropy(big, labels).item():.1f}")

    timings = {}
    for name, work in {"last Linear layer": lambda: features_in @ weight, "cross-entropy": lambda: cross_entropy(logits, labels)}.items():
        work()
        start = time.perf_counter()
        for _ in range(repeats):
            work()
        timings[name] = (time.perf_counter() - start) / repeats * 1e3
        print(f"  {name:<18} {timings[name]:.3f} ms")
    return {"fresh_loss": fresh, "log_classes": math.log(classes), "naive_at_x1000": float(naive), **timings}


if __name__ == "__main__":
    from tito.chapter import demo

    demo(profile_cross_entropy)

# %% [markdown]
# The naive formula returns infinity (or NaN) as soon as the scores are large, while the stable one
# gives the true, large loss. And the loss costs the same order of time as the small layer that
# feeds it: a handful of passes over an (N, C) array, each paying NumPy's per-call overhead.

# %% [markdown]
# ## Unit tests

# %%
def test_unit_mse():
    loss = MSELoss()(Tensor([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0]))
    assert math.isclose(loss.item(), (0 + 4 + 9) / 3, rel_tol=1e-6)
    assert MSELoss(reduction="sum")(Tensor([1.0, 2.0]), [0.0, 0.0]).item() == 5.0
    try:
        MSELoss()(Tensor(np.zeros((4, 1))), np.zeros(4))
    except ValueError as error:
        assert "(4, 1)" in str(error) and "(4,)" in str(error)
    else:
        raise AssertionError("(4, 1) against (4,) must raise")
    print("MSELoss: mean of squared errors 13/3, sum reduction 5; refuses (4, 1) vs (4,) broadcasting")


def test_unit_cross_entropy():
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    labels = np.array([0, 1])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_p[[0, 1], labels].mean()
    got = CrossEntropyLoss()(Tensor(logits, dtype=np.float64), labels).item()
    assert math.isclose(got, expected, rel_tol=1e-12)
    uniform = CrossEntropyLoss()(Tensor(np.zeros((4, 10))), np.arange(4)).item()
    assert math.isclose(uniform, math.log(10), rel_tol=1e-6)
    try:
        CrossEntropyLoss()(Tensor(logits), np.array([0, 3]))
    except ValueError as error:
        assert "3" in str(error) and "position 1" in str(error)
    else:
        raise AssertionError("class index 3 of 3 classes must raise")
    print("CrossEntropyLoss: matches -log softmax by hand; uniform scores give log(10); index 3 of 3 classes is named")


def test_unit_label_smoothing():
    logits = np.array([[2.0, 1.0, 0.1]])
    eps = 0.1
    log_p = logits - np.log(np.exp(logits).sum())
    q = np.array([[1 - eps + eps / 3, eps / 3, eps / 3]])
    expected = -(q * log_p).sum()
    got = CrossEntropyLoss(label_smoothing=eps)(Tensor(logits, dtype=np.float64), [0]).item()
    assert math.isclose(got, expected, rel_tol=1e-12)
    print(f"label smoothing 0.1: loss {got:.6f} equals -(q * log p).sum() with q = [0.9333, 0.0333, 0.0333]")


def test_unit_cross_entropy_options():
    logits = np.random.default_rng(0).standard_normal((2, 3, 2, 2))  # (N, C, H, W): a class per pixel
    labels = np.array([[[0, 1], [2, -100]], [[1, 1], [0, 2]]])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    weight = np.array([1.0, 2.0, 0.5])
    n, h, w = np.nonzero(labels != -100)
    picked = -log_p[n, labels[n, h, w], h, w] * weight[labels[n, h, w]]
    got = CrossEntropyLoss(weight=weight)(Tensor(logits, dtype=np.float64), labels).item()
    assert math.isclose(got, picked.sum() / weight[labels[n, h, w]].sum(), rel_tol=1e-12), "a weighted mean"
    per_pixel = CrossEntropyLoss(reduction="none")(Tensor(logits, dtype=np.float64), labels).data
    assert per_pixel.shape == (2, 2, 2) and per_pixel[0, 1, 1] == 0.0, "an ignored pixel costs nothing"
    print("CrossEntropyLoss: (N, C, H, W) logits, class weights and ignore_index=-100, as in PyTorch")


def test_unit_binary_losses():
    x = np.array([-2.0, 0.0, 3.0])
    t = np.array([0.0, 1.0, 1.0])
    p = 1 / (1 + np.exp(-x))
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    assert math.isclose(BCELoss()(Tensor(p, dtype=np.float64), t).item(), expected, rel_tol=1e-9)
    assert math.isclose(BCEWithLogitsLoss()(Tensor(x, dtype=np.float64), t).item(), expected, rel_tol=1e-12)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        extreme = BCEWithLogitsLoss(reduction="none")(Tensor([1000.0, -1000.0]), [0.0, 1.0]).data
        assert np.allclose(extreme, [1000.0, 1000.0])
        clipped = BCELoss(reduction="none")(Tensor([1.0, 0.0]), [0.0, 1.0]).data
        assert np.all(np.isfinite(clipped)) and np.allclose(clipped, -math.log(BCE_EPS), rtol=2e-2)
    print("BCELoss and BCEWithLogitsLoss agree with the formula; finite at logits +-1000 and probabilities 0/1")


if __name__ == "__main__":
    from tito.chapter import run_chapter

    run_chapter(globals())
