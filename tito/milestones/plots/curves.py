"""curves.png: how the loss and the accuracy moved, against epochs.

One batch's loss is noisy (the perceptron's is 0 or 1), so the batch losses are drawn as a moving
mean, placed at fractional epochs (the 9th of 45 batches of epoch 3 sits at 2.2). Each epoch's train
and test figures sit at whole epochs, where the epoch ended.
"""

from __future__ import annotations

import math
from pathlib import Path

from tito.milestones.plots.canvas import SIZES, figure, heading, save


def moving_mean(values: list[float], window: int) -> list[float]:
    """The mean of each value and the window - 1 before it (fewer at the start)."""
    means, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        means.append(total / min(index + 1, window))
    return means


def _series(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one figure of the history, skipping epochs where it is missing or NaN."""
    pairs = [
        (h["epoch"], float(h[key])) for h in history if isinstance(h.get(key), (int, float)) and math.isfinite(h[key])
    ]
    return [epoch for epoch, _ in pairs], [value for _, value in pairs]


def training_curves(
    path: Path, title: str, batch_epochs: list[float], batch_losses: list[float], history: list[dict]
) -> Path:
    from matplotlib.ticker import MaxNLocator

    last = max([math.ceil(x) for x in batch_epochs] + [h["epoch"] for h in history] + [1])
    batches_per_epoch = max(1, len(batch_losses) // last)
    window = max(1, round(batches_per_epoch / 5))
    fig = figure(*SIZES["curves"])
    loss_ax, accuracy_ax = fig.subplots(1, 2)

    if batch_losses:
        label = "train, each batch" if window == 1 else f"train, mean of {window} batches"
        loss_ax.plot(
            batch_epochs, moving_mean(batch_losses, window), linewidth=1, color="tab:blue", alpha=0.6, label=label
        )
    for key, label, style in (("loss", "train, epoch mean", "o"), ("test_loss", "test", "s-")):
        epochs, values = _series(history, key)
        if epochs:
            loss_ax.plot(
                epochs, values, style, color="tab:blue" if key == "loss" else "tab:orange", label=label, markersize=5
            )
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    loss_ax.set_ylim(bottom=0)

    for key, label, colour in (("train_accuracy", "train", "tab:blue"), ("test_accuracy", "test", "tab:orange")):
        epochs, values = _series(history, key)
        if epochs:
            accuracy_ax.plot(epochs, [100 * v for v in values], "o-", color=colour, label=label, markersize=5)
    accuracy_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")

    for ax in (loss_ax, accuracy_ax):
        ax.set_xlim(0, last + 0.05)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    heading(fig, title, "")
    return save(fig, path)
