"""Pictures of how a network sorts inputs into classes: confusion.png and boundary.png."""

from __future__ import annotations

from pathlib import Path

from tito.metrics import metric_text
from tito.milestones.plots.canvas import BOUNDARY_PANEL, SIZES, class_name, figure, heading, save

CLASS_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def confusion_counts(predicted, labels, classes: int):
    """counts[true, predicted]: how often each true class got each answer."""
    import numpy as np

    predicted, labels = (
        np.asarray(predicted, dtype=np.int64).reshape(-1),
        np.asarray(labels, dtype=np.int64).reshape(-1),
    )
    return np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def confusion_matrix(path: Path, title: str, predicted, labels, class_names=None) -> Path:
    """Rows are the true classes, columns the answers; each cell holds a count, shaded by its row's share."""
    import numpy as np

    classes = len(class_names) if class_names is not None else int(max(np.max(predicted), np.max(labels))) + 1
    counts = confusion_counts(predicted, labels, classes)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = figure(*SIZES["confusion"])
    ax = fig.subplots()
    shown = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for true in range(classes):
        for guess in range(classes):
            if counts[true, guess]:
                colour = "white" if shares[true, guess] > 0.5 else "black"
                ax.text(guess, true, str(counts[true, guess]), ha="center", va="center", fontsize=7, color=colour)
    names = [class_name(class_names, i) for i in range(classes)]
    ax.set_xticks(
        range(classes),
        names,
        rotation=45 if max(map(len, names)) > 2 else 0,
        ha="right" if max(map(len, names)) > 2 else "center",
        fontsize=8,
    )
    ax.set_yticks(range(classes), names, fontsize=8)
    ax.set(xlabel="the network's answer", ylabel="true class")
    fig.colorbar(shown, ax=ax, shrink=0.8, label="share of the true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    heading(
        fig,
        title,
        f"confusion matrix: {counts.sum():,} test images, {metric_text('accuracy', accuracy)} on the diagonal",
    )
    return save(fig, path)


def decision_boundary(path: Path, title: str, panels) -> Path:
    """Each panel: the class a model gives every point of a grid, under the labelled data points.

    A panel is a dict: xs (G,), ys (H,), classes (H, G), points (N, 2), labels (N,), title.
    `panels` may be one such dict or a list of them (side by side).
    """
    import numpy as np
    from matplotlib.colors import ListedColormap

    panels = [panels] if isinstance(panels, dict) else list(panels)
    width, height = BOUNDARY_PANEL
    fig = figure(width * len(panels), height)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        xs, ys = np.asarray(panel["xs"], dtype=np.float64), np.asarray(panel["ys"], dtype=np.float64)
        regions = np.asarray(panel["classes"], dtype=np.int64)
        points, labels = (
            np.asarray(panel["points"], dtype=np.float64),
            np.asarray(panel["labels"]).reshape(-1).astype(np.int64),
        )
        count = max(int(regions.max()), int(labels.max())) + 1
        colours = ListedColormap(CLASS_COLOURS[:count])
        ax.pcolormesh(xs, ys, regions, cmap=colours, vmin=-0.5, vmax=count - 0.5, alpha=0.25, shading="nearest")
        if count > 1 and regions.min() != regions.max():
            ax.contour(xs, ys, regions, levels=np.arange(count - 1) + 0.5, colors="black", linewidths=1)
        for label in range(count):
            chosen = labels == label
            ax.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=12,
                color=CLASS_COLOURS[label],
                edgecolors="black",
                linewidths=0.3,
                label=f"class {label}",
            )
        ax.set(xlim=(xs[0], xs[-1]), ylim=(ys[0], ys[-1]), xlabel="x1", ylabel="x2", aspect="equal")
        ax.set_title(panel.get("title", ""), fontsize=9)
        # under the square, not in it: inside, it covered points wherever it was put
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=count, frameon=False)
    heading(fig, title, "decision boundary (shade: the model's answer)")
    return save(fig, path)
