"""What every picture shares: matplotlib drawing to files (Agg), fixed sizes in pixels, saving.

matplotlib and NumPy are imported on first use, never at import time: the runner imports this
package before the training process is tuned (tito/milestones/tuning.py), and tito works without
matplotlib.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

DPI = 100
# Each picture's size in pixels (width, height). A decision boundary is one BOUNDARY_PANEL per panel.
SIZES = {
    "curves": (900, 360),
    "filters": (720, 340),
    "feature_maps": (800, 400),
    "predictions": (800, 520),
    "confusion": (560, 520),
}
BOUNDARY_PANEL = (440, 440)
PIXELS_PER_CHARACTER = 7  # about, for matplotlib's default font at size 10
RIGHT, WRONG = "#1a7f37", "#cf222e"  # the colours of a right and a wrong prediction


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # draw to files; never needs a screen
    import matplotlib.pyplot as plt

    return plt


def figure(width: int, height: int):
    """A figure of exactly width x height pixels, laid out so that labels do not overlap."""
    return pyplot().figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")


def heading(fig, title: str, what: str) -> None:
    """The run's title over a line saying what the picture shows, wrapped to the picture's width."""
    characters = int(fig.get_figwidth() * DPI / PIXELS_PER_CHARACTER)
    lines = textwrap.wrap(title, characters) + textwrap.wrap(what, characters)
    fig.suptitle("\n".join(lines), fontsize=10)


def save(fig, path: Path) -> Path:
    """Write the figure as a PNG of its exact size, and free it."""
    try:
        fig.savefig(path, dpi=DPI)
    finally:
        pyplot().close(fig)
    return Path(path)


def as_picture(image):
    """An image array as imshow takes it: (H, W) for one channel, (H, W, 3) for colour, values in [0, 1]."""
    import numpy as np

    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = image.transpose(1, 2, 0)  # channels first (PyTorch's layout) -> channels last
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = image.min(), image.max()
    if low < 0 or high > 1:  # not already in [0, 1]: stretch it there
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image


def show_image(ax, image) -> None:
    """Draw an image without axes: grey for one channel, colour for three."""
    picture = as_picture(image)
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def class_name(names, index: int) -> str:
    return str(names[index]) if names is not None and 0 <= index < len(names) else str(index)
