"""Pictures of a run, drawn only when matplotlib is installed (`pip install tinytorch[plots]`).

- curves.png: the loss of every batch and the train/test accuracy of every epoch;
- filters.png (CNNs): the first convolution's learned kernels, one small image each.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # draw to files; never needs a screen
    import matplotlib.pyplot as plt

    return plt


def training_curves(path: Path, title: str, batch_losses: list[float], history: list[dict]) -> Path:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(range(1, len(batch_losses) + 1), batch_losses, linewidth=0.8)
    left.set(xlabel="batch", ylabel="training loss", title="loss")
    epochs = [h["epoch"] for h in history]
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        values = [h.get(key) for h in history]
        if epochs and all(v is not None for v in values):
            right.plot(epochs, [100 * v for v in values], marker="o", label=label)
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    if right.get_legend_handles_labels()[0]:
        right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def first_layer_filters(path: Path, title: str, weights) -> Path:
    """Draw kernels of shape (out, in, kh, kw): grey for one input channel, colour for three."""
    import numpy as np

    plt = _pyplot()
    weights = np.asarray(weights, dtype=np.float64)
    count, channels = weights.shape[:2]
    columns = min(count, 8)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.1 + 0.5), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= count:
            continue
        kernel = weights[index]
        low, high = kernel.min(), kernel.max()
        kernel = (kernel - low) / (high - low) if high > low else np.zeros_like(kernel)
        if channels == 3:
            ax.imshow(kernel.transpose(1, 2, 0), interpolation="nearest")
        else:
            ax.imshow(kernel.mean(axis=0), cmap="gray", interpolation="nearest")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
