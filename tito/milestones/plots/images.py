"""Pictures made of small images: filters.png, feature_maps.png and predictions.png."""

from __future__ import annotations

from pathlib import Path

from tito.milestones.plots.canvas import RIGHT, SIZES, WRONG, class_name, figure, heading, save, show_image

FILTER_COLUMNS = 8
MAPS_PER_BLOCK = 8  # the most active channels of each block
PREDICTION_GRID = (4, 8)  # rows, columns
MOST_MISTAKES = 8  # at most this many of the grid's images are mistakes, shown first


FILTER_COLOURS = "RdBu_r"  # one input channel: blue negative, white zero, red positive


def kernel_colours(weights):
    """Kernels (out, in, kh, kw) as RGB images (out, kh, kw, 3) in [0, 1] on ONE scale, and that scale.

    The scale is the largest weight's size, so a strong kernel looks strong and a weak one faint.
    Three input channels (RGB): each weight becomes its colour channel, mid-grey zero. Otherwise: the
    mean over input channels through a diverging map, white zero.
    """
    import matplotlib
    import numpy as np

    weights = np.asarray(weights, dtype=np.float64)
    scale = float(np.abs(weights).max()) or 1.0
    if weights.shape[1] == 3:
        return np.clip(0.5 + weights.transpose(0, 2, 3, 1) / (2 * scale), 0, 1), scale
    shares = (weights.mean(axis=1) / scale + 1) / 2  # -scale..scale -> 0..1
    return matplotlib.colormaps[FILTER_COLOURS](shares)[..., :3], scale


def first_layer_filters(path: Path, title: str, weights) -> Path:
    """The first convolution's kernels, side by side on one shared colour scale."""
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    pictures, scale = kernel_colours(weights)
    count, height, width = pictures.shape[:3]
    columns = min(count, FILTER_COLUMNS)
    rows = -(-count // columns)
    fig = figure(*SIZES["filters"])
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index < count:
            ax.imshow(pictures[index], interpolation="nearest")
        else:
            ax.axis("off")
    if np.shape(weights)[1] == 3:
        note = f"R, G, B weights as colour, grey 0, one scale for all (+-{scale:.2g})"
    else:
        fig.colorbar(ScalarMappable(Normalize(-scale, scale), FILTER_COLOURS), ax=axes, shrink=0.8, label="weight")
        note = "one colour scale for all"
    heading(fig, title, f"first layer's {count} kernels of {height}x{width}: {note}")
    return save(fig, path)


def feature_maps(path: Path, title: str, image, maps) -> Path:
    """One image, and what each conv block makes of it: its most active channels, one row per block."""
    import numpy as np

    maps = [np.asarray(m, dtype=np.float64) for m in maps]
    fig = figure(*SIZES["feature_maps"])
    grid = fig.add_gridspec(len(maps), 1 + MAPS_PER_BLOCK)
    if image is not None:
        ax = fig.add_subplot(grid[:, 0])
        show_image(ax, image)
        ax.set_title("input", fontsize=9)
    for row, block in enumerate(maps):
        strongest = np.argsort(-block.mean(axis=(1, 2)), kind="stable")[:MAPS_PER_BLOCK]
        low, high = float(block.min()), float(block.max())
        for column, channel in enumerate(strongest, start=1):
            ax = fig.add_subplot(grid[row, column])
            ax.imshow(
                block[channel], cmap="magma", vmin=low, vmax=high if high > low else low + 1, interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"ch {channel}", fontsize=7, labelpad=1)
            if column == 1:
                channels, height, width = block.shape
                ax.set_ylabel(f"block {row + 1}\n{channels}x{height}x{width}", fontsize=8)
    heading(fig, title, f"feature maps: one test image, the {MAPS_PER_BLOCK} most active channels of each conv block")
    return save(fig, path)


def choose_examples(predictions, labels, count: int) -> list[int]:
    """Which images to show: the first mistakes (at most MOST_MISTAKES), then the first right answers."""
    wrong = [i for i in range(len(labels)) if predictions[i] != labels[i]][:MOST_MISTAKES]
    right = [i for i in range(len(labels)) if predictions[i] == labels[i]][: count - len(wrong)]
    return wrong + right


def predictions(path: Path, title: str, images, predicted, labels, class_names=None) -> Path:
    """A grid of test images, each titled with the network's answer; a mistake in red, with the truth."""
    import numpy as np

    images = np.asarray(images)
    predicted, labels = np.asarray(predicted)[: len(images)], np.asarray(labels).reshape(-1)[: len(images)]
    rows, columns = PREDICTION_GRID
    chosen = choose_examples(predicted, labels, rows * columns)
    fig = figure(*SIZES["predictions"])
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, index in zip(axes.flat, chosen + [None] * (rows * columns - len(chosen))):
        if index is None:
            ax.axis("off")
            continue
        show_image(ax, images[index])
        guess, truth = int(predicted[index]), int(labels[index])
        if guess == truth:
            ax.set_title(class_name(class_names, guess), fontsize=8, color=RIGHT)
        else:
            ax.set_title(
                f"{class_name(class_names, guess)}\ntrue: {class_name(class_names, truth)}", fontsize=8, color=WRONG
            )
    mistakes = int(np.sum(predicted != labels))
    if mistakes > MOST_MISTAKES:
        which = f"{MOST_MISTAKES} of the {mistakes} mistakes among the first {len(labels)} come first"
    elif mistakes:
        which = f"the {mistakes} mistake{'s' if mistakes > 1 else ''} among the first {len(labels)} come{'' if mistakes > 1 else 's'} first"
    else:
        which = f"no mistakes among the first {len(labels)}"
    heading(fig, title, f"answers on test images, green right, red wrong ({which})")
    return save(fig, path)
